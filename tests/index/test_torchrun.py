"""`index build` under torchrun (2 CPU processes, gloo); model-mismatch refusals via the CLI."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from crossview.data.inputs import model_input
from crossview.index.geoindex import GeoIndex
from crossview.index.tiles import TileRecord, write_tiles_csv
from crossview.io import save_image
from crossview.methods.registry import create_method
from crossview.training.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny SAFA checkpoints (same method, different weights) and a 9-tile folder."""
    root = tmp_path_factory.mktemp("torchrun")
    torch.manual_seed(0)
    method_a = create_method("safa", "tiny")
    sha_a = save_checkpoint(root / "a" / "checkpoints" / "last.pt", method_a)
    torch.manual_seed(1)
    sha_b = save_checkpoint(root / "b" / "checkpoints" / "last.pt", create_method("safa", "tiny"))
    assert sha_a != sha_b
    size = method_a.input_spec.aerial_size
    rng = np.random.default_rng(5)
    records = []
    for i in range(9):
        save_image(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), root / f"t/tiles/{i}.png")
        records.append(
            TileRecord(f"k{i}", f"tiles/{i}.png", 40 + i * 1e-3, -105.0, 5e5 + i, 4.4e6, "13N", 0.5)
        )
    write_tiles_csv(records, root / "t" / "tiles.csv")
    return root, method_a, sha_a


def test_torchrun_two_ranks_write_one_table(runs):
    root, method, sha = runs
    out = root / "idx"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "crossview", "--", "index", "build", "--run", str(root / "a"), "--tiles",
        str(root / "t"), "--out", str(out), "--batch-size", "2",
    ]  # fmt: skip
    # "--" ends torchrun's own options: without it torchrun's argparse takes "--run" for an
    # ambiguous abbreviation of its "--run-path" and exits (the form docs/locate.md shows).
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "9 tiles indexed" in proc.stdout
    index = GeoIndex.open(str(out))
    assert len(index) == 9 and index.info.checkpoint_sha256 == sha
    assert not (out / "_shards").exists()
    # Each row holds the descriptor a single process computes for that tile.
    paths = [str((root / "t" / f"tiles/{i}.png").resolve()) for i in range(9)]
    with torch.no_grad():
        tiles = torch.stack([model_input(p, method.input_spec, "aerial") for p in paths])
        desc = method.eval().encode_aerial(tiles)
    hits = index.search(desc.numpy(), k=1)
    assert [h[0].tile_id for h in hits] == [f"k{i}" for i in range(9)]
    np.testing.assert_allclose([h[0].score for h in hits], 1.0, atol=1e-4)


def test_other_checkpoint_of_same_method_is_refused(runs, run_cli):
    root, _, _ = runs
    out = root / "idx_single"
    code, _, err = run_cli("index", "build", "--run", root / "a", "--tiles", root / "t",
                           "--out", out)  # fmt: skip
    assert code == 0, err
    query = root / "q.png"
    save_image(np.random.default_rng(0).integers(0, 255, (32, 128, 3), dtype=np.uint8), query)
    for args in (
        ["locate", query, "--index", out, "--run", root / "b"],
        ["index", "build", "--run", root / "b", "--tiles", root / "t", "--out", out],
    ):
        code, _, err = run_cli(*args)
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(lines) == 1 and "not comparable" in lines[0], (args, err)
    assert len(GeoIndex.open(str(out))) == 9  # the refused build wrote nothing
