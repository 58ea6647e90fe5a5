"""Benchmark of the synthetic world: ``world make`` throughput, peak memory and difficulty."""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path


def run(quick: bool = False) -> dict:
    """Pairs/s of ``make_world`` at the default sizes (256 px tiles, 512x128 panoramas,
    2 km region, JPEG/PNG writing included), peak RSS, and the colour-histogram matcher R@1
    (500 validation pairs; 100 when ``quick``)."""
    import torch

    from crossview.world import make_world
    from crossview.world.checks import alignment_shifts, histogram_matcher_recall

    # One intra-op thread: on a shared 2-core machine more threads oversubscribe and run ~30x slower.
    torch.set_num_threads(1)
    pairs = 40 if quick else 200
    out: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_world_"))
    try:
        t0 = time.perf_counter()
        make_world(tmp / "warm", "cvusa", 1, 0)            # scene generation alone (1 pair)
        scene_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        make_world(tmp / "speed", "cvusa", pairs, 0)
        total = time.perf_counter() - t0
        out["scene_generation_s"] = round(scene_s, 2)
        out["make_pairs"] = pairs
        out["make_total_s"] = round(total, 2)
        out["pairs_per_s_excluding_scene"] = round(pairs / max(total - scene_s, 1e-9), 2)
        n_val = 100 if quick else 500
        t0 = time.perf_counter()
        root = make_world(tmp / "difficulty", "cvusa", n_val + 20, 1, tile_px=64,
                          pano_hw=(32, 128), region_m=1200.0, tile_m=50.0,
                          val_fraction=n_val / (n_val + 20))
        out["small_world_pairs_per_s"] = round((n_val + 20) / (time.perf_counter() - t0), 2)
        recall, queries = histogram_matcher_recall(root, "val")
        out["histogram_matcher_r1"] = recall
        out["histogram_matcher_queries"] = queries
        shifts = [abs(s) for s in alignment_shifts(root) if s is not None]
        out["alignment_within_5deg"] = round(sum(s <= 5.0 for s in shifts) / max(1, len(shifts)), 3)
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
