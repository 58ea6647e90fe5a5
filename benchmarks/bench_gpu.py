"""Keep the accelerator fed (issue 15): trainer pairs/s against the bare model, per paper preset.

For each paper preset of the retrieval methods, two rates on the same batch shapes:

- **bare**: the method's training step (every phase: forward, backward, optimizer step, under the
  trainer's autocast and memory format) on random tensors already on the device: what the model
  alone can do;
- **trainer**: ``Trainer.fit`` on a dataset of real-size JPEG files (the source image sizes of the
  preset's dataset: CVUSA 1232x224 panoramas / 750 px tiles, CVACT 1664x832 / 1200, VIGOR
  2048x1024 / 640, University-1652 512 / 512) written in the CVUSA layout with its coordinates
  file, with the preset's own augmentation, sampler and loader defaults (workers, pinned memory,
  prefetch): decoding, resizing, augmentation, collation and the host-to-device copy included.
  ``TrainResult.pairs_per_s`` excludes the first step (start-up).

``ratio = trainer / bare``; target >= 0.9 on a GPU, eager and ``torch.compile``-d alike (``compile``
runs both sides compiled). Models start from random weights (``pretrained=none``): throughput does
not depend on them. On CPU the same script runs (``--quick``: the presets' smoke sizes, batch 4,
small files), so it is tested without a GPU; CPU ratios are not the target.

Usage::

    python benchmarks/bench_gpu.py [--quick] [--presets sample4geo:paper,safa:paper]
        [--steps 20] [--compile] [--cache disk] [--workers N]
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

PAPER_PRESETS = (
    "safa:paper", "safa:paper_cvact", "cde:paper_cvusa", "cde:paper_cvact",
    "sample4geo:paper", "sample4geo:paper_cvact", "sample4geo:paper_vigor",
    "sample4geo:paper_university1652", "clnet:paper", "clnet:paper_cvact", "clnet:paper_vigor",
    "clnet:paper_university1652",
)
"""Presets measured by default (``method:preset``)."""
SOURCE_SIZES = {
    "cvusa": ((224, 1232), 750),
    "cvact": ((832, 1664), 1200),
    "vigor": ((1024, 2048), 640),
    "university1652": ((512, 512), 512),
}
"""(panorama H x W, tile side) of the files of each dataset as released."""
QUICK_SOURCE = ((56, 308), 96)
"""Small files of ``--quick`` CPU runs."""
TARGET_RATIO = 0.9


def dataset_of(preset: str) -> str:
    """The dataset a preset is for (``paper`` alone: CVUSA)."""
    for name in ("cvact", "vigor", "university1652"):
        if preset.endswith(name):
            return name
    return "cvusa"


def _smooth_image(rng: np.random.Generator, hw: tuple[int, int]) -> Any:
    """A natural-looking image (low frequencies plus grain): JPEG sizes like photos, not noise."""
    from PIL import Image

    small = rng.uniform(0, 255, (max(2, hw[0] // 32), max(2, hw[1] // 32), 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(small).resize((hw[1], hw[0]), Image.Resampling.BICUBIC))
    grain = rng.normal(0, 6, image.shape)
    return Image.fromarray(np.clip(image + grain, 0, 255).astype(np.uint8))


def make_dataset(root: Path, pairs: int, pano_hw: tuple[int, int], tile_px: int,
                 unique: int = 24, seed: int = 0) -> Path:
    """``pairs`` CVUSA-layout pairs (train split) of real-size JPEGs, with coordinates.

    ``unique`` images per view are encoded and hard-linked under every pair's name (the decode
    cost per pair is that of a distinct file; the disk holds only ``unique`` of them).
    """
    rng = np.random.default_rng(seed)
    pool = root / "_pool"
    pool.mkdir(parents=True, exist_ok=True)
    for i in range(unique):
        _smooth_image(rng, pano_hw).save(pool / f"p{i}.jpg", quality=90)
        _smooth_image(rng, (tile_px, tile_px)).save(pool / f"t{i}.jpg", quality=90)
    for sub in ("bingmap/19", "streetview/panos", "splits", "split_locations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows, locations = [], []
    for i in range(1, pairs + 1):
        sid = f"{i:07d}"
        for kind, rel in (("t", f"bingmap/19/{sid}.jpg"), ("p", f"streetview/panos/{sid}.jpg")):
            target = root / rel
            if not target.exists():
                os.link(pool / f"{kind}{i % unique}.jpg", target)
        rows.append([f"bingmap/19/{sid}.jpg", f"streetview/panos/{sid}.jpg", ""])
        lat, lon = 40 + rng.uniform(0, 0.2), -100 + rng.uniform(0, 0.2)
        locations.append([lat, lon, lat, lon, 0])
    for name, split_rows in (("train-19zl.csv", rows), ("val-19zl.csv", rows[:8])):
        with open(root / "splits" / name, "w", newline="") as f:
            csv.writer(f).writerows(split_rows)
    with open(root / "split_locations" / "all.csv", "w", newline="") as f:
        csv.writer(f).writerows(locations)
    return root


def _overrides(name: str, preset: str, quick: bool) -> dict[str, Any]:
    from crossview.methods import get_preset

    method = {"pretrained": None}
    if quick:
        method.update(get_preset(name, preset).smoke)
        method["pretrained"] = None
    return method


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_rate(name: str, preset: str, batch_size: int, steps: int, device: torch.device,
              quick: bool, compile_model: bool) -> float:
    """Pairs/s of the method's training step alone on device tensors (as the trainer runs it)."""
    from crossview.device import autocast_dtype
    from crossview.methods import create_method
    from crossview.training import feeding
    from crossview.training.optim import build_optimizer

    torch.manual_seed(0)
    method = create_method(name, preset, **_overrides(name, preset, quick)).to(device)
    channels_last = feeding.use_channels_last(None, device)
    if channels_last:
        feeding.to_channels_last(method)
    if compile_model:
        feeding.compile_method(method)
    spec = method.input_spec
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    s = spec.aerial_size
    batch = {"ground": torch.rand(batch_size, 3, *spec.ground_hw, device=device)
             .contiguous(memory_format=fmt),
             "aerial": torch.rand(batch_size, 3, s, s, device=device).contiguous(memory_format=fmt),
             "utm": torch.stack([torch.arange(batch_size, dtype=torch.float64) * 100,
                                 torch.zeros(batch_size, dtype=torch.float64)], 1).to(device),
             "index": torch.arange(batch_size, device=device)}
    specs = method.optimizers()
    phases = method.phases()
    opts = {p.optimizer: build_optimizer(specs[p.optimizer]) for p in phases}
    dtype = autocast_dtype(device)
    method.train()

    def step(i: int) -> None:
        for phase in phases:
            opt = opts[phase.optimizer]
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = method.training_step(batch, i, phase.name)["total"]
            loss.backward()
            opt.step()

    for i in range(2 if quick else 5):  # warm-up (allocator, cudnn autotune, compilation)
        step(i)
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    _sync(device)
    return batch_size * steps / (time.perf_counter() - start)


def trainer_rate(name: str, preset: str, data: Path, batch_size: int, steps: int,
                 device: torch.device, quick: bool, compile_model: bool, cache: str | None,
                 workers: int | None, out: Path) -> dict[str, Any]:
    """Pairs/s of ``Trainer.fit`` on the files (the first step excluded), and its loader setup."""
    from crossview.data.layouts import load_layout
    from crossview.methods import create_method, get_preset
    from crossview.training import TrainConfig, Trainer, feeding

    torch.manual_seed(0)
    method = create_method(name, preset, **_overrides(name, preset, quick))
    recipe = dict(get_preset(name, preset).train)
    recipe.update(batch_size=batch_size, max_steps=steps + 1, epochs=1000, eval_every=0,
                  checkpoint_every=1000, compile=compile_model, num_workers=workers,
                  cache_images=cache or False, time_budget_min=None)
    if quick and recipe.get("sampler_neighbours"):  # the paper's 64 of 128 need a paper batch
        recipe["sampler_neighbours"] = max(1, batch_size // 2)
        if recipe.get("sampler_range"):
            recipe["sampler_range"] = 2 * batch_size
    config = TrainConfig.from_dict(recipe)
    table = load_layout("cvusa", data).select("train")
    trainer = Trainer(method, table, None, config, out, device=device)
    result = trainer.fit()
    return {"pairs_per_s": result.pairs_per_s,
            "num_workers": feeding.resolve_workers(workers, device),
            "channels_last": feeding.use_channels_last(None, device)}


def measure(entry: str, quick: bool, device: torch.device, steps: int, compile_model: bool,
            cache: str | None, workers: int | None, work: Path) -> dict[str, Any]:
    """Bare and trainer rates of one ``method:preset``."""
    from crossview.methods import get_preset

    name, preset = entry.split(":")
    dataset = dataset_of(preset)
    pano_hw, tile = QUICK_SOURCE if quick else SOURCE_SIZES[dataset]
    batch = 4 if quick else int(get_preset(name, preset).train["batch_size"])
    pairs = batch * (steps + 3)
    data = make_dataset(work / f"{dataset}-{pairs}", pairs, pano_hw, tile)
    bare = bare_rate(name, preset, batch, steps, device, quick, compile_model)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    trainer = trainer_rate(name, preset, data, batch, steps, device, quick, compile_model,
                           cache, workers, work / f"run-{name}-{preset}-{int(compile_model)}")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    rate = trainer.pop("pairs_per_s")
    return {"dataset": dataset, "source_files": {"pano_hw": list(pano_hw), "tile_px": tile},
            "batch_size": batch, "steps": steps, "compiled": compile_model,
            "bare_pairs_per_s": round(bare, 2), "trainer_pairs_per_s": round(rate, 2),
            "ratio": round(rate / bare, 3) if bare > 0 else None, **trainer}


def run(quick: bool = False, presets: tuple[str, ...] | None = None, steps: int | None = None,
        compile_model: bool | None = None, cache: str | None = None,
        workers: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Measure every preset (eager, and compiled on CUDA unless told); returns the summary."""
    from crossview.device import get_device, tune_cpu_allocator

    tune_cpu_allocator()
    dev = get_device(device)
    presets = presets or ((PAPER_PRESETS[4], PAPER_PRESETS[0]) if quick else PAPER_PRESETS)
    steps = steps or (3 if quick else 20)
    variants = [False] + ([True] if (compile_model if compile_model is not None
                                     else dev.type == "cuda") else [])
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        for entry in presets:
            for compiled in variants:
                key = f"{entry}{' compiled' if compiled else ''}"
                try:
                    results[key] = measure(entry, quick, dev, steps, compiled, cache, workers,
                                           Path(tmp))
                except torch.OutOfMemoryError as err:  # report, keep measuring the others
                    results[key] = {"error": f"out of memory: {str(err).splitlines()[0]}"}
    ratios = [r["ratio"] for r in results.values() if r.get("ratio") is not None]
    return {
        "device": str(dev), "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "cores": __import__("crossview.training.feeding", fromlist=["x"]).available_cores(),
        "quick": quick, "target_ratio": TARGET_RATIO,
        "meets_target": bool(ratios) and min(ratios) >= TARGET_RATIO if dev.type == "cuda"
        else None,
        "presets": results,
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU-sized: smoke sizes, batch 4")
    parser.add_argument("--presets", default="", help="method:preset,... (default: all paper)")
    parser.add_argument("--steps", type=int, default=None, help="measured steps per rate")
    parser.add_argument("--compile", choices=("auto", "yes", "no"), default="auto",
                        help="also measure torch.compile (auto: on CUDA)")
    parser.add_argument("--cache", choices=("memory", "disk"), default=None,
                        help="train.cache_images of the trainer runs")
    parser.add_argument("--workers", type=int, default=None, help="train.num_workers")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    chosen = tuple(p for p in args.presets.split(",") if p) or None
    compile_flag = {"auto": None, "yes": True, "no": False}[args.compile]
    print(json.dumps(run(args.quick, chosen, args.steps, compile_flag, args.cache, args.workers,
                         args.device), indent=2))
