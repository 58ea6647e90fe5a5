"""Every retrieval method learns: the tiny preset, from random initialisation, on a seeded small
world, ranks its training pairs far above chance within a minute on 2 cores.

This checks that loss, optimizer, schedule, data pipeline and evaluation work together. How well
a method generalises to held-out pairs, and how fast, is a benchmark (bench_training.py: 15
minutes per method on a 2,500-pair world), not a unit test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crossview.methods import get_method_class, list_methods
from crossview.methods.retrieval import RetrievalMethod
from crossview.training.steps import evaluate, train

RETRIEVAL = [m for m in list_methods() if issubclass(get_method_class(m), RetrievalMethod)]
STEPS = 120
"""Optimizer steps of batch 32 (~45 s per method on one core under load)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crossview.world import make_world

    return Path(make_world(tmp_path_factory.mktemp("world"), "cvusa", pairs=96, seed=0,
                           tile_px=64, tile_m=40.0, region_m=500.0, pano_hw=(32, 128),
                           val_fraction=0.25))


@pytest.mark.parametrize("name", RETRIEVAL)
def test_tiny_preset_learns_its_training_pairs(name: str, world: Path, tmp_path: Path) -> None:
    result = train(name, f"cvusa:{world}", tmp_path / "run", "tiny",
                   {"train.max_steps": STEPS, "train.epochs": 1000, "train.batch_size": 32,
                    "train.sampler": "random", "train.eval_every": 0, "train.seed": 0,
                    "train.time_budget_min": None, "method.lr": 1e-3})
    assert result.step == STEPS
    scores = evaluate(tmp_path / "run", split="train", which="last")
    chance = 100.0 / scores["num_references"]
    assert scores["num_queries"] == 72 and chance < 1.5
    assert scores["R@1"] >= 40.0, f"{name}: R@1 {scores['R@1']:.1f} % (chance {chance:.1f} %)"
