"""Retrieval training benchmark (issue 5): speed and learning of every retrieval method's ``tiny``.

Speed: training pairs/s through the full trainer (PairDataset with the preset's augmentation and
image cache, sampler, optimizer, schedule) against the bare model step on tensors already in
memory; the input-pipeline overhead is the median over interleaved rounds of
``bare_rate / trainer_rate - 1`` (target < 10 %). The image cache is warmed first, so this is the
steady state of every epoch after the first. Embedding images/s likewise, for three paths:
``embed_ground`` from the files (full decode, and ``fast_decode``), from decoded images cached in
memory (the trainer's evaluations after the first), and, at the ``paper`` preset's input size,
from the files again (``paper_input``); against ``encode_ground`` on tensors. The allocator is
tuned first, as every ``crossview`` command does (``crossview.device.tune_cpu_allocator``).

Learning: a 2,500-pair synthetic world in the CVUSA layout (20 % validation; 128 px tiles and
64x256 panoramas, which the tiny presets downsize anyway), ``crossview train`` with the tiny preset
for 15 minutes per method, evaluating every epoch; R@1 and R@1% (K = floor(N/100) = 5) against
minutes are written as JSON and PNG under ``bench_out/training/<method>/``. Targets: R@1 >= 25 %
and R@1% >= 80 % within the 15 minutes. ``quick`` uses 300 pairs and 1 minute.

Usage: ``python benchmarks/bench_training.py [--quick] [--only-speed] [--methods safa,clnet]``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out" / "training"
RETRIEVAL_METHODS = ("safa", "sample4geo", "clnet")
TARGETS = {"R@1": 25.0, "R@1%": 80.0}
LEARNING_WORLD = {"tile_px": 128, "pano_hw": (64, 256)}


def _world(pairs: int, **size_options: Any) -> str:
    """``cvusa:ROOT`` of a cached synthetic world (rendered once per option set)."""
    sys.path.insert(0, str(HERE))
    from _common import synthetic_world

    return f"cvusa:{synthetic_world('cvusa', pairs=pairs, seed=0, **size_options)}"


def _bare_train_rate(method: Any, batch: dict[str, torch.Tensor], steps: int) -> float:
    """Pairs/s of forward + backward + step on tensors already in memory (no data pipeline)."""
    from crossview.training.optim import build_optimizer

    specs = method.optimizers()
    opts = {p.optimizer: build_optimizer(specs[p.optimizer]) for p in method.phases()}
    method.train()
    start = time.perf_counter()
    for i in range(steps + 1):  # first iteration is warm-up
        if i == 1:
            start = time.perf_counter()
        for phase in method.phases():
            opts[phase.optimizer].zero_grad(set_to_none=True)
            method(batch, i, phase.name)["total"].backward()
            opts[phase.optimizer].step()
    return steps * len(batch["ground"]) / (time.perf_counter() - start)


TRAIN_ROUNDS = 5
"""Interleaved trainer / bare-step rounds of the training speed measurement (median ratio)."""
EMBED_IMAGES = 512
"""Ground images per embedding measurement (the training pairs repeated as needed)."""
EMBED_REPEATS = 11
"""Interleaved rounds of each embedding measurement (best pass: rates; median ratio: overheads)."""


def _embed_rates(method: Any, table: Any, batch_size: int, images: int = EMBED_IMAGES,
                 repeats: int = EMBED_REPEATS, cold_only: bool = False) -> dict[str, Any]:
    """Images/s of ``embed_ground`` on a table's files, cold and cached, vs ``encode_ground`` alone.

    Paths, each timed over the same ``images`` images in ``repeats`` rounds (every path once per
    round, so that load from other processes hits them alike), after a warm-up:

    * ``files``: every image decoded in full, band-cropped and resized on each pass (``embed``,
      ``index build`` and ``eval`` of a run, each a new process);
    * ``fast_decode``: the same with reduced-scale JPEG decoding;
    * ``cached``: decoded, resized images kept in memory after the first pass (``cache_images``,
      as the trainer's evaluation after the first and any repeated embedding in one process);
    * ``bare``: ``encode_ground`` on a tensor already in memory (no data pipeline).

    Overheads are the median over the rounds of ``time / bare time - 1``.
    ``embed_input_images_per_s`` is the dataset alone (no forward): the floor of the file path's
    extra cost. ``cold_only`` times ``files`` and ``bare``.
    """
    from crossview.data.datasets import GroundDataset
    from crossview.inference import embed_ground

    queries = table.select("train")
    reps = -(-images // len(queries.pairs))
    queries.pairs = (queries.pairs * reps)[:images]
    n = len(queries)
    dataset = GroundDataset(queries, method.input_spec)
    images = torch.stack([dataset[i]["image"] for i in range(n)])
    cached = GroundDataset(queries, method.input_spec)
    cached.cache_images()
    method.eval()

    def bare() -> None:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                method.encode_ground(images[i:i + batch_size])

    paths = {
        "files": lambda: embed_ground(method, queries, batch_size=batch_size, device="cpu"),
        "fast_decode": lambda: embed_ground(method, queries, batch_size=batch_size, device="cpu",
                                            fast_decode=True),
        "cached": lambda: embed_ground(method, cached, batch_size=batch_size, device="cpu"),
        "bare": bare,
        "inputs": lambda: [dataset[i] for i in range(n)],
    }
    if cold_only:
        paths = {k: paths[k] for k in ("files", "bare")}
    for fn in paths.values():  # warm-up; fills the cache
        fn()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in times.items()}
    out: dict[str, Any] = {"bare_embed_images_per_s": round(n / best["bare"], 2)}
    for name, key in (("files", "embed"), ("fast_decode", "embed_fast_decode"),
                      ("cached", "embed_cached")):
        if name in best:
            # Median of the per-round ratios: each round's paths ran back to back, so a slow
            # spell of the machine (other tenants) mostly cancels out.
            ratios = [t / b for t, b in zip(times[name], times["bare"], strict=True)]
            out[f"{key}_images_per_s"] = round(n / best[name], 2)
            out[f"{key}_overhead"] = round(statistics.median(ratios) - 1, 3)
    if "inputs" in best:
        out["embed_input_images_per_s"] = round(n / best["inputs"], 2)
    return {**out, "embed_images": n, "embed_repeats": repeats}


def speed(method_name: str, data: str, steps: int, batch_size: int,
          paper_sizes: bool = True) -> dict[str, Any]:
    """Trainer vs bare training rate and file vs tensor embedding rate of one method.

    ``paper_sizes`` also times cold embedding at the ``paper`` preset's input size (16 images,
    random init): there the forward dwarfs decoding.
    """
    from crossview.data.datasets import PairDataset
    from crossview.training import Trainer
    from crossview.training.batches import augment_config
    from crossview.training.steps import build_configs, load_data

    train = load_data(data).select("train")
    method, config = build_configs(method_name, "tiny", {"train.sampler": "random"})
    config = config.replace(batch_size=batch_size, max_steps=steps + 1, eval_every=0,
                            time_budget_min=None, epochs=1000)
    dataset = PairDataset(train, method.input_spec, augment_config(config.augment))
    if config.cache_images:
        dataset.cache_images()
        for i in range(len(dataset)):  # steady state: every epoch after the first
            dataset[i]
    samples = [dataset[i] for i in range(batch_size)]
    batch = {k: torch.stack([s[k] for s in samples]) for k in ("ground", "aerial")}
    trainer_rates, bare_rates = [], []
    for _ in range(TRAIN_ROUNDS):  # interleaved, as the embedding paths
        with tempfile.TemporaryDirectory() as tmp:
            result = Trainer(method, train, None, config, Path(tmp) / "run", device="cpu",
                             train_dataset=dataset).fit()
        trainer_rates.append(result.pairs_per_s)
        bare_rates.append(_bare_train_rate(method, batch, steps))
    ratios = [b / t for b, t in zip(bare_rates, trainer_rates, strict=True)]
    embed = _embed_rates(method, train, batch_size)
    if paper_sizes:
        paper_method, _ = build_configs(method_name, "paper", {})
        embed["paper_input"] = {
            "ground_hw": list(paper_method.input_spec.ground_hw),
            **_embed_rates(paper_method, train, batch_size=8, images=16, repeats=3,
                           cold_only=True),
        }
    return {
        "train_pairs_per_s": round(max(trainer_rates), 2),
        "bare_train_pairs_per_s": round(max(bare_rates), 2),
        "train_pipeline_overhead": round(statistics.median(ratios) - 1, 3),
        "train_rounds": TRAIN_ROUNDS,
        **embed,
        "batch_size": batch_size, "steps": steps, "image_cache": config.cache_images,
    }


def learning(method_name: str, data: str, minutes: float) -> dict[str, Any]:
    """``crossview train`` with the tiny preset for ``minutes``; the R@1 / R@1% vs minutes curve."""
    from crossview.training.steps import train

    out = OUT / method_name
    shutil.rmtree(out, ignore_errors=True)
    result = train(method_name, data, out, "tiny", {"train.eval_every": 1},
                   time_budget_min=minutes, device="cpu")
    curve = json.loads((out / "learning_curve.json").read_text())
    best = {k: (result.best_metrics or {}).get(k) for k in TARGETS}
    return {
        "minutes": round(result.minutes, 2), "steps": result.step, "epochs": result.epoch,
        "stopped": result.stopped, "train_pairs_per_s": round(result.pairs_per_s, 1),
        "best": best, "meets_target": all((best[k] or 0) >= v for k, v in TARGETS.items()),
        "curve": curve["points"], "png": str(out / "learning_curve.png"),
    }


def run(quick: bool = False, only_speed: bool = False,
        methods: tuple[str, ...] = RETRIEVAL_METHODS) -> dict[str, Any]:
    """Speed per method, then (unless ``only_speed``) the learning benchmark per method."""
    from crossview.device import tune_cpu_allocator

    tuned = tune_cpu_allocator()  # as every ``crossview`` command does at start
    summary: dict[str, Any] = {"threads": torch.get_num_threads(), "malloc_tuned": tuned,
                               "speed": {}, "learning": {}}
    speed_data = _world(80 if quick else 200)
    for name in methods:
        summary["speed"][name] = speed(name, speed_data, steps=2 if quick else 8,
                                       batch_size=8 if quick else 32, paper_sizes=not quick)
    if only_speed:
        return summary
    pairs = 300 if quick else 2500
    summary["learning_data"] = {"layout": "cvusa", "pairs": pairs, "val_fraction": 0.2,
                                **LEARNING_WORLD, "targets_percent": TARGETS}
    data = _world(pairs, **LEARNING_WORLD)
    for name in methods:
        summary["learning"][name] = learning(name, data, minutes=1 if quick else 15)
    return summary


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only-speed", action="store_true")
    parser.add_argument("--methods", default=",".join(RETRIEVAL_METHODS))
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.only_speed, tuple(args.methods.split(","))), indent=2))
