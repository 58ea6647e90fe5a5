"""Sat2Density benchmarks, by section (``--only renderer``; training sections come later).

``renderer``: panoramas/s of :func:`crossview.geometry.volume.render_panorama` at the paper's
CVACT size (65 x 256 x 256 density grid over 30 m, 128x512 panorama spanning 180 degrees, 100
samples per ray, colour from a 256 px tile), forward only and forward + backward, on CPU and on
CUDA when present; against the same computation as a plain per-ray NumPy loop
(:mod:`crossview.geometry._volume_reference`) on a few random rays, extrapolated to a whole
panorama, with the largest difference on those rays reported.

Usage::

    python benchmarks/bench_sat2density.py [--quick] [--only renderer]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch

from crossview.geometry import _volume_reference as ref
from crossview.geometry.volume import add_ground_slice, render_panorama

SLICES, TILE_PX, TILE_M, TOP_M, CAMERA_M = 65, 256, 30.0, 8.0, 2.0
PANO_HW, VFOV, SAMPLES = (128, 512), 180.0, 100


def _scene(batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Random densities (a few opaque blobs over a sparse field) and a random tile."""
    gen = torch.Generator().manual_seed(0)
    field = torch.rand(batch, SLICES - 1, TILE_PX // 8, TILE_PX // 8, generator=gen)
    field = torch.nn.functional.interpolate(field, size=(TILE_PX, TILE_PX), mode="bilinear")
    density = add_ground_slice(torch.where(field > 0.8, field * 20.0, field * 0.05))
    tile = torch.rand(batch, 3, TILE_PX, TILE_PX, generator=gen)
    return density.to(device), tile.to(device)


def _timed(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up (allocation, kernel selection)
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _render(density: torch.Tensor, tile: torch.Tensor):  # noqa: ANN202
    return render_panorama(density, tile, TILE_M, max_height_m=TOP_M, camera_height_m=CAMERA_M,
                           pano_hw=PANO_HW, vfov_deg=VFOV, samples=SAMPLES)


def _device_rates(device: torch.device, batch: int, repeats: int) -> dict:
    density, tile = _scene(batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def forward() -> None:
        with torch.no_grad():
            _render(density, tile)

    def backward() -> None:
        d = density.detach().requires_grad_()
        c = tile.detach().requires_grad_()
        out = _render(d, c)
        (out.colour.sum() + out.depth.sum() + out.opacity.sum()).backward()

    t_fwd, t_bwd = _timed(forward, repeats, sync), _timed(backward, repeats, sync)
    return {"batch": batch, "forward_panoramas_per_s": round(batch / t_fwd, 2),
            "forward_backward_panoramas_per_s": round(batch / t_bwd, 2)}


def _numpy_agreement(rays: int) -> dict:
    density, tile = _scene(1)
    out = _render(density, tile)
    d_np, t_np = density[0].double().numpy(), tile[0].double().numpy()
    origin = np.array([0.0, 0.0, CAMERA_M])
    longest = ref.longest_path(origin, TILE_M, TOP_M)
    t = longest * np.arange(1, SAMPLES + 1) / SAMPLES
    rng = np.random.default_rng(0)
    rows = rng.integers(0, PANO_HW[0], rays)
    cols = rng.integers(0, PANO_HW[1], rays)
    diff = {"colour": 0.0, "depth_m": 0.0, "opacity": 0.0}
    start = time.perf_counter()
    for r, c in zip(rows, cols, strict=True):
        d = ref.panorama_direction(int(r), int(c), *PANO_HW, VFOV)
        rgb, depth, opacity = ref.render_ray(d_np, t_np, origin, d, t, TILE_M, TOP_M)
        assert rgb is not None
        diff["colour"] = max(diff["colour"], float(np.abs(out.colour[0, :, r, c].double().numpy()
                                                          - rgb).max()))
        diff["depth_m"] = max(diff["depth_m"], abs(float(out.depth[0, 0, r, c]) - depth))
        diff["opacity"] = max(diff["opacity"], abs(float(out.opacity[0, 0, r, c]) - opacity))
    per_ray = (time.perf_counter() - start) / rays
    pano_s = per_ray * PANO_HW[0] * PANO_HW[1]
    return {"rays": rays, "seconds_per_ray": round(per_ray, 6),
            "extrapolated_seconds_per_panorama": round(pano_s, 1),
            "panoramas_per_s": round(1.0 / pano_s, 5),
            "max_abs_diff_vs_torch_float32": {k: float(f"{v:.3g}") for k, v in diff.items()}}


def bench_renderer(quick: bool) -> dict:
    """Renderer throughput on CPU (and CUDA) against the per-ray NumPy loop."""
    result = {
        "setting": {"density": [SLICES, TILE_PX, TILE_PX], "tile_m": TILE_M,
                    "pano_hw": list(PANO_HW), "vfov_deg": VFOV, "samples": SAMPLES},
        "torch_threads": torch.get_num_threads(),
        "cpu": _device_rates(torch.device("cpu"), 1 if quick else 2, 1 if quick else 3),
        "numpy_per_ray_loop": _numpy_agreement(32 if quick else 256),
    }
    result["cpu_speedup_vs_numpy"] = round(
        result["cpu"]["forward_panoramas_per_s"]
        / result["numpy_per_ray_loop"]["panoramas_per_s"], 0)
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        result["cuda"] = {"device": torch.cuda.get_device_name(cuda),
                          **_device_rates(cuda, 4 if quick else 16, 3 if quick else 10)}
    return result


SECTIONS: dict[str, Callable[[bool], dict]] = {"renderer": bench_renderer}
"""Benchmark sections by name; each takes ``quick`` and returns a JSON-able dict."""


def run(quick: bool = False, only: list[str] | None = None) -> dict:
    """Run the selected sections (all by default) and return their results by name."""
    names = only or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; choose from {sorted(SECTIONS)}")
    return {name: SECTIONS[name](quick) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small batches, fewer rays")
    parser.add_argument("--only", default="", help=f"comma-separated sections of {list(SECTIONS)}")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s] or None
    print(json.dumps(run(args.quick, only), indent=2))


if __name__ == "__main__":
    main()
