"""benchmarks/bench_gpu.py runs on CPU too: trainer and bare rates of a paper preset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


def _load():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_bench_gpu_quick_reports_both_rates() -> None:
    bench = _load()
    assert bench.dataset_of("paper_university1652") == "university1652"
    assert bench.dataset_of("paper") == "cvusa"
    out = bench.run(quick=True, presets=("sample4geo:paper_vigor",), steps=2, device="cpu")
    row = out["presets"]["sample4geo:paper_vigor"]
    assert out["device"] == "cpu" and out["meets_target"] is None  # the target is for GPUs
    assert row["dataset"] == "vigor" and row["batch_size"] == 4 and not row["compiled"]
    assert row["bare_pairs_per_s"] > 0 and row["trainer_pairs_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["trainer_pairs_per_s"] / row["bare_pairs_per_s"],
                                         rel=0.02)
    assert row["num_workers"] == 0 and row["channels_last"] is False  # CPU defaults
