"""Headless-Chromium page checks: loads, every <img> decoded, no console errors, not blank.

The page is copied with a probe script injected first in <head> (records console errors and
uncaught exceptions) and one at the end (on load, writes the verdict into a marker element);
``--dump-dom`` returns the DOM after load, and ``--screenshot`` renders it to a PNG.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROBE_HEAD = """<script>
window.__errors = [];
const __origError = console.error;
console.error = function (...a) {
  window.__errors.push(a.join(' ')); __origError.apply(console, a);
};
window.addEventListener('error', e => window.__errors.push(
  'error: ' + (e.message || (e.target && (e.target.src || e.target.href)))), true);
</script>"""
PROBE_TAIL = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.alt || i.src.slice(0, 60));
  const r = {images: imgs.length, broken: broken, errors: window.__errors};
  const el = document.createElement('pre');
  el.id = '__probe'; el.textContent = JSON.stringify(r);
  document.body.appendChild(el);
});
</script>"""


def chromium() -> str:
    exe = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (make browser)")
        pytest.skip("chromium not installed (run `make browser`)")
    return exe


def _flags(tmp: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        f"--user-data-dir={tmp / 'profile'}",
        "--virtual-time-budget=10000",
    ]


def check_page(html: Path, tmp: Path) -> dict:
    """Open ``html`` in headless Chromium; return the probe verdict plus screenshot stats."""
    exe = chromium()
    text = html.read_text(encoding="utf-8")
    probed = re.sub(r"<head>", "<head>" + PROBE_HEAD, text, count=1)
    probed = probed.replace("</body>", PROBE_TAIL + "</body>")
    page = html.with_name("__probe_" + html.name)  # same folder: relative image paths resolve
    page.write_text(probed, encoding="utf-8")
    try:
        dom = subprocess.run(
            [exe, *_flags(tmp), "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=90,
        ).stdout
        shot = tmp / "shot.png"
        subprocess.run(
            [exe, *_flags(tmp), f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri()],
            capture_output=True,
            timeout=90,
        )
    finally:
        page.unlink(missing_ok=True)
    match = re.search(r'<pre id="__probe">(.*?)</pre>', dom, re.S)
    assert match, f"page {html} did not finish loading: {dom[:300]!r}"
    verdict = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    verdict["screenshot_std"] = float(pixels.std())
    return verdict


def assert_page_ok(html: Path, tmp: Path, min_images: int) -> None:
    """The checks every report page must pass."""
    verdict = check_page(html, tmp)
    assert verdict["images"] >= min_images, verdict
    assert verdict["broken"] == [], verdict
    assert verdict["errors"] == [], verdict
    assert verdict["screenshot_std"] > 5.0, "screenshot is blank"
