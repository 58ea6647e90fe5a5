"""Query-condition benchmark (issue 17): localizing a person's photo, per retrieval method.

For every model, :func:`crossview.index.conditions.evaluate_conditions` (the step behind
``crossview eval-conditions``) scores the held-out panoramas of a synthetic CVUSA-layout world
under each query condition: known heading; unknown heading; unknown heading with FOV 180, 90 and
70 (DSM protocol, SPECS §1); pinhole photos rendered from the panoramas (FOV 60-90, pitch +-10,
unknown heading). Rows: R@1, R@1%, median metres of the top-1 tile, median heading error at the
true tile; global-descriptor models are also scored with every heading search (``north`` =
assume 0, ``rolls:N``, ``coarse_fine:C:N``, score normalisations), so the docs can say which
search works and that it beats guessing north.

Models come from existing run directories (``--run LABEL=RUN_DIR``, repeatable) or are trained
here with ``crossview train`` under a budget (``--budget-min`` per model, default 15): the
models of :data:`MODELS` (``method:preset``). Targets (issue 17): for 360-degree queries,
unknown-heading R@1 >= 80 % of known-heading R@1 per method (``target_ratio``).

``--quick`` (< 3 minutes on 2 CPU cores): a 120-pair world at 64 px tiles / 32x128
panoramas, two models trained for a few steps, 24 queries. It checks the machinery, not the
numbers.

Usage::

    python benchmarks/bench_query_conditions.py --quick
    python benchmarks/bench_query_conditions.py --budget-min 15 --out bench_out/conditions.json
    python benchmarks/bench_query_conditions.py --run safa=runs/safa --run s4g=runs/s4g
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out" / "conditions"
MODELS = ("safa:tiny", "safa:tiny_photo", "sample4geo:tiny", "sample4geo:tiny_photo",
          "clnet:tiny", "cde:tiny")
"""``method:preset`` trained by the full benchmark (15 CPU minutes each by default)."""
QUICK_MODELS = ("safa:tiny_photo", "sample4geo:tiny")
WORLD = {"pairs": 2500, "tile_px": 128, "pano_hw": (64, 256)}
"""The learning world of ``bench_training.py`` (500 held-out panoramas and tiles)."""
QUICK_WORLD = {"pairs": 120, "tile_px": 64, "pano_hw": (32, 128)}
TARGET_RATIO = 0.8


def _world(options: dict[str, Any]) -> str:
    sys.path.insert(0, str(HERE))
    from _common import synthetic_world

    opts = dict(options)
    pairs = opts.pop("pairs")
    return f"cvusa:{synthetic_world('cvusa', pairs=pairs, seed=0, **opts)}"


def _train(model: str, data: str, out: Path, budget_min: float, quick: bool) -> Path:
    """Train ``method:preset`` into ``out/<method>-<preset>`` (resumes a finished run as is)."""
    import crossview

    method, _, preset = model.partition(":")
    run = out / f"{method}-{preset or 'tiny'}"
    overrides: dict[str, Any] = {"train.eval_every": 0}
    if quick:
        overrides.update({"train.max_steps": 2, "train.batch_size": 8})
    crossview.train(method, data, run, preset or "tiny", overrides, time_budget_min=budget_min)
    return run


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """Unknown-heading over known-heading R@1, for the default search and the best one."""
    conds = result["conditions"]
    if "known" not in conds or "unknown" not in conds:
        return {}
    known = conds["known"]["known"]["R@1"]
    unknown = conds["unknown"]
    default = unknown.get(result["default_search"], {}).get("R@1")
    best_name = max(unknown, key=lambda s: unknown[s]["R@1"])
    fov90 = conds.get("fov90", {}).get(result["default_search"], {}).get("R@1")

    def ratio(value: float | None) -> float | None:
        return None if value is None or known <= 0 else value / known

    return {"known_R@1": known, "unknown_R@1": default, "ratio": ratio(default),
            "target_met": (ratio(default) or 0.0) >= TARGET_RATIO,
            "best_search": best_name, "best_ratio": ratio(unknown[best_name]["R@1"]),
            "north_ratio": ratio(unknown.get("north", {}).get("R@1")),
            "fov90_ratio": ratio(fov90)}


def run(quick: bool = False, runs: dict[str, str] | None = None, budget_min: float = 15.0,
        models: tuple[str, ...] | None = None, max_queries: int | None = None,
        out: Path = OUT) -> dict[str, Any]:
    """Evaluate (training first when no ``runs`` are given); returns the JSON summary."""
    from crossview.index.conditions import condition_table, evaluate_conditions

    data = _world(QUICK_WORLD if quick else WORLD)
    started = time.perf_counter()
    if not runs:
        chosen = models or (QUICK_MODELS if quick else MODELS)
        runs = {m: str(_train(m, data, out, 0.2 if quick else budget_min, quick))
                for m in chosen}
    queries = max_queries or (24 if quick else None)
    results: dict[str, Any] = {}
    for label, path in runs.items():
        result = evaluate_conditions(path, data, "val", max_queries=queries)
        results[label] = {"table": condition_table(result), "ratios": ratios(result),
                          "full": result}
    return {"benchmark": "query_conditions", "quick": quick, "data": data,
            "minutes": (time.perf_counter() - started) / 60.0, "models": results}


def main() -> None:
    """Command-line entry: print the JSON summary (and write it with ``--out-json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="machinery check (< 3 min)")
    parser.add_argument("--run", action="append", default=[], help="LABEL=RUN_DIR (repeatable)")
    parser.add_argument("--budget-min", type=float, default=15.0, help="training per model")
    parser.add_argument("--models", default=None, help="comma-separated method:preset")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--out", type=Path, default=OUT, help="folder of trained runs")
    parser.add_argument("--out-json", type=Path, default=None)
    args = parser.parse_args()
    runs = dict(item.split("=", 1) for item in args.run) if args.run else None
    models = tuple(args.models.split(",")) if args.models else None
    summary = run(args.quick, runs, args.budget_min, models, args.max_queries, args.out)
    brief = {k: v for k, v in summary.items() if k != "models"}
    brief["models"] = {k: {"table": v["table"], "ratios": v["ratios"]}
                       for k, v in summary["models"].items()}
    text = json.dumps(brief, indent=1)
    print(text)
    if args.out_json is not None:
        from crossview.io import write_json_atomic

        write_json_atomic(args.out_json, summary)


if __name__ == "__main__":
    main()
