"""The demo end to end in smoke mode (tiny world, a few training steps), report in Chromium."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/_browser.py (not a package)
from _browser import assert_page_ok  # noqa: E402
from crossview.cli import main  # noqa: E402


def _cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["crossview", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr()


def test_demo_smoke_end_to_end_and_resume(tmp_path, monkeypatch, capsys):
    out = tmp_path / "demo_out"
    code, cap = _cli(monkeypatch, capsys, "demo", "--smoke", "--out", out)
    assert code == 0, cap.err
    report = out / "report.html"
    assert f"report: {report.resolve()}" in cap.out
    for name in (
        "world/crossview_gt/samples.csv",
        "run/checkpoints/last.pt",
        "metrics.json",
        "locate.json",
        "localization.json",
    ):
        assert (out / name).is_file(), name
    stats = json.loads((out / "localization.json").read_text())
    docs = json.loads((out / "locate.json").read_text())
    assert stats["queries"] == len(docs) > 0 and all(len(d["candidates"]) == 5 for d in docs)
    assert 0.0 <= stats["within_25m"] <= 1.0 and stats["median_error_m"] >= 0
    text = report.read_text()
    assert "R@1" in text and "median_error_m" in text
    assert_page_ok(report, tmp_path, min_images=4)
    # A second run skips every finished step: nothing is retrained or re-localized.
    mtimes = {p: (out / p).stat().st_mtime_ns for p in ("run/checkpoints/last.pt", "locate.json")}
    code, cap = _cli(monkeypatch, capsys, "demo", "--smoke", "--out", out)
    assert code == 0, cap.err
    assert all((out / p).stat().st_mtime_ns == t for p, t in mtimes.items())
