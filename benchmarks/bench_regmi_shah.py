"""Regmi-Shah benchmark (issue 14): the paper's table from one ``tiny`` run on 2 CPU cores.

One ``crossview train --method regmi_shah --preset tiny`` run on a 2,500-pair CVUSA-layout
synthetic world (20 % validation; 128 px tiles and 64x256 panoramas, the world
``bench_training`` uses, so the cache is shared) goes through the four stages (X-Fork synthesis,
two-stream baselines, joint feature learning, fusion). Its ``last`` checkpoint is then scored on
the validation split for every row of the paper's table (the method's descriptor variants):

==================  ===============================================================
row                 query / reference descriptors
==================  ===============================================================
two_stream_aa       two-stream network trained on (I_a', I_a): f(I_a') vs f(I_a)
two_stream_ga       two-stream network trained on (I_g, I_a): f(I_g) vs f(I_a)
joint_aa            joint network: f_a'(I_a') vs f_a(I_a)
joint_ga            joint network: f_g(I_g) vs f_a(I_a)
fusion              FC(concat(f_g, f_a')) vs FC(f_a)
==================  ===============================================================

Per row: R@1, R@10 and R@1% ground -> aerial and aerial -> ground, with K of R@1% both
``floor(N/100)+1`` (the authors' code) and ``floor(N/100)``; the published CVUSA numbers beside
them. The paper's claim, tested on R@1: joint > two-stream and fusion > joint. Synthesis metrics
(Sat2Density convention: SSIM, PSNR, SD, RMSE) of the synthesized aerials against the real
tiles, beside the inverse-polar baseline. Runs and ``summary.json`` go to
``bench_out/regmi_shah/``. The training budget guard is ``--budget-min`` (default 20 min; the
stages are sized to finish well before it on 2 free cores); ``--quick`` trains one short epoch per
stage on a 120-pair world (under 3 minutes). Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_regmi_shah.py [--quick] [--budget-min 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out" / "regmi_shah"
WORLD = {"tile_px": 128, "pano_hw": (64, 256)}
FULL = {"pairs": 2500, "budget_min": 20.0, "overrides": {}}
QUICK = {"pairs": 120, "budget_min": 2.0,
         "overrides": {"synthesis_epochs": 1, "two_stream_epochs": 1, "joint_epochs": 1,
                       "fusion_epochs": 1, "train.epochs": 4, "train.batch_size": 16,
                       "train.eval_every": 4, "train.eval_synthesis_pairs": 16}}
ROWS = ("two_stream_aa", "two_stream_ga", "joint_aa", "joint_ga", "fusion")
PUBLISHED = {  # ICCV 2019 poster, CVUSA ground -> aerial (SPECS.md §9): R@1 / R@10 / R@1%
    "two_stream_aa": (10.23, 35.10, 72.58), "two_stream_ga": (18.45, 48.98, 82.94),
    "joint_aa": (14.31, 48.75, 86.47), "joint_ga": (29.75, 66.34, 92.09),
    "fusion": (48.75, 81.27, 95.98),
}
PUBLISHED_FUSION_A2G = (44.99, 79.37, 95.66)


def _world(pairs: int) -> str:
    sys.path.insert(0, str(HERE))
    from _common import synthetic_world

    return f"cvusa:{synthetic_world('cvusa', pairs=pairs, seed=0, **WORLD)}"


def _recalls(query: Any, reference: Any, truth: Any, direction: str) -> dict[str, float]:
    from crossview.evaluation.retrieval import recall_at_k

    out: dict[str, float] = {}
    for rule, key in (("floor+1", "R@1%"), ("floor", "R@1%_floor")):
        r = recall_at_k(query, reference, truth, (1, 10), rule, direction=direction).to_dict()
        out.update({"R@1": round(r["R@1"], 2), "R@10": round(r["R@10"], 2),
                    key: round(r["R@1%"], 2)})
    return out


def table_rows(method: Any, table: Any) -> dict[str, Any]:
    """Every descriptor row of ``method`` on ``table``: both directions, both R@1% rules."""
    from crossview.evaluation.retrieval import inverse_truth
    from crossview.inference import embed_aerial, embed_ground

    truth = table.truth()
    inverse = inverse_truth(truth, len(table.references))
    rows = {}
    for row in ROWS:
        if row not in method.retrieval_variants():
            rows[row] = None  # its stage was not reached
            continue
        with method.variant(row):
            g = embed_ground(method, table, batch_size=64)
            a = embed_aerial(method, table, batch_size=64)
        rows[row] = {"ground_to_aerial": _recalls(g, a, truth, "ground_to_aerial"),
                     "aerial_to_ground": (_recalls(a, g, inverse, "aerial_to_ground")
                                          if inverse is not None else None),
                     "published_ground_to_aerial": dict(zip(("R@1", "R@10", "R@1%"),
                                                            PUBLISHED[row], strict=True))}
    rows["fusion_published_aerial_to_ground"] = dict(
        zip(("R@1", "R@10", "R@1%"), PUBLISHED_FUSION_A2G, strict=True))
    rows["chance_R@1"] = round(100.0 / max(1, len(table.references)), 2)
    return rows


def _ordering(rows: dict[str, Any]) -> dict[str, Any]:
    def r1(name: str) -> float | None:
        row = rows.get(name)
        return None if row is None else row["ground_to_aerial"]["R@1"]

    checks = {"joint_ga > two_stream_ga": (r1("joint_ga"), r1("two_stream_ga")),
              "joint_aa > two_stream_aa": (r1("joint_aa"), r1("two_stream_aa")),
              "fusion > joint_ga": (r1("fusion"), r1("joint_ga"))}
    return {name: (None if a is None or b is None else bool(a > b))
            for name, (a, b) in checks.items()}


def run(quick: bool = False, budget_min: float | None = None, pairs: int | None = None,
        out: str | Path | None = None) -> dict[str, Any]:
    """Train the tiny preset through every stage and report the paper's table (see module)."""
    from crossview.inference import synthesis_scores
    from crossview.io import write_json_atomic
    from crossview.training.checkpoint import load_run
    from crossview.training.steps import load_data, train

    recipe = QUICK if quick else FULL
    pairs = pairs or int(recipe["pairs"])  # type: ignore[call-overload]
    budget = float(budget_min or recipe["budget_min"])  # type: ignore[arg-type]
    out = Path(out) if out is not None else OUT
    t0 = time.perf_counter()
    data = _world(pairs)
    world_min = (time.perf_counter() - t0) / 60
    run_dir = out / ("quick" if quick else "tiny")
    shutil.rmtree(run_dir, ignore_errors=True)  # an existing run would be resumed
    t1 = time.perf_counter()
    trained = train("regmi_shah", data, run_dir, "tiny", dict(recipe["overrides"]),  # type: ignore[call-overload]
                    budget)
    train_min = (time.perf_counter() - t1) / 60
    t2 = time.perf_counter()
    method = load_run(run_dir, which="last").method
    table = load_data(data).select("val")
    rows = table_rows(method, table)
    synth = synthesis_scores(method, table, ["val"], batch_size=32)["val"]
    result = {
        "preset": "tiny", "pairs": load_data(data).split_counts(), "eval_split": "val",
        "checkpoint": "last", "stage_reached": method.stage, "stopped": trained.stopped,
        "steps": trained.step, "epochs": trained.epoch,
        "minutes": {"world": round(world_min, 2), "train": round(train_min, 2),
                    "eval": round((time.perf_counter() - t2) / 60, 2)},
        "one_percent": "R@1%: K = floor(N/100)+1 (authors' code); R@1%_floor: K = floor(N/100)",
        "rows": rows, "ordering_on_R@1": _ordering(rows),
        # synthesis_scores calls the geometric baseline of either direction "polar_baseline";
        # here (ground -> aerial) it is the inverse polar transform of the panorama.
        "synthesis_sat2density": {
            {"polar_baseline": "inverse_polar_baseline"}.get(k, k):
            {m: round(float(v), 4) for m, v in d.items()} for k, d in synth.items()},
    }
    result["minutes"]["total"] = round((time.perf_counter() - t0) / 60, 2)
    write_json_atomic(out / ("summary_quick.json" if quick else "summary.json"), result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="120 pairs, one epoch per stage")
    parser.add_argument("--budget-min", type=float, default=None, help="training budget guard")
    parser.add_argument("--pairs", type=int, default=None, help="pairs in the synthetic world")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.budget_min, args.pairs, args.out), indent=2))
