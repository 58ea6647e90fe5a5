"""The demo end to end in smoke mode (tiny world, a few training steps), report in Chromium."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/_browser.py (not a package)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pyproj import Geod  # noqa: E402

from _browser import assert_page_ok  # noqa: E402
from crossview.index.geoindex import GeoIndex  # noqa: E402
from crossview.training.checkpoint import load_run  # noqa: E402
from tests.cli_runner import run_cli_plain  # noqa: E402


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    """One smoke demo for the module: (output folder, what the CLI printed)."""
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    code, _, err = run_cli_plain("demo", "--smoke", "--out", out)
    assert code == 0, err
    return out


def test_demo_smoke_end_to_end_and_resume(demo_out, run_cli):
    out = demo_out
    report = out / "report.html"
    assert report.is_file()
    for name in (
        "world/crossview_gt/samples.csv",
        "run/checkpoints/last.pt",
        "metrics.json",
        "locate.json",
        "locate_unknown.json",
        "localization.json",
    ):
        assert (out / name).is_file(), name
    stats = json.loads((out / "localization.json").read_text())
    docs = json.loads((out / "locate.json").read_text())
    assert stats["queries"] == len(docs) > 0 and all(len(d["candidates"]) == 5 for d in docs)
    # The statistics follow from the located candidates and the ground truth.
    geod = Geod(ellps="WGS84")
    errors = [
        geod.inv(d["truth"]["lon"], d["truth"]["lat"], d["candidates"][0]["lon"],
                 d["candidates"][0]["lat"])[2]
        for d in docs
    ]
    assert stats["median_error_m"] == pytest.approx(float(np.median(errors)), abs=1e-6)
    assert stats["within_25m"] == pytest.approx(float(np.mean(np.array(errors) <= 25.0)))
    # The same panoramas without their heading: locate searched it (a heading per candidate).
    unknown = json.loads((out / "locate_unknown.json").read_text())
    assert [d["query"] for d in unknown] == [d["query"] for d in docs]
    assert all(d["heading_deg"] is None and d["candidates"][0]["heading_deg"] is not None
               for d in unknown)
    assert all(d["heading_deg"] is not None for d in docs)
    assert stats["unknown_heading"]["queries"] == len(unknown)
    # Index, locate and eval use the final checkpoint (the held-out split selects nothing).
    last = load_run(out / "run", which="last")
    assert GeoIndex.open(str(out / "index")).info.checkpoint_sha256 == last.checkpoint_sha256
    training = json.loads((out / "run" / "demo_train_done.json").read_text())
    assert training["step"] == 4
    text = report.read_text()
    assert "R@1" in text and "median_error_m" in text and "4 steps" in text
    assert "heading known" in text and "heading unknown (searched)" in text
    # A second run skips every finished step: nothing is retrained or re-localized.
    mtimes = {p: (out / p).stat().st_mtime_ns for p in ("run/checkpoints/last.pt", "locate.json")}
    code, stdout, err = run_cli("demo", "--smoke", "--out", out)
    assert code == 0, err
    assert f"report: {report.resolve()}" in stdout
    assert all((out / p).stat().st_mtime_ns == t for p, t in mtimes.items())


def test_demo_report_renders_in_chromium(demo_out, tmp_path):
    assert_page_ok(demo_out / "report.html", tmp_path, min_images=4)


def test_demo_bad_options_fail_before_any_work(tmp_path, run_cli):
    out = tmp_path / "demo_out"
    for args, message in (
        (["--method", "nope"], "nope"),
        (["--minutes", "0"], "demo minutes: invalid value 0"),
        (["--pairs", "3"], "demo pairs: invalid value 3"),
        (["--smoke", "--pairs", "3"], "demo pairs: invalid value 3"),  # smoke honours --pairs
    ):
        code, _, err = run_cli("demo", "--out", out, *args)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, err)
        assert not (out / "world").exists()


def test_demo_seed_reaches_training_and_weight_init(tmp_path, monkeypatch):
    """``crossview demo --seed S`` trains with ``train.seed=S`` (which seeds weight init)."""
    import crossview.training.steps as steps
    from crossview.pipelines.demo import DemoConfig, step_train

    seen = {}

    def fake_train(method, data, out, preset, overrides):
        seen.update(overrides)
        raise SystemExit(0)

    monkeypatch.setattr(steps, "train", fake_train)
    conf = DemoConfig.smoke(tmp_path, seed=7)
    with pytest.raises(SystemExit):
        step_train(conf, "vigor:/nowhere", 30)
    assert seen["train.seed"] == 7 and seen["train.max_steps"] == conf.max_steps
