"""``regmi_shah`` from the CLI: 2 steps per stage on a tiny world, eval, synthesize a CVUSA pano."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.cli_runner import run_cli_plain

from crossview.io import load_image_tensor
from crossview.training.checkpoint import read_checkpoint
from crossview.world import make_world

STAGE_OVERRIDES = ["synthesis_epochs=1", "two_stream_epochs=1", "joint_epochs=1",
                   "fusion_epochs=1", "train.epochs=4", "train.batch_size=4",
                   "train.max_steps=8", "train.eval_every=4", "train.embed_batch_size=4",
                   "train.eval_synthesis_pairs=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A world of 12 pairs (10 train: 2 batches of 4 per epoch) and a run of 4 one-epoch stages."""
    root = tmp_path_factory.mktemp("world")
    make_world(root, "cvusa", pairs=12, tile_px=64, pano_hw=(32, 128), seed=3)
    run = tmp_path_factory.mktemp("runs") / "regmi"
    code, _, err = run_cli_plain("--device", "cpu", "train", "--method", "regmi_shah", "--data",
                                 f"cvusa:{root}", "--out", str(run), "--preset", "tiny",
                                 *STAGE_OVERRIDES)
    assert code == 0, err
    return root, run


def test_each_stage_trains_two_steps(trained):
    _, run = trained
    payload = read_checkpoint(run / "checkpoints" / "last.pt")
    steps = {name: {int(s["step"]) for s in state["state"].values()}
             for name, state in payload["optimizers"].items()}
    assert steps == {"discriminator": {2}, "generator": {2}, "two_stream": {2}, "joint": {2},
                     "fusion": {2}}
    assert payload["state"]["step"] == 8
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    rows = last["metrics"]["variants"]
    assert sorted(rows) == ["fusion", "joint_aa", "joint_ga", "two_stream_aa", "two_stream_ga"]
    assert all(0 <= r["R@1"] <= 100 for r in rows.values())
    assert last["metrics"]["R@1"] == rows["fusion"]["R@1"]  # default: the current stage's
    assert {"PSNR", "SSIM", "SD"} <= set(last["metrics"])
    assert list((run / "samples").glob("*_samples.png"))


def test_eval_reports_every_row(trained, run_cli, tmp_path):
    _, run = trained
    out = tmp_path / "eval.json"
    assert run_cli("--device", "cpu", "eval", "--run", str(run), "--which", "last",
                   "--batch-size", "4", "--json", str(out)).code == 0
    result = json.loads(out.read_text())
    assert sorted(result["variants"]) == ["fusion", "joint_aa", "joint_ga", "two_stream_aa",
                                          "two_stream_ga"]


def test_synthesize_cvusa_size_panorama_writes_aerial_and_segmentation(trained, run_cli,
                                                                        tmp_path):
    _, run = trained
    rng = np.random.default_rng(0)
    pano = tmp_path / "cvusa_pano.jpg"
    Image.fromarray(rng.integers(0, 255, (224, 1232, 3), dtype=np.uint8)).save(pano)
    assert run_cli("--device", "cpu", "synthesize", "--run", str(run), "--which", "last",
                   str(pano), "--out", str(tmp_path / "out")).code == 0
    aerial = load_image_tensor(tmp_path / "out" / "cvusa_pano.png")
    seg = load_image_tensor(tmp_path / "out" / "cvusa_pano_seg.png")
    assert aerial.shape == seg.shape == (3, 64, 64)
