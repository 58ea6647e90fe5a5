"""Retrieval training benchmark (issue 5): speed and learning of every retrieval method's ``tiny``.

Speed: training pairs/s through the full trainer (PairDataset with the preset's augmentation and
image cache, sampler, optimizer, schedule) against the bare model step on tensors already in
memory; the input-pipeline overhead is ``bare_rate / trainer_rate - 1`` (target < 10 %). The image
cache is warmed first, so this is the steady state of every epoch after the first. Embedding
images/s likewise (``embed_ground`` from files vs ``encode_ground`` on tensors).

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


EMBED_IMAGES = 256
"""Ground images per embedding measurement (the training pairs repeated as needed)."""
EMBED_REPEATS = 3
"""Timed passes of each embedding measurement, interleaved; the best of each is reported."""


def _embed_rates(method: Any, table: Any, batch_size: int) -> dict[str, Any]:
    """Images/s of ``embed_ground`` from the JPEG files vs ``encode_ground`` on tensors in memory.

    Both are warmed up (a first ``embed_ground`` pass over one batch builds the DataLoader path,
    a first forward the model's buffers), then timed over the same :data:`EMBED_IMAGES` images
    :data:`EMBED_REPEATS` times, interleaved so that load from other processes on the machine
    hits both alike; the best pass of each is kept. The file path includes everything
    ``embed_ground`` does for a table: open, decode (in full, as training; ``fast_decode`` too),
    band crop, resize, to-tensor, collate, forward, descriptor checks. ``embed_input_images_per_s``
    is the dataset alone (no forward): the floor of the file path's extra cost.
    """
    from crossview.data.datasets import GroundDataset
    from crossview.inference import embed_ground

    queries = table.select("train")
    reps = -(-EMBED_IMAGES // len(queries.pairs))
    queries.pairs = (queries.pairs * reps)[:EMBED_IMAGES]
    n = len(queries)
    dataset = GroundDataset(queries, method.input_spec)
    images = torch.stack([dataset[i]["image"] for i in range(n)])
    method.eval()

    def bare() -> None:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                method.encode_ground(images[i:i + batch_size])

    def files() -> None:
        embed_ground(method, queries, batch_size=batch_size, device="cpu")

    def files_fast() -> None:
        embed_ground(method, queries, batch_size=batch_size, device="cpu", fast_decode=True)

    def inputs() -> None:
        for i in range(n):
            dataset[i]

    warm = table.select("train")
    warm.pairs = warm.pairs[:batch_size]
    embed_ground(method, warm, batch_size=batch_size, device="cpu")
    with torch.inference_mode():
        method.encode_ground(images[:batch_size])
    best = dict.fromkeys(("files", "files_fast", "bare", "inputs"), float("inf"))
    for _ in range(EMBED_REPEATS):
        for name, fn in (("files", files), ("files_fast", files_fast), ("bare", bare),
                         ("inputs", inputs)):
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {
        "embed_images_per_s": round(n / best["files"], 2),
        "bare_embed_images_per_s": round(n / best["bare"], 2),
        "embed_pipeline_overhead": round(best["files"] / best["bare"] - 1, 3),
        "embed_fast_decode_images_per_s": round(n / best["files_fast"], 2),
        "embed_fast_decode_overhead": round(best["files_fast"] / best["bare"] - 1, 3),
        "embed_input_images_per_s": round(n / best["inputs"], 2),
        "embed_images": n, "embed_repeats": EMBED_REPEATS,
    }


def speed(method_name: str, data: str, steps: int, batch_size: int) -> dict[str, Any]:
    """Trainer vs bare training rate and file vs tensor embedding rate of one method."""
    from crossview.data.datasets import PairDataset
    from crossview.training import Trainer
    from crossview.training.run_dir import augment_config
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
    with tempfile.TemporaryDirectory() as tmp:
        result = Trainer(method, train, None, config, Path(tmp) / "run", device="cpu",
                         train_dataset=dataset).fit()
    samples = [dataset[i] for i in range(batch_size)]
    batch = {k: torch.stack([s[k] for s in samples]) for k in ("ground", "aerial")}
    bare = _bare_train_rate(method, batch, steps)
    embed = _embed_rates(method, train, batch_size)
    return {
        "train_pairs_per_s": round(result.pairs_per_s, 2),
        "bare_train_pairs_per_s": round(bare, 2),
        "train_pipeline_overhead": round(bare / result.pairs_per_s - 1, 3),
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
    summary: dict[str, Any] = {"threads": torch.get_num_threads(), "speed": {}, "learning": {}}
    speed_data = _world(80 if quick else 200)
    for name in methods:
        summary["speed"][name] = speed(name, speed_data, steps=2 if quick else 8,
                                       batch_size=8 if quick else 32)
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
