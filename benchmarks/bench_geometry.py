"""Polar-transform throughput: crossview (torch ``grid_sample``) vs a NumPy baseline.

The baseline follows the authors' preprocessing approach (SAFA's data preparation): compute the
sampling map once, then bilinearly sample each image with vectorised NumPy indexing. Here the map,
the integer taps and the weights are all precomputed, so the baseline is a strong one.
Sizes: 256x256 tiles -> 128x512 (DSM). ``run(quick=True)`` uses a small batch.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from crossview.device import get_device
from crossview.geometry.polar import polar_sampling_coords, polar_transform

SIZE, HEIGHT, WIDTH = 256, 128, 512


class NumpyPolar:
    """Sampling map computed once; per-image vectorised bilinear interpolation (channels last)."""

    def __init__(self, size: int, height: int, width: int) -> None:
        row, col = (c.numpy() for c in polar_sampling_coords(size, height, width))
        r0, c0 = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
        self.taps, self.weights = [], []
        for dr in (0, 1):
            for dc in (0, 1):
                rr, cc = r0 + dr, c0 + dc
                inside = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
                weight = (1 - np.abs(row - rr)) * (1 - np.abs(col - cc)) * inside
                flat_index = np.clip(rr, 0, size - 1) * size + np.clip(cc, 0, size - 1)
                self.taps.append(flat_index.ravel())
                self.weights.append(weight.ravel().astype(np.float32)[:, None])
        self.shape = (height, width)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Polar-transform one ``(S, S, C)`` float32 image into ``(H, W, C)``."""
        flat = image.reshape(-1, image.shape[-1])
        out = flat[self.taps[0]] * self.weights[0]
        for taps, weight in zip(self.taps[1:], self.weights[1:], strict=True):
            out += flat[taps] * weight
        return out.reshape(*self.shape, image.shape[-1])


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(quick: bool = False) -> dict:
    """Measure images/s of both implementations on CPU (and on CUDA when present)."""
    batch, repeats = (16, 2) if quick else (128, 3)
    gen = torch.Generator().manual_seed(0)
    tiles = torch.rand(batch, 3, SIZE, SIZE, generator=gen)
    images = np.ascontiguousarray(tiles.permute(0, 2, 3, 1).numpy())
    baseline = NumpyPolar(SIZE, HEIGHT, WIDTH)
    polar_transform(tiles[:1], HEIGHT, WIDTH)  # build the cached grid outside the timing
    t_torch = _best_of(lambda: polar_transform(tiles, HEIGHT, WIDTH), repeats)
    t_numpy = _best_of(lambda: [baseline(im) for im in images], repeats)
    diff = np.abs(polar_transform(tiles[:4], HEIGHT, WIDTH).permute(0, 2, 3, 1).numpy()
                  - np.stack([baseline(im) for im in images[:4]])).max()
    result = {
        "tile": SIZE, "out_hw": [HEIGHT, WIDTH], "batch": batch,
        "torch_threads": torch.get_num_threads(),
        "cpu_torch_images_per_s": round(batch / t_torch, 1),
        "cpu_numpy_images_per_s": round(batch / t_numpy, 1),
        "cpu_speedup": round(t_numpy / t_torch, 2),
        "max_abs_diff": float(diff),
    }
    device = get_device()
    if device.type == "cuda":
        gpu_tiles = tiles.to(device)
        polar_transform(gpu_tiles, HEIGHT, WIDTH)
        torch.cuda.synchronize()

        def gpu() -> None:
            polar_transform(gpu_tiles, HEIGHT, WIDTH)
            torch.cuda.synchronize()

        result["cuda_torch_images_per_s"] = round(batch / _best_of(gpu, repeats), 1)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
