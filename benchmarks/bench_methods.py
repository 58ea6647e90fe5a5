"""Retrieval-methods benchmark (issue 5): learning and speed of ``safa``, ``sample4geo``, ``clnet``.

On a synthetic CVUSA-layout world (2,500 pairs rendered at 128 px tiles and 64x256 panoramas,
the world's 20 % validation split), each method's ``tiny`` preset trains from random init for a
wall-clock budget (15 min each on 2 CPU threads) and is evaluated ground -> aerial on the
validation split: R@1, R@5 and R@1% (K = floor(N/100), SPECS §4; rank = number of references
scoring strictly higher). Target: R@1 >= 25 % and R@1% >= 80 %. Training follows the method
contract exactly as the trainer does (declared optimizer and schedule, ``set_epoch``), with the
preset's batch size, random batches and synchronised flip / 90-degree rotation augmentation
(``crossview.data.augment``). Usage::

    python benchmarks/bench_methods.py [--quick] [--methods safa,clnet] [--budget-s 900]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

METHODS = ("safa", "sample4geo", "clnet")
FULL_BUDGET_S = 900.0  # 15 minutes per method (issue 5)
QUICK_BUDGET_S = 40.0


def load_world(
    root: Path, ground_hw: tuple[int, int], aerial_size: int
) -> dict[str, dict[str, torch.Tensor]]:
    """Per-split ``ground`` / ``aerial`` / ``utm`` tensors from ``crossview_gt/samples.csv``."""
    from crossview.io import load_image_tensor

    splits: dict[str, dict[str, list]] = {}
    with open(root / "crossview_gt" / "samples.csv", newline="") as f:
        for row in csv.DictReader(f):
            ground = load_image_tensor(root / row["ground"])[None]
            tile = load_image_tensor(root / row["aerial"])[None]
            entry = splits.setdefault(row["split"], {"ground": [], "aerial": [], "utm": []})
            entry["ground"].append(F.interpolate(ground, size=ground_hw, mode="area"))
            entry["aerial"].append(
                F.interpolate(
                    tile,
                    size=(aerial_size, aerial_size),
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                ).clamp(0, 1)
            )
            entry["utm"].append(
                torch.tensor([[float(row["utm_e"]), float(row["utm_n"])]], dtype=torch.float64)
            )
    return {s: {k: torch.cat(v) for k, v in d.items()} for s, d in splits.items()}


def _augment(
    ground: torch.Tensor, aerial: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample synchronised flip (p 0.5) and rotation by k*90 deg (p 0.75) of each pair."""
    from crossview.data.augment import flip_pair, rotate_pair

    ground, aerial = ground.clone(), aerial.clone()
    for i in range(ground.shape[0]):
        if torch.rand(1, generator=gen) < 0.5:
            aerial[i], ground[i] = flip_pair(aerial[i], ground[i])
        k = int(torch.randint(0, 4, (1,), generator=gen))
        if k:
            aerial[i], ground[i] = rotate_pair(aerial[i], ground[i], k)
    return ground, aerial


def train(
    method, data: dict[str, torch.Tensor], budget_s: float, batch_size: int, seed: int = 0
) -> dict:
    """Train for ``budget_s`` seconds; the LR schedule assumes the budget's estimated step count."""
    from crossview.training.optim import build_optimizer, build_scheduler

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    spec = method.optimizers()["main"]
    opt = build_optimizer(spec)
    n = data["ground"].shape[0]
    steps_per_epoch = n // batch_size
    method.train()
    # Time one forward/backward (no update) to size the LR schedule to the wall-clock budget.
    probe = time.perf_counter()
    idx = torch.arange(batch_size)
    method.training_step({k: data[k][idx] for k in ("ground", "aerial", "utm")}, 0)[
        "total"
    ].backward()
    opt.zero_grad(set_to_none=True)
    total_steps = max(4, int(budget_s / (1.2 * (time.perf_counter() - probe))))
    sched = build_scheduler(opt, spec.schedule, total_steps)
    start, steps, epoch, losses = time.perf_counter(), 0, 0, []
    while time.perf_counter() - start < budget_s:
        method.set_epoch(epoch)
        order = torch.randperm(n, generator=gen)
        for first in range(0, steps_per_epoch * batch_size, batch_size):
            idx = order[first : first + batch_size]
            ground, aerial = _augment(data["ground"][idx], data["aerial"][idx], gen)
            batch = {"ground": ground, "aerial": aerial, "utm": data["utm"][idx], "index": idx}
            loss = method.training_step(batch, steps)["total"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            steps += 1
            losses.append(float(loss.detach()))
            if time.perf_counter() - start >= budget_s:
                break
        epoch += 1
    seconds = time.perf_counter() - start
    return {
        "steps": steps,
        "epochs": epoch,
        "seconds": round(seconds, 1),
        "pairs_per_s": round(steps * batch_size / seconds, 1),
        "loss_first": round(sum(losses[:5]) / max(1, len(losses[:5])), 4),
        "loss_last": round(sum(losses[-5:]) / max(1, len(losses[-5:])), 4),
    }


@torch.no_grad()
def recall(method, data: dict[str, torch.Tensor], chunk: int = 128) -> dict:
    """Ground -> aerial R@1, R@5, R@1% (K = floor(N/100), at least 1) on one split."""
    method.eval()
    grd = torch.cat(
        [
            method.encode_ground(data["ground"][i : i + chunk])
            for i in range(0, len(data["ground"]), chunk)
        ]
    )
    sat = torch.cat(
        [
            method.encode_aerial(data["aerial"][i : i + chunk])
            for i in range(0, len(data["aerial"]), chunk)
        ]
    )
    sim = grd @ sat.T
    rank = (sim > sim.diagonal().unsqueeze(1)).sum(
        dim=1
    )  # references strictly better than the truth
    n = sim.shape[0]
    k1 = max(1, math.floor(n / 100))
    return {
        "n": n,
        "r1": float((rank < 1).float().mean()),
        "r5": float((rank < 5).float().mean()),
        "r1pct": float((rank < k1).float().mean()),
        "r1pct_k": k1,
        "chance_r1": 1 / n,
        "chance_r1pct": k1 / n,
    }


def run(
    quick: bool = False,
    methods: tuple[str, ...] = METHODS,
    budget_s: float | None = None,
    pairs: int | None = None,
) -> dict:
    """Train every method's tiny preset for the budget and report validation recall and speed."""
    from crossview.methods import create_method
    from crossview.training.config import TrainConfig
    from crossview.world import make_world

    torch.set_num_threads(2)
    budget = budget_s if budget_s is not None else (QUICK_BUDGET_S if quick else FULL_BUDGET_S)
    pairs = pairs or (300 if quick else 2500)
    result: dict = {
        "pairs": pairs,
        "budget_s_per_method": budget,
        "preset": "tiny",
        "recall_1pct_convention": "floor(N/100)",
        "targets": {"r1": 0.25, "r1pct": 0.80},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(
            make_world(
                Path(tmp) / "world",
                layout="cvusa",
                pairs=pairs,
                seed=0,
                tile_px=128,
                pano_hw=(64, 256),
            )
        )
        cache: dict = {}
        for name in methods:
            method = create_method(name, "tiny")
            spec = method.input_spec
            key = (tuple(spec.ground_hw), spec.aerial_size)
            if key not in cache:
                cache[key] = load_world(root, *key)
            data = cache[key]
            val = data.get("val") or data["test"]
            batch = TrainConfig.from_preset(name, "tiny", section="train").batch_size
            entry = {
                "train": train(method, data["train"], budget, batch),
                "val": recall(method, val),
            }
            entry["meets_target"] = entry["val"]["r1"] >= 0.25 and entry["val"]["r1pct"] >= 0.80
            result[name] = entry
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budget-s", type=float, default=None, help="training seconds per method")
    parser.add_argument("--pairs", type=int, default=None)
    args = parser.parse_args()
    print(
        json.dumps(
            run(args.quick, tuple(args.methods.split(",")), args.budget_s, args.pairs), indent=2
        )
    )
