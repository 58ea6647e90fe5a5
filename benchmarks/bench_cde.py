"""CDE benchmark on the synthetic world (issue 7), sized for 2 CPU cores.

1. Retrieval: R@1 (ground -> aerial, test split) of ``cde`` (tiny preset) vs its ablation (i)
   (``synthesis=False``: no decoder, no discriminator), each trained for the same wall-clock time.
2. Synthesis: PSNR / SSIM / SD (Sat2Density convention) of the full model's panoramas vs the
   polar-transformed tile itself (CDE Table 4, first row); the generator should beat the baseline
   on PSNR and SSIM.

Training uses the method contract exactly as the trainer does (``phases()`` in order, one Adam per
declared optimizer). Usage::

    python benchmarks/bench_cde.py [--quick] [--budget-s 1200]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

FULL_BUDGET_S = 1200.0  # 20 minutes per trained model (issue 7)
QUICK_BUDGET_S = 45.0


def _load_world(
    root: Path, ground_hw: tuple[int, int], aerial_size: int
) -> dict[str, dict[str, torch.Tensor]]:
    """Read ``crossview_gt/samples.csv`` of a synthetic world into per-split tensors."""
    from crossview.io import load_image_tensor

    splits: dict[str, dict[str, list[torch.Tensor]]] = {}
    with open(root / "crossview_gt" / "samples.csv", newline="") as f:
        for row in csv.DictReader(f):
            ground = load_image_tensor(root / row["ground"])[None]
            tile = load_image_tensor(root / row["aerial"])[None]
            entry = splits.setdefault(row["split"], {"ground": [], "aerial": []})
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
    return {s: {k: torch.cat(v) for k, v in d.items()} for s, d in splits.items()}


def _train(
    method, data: dict[str, torch.Tensor], budget_s: float, batch_size: int, seed: int
) -> dict:
    """Train ``method`` on ``data`` for ``budget_s`` seconds with the trainer's phase protocol."""
    torch.manual_seed(seed)
    opts = {
        name: torch.optim.Adam(spec.params, lr=spec.lr, betas=spec.betas)
        for name, spec in method.optimizers().items()
    }
    n, steps, epoch = data["ground"].shape[0], 0, 0
    start = time.perf_counter()
    method.train()
    while time.perf_counter() - start < budget_s:
        method.set_epoch(epoch)
        order = torch.randperm(n)
        for first in range(0, n - batch_size + 1, batch_size):
            idx = order[first : first + batch_size]
            batch = {"ground": data["ground"][idx], "aerial": data["aerial"][idx]}
            if torch.rand(()) < 0.5:  # App. B: synchronized horizontal flips of street and tile
                batch = {"ground": batch["ground"].flip(-1), "aerial": batch["aerial"].flip(-1)}
            for phase in method.phases():
                opt = opts[phase.optimizer]
                opt.zero_grad(set_to_none=True)
                method.training_step(batch, steps, phase.name)["total"].backward()
                opt.step()
            steps += 1
            if time.perf_counter() - start >= budget_s:
                break
        epoch += 1
    return {"steps": steps, "epochs": epoch, "seconds": round(time.perf_counter() - start, 1)}


@torch.no_grad()
def _recall_at_1(method, data: dict[str, torch.Tensor]) -> float:
    method.eval()
    grd = method.encode_ground(data["ground"])
    sat = method.encode_aerial(data["aerial"])
    sim = grd @ sat.T
    positive = sim.diagonal().unsqueeze(1)
    rank = (sim > positive).sum(dim=1)  # SPECS §4: strictly higher similarities
    return float((rank < 1).float().mean())


def run(quick: bool = False, budget_s: float | None = None, pairs: int | None = None) -> dict:
    """Train cde and ablation (i) for the same time; report R@1 and synthesis metrics."""
    from crossview.evaluation.synthesis import evaluate_batches, polar_baseline
    from crossview.methods import create_method
    from crossview.world import make_world

    torch.set_num_threads(2)
    budget = budget_s if budget_s is not None else (QUICK_BUDGET_S if quick else FULL_BUDGET_S)
    pairs = pairs or (64 if quick else 400)
    full = create_method("cde", "tiny")
    ablation = create_method("cde", "tiny", synthesis=False)
    hw, size = full.input_spec.ground_hw, full.input_spec.aerial_size
    with tempfile.TemporaryDirectory() as tmp:
        # Render at the tiny preset's sizes (the world's defaults are slower to render on CPU).
        root = make_world(
            Path(tmp) / "world",
            layout="cvusa",
            pairs=pairs,
            seed=0,
            tile_px=2 * size,
            pano_hw=(2 * hw[0], 2 * hw[1]),
        )
        data = _load_world(Path(root), hw, size)
    train = data["train"]
    test = data.get("test") or data["val"]
    batch = 16 if not quick else 8
    result: dict = {
        "pairs": {k: int(v["ground"].shape[0]) for k, v in data.items()},
        "budget_s_per_model": budget,
        "preset": "tiny",
        "metric_convention": "sat2density",
    }
    result["train_cde"] = _train(full, train, budget, batch, seed=0)
    result["train_ablation_i"] = _train(ablation, train, budget, batch, seed=0)
    result["r1_cde"] = _recall_at_1(full, test)
    result["r1_ablation_i"] = _recall_at_1(ablation, test)
    result["r1_chance"] = 1.0 / test["ground"].shape[0]
    batches = [
        {"ground": test["ground"][i : i + 32], "aerial": test["aerial"][i : i + 32]}
        for i in range(0, test["ground"].shape[0], 32)
    ]
    full.eval()
    generated = evaluate_batches(full.synthesize, batches)
    baseline = evaluate_batches(polar_baseline(hw), batches)
    result["synthesis_cde"] = {k: round(v, 4) for k, v in generated.items()}
    result["synthesis_polar_baseline"] = {k: round(v, 4) for k, v in baseline.items()}
    result["generator_beats_polar"] = bool(
        generated["psnr"] > baseline["psnr"] and generated["ssim"] > baseline["ssim"]
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--budget-s", type=float, default=None, help="training seconds per model")
    parser.add_argument("--pairs", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.budget_s, args.pairs), indent=2))
