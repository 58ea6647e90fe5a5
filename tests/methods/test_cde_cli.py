"""``crossview synthesize --run RUN TILE... --out DIR`` on a saved cde run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from crossview.io import load_image_tensor
from crossview.methods import create_method
from crossview.training.checkpoint import save_checkpoint


@pytest.fixture()
def run_dir(tmp_path):
    method = create_method("cde", "tiny")
    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", method)
    return tmp_path / "run", method.eval()


def test_synthesize_writes_one_panorama_per_tile(tmp_path, run_dir, run_cli):
    run, method = run_dir
    rng = np.random.default_rng(0)
    tiles = []
    for name in ("north", "south"):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
            tmp_path / f"{name}.png"
        )
        tiles.append(str(tmp_path / f"{name}.png"))
    code = run_cli(
        "--device",
        "cpu",
        "synthesize",
        "--run",
        str(run),
        *tiles,
        "--out",
        str(tmp_path / "out"),
    ).code
    assert code in (0, None)
    for name, tile in zip(("north", "south"), tiles, strict=True):
        written = load_image_tensor(tmp_path / "out" / f"{name}.png")
        assert written.shape == (3, 32, 176)
        with torch.no_grad():
            want = method.synthesize(load_image_tensor(tile)[None])[0]
        assert (written - want).abs().max() <= 1 / 255 + 1e-6  # png quantisation only


def test_bad_tiles_give_one_line_errors(tmp_path, run_dir, run_cli):
    run, _ = run_dir
    Image.fromarray(np.zeros((64, 80, 3), dtype=np.uint8)).save(tmp_path / "wide.png")
    code, _, err = run_cli(
        "synthesize",
        "--run",
        str(run),
        str(tmp_path / "wide.png"),
        "--out",
        str(tmp_path / "o"),
    )
    err = err.strip()
    assert code == 2 and "wide.png" in err and "square" in err and len(err.splitlines()) == 1
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    code, _, err = run_cli(
        "synthesize",
        "--run",
        str(run),
        str(tmp_path / "broken.png"),
        "--out",
        str(tmp_path / "o"),
    )
    err = err.strip()
    assert code == 2 and "broken.png" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(
        "synthesize",
        "--run",
        str(tmp_path / "nope"),
        str(tmp_path / "wide.png"),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "nope" in err
    assert not (tmp_path / "o").exists()
