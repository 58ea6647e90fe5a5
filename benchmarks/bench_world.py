"""Benchmark of the synthetic world: ``world make`` speed, CPU time, peak memory, difficulty."""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def _cpu_s() -> float:
    """User + system CPU seconds of this process and of its reaped children (the workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _make(root: Path, pairs: int, workers: int, scene_s: float, **options: Any) -> dict:
    """Time one ``make_world`` at the defaults; pairs/s with and without the scene generation."""
    from crossview.world import make_world

    cpu0, t0 = _cpu_s(), time.perf_counter()
    make_world(root, "cvusa", pairs, 0, workers=workers, **options)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    return {"total_s": round(wall, 2), "pairs_per_s": round(pairs / wall, 2),
            "pairs_per_s_excluding_scene": round(pairs / max(wall - scene_s, 1e-9), 2),
            "cpu_s_per_pair": round((cpu - scene_s) / pairs, 4)}


def run(quick: bool = False) -> dict:
    """Pairs/s of ``make_world`` at the default sizes (256 px tiles, 512x128 panoramas, 2 km
    region, CVUSA layout, JPEG/PNG/npy writing included) with 1 and 2 worker processes, CPU
    seconds per pair, peak RSS of the parent and of the largest worker, and the
    colour-histogram matcher R@1 (500 validation pairs; 100 when ``quick``).

    Scene generation (once per run, in the parent) is timed alone and reported apart.
    """
    import torch

    from crossview.world import make_world
    from crossview.world.checks import alignment_shifts, histogram_matcher_recall
    from crossview.world.config import WorldConfig
    from crossview.world.make import _regions

    # One intra-op thread: on a shared 2-core machine more threads oversubscribe (~30x slower).
    torch.set_num_threads(1)
    pairs = 60 if quick else 200
    out: dict = {"make_pairs": pairs}
    tmp = Path(tempfile.mkdtemp(prefix="bench_world_"))
    try:
        t0 = time.perf_counter()
        _regions(WorldConfig())                             # the scene alone (2 km, 0.5 m cells)
        scene_s = time.perf_counter() - t0
        out["scene_generation_s"] = round(scene_s, 2)
        for workers in (1, 2):
            out[f"workers_{workers}"] = _make(tmp / f"speed{workers}", pairs, workers, scene_s)
        out["same_bytes_workers_1_and_2"] = _same_files(tmp / "speed1", tmp / "speed2")
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
        # ru_maxrss is in KiB on Linux. Forked workers count the scene pages they share with the
        # parent as their own, so parent + 2 x worker overstates the real total.
        parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out["peak_rss_parent_mib"] = round(parent, 1)
        out["peak_rss_largest_worker_mib"] = round(child, 1)
        out["peak_rss_upper_bound_2_workers_mib"] = round(parent + 2 * child, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _same_files(a: Path, b: Path) -> bool:
    """Whether two world folders hold the same files with the same bytes."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
