"""Training benchmark: speed per method (tiny preset, CPU) and a learning curve per method.

Speed: training pairs/s through the full trainer (data loading, augmentation-free PairDataset,
optimizer, schedule) against the bare model step on pre-loaded tensors; the input-pipeline
overhead is ``bare_rate / trainer_rate - 1`` (target < 10 %). Embedding images/s likewise
(``embed_ground`` from files vs ``encode_ground`` on tensors).

Learning: a 2,500-pair synthetic world in the CVUSA layout (20 % validation), ``crossview train``
for 15 minutes per method with evaluation every epoch; R@1 and R@1% against minutes are written
as JSON and PNG under ``bench_out/training/<method>/``. ``quick`` uses 300 pairs and 1 minute.

Usage: ``python benchmarks/bench_training.py [--quick] [--only-speed]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out" / "training"


def _dataset(root: Path, pairs: int, seed: int = 0) -> tuple[str, str]:
    """A CVUSA-layout dataset: the synthetic world when available, else random images."""
    try:
        from crossview.world import make_world
    except ImportError:
        sys.path.insert(0, str(HERE.parent))
        from tests.data.fixtures import make_cvusa_fixture

        n_val = max(4, pairs // 5)
        make_cvusa_fixture(root, n_train=pairs - n_val, n_val=n_val, tile_px=128, pano_hw=(64, 256),
                           seed=seed)
        return f"cvusa:{root}", "random-image fixture (crossview.world unavailable)"
    make_world(root, "cvusa", pairs=pairs, seed=seed)
    return f"cvusa:{root}", "synthetic world"


def _bare_train_rate(method: Any, batch: dict[str, torch.Tensor], steps: int) -> float:
    """Pairs/s of forward + backward + step on tensors already in memory (no data pipeline)."""
    from crossview.training.optim import build_optimizer

    specs = method.optimizers()
    opts = {p.optimizer: build_optimizer(specs[p.optimizer]) for p in method.phases()}
    method.train()
    start = None
    for i in range(steps + 1):  # first iteration is warm-up
        if i == 1:
            start = time.perf_counter()
        for phase in method.phases():
            opts[phase.optimizer].zero_grad(set_to_none=True)
            method(batch, i, phase.name)["total"].backward()
            opts[phase.optimizer].step()
    return steps * len(batch["ground"]) / (time.perf_counter() - start)


def speed(method_name: str, data: str, steps: int, batch_size: int,
          num_workers: int = 0) -> dict[str, Any]:
    """Trainer vs bare training rate and file vs tensor embedding rate of one method."""
    from crossview.data.datasets import PairDataset
    from crossview.inference import embed_ground
    from crossview.training import Trainer
    from crossview.training.steps import build_configs, load_data

    table = load_data(data)
    train = table.select("train")
    method, config = build_configs(method_name, "tiny", {"train.sampler": "random"})
    # num_workers=0 by default: on the 2 shared development cores a loader worker competes
    # with the model for CPU instead of overlapping with it (measured: slower).
    config = config.replace(batch_size=batch_size, max_steps=steps + 1, eval_every=0,
                            time_budget_min=None, epochs=1000, num_workers=num_workers)
    with tempfile.TemporaryDirectory() as tmp:
        result = Trainer(method, train, None, config, Path(tmp) / "run", device="cpu").fit()
    dataset = PairDataset(train, method.input_spec)
    samples = [dataset[i] for i in range(batch_size)]
    batch = {k: torch.stack([s[k] for s in samples]) for k in ("ground", "aerial")}
    bare = _bare_train_rate(method, batch, steps)
    queries = train.select("train")
    queries.pairs = queries.pairs[: 4 * batch_size]
    start = time.perf_counter()
    embed_ground(method, queries, batch_size=batch_size, device="cpu")
    embed_rate = len(queries) / (time.perf_counter() - start)
    method.eval()
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(4):
            method.encode_ground(batch["ground"])
        bare_embed = 4 * batch_size / (time.perf_counter() - start)
    return {
        "train_pairs_per_s": round(result.pairs_per_s, 2),
        "bare_train_pairs_per_s": round(bare, 2),
        "train_pipeline_overhead": round(bare / result.pairs_per_s - 1, 3),
        "embed_images_per_s": round(embed_rate, 2),
        "bare_embed_images_per_s": round(bare_embed, 2),
        "embed_pipeline_overhead": round(bare_embed / embed_rate - 1, 3),
        "batch_size": batch_size, "steps": steps, "num_workers": num_workers,
    }


def learning(method_name: str, data: str, minutes: float) -> dict[str, Any]:
    """``crossview train`` for ``minutes``; returns the R@1 / R@1% vs minutes curve."""
    import json
    import shutil

    from crossview.training.steps import train

    out = OUT / method_name
    shutil.rmtree(out, ignore_errors=True)
    overrides = {"train.eval_every": 1, "train.epochs": 1000}
    result = train(method_name, data, out, "tiny", overrides, time_budget_min=minutes, device="cpu")
    curve = json.loads((out / "learning_curve.json").read_text())
    return {"minutes": round(result.minutes, 2), "steps": result.step, "stopped": result.stopped,
            "best": {k: (result.best_metrics or {}).get(k) for k in ("R@1", "R@1%")},
            "curve": curve["points"], "png": str(out / "learning_curve.png")}


def run(quick: bool = False, only_speed: bool = False) -> dict[str, Any]:
    """Speed per method, then (unless ``only_speed``) the learning benchmark per method."""
    from crossview.methods import list_methods

    torch.set_num_threads(max(1, torch.get_num_threads()))
    methods = list_methods()
    summary: dict[str, Any] = {"speed": {}, "learning": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data, kind = _dataset(Path(tmp) / "speed", pairs=80 if quick else 200)
        summary["speed_data"] = kind
        for name in methods:
            summary["speed"][name] = speed(name, data, steps=2 if quick else 5,
                                           batch_size=8 if quick else 16)
        if only_speed:
            return summary
        import shutil

        shutil.rmtree(OUT / "world", ignore_errors=True)
        data, kind = _dataset(OUT / "world", pairs=300 if quick else 2500)
        summary["learning_data"] = kind
        for name in methods:
            summary["learning"][name] = learning(name, data, minutes=1 if quick else 15)
    return summary


if __name__ == "__main__":
    import json

    args = set(sys.argv[1:])
    print(json.dumps(run(quick="--quick" in args, only_speed="--only-speed" in args), indent=2))
