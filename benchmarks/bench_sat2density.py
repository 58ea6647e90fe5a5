"""Sat2Density benchmarks, by section (``--only renderer,training,ablations``).

``training``: on a CVACT-layout synthetic world (400 pairs over 30 m tiles, panoramas spanning
180 degrees; ``--quick``: 32 pairs at the tiny input sizes), ``sat2density`` (preset ``tiny``)
and ``cde`` (preset ``tiny``) train through the one trainer for the same wall-clock budget each
(``--budget-min``, ``$CROSSVIEW_BENCH_S2D_MIN``; default 20 minutes, ``--quick`` 0.2) and are
scored from their ``last`` checkpoints on the world's validation split: PSNR / SSIM / SD / RMSE
(Sat2Density convention) of sat2density's panoramas against the polar-transformed tile, and on
the +-45 degree band CDE synthesizes (sat2density's band resized to CDE's 32x176) against cde
and its polar baseline; and the geometry (``crossview.inference.geometry_scores``): median
absolute relative depth error on non-sky pixels within 50 m and sky/non-sky IoU of the opacity,
against the flat-ground baseline.

``ablations``: Table 1's rows (Base, +Opa, +Illu, +Illu+Opa; the full model is the training
section's) trained for the same budget on the same world, with the same metrics.

``renderer``: panoramas/s of :func:`crossview.geometry.volume.render_panorama` at the paper's
CVACT size (65 x 256 x 256 density grid over 30 m, 128x512 panorama spanning 180 degrees, 100
samples per ray, colour from a 256 px tile), forward only and forward + backward, on CPU and on
CUDA when present; against the same computation as a plain per-ray NumPy loop
(:mod:`crossview.geometry._volume_reference`) on a few random rays, extrapolated to a whole
panorama, with the largest difference on those rays reported.

Runs and ``summary.json`` go to ``bench_out/sat2density/``. Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_sat2density.py [--quick] [--only renderer]
        [--budget-min 20] [--pairs 400]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# --- training comparisons ---------------------------------------------------------------------
HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out" / "sat2density"
BUDGET_ENV = "CROSSVIEW_BENCH_S2D_MIN"
FULL_BUDGET_MIN, QUICK_BUDGET_MIN = 20.0, 0.2
FULL_PAIRS, QUICK_PAIRS = 400, 32
WORLD_TILE_M = 30.0  # CVACT (SPECS §6): the tiny preset's tile_size_m
ABLATIONS: dict[str, dict[str, Any]] = {  # Table 1 rows; "full" is the training section's model
    "base": {"opacity_loss": False, "illumination": False, "depth_to_render": False},
    "base_opa": {"illumination": False, "depth_to_render": False},
    "base_illu": {"opacity_loss": False, "depth_to_render": False},
    "base_illu_opa": {"depth_to_render": False},
}
OPTIONS: dict[str, Any] = {"quick": False, "budget_min": None, "pairs": None, "out": None}
"""Options of the training sections (set by :func:`run`)."""
_STATE: dict[str, Any] = {}


def _budget() -> float:
    """Minutes per model: ``--budget-min``, else ``$CROSSVIEW_BENCH_S2D_MIN``, else the default."""
    budget = OPTIONS["budget_min"]
    if budget is None and os.environ.get(BUDGET_ENV):
        budget = float(os.environ[BUDGET_ENV])
    if budget is None:
        budget = QUICK_BUDGET_MIN if OPTIONS["quick"] else FULL_BUDGET_MIN
    if budget <= 0:
        raise ValueError(f"budget: expected > 0 minutes, got {budget}")
    return float(budget)


def _world() -> Path:
    """The cached CVACT-layout world (2x the tiny sizes; ``--quick``: the tiny sizes)."""
    sys.path.insert(0, str(HERE))
    from _common import synthetic_world
    from crossview.methods import create_method

    spec = create_method("sat2density", "tiny").input_spec
    scale = 1 if OPTIONS["quick"] else 2
    pairs = OPTIONS["pairs"] or (QUICK_PAIRS if OPTIONS["quick"] else FULL_PAIRS)
    return synthetic_world("cvact", pairs=pairs, seed=0, tile_px=scale * spec.aerial_size,
                           pano_hw=(scale * spec.ground_hw[0], scale * spec.ground_hw[1]),
                           tile_m=WORLD_TILE_M)


def _rounded(metrics: dict[str, Any]) -> dict[str, Any]:
    from crossview.evaluation.synthesis import finite_or_none

    return {k: v if k in ("count", "depth_pixels") else finite_or_none(round(float(v), 4))
            for k, v in metrics.items()}


def _train(name: str, method: str, overrides: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Train ``method`` (preset tiny) for the budget into ``OUT/name``; its step counts."""
    from crossview.training.steps import train

    run_dir = Path(OPTIONS["out"] or OUT) / name
    shutil.rmtree(run_dir, ignore_errors=True)  # an existing run would be resumed
    base = {"train.epochs": 100000, "train.eval_every": 0, "train.cache_images": True}
    trained = train(method, f"cvact:{_world()}", run_dir, "tiny", {**base, **overrides},
                    _budget())
    return run_dir, {"steps": trained.step, "epochs": trained.epoch,
                     "minutes": round(trained.minutes, 2),
                     "pairs_per_s": round(trained.pairs_per_s, 2)}


def _sat2density_scores(run_dir: Path) -> dict[str, Any]:
    """Full-panorama synthesis metrics and geometry of a trained sat2density run (val)."""
    from crossview.inference import geometry_scores, synthesis_scores
    from crossview.training.checkpoint import load_run
    from crossview.training.steps import load_data

    table = load_data(f"cvact:{_world()}")
    method = load_run(run_dir, which="last").method
    synth = synthesis_scores(method, table, ["val"], batch_size=16)["val"]
    geo = geometry_scores(method, table, ["val"], batch_size=16)["val"]
    return {"synthesis": _rounded(synth["generator"]),
            "synthesis_polar_baseline": _rounded(synth["polar_baseline"]),
            "geometry": _rounded(geo["generator"]),
            "geometry_flat_ground": _rounded(geo["flat_ground"])}


def _band_scores(s2d_run: Path, cde_run: Path) -> dict[str, Any]:
    """Sat2density, cde and cde's polar baseline on the +-45 degree band at cde's size (val)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    from crossview.data.datasets import PairDataset
    from crossview.evaluation.synthesis import SynthesisMeter
    from crossview.inference import eval_mode, polar_baseline
    from crossview.training.checkpoint import load_run
    from crossview.training.steps import load_data

    table = load_data(f"cvact:{_world()}").select("val")
    s2d, cde = load_run(s2d_run, which="last").method, load_run(cde_run, which="last").method
    spec = cde.input_spec
    if s2d.input_spec.aerial_size != spec.aerial_size:
        raise ValueError("the band comparison needs one tile size for both models")
    meter = SynthesisMeter("sat2density")
    baseline = polar_baseline(spec)
    loader = DataLoader(PairDataset(table, spec, None), batch_size=16, shuffle=False)
    with eval_mode(s2d), eval_mode(cde), torch.inference_mode():
        for batch in loader:
            aerial, target = batch["aerial"], batch["ground"]
            pano = s2d.synthesize(aerial)
            h = pano.shape[-2]
            keep = round(h * spec.ground_vfov_deg / s2d.config.ground_vfov_deg)
            band = pano[..., (h - keep) // 2:(h - keep) // 2 + keep, :]
            band = F.interpolate(band, size=tuple(spec.ground_hw), mode="bilinear",
                                 align_corners=False)
            meter.update("sat2density", band, target)
            meter.update("cde", cde.synthesize(aerial), target)
            meter.update("polar_baseline", baseline(aerial), target)
    return {k: _rounded(v) for k, v in meter.means().items()}


def _full_model() -> dict[str, Any]:
    """Train (once per run) and score the full sat2density model."""
    if "full" not in _STATE:
        run_dir, counts = _train("sat2density", "sat2density", {})
        _STATE["full"] = {"run": run_dir, "train": counts, **_sat2density_scores(run_dir)}
    return _STATE["full"]


def bench_training(quick: bool) -> dict:
    """Sat2density vs the polar tile and cde (same budget); its depth vs the flat ground."""
    from crossview.training.steps import load_data

    full = _full_model()
    cde_run, cde_counts = _train("cde", "cde", {})
    band = _band_scores(full["run"], cde_run)
    s2d, polar = full["synthesis"], full["synthesis_polar_baseline"]
    geo, flat = full["geometry"], full["geometry_flat_ground"]
    return {
        "world": {"layout": "cvact", "tile_m": WORLD_TILE_M,
                  "pairs": load_data(f"cvact:{_world()}").split_counts()},
        "budget_min_per_model": _budget(), "checkpoint": "last", "eval_split": "val",
        "metric_convention": "sat2density",
        "train": {"sat2density": full["train"], "cde": cde_counts},
        "full_panorama": {"sat2density": s2d, "polar_baseline": polar},
        "band_45deg_at_cde_size": band,
        "geometry": {"sat2density": geo, "flat_ground": flat},
        "sat2density_beats_polar": bool(s2d["psnr"] > polar["psnr"]
                                        and s2d["ssim"] > polar["ssim"]),
        "sat2density_beats_cde_on_band": bool(
            band["sat2density"]["psnr"] > band["cde"]["psnr"]
            and band["sat2density"]["ssim"] > band["cde"]["ssim"]),
        "depth_error_below_flat_ground": bool(geo["abs_rel_median"] < flat["abs_rel_median"]),
    }


def bench_ablations(quick: bool) -> dict:
    """Table 1's rows trained for the same budget: synthesis and geometry on val."""
    rows: dict[str, Any] = {}
    for name, overrides in ABLATIONS.items():
        run_dir, counts = _train(f"ablation_{name}", "sat2density",
                                 {f"method.{k}": v for k, v in overrides.items()})
        rows[name] = {"train": counts, **_sat2density_scores(run_dir)}
    full = _full_model()
    rows["full"] = {k: v for k, v in full.items() if k != "run"}
    table = {name: {"psnr": r["synthesis"]["psnr"], "ssim": r["synthesis"]["ssim"],
                    "depth_abs_rel": r["geometry"]["abs_rel_median"],
                    "miou": r["geometry"]["miou"], "steps": r["train"]["steps"]}
             for name, r in rows.items()}
    return {"budget_min_per_model": _budget(), "overrides": ABLATIONS, "table": table,
            "rows": rows, "order_by_psnr": sorted(table, key=lambda n: -(table[n]["psnr"] or 0))}


SECTIONS: dict[str, Callable[[bool], dict]] = {"renderer": bench_renderer,
                                                "training": bench_training,
                                                "ablations": bench_ablations}
"""Benchmark sections by name; each takes ``quick`` and returns a JSON-able dict."""


def run(quick: bool = False, only: list[str] | None = None, budget_min: float | None = None,
        pairs: int | None = None, out: str | Path | None = None) -> dict:
    """Run the selected sections (all by default) and return their results by name."""
    from crossview.io import write_json_atomic

    names = only or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; choose from {sorted(SECTIONS)}")
    OPTIONS.update(quick=quick, budget_min=budget_min, pairs=pairs, out=out)
    _STATE.clear()
    start = time.perf_counter()
    result = {name: SECTIONS[name](quick) for name in names}
    result["seconds"] = round(time.perf_counter() - start, 1)
    if set(names) & {"training", "ablations"}:
        write_json_atomic(Path(out or OUT) / "summary.json", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny world, 0.2 min per model, small renderer batches")
    parser.add_argument("--only", default="", help=f"comma-separated sections of {list(SECTIONS)}")
    parser.add_argument("--budget-min", type=float, default=None,
                        help="training minutes per model (default 20; quick 0.2)")
    parser.add_argument("--pairs", type=int, default=None, help="pairs of the world (400)")
    parser.add_argument("--out", type=Path, default=None, help="runs and summary.json folder")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s] or None
    print(json.dumps(run(args.quick, only, args.budget_min, args.pairs, args.out), indent=2))


if __name__ == "__main__":
    main()
