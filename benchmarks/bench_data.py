"""Data-area throughput: hard-negative batch construction and blockwise similarity neighbours.

Sizes follow VIGOR's training set (~40k panoramas, Sample4Geo batch 128); ``quick`` uses 5k.
Usage: ``python benchmarks/bench_data.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from crossview.data.samplers import GPSNeighbourSampler, SimilarityNeighbourSampler


def run(quick: bool = False) -> dict:
    """Time GPS-neighbour set-up + one epoch of batches, and one similarity update."""
    n = 5000 if quick else 40000
    rng = np.random.default_rng(0)
    utm = rng.uniform(0, 20000, size=(n, 2))
    t0 = time.perf_counter()
    gps = GPSNeighbourSampler(utm, batch_size=128, neighbours=32)
    t1 = time.perf_counter()
    batches = gps.batches(0)
    t2 = time.perf_counter()
    desc = torch.nn.functional.normalize(torch.randn(n, 512), dim=1)
    sim = SimilarityNeighbourSampler(n, batch_size=128, neighbours=32, block_size=2048)
    t3 = time.perf_counter()
    sim.update(desc, desc)
    t4 = time.perf_counter()
    full = sum(len(b) == 128 for b in batches) / len(batches)
    return {
        "n": n,
        "gps_neighbours_s": round(t1 - t0, 3),
        "epoch_batches_s": round(t2 - t1, 3),
        "full_batch_fraction": round(full, 4),
        "similarity_update_s": round(t4 - t3, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
