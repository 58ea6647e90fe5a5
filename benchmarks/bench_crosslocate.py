"""CrossLocate on the RMNP DEM: dataset build speed, then ``crosslocate`` tiny against baselines.

One run, all from the public API (the same steps as the CLI):

1. ``dem make`` (depth only) on the Rocky Mountain National Park DEM (233 m cells, Landsat
   texture for the photos): a uniform database on a grid (1 km), query photo renders at random
   positions in three geographically disjoint strips (train, val, and a test block in the east),
   and the sparse database (12 views at every query position). Reported: database views and
   photos per second of the whole build (2 rendering processes).
2. ``train`` of ``crosslocate`` tiny on the sparse training database (views at the training
   queries' positions: positives within 20 m and 15 deg; negatives > 2 km, mined by descriptor
   distance) for a wall-clock budget.
3. ``eval`` of the test block against the uniform database (the real task) and the sparse one,
   with the untrained network and chance (random database views) in the same table: recall@1 and
   @100 at 100 m and 1 km, plus the recall-vs-distance curves to 10 km (JSON and PNG).

The uniform grid is 1 km and queries lie at least a tenth of it (100 m) from every node, so
against the uniform database recall within 100 m is 0 by construction (as in the paper, whose
Uniform grid is 500 m); the 1 km threshold is the paper's headline.

    python benchmarks/bench_crosslocate.py [--quick]      # quick: about 3 minutes

Full: 28,392 database views and 1,000 photos to render, then 20 minutes of training: about
27 minutes on 2 idle CPU cores (build ~5, eval ~1), longer when other jobs share them (the
build ran at 37 views/s under a load of ~9 on 2 cores, which would make it ~13 minutes). Writes
``bench_out/crosslocate/<quick|full>[-q<N>][-t<M>]/`` (dataset, run, ``results.json``,
``curves.png``, the eval JSONs). ``--queries N --train-min M`` change the mode's sizes.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench_out" / "crosslocate"

FULL = {
    "dataset": {"grid_m": 1000.0, "queries": 1000, "view_px": 48, "query_hw": (36, 48),
                "val_fraction": 0.1, "test_fraction": 0.3, "margin_m": 1000.0, "seed": 0},
    "train_minutes": 20.0,
    "method": {"ground_hw": [48, 48], "aerial_size": 48},
}
"""The full benchmark: a 1 km uniform grid (1,366 positions: 410 in the test block), 1,000
queries (600 train, 100 val, 300 test), 48 px views, 20 minutes of training."""
QUICK = {
    "dataset": {"grid_m": 4000.0, "queries": 200, "view_px": 48, "query_hw": (36, 48),
                "val_fraction": 0.1, "test_fraction": 0.3, "margin_m": 1500.0, "seed": 0},
    "train_minutes": 1.25,
    "method": {"ground_hw": [48, 48], "aerial_size": 48},
}
"""Minutes, not half an hour: a 4 km grid, 200 queries, 75 s of training."""
REPORTED = (("1", "100"), ("100", "100"), ("1", "1000"), ("100", "1000"))
"""(N, t metres) cells of the summary table (the issue's recall@1 / @100 at 100 m and 1 km)."""


def dem_dir() -> Path:
    """``../shared/data/dem`` next to the repository (or next to one of its ancestors)."""
    for base in REPO.parents:
        folder = base / "shared" / "data" / "dem"
        if (folder / "rmnp-dem.tif").is_file():
            return folder
    raise SystemExit(f"bench_crosslocate: RMNP DEM not found ({REPO.parent}/shared/data/dem)")


def build_dataset(root: Path, settings: dict[str, Any], reuse: bool = False) -> dict[str, Any]:
    """Render the dataset into a fresh ``root``; returns counts and speeds.

    ``reuse`` keeps a complete earlier build (then no speed is measured).
    """
    from crossview.dem import DemDatasetConfig, build_dem_dataset

    if root.exists() and reuse and (root / "Sparse" / "database.csv").is_file():
        counts = json.loads((root / "dem_dataset.json").read_text())["counts"]
        return {"reused": str(root), "photos": counts["query"]}
    if root.exists():
        shutil.rmtree(root)  # a speed measurement: never resume a previous build
    folder = dem_dir()
    cfg = DemDatasetConfig(dem=str(folder / "rmnp-dem.tif"), rgb=str(folder / "rmnp-rgb.tif"),
                           modalities=("depth",), variants=("uniform", "sparse"), workers=2,
                           **settings)
    start = time.perf_counter()
    build_dem_dataset(cfg, root)
    seconds = time.perf_counter() - start
    counts = json.loads((root / "dem_dataset.json").read_text())["counts"]
    views = (counts["uniform"] + counts["sparse"]) * cfg.views_per_position
    return {"seconds": round(seconds, 1), "database_views": views, "photos": counts["query"],
            "uniform_positions": counts["uniform"],
            "views_per_s": round(views / seconds, 1),
            "views_and_photos_per_s": round((views + counts["query"]) / seconds, 1),
            "view_px": cfg.view_px, "workers": 2}


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Trained / untrained / chance rows with the reported cells only."""
    from crossview.evaluation.results import distance_recall_rows

    rows = []
    for row in distance_recall_rows(result, "crosslocate tiny"):
        cells = {f"R@{n} {t} m": row.get(f"R@{n} {t} m") for n, t in REPORTED}
        rows.append({"model": row["model"],
                     **{k: None if v is None else round(v, 2) for k, v in cells.items()}})
    return rows


def run(quick: bool = False, reuse_data: bool = False, threads: int = 1,
        queries: int | None = None, train_minutes: float | None = None) -> dict[str, Any]:
    """Build, train, evaluate; returns the summary (also written to ``results.json``).

    ``reuse_data`` keeps an earlier dataset of the same mode (no build speed then);
    ``queries`` and ``train_minutes`` override the mode's (the output folder then says so,
    e.g. ``quick-q700-t4``). ``threads``:
    torch threads of training and evaluation (the build always uses 2 one-thread workers). One
    by default: on 2 cores shared with other jobs, two threads oversubscribe them (measured
    under load: 10 against 98 training pairs/s).
    """
    import torch

    import crossview
    from crossview.evaluation.results import distance_curves
    from crossview.reports.curves import plot_recall_distance
    from crossview.reports.render import save_figure

    torch.set_num_threads(threads)
    settings = copy.deepcopy(QUICK if quick else FULL)
    name = "quick" if quick else "full"
    if queries is not None:
        settings["dataset"]["queries"] = queries
        name += f"-q{queries}"
    if train_minutes is not None:
        settings["train_minutes"] = train_minutes
        name += f"-t{train_minutes:g}"
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    root, run_dir = out / "data", out / "run"
    dataset = build_dataset(root, settings["dataset"], reuse_data)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    overrides = {f"method.{k}": v for k, v in settings["method"].items()}
    overrides |= {"train.time_budget_min": settings["train_minutes"], "train.epochs": 10_000,
                  "train.eval_every": 4}
    start = time.perf_counter()
    trained = crossview.train("crosslocate", f"crosslocate:{root}", run_dir, "tiny", overrides,
                              data_options={"variant": "sparse"})
    train_info = {"minutes": round((time.perf_counter() - start) / 60, 2), "steps": trained.step,
                  "epochs": trained.epoch, "pairs_per_s": round(trained.pairs_per_s, 1),
                  "stopped": trained.stopped}
    databases: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    for variant in ("uniform", "sparse"):
        start = time.perf_counter()
        result = crossview.evaluate(run_dir, f"crosslocate:{root}", split="test",
                                    data_options={"variant": variant}, baselines=True)
        databases[variant] = {"queries": result["num_queries"],
                              "database_views": result["num_references"],
                              "eval_minutes": round((time.perf_counter() - start) / 60, 2),
                              "rows": summary_rows(result)}
        curves[variant] = distance_curves(result, "trained")
        (out / f"eval_{variant}.json").write_text(json.dumps(crossview_plain(result)) + "\n")
    save_figure(plot_recall_distance(curves["uniform"], "crosslocate tiny, RMNP test block, "
                                     "uniform database", ns=("1", "100")), out / "curves.png")
    summary = {"quick": quick, "threads": threads, "dataset": dataset, "training": train_info,
               "test": databases, "curves_png": str(out / "curves.png"),
               "beats_untrained": {v: _beats(*d["rows"][:2]) for v, d in databases.items()}}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _beats(trained: dict[str, Any], untrained: dict[str, Any]) -> dict[str, bool]:
    """Per reported cell, whether the trained network's recall is above the untrained one's."""
    return {k: float(trained[k] or 0) > float(untrained[k] or 0) for k in trained
            if k != "model"}


def crossview_plain(value: Any) -> Any:
    """JSON-able copy (numpy scalars and tuples)."""
    from crossview.io import plain

    return plain(value)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (about 3 minutes)")
    parser.add_argument("--reuse-data", action="store_true",
                        help="keep an earlier dataset of this mode (no build speed)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of training and evaluation (default 1)")
    parser.add_argument("--queries", type=int, default=None, help="override the query count")
    parser.add_argument("--train-min", type=float, default=None,
                        help="override the training budget (minutes)")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick, reuse_data=args.reuse_data, threads=args.threads,
                         queries=args.queries, train_minutes=args.train_min), indent=2))
