"""The page of a real ``crossview serve`` process in headless Chromium (selenium + chromedriver).

A 16-pair synthetic world is indexed with an untrained ``safa tiny`` (the page, not the model,
is under test); the server runs as its own process on a free localhost port.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/_browser.py
from _browser import chromium  # noqa: E402
from crossview.index.build import build_index  # noqa: E402
from crossview.methods.registry import create_method  # noqa: E402
from crossview.training.checkpoint import save_checkpoint  # noqa: E402
from crossview.world.make import make_world  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"
# One worker runs the module (make test uses --dist loadgroup): one world, index and server.
pytestmark = pytest.mark.xdist_group("serve_page")
XSS_NAME = "<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, world folder) of a running ``crossview serve``; stopped after the module."""
    root = tmp_path_factory.mktemp("serve")
    make_world(root / "world", "cvusa", pairs=16, seed=0, tile_px=128, pano_hw=(64, 256),
               region_m=400.0)
    save_checkpoint(root / "run" / "checkpoints" / "last.pt", create_method("safa", "tiny"))
    build_index(root / "run", str(root / "world"), str(root / "idx"), batch_size=8)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "CROSSVIEW_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "CROSSVIEW_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossview", "serve", "--index", str(root / "idx"), "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    url, lines = None, []
    deadline = time.time() + 120
    while url is None and time.time() < deadline and proc.poll() is None:
        line = proc.stderr.readline()
        lines.append(line)
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        url = match.group(1) if match else None
    if url is None:
        proc.kill()
        pytest.fail("crossview serve did not start: " + "".join(lines)[-2000:])
    yield url, root / "world"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exe = chromium()
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        if os.environ.get("CI"):
            pytest.fail("chromedriver is required in CI (make browser)")
        pytest.skip("chromedriver not installed (run `make browser`)")
    options = webdriver.ChromeOptions()
    options.binary_location = exe
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1100",
                 f"--user-data-dir={tmp_path / 'profile'}", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _wait(drv, script: str, timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = drv.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}; page text: "
                         f"{drv.execute_script('return document.body.innerText')[:500]}")


def _upload(drv, url: str, path: Path) -> None:
    drv.get(url)
    _wait(drv, "return document.getElementById('index-facts').textContent.includes('tiles')")
    drv.find_element("id", "file").send_keys(str(path))
    _wait(drv, "return document.body.dataset.state === 'done'")


def _severe(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def test_upload_a_world_panorama_shows_candidates(served, driver, tmp_path):
    url, world = served
    pano = sorted((world / "streetview" / "panos").glob("*"))[0]
    _upload(driver, url, pano)
    ranks = driver.execute_script(
        "return [...document.querySelectorAll('#candidates tr.candidate td:first-child')]"
        ".map(td => td.textContent)")
    assert ranks == ["1", "2", "3", "4", "5"]
    assert "estimated heading" in driver.find_element("id", "heading").text
    # Map: the index's own tiles (candidates and the ones around them) and the heading arrow.
    n_map = driver.execute_script("return document.querySelectorAll('#map image').length")
    assert n_map >= 16 and driver.execute_script(
        "return document.querySelectorAll('#map image.candidate').length") == 5
    assert driver.execute_script("return document.querySelectorAll('#map .heading-arrow').length")
    # Every table thumbnail decoded (served by /tile/ID), no console error, page not blank.
    _wait(driver, "return [...document.querySelectorAll('#candidates img')]"
                  ".every(i => i.complete && i.naturalWidth > 0)")
    assert _severe(driver) == []
    shot = np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L"), float)
    assert shot.std() > 5.0, "screenshot is blank"
    (tmp_path / "serve_page.png").write_bytes(driver.get_screenshot_as_png())


def test_file_name_with_markup_renders_as_text(served, driver, tmp_path):
    url, world = served
    pano = sorted((world / "streetview" / "panos").glob("*"))[1]
    hostile = tmp_path / XSS_NAME
    hostile.write_bytes(pano.read_bytes())
    _upload(driver, url, hostile)
    assert driver.find_element("id", "query-name").text == XSS_NAME
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert _severe(driver) == []


def test_a_bad_upload_shows_the_reason(served, driver, tmp_path):
    url, _ = served
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    driver.get(url)
    _wait(driver, "return document.getElementById('index-facts').textContent.includes('tiles')")
    driver.find_element("id", "file").send_keys(str(bad))
    _wait(driver, "return document.getElementById('status').className === 'error'")
    assert "broken.png: cannot decode" in driver.find_element("id", "status").text
    # The 400 itself is logged by Chromium as a failed resource load; nothing else may be.
    assert [m for m in _severe(driver) if "400 (Bad Request)" not in m] == []
