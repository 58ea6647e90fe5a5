"""Faults lose nothing: SIGKILL at random points (faults.py) and injected write failures.

``make test`` runs the quick subset (``world make`` and ``index build``, seed 0) and the
write-failure cases; ``CROSSVIEW_FULL_SUITES=1`` runs every scenario with 3 seeds (or run
``python tests/robustness/faults.py``, which prints the table of docs/robustness.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults  # noqa: E402
from harness import run_cli  # noqa: E402

from crossview import _faults  # noqa: E402
from crossview.training.checkpoint import read_checkpoint  # noqa: E402

pytestmark = pytest.mark.faults
FULL = os.environ.get("CROSSVIEW_FULL_SUITES") == "1"
SCENARIOS = [s for s in faults.SCENARIOS if FULL or s.quick]
SEEDS = [0, 1, 2] if FULL else [0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return faults.build_inputs(tmp_path_factory.mktemp("fault-inputs"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_sigkill_then_rerun_loses_nothing(scenario, inputs, tmp_path):
    ref, points = faults.reference(scenario, tmp_path / "s", inputs)
    assert points, "the command passed no fault point"
    for seed in SEEDS:
        row = faults.cut(scenario, seed, tmp_path / "s", inputs, ref, points)
        assert row.ok, row.markdown()
        assert row.killed == "SIGKILL" and row.rerun.startswith("exit 0"), row.markdown()


WORLD = ["world", "make", "--layout", "cvusa", "--pairs", "6", "--tile-px", "64", "--pano-hw",
         "32x128", "--region-m", "400", "--seed", "1", "--workers", "1"]


@pytest.fixture
def injected():
    yield _faults.configure
    _faults.configure(None)


@pytest.mark.parametrize(("errno_name", "reason"), [("ENOSPC", "No space left on device"),
                                                     ("EACCES", "Permission denied")])
def test_write_failure_is_one_line_and_keeps_earlier_files(injected, tmp_path, errno_name,
                                                            reason):
    ref = tmp_path / "ref"
    assert run_cli([*WORLD, "--out", ref]).code == 0
    out = tmp_path / "out"
    injected(f"fail:io.write:7:{errno_name}")
    result = run_cli([*WORLD, "--out", out])
    injected(None)
    lines = result.error_lines()
    assert result.code == 2 and not result.crash and "Traceback" not in result.stderr
    assert len(lines) == 1 and reason in lines[0] and str(out) in lines[0], result.stderr
    # Six files were complete before the failure: each is the reference's, byte for byte.
    written = faults.files(out)
    assert len(written) >= 6 and all(written[k] == (ref / k).read_bytes() for k in written)
    assert run_cli([*WORLD, "--out", out]).code == 0
    assert faults.compare_bitwise(ref, out).startswith("identical")


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(injected, inputs, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", "safa", "--data", f"cvusa:{inputs['world']}", "--out", out,
            "--preset", "tiny", "train.epochs=2", "train.batch_size=4", "train.num_workers=0"]
    injected("fail:io.write.pt:2:ENOSPC")  # the first checkpoint is written, the second fails
    result = run_cli(argv)
    injected(None)
    lines = result.error_lines()
    assert result.code == 2 and len(lines) == 1 and "No space left" in lines[0], result.stderr
    ckpts = sorted((out / "checkpoints").glob("*.pt"))
    assert ckpts and all(read_checkpoint(p)["sha256"] for p in ckpts)
    assert run_cli(argv).code == 0
    assert read_checkpoint(out / "checkpoints" / "last.pt")["state"]["epoch"] == 2
