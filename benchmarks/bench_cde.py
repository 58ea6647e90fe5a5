"""CDE benchmark on the synthetic world (issue 7), sized for 2 CPU cores.

Both models train through the one trainer (``crossview.training.steps.train``, preset ``tiny``)
for the same wall-clock budget, then are scored from their ``last`` checkpoints on the world's
validation split:

1. Retrieval: R@1 (ground -> aerial, percent) of ``cde`` vs its ablation (i) (``synthesis=false``:
   no decoder, no discriminator), via ``crossview.training.steps.evaluate``.
2. Synthesis: PSNR / SSIM / SD / RMSE (Sat2Density convention) of the full model's panoramas vs
   the polar-transformed tile itself (CDE Table 4, first row), via
   ``crossview.inference.synthesis_scores``; the generator should beat the baseline
   on PSNR and SSIM (``generator_beats_polar``).

The budget per model is ``--budget-min`` or ``$CROSSVIEW_BENCH_CDE_MIN`` (default 20 minutes;
``--quick``: 1 minute on a 64-pair world). Runs (with their sample grids under ``samples/``) and
``summary.json`` go to ``bench_out/cde/``. Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_cde.py [--quick] [--budget-min 8] [--pairs 400]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out" / "cde"
BUDGET_ENV = "CROSSVIEW_BENCH_CDE_MIN"
FULL_BUDGET_MIN = 20.0  # per trained model (issue 7)
QUICK_BUDGET_MIN = 1.0
VARIANTS: dict[str, dict[str, Any]] = {
    "cde": {},
    "ablation_i": {"synthesis": False},  # Table 3 (i): no decoder, no D
}


def _budget(quick: bool, budget_min: float | None) -> float:
    """Minutes per model: argument, else ``$CROSSVIEW_BENCH_CDE_MIN``, else the default."""
    from crossview.errors import ConfigError

    if budget_min is None and os.environ.get(BUDGET_ENV):
        value = os.environ[BUDGET_ENV]
        try:
            budget_min = float(value)
        except ValueError:
            raise ConfigError(f"${BUDGET_ENV}: expected minutes, got {value!r}") from None
    if budget_min is None:
        budget_min = QUICK_BUDGET_MIN if quick else FULL_BUDGET_MIN
    if budget_min <= 0:
        raise ConfigError(f"budget: expected > 0 minutes, got {budget_min}")
    return budget_min


def _world(pairs: int, ground_hw: tuple[int, int], aerial_size: int) -> Path:
    """A cached CVUSA-layout world rendered at twice the tiny preset's input sizes."""
    sys.path.insert(0, str(HERE))
    from _common import synthetic_world

    return synthetic_world(
        "cvusa",
        pairs=pairs,
        seed=0,
        tile_px=2 * aerial_size,
        pano_hw=(2 * ground_hw[0], 2 * ground_hw[1]),
    )


def _rounded(metrics: dict[str, float]) -> dict[str, float | None]:
    from crossview.evaluation.synthesis import finite_or_none

    return {k: int(v) if k == "count" else finite_or_none(round(float(v), 4))
            for k, v in metrics.items()}


def run(
    quick: bool = False,
    budget_min: float | None = None,
    pairs: int | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``cde`` and ablation (i) for the same time; report R@1 and synthesis metrics."""
    from crossview.inference import synthesis_scores
    from crossview.io import write_json_atomic
    from crossview.methods import create_method
    from crossview.training.checkpoint import load_run
    from crossview.training.steps import evaluate, load_data, train

    budget = _budget(quick, budget_min)
    pairs = pairs or (64 if quick else 400)
    out = Path(out) if out is not None else OUT
    spec = create_method("cde", "tiny").input_spec
    root = _world(pairs, tuple(spec.ground_hw), spec.aerial_size)
    data = f"cvusa:{root}"
    table = load_data(data)
    result: dict[str, Any] = {
        "preset": "tiny",
        "pairs": table.split_counts(),
        "budget_min_per_model": budget,
        "eval_split": "val",
        "checkpoint": "last",
        "metric_convention": "sat2density",
    }
    # Epoch ends are the evaluation points; the time budget is what stops both runs.
    overrides = {"train.epochs": 100000, "train.eval_every": 5, "train.cache_images": True}
    for name, method_overrides in VARIANTS.items():
        run_dir = out / name
        shutil.rmtree(run_dir, ignore_errors=True)  # an existing run would be resumed
        trained = train("cde", data, run_dir, "tiny", {**overrides, **method_overrides}, budget)
        scores = evaluate(run_dir, split="val", which="last")
        result[f"train_{name}"] = {
            "steps": trained.step,
            "epochs": trained.epoch,
            "minutes": round(trained.minutes, 2),
            "pairs_per_s": round(trained.pairs_per_s, 1),
        }
        result[f"r1_{name}"] = scores["R@1"]
        result[f"r1pct_{name}"] = scores["R@1%"]
        if name == "cde":
            method = load_run(run_dir, which="last").method
            synth = synthesis_scores(method, table, ["val"], batch_size=32)["val"]
            result["synthesis_cde"] = _rounded(synth["generator"])
            result["synthesis_polar_baseline"] = _rounded(synth["polar_baseline"])
            result["generator_beats_polar"] = bool(
                synth["generator"]["psnr"] > synth["polar_baseline"]["psnr"]
                and synth["generator"]["ssim"] > synth["polar_baseline"]["ssim"]
            )
    result["r1_chance"] = round(100.0 / len(table.select("val").references), 2)
    write_json_atomic(out / "summary.json", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="64 pairs, 1 minute per model")
    parser.add_argument("--budget-min", type=float, default=None, help="training minutes per model")
    parser.add_argument("--pairs", type=int, default=None, help="pairs in the synthetic world")
    parser.add_argument("--out", type=Path, default=None, help="output folder (bench_out/cde)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.budget_min, args.pairs, args.out), indent=2))
