"""A 2-step training run of every retrieval method on a tiny synthetic world (STYLE.md §11d)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from crossview.io import load_image_tensor
from crossview.methods import create_method

RETRIEVAL = ["clnet", "safa", "sample4geo"]


@pytest.fixture(scope="module")
def world_batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Six train pairs of a CVUSA-layout world rendered at the tiny presets' sizes."""
    from crossview.world import make_world

    root = Path(
        make_world(
            tmp_path_factory.mktemp("world"),
            "cvusa",
            pairs=8,
            seed=0,
            tile_px=64,
            tile_m=40.0,
            region_m=300.0,
            pano_hw=(32, 128),
            val_fraction=0.25,
        )
    )
    with open(root / "crossview_gt" / "samples.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    assert len(rows) == 6
    return {
        "ground": torch.stack([load_image_tensor(root / r["ground"]) for r in rows]),
        "aerial": torch.stack([load_image_tensor(root / r["aerial"]) for r in rows]),
        "utm": torch.tensor(
            [[float(r["utm_e"]), float(r["utm_n"])] for r in rows], dtype=torch.float64
        ),
        "index": torch.arange(len(rows)),
        "id": [r["id"] for r in rows],
    }


@pytest.mark.parametrize("name", RETRIEVAL)
def test_two_steps_on_world(name: str, world_batch: dict) -> None:
    from crossview.training.optim import build_optimizer

    method = create_method(name, "tiny")
    assert world_batch["ground"].shape[-2:] == method.input_spec.ground_hw
    assert world_batch["aerial"].shape[-1] == method.input_spec.aerial_size
    opt = build_optimizer(method.optimizers()["main"])
    method.train()
    losses = []
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        loss = method.training_step(world_batch, step)["total"]
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    method.eval()
    with torch.no_grad():
        g = method.encode_ground(world_batch["ground"])
        a = method.encode_aerial(world_batch["aerial"])
    assert g.shape == a.shape == (6, method.descriptor_dim)
    torch.testing.assert_close(
        (g @ a.T).diagonal().abs() <= 1.0 + 1e-5, torch.ones(6, dtype=torch.bool)
    )
