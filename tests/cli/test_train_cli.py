"""`crossview train | eval | embed` end to end on a CVUSA fixture (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.data.fixtures import make_cvusa_fixture

from crossview.training import load_run


def _cli(*args, check=True):
    """Run ``python -m crossview`` in a subprocess (the real entry point, end to end)."""
    env = dict(os.environ, CROSSVIEW_NO_PROGRESS="1", CROSSVIEW_DEVICE="cpu", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "crossview", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _main(args, capsys):
    """Run the CLI entry point in-process; returns (exit code, stdout, stderr)."""
    from crossview.cli import main

    old = sys.argv
    sys.argv = ["crossview", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    root = make_cvusa_fixture(base / "cvusa", n_train=8, n_val=4, tile_px=32, pano_hw=(16, 64))
    run = base / "run"
    _cli(
        "train",
        "--method",
        "safa",
        "--data",
        f"cvusa:{root}",
        "--out",
        run,
        "--preset",
        "tiny",
        "train.max_steps=2",
        "batch_size=4",
        "train.epochs=1",
        "train.embed_batch_size=4",
    )
    return root, run


def test_train_writes_a_loadable_run(trained):
    root, run = trained
    assert (run / "config.yaml").is_file() and (run / "metrics.jsonl").is_file()
    loaded = load_run(run)
    # The run records the resolved dataset (layout, absolute root, every option).
    assert loaded.method_name == "safa"
    assert loaded.config["data"] == {"layout": "cvusa", "root": str(root.resolve()), "options": {}}
    assert loaded.config["train_config"]["max_steps"] == 2


def test_eval_json_has_headline_metrics_in_percent(trained, tmp_path, capsys):
    root, run = trained
    out = tmp_path / "eval.json"
    code, _, err = _main(
        ["eval", "--run", run, "--data", f"cvusa:{root}", "--split", "val", "--json", out], capsys
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    # Independently: rank of each query's own tile among the 4 validation tiles.
    import torch

    from crossview.data.layouts import load_layout
    from crossview.inference import embed_aerial, embed_ground

    val = load_layout("cvusa", root).select("val")
    method = load_run(run).method
    sim = torch.from_numpy(embed_ground(method, val, 4, "cpu")) @ torch.from_numpy(
        embed_aerial(method, val, 4, "cpu")).T
    truth = torch.tensor([p.positive for p in val.pairs])
    ranks = (sim > sim.gather(1, truth[:, None])).sum(dim=1)
    for k in (1, 5, 10):
        assert result[f"R@{k}"] == pytest.approx(100.0 * (ranks < k).float().mean().item())
    assert result["R@1%"] == result["R@1"]  # floor(4 / 100) is below 1: k = 1
    assert result["method"] == "safa" and result["num_queries"] == 4
    assert result["checkpoint_sha256"] == load_run(run).checkpoint_sha256
    assert result["conventions"]["one_percent_rule"] == "floor"
    # The trainer evaluated the same checkpoint on the same split: identical numbers.
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {k: records[-1]["metrics"][k] for k in ("R@1", "R@5", "R@10", "R@1%")} == {
        k: result[k] for k in ("R@1", "R@5", "R@10", "R@1%")
    }


def test_embed_writes_parquet_matching_inference(trained, tmp_path, capsys):
    root, run = trained
    out = tmp_path / "desc.parquet"
    code, stdout, err = _main(["embed", "--run", run, "--split", "val", "--out", out], capsys)
    assert code == 0 and stdout.strip() == str(out), err
    table = pq.read_table(out)
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["method"] == "safa" and meta["checkpoint_sha256"] == load_run(run).checkpoint_sha256
    assert table.column_names == ["id", "view", "split", "lat", "lon", "descriptor"]
    views = table.column("view").to_pylist()
    assert views.count("ground") == 4 and views.count("aerial") == 4
    desc = np.array(table.column("descriptor").to_pylist(), dtype=np.float32)
    assert desc.shape[1] == int(meta["descriptor_dim"])
    np.testing.assert_allclose(np.linalg.norm(desc, axis=1), 1.0, atol=1e-4)


def test_errors_are_one_line(trained, tmp_path, capsys):
    root, run = trained
    cases = [
        (["eval", "--run", tmp_path / "missing"], "run directory or checkpoint not found"),
        (
            ["train", "--method", "safaa", "--data", f"cvusa:{root}", "--out", tmp_path / "r"],
            "Did you mean 'safa'?",
        ),
        (
            ["train", "--method", "safa", "--data", f"cvusaa:{root}", "--out", tmp_path / "r"],
            "unknown layout 'cvusaa'",
        ),
        (
            [
                "train",
                "--method",
                "safa",
                "--data",
                f"cvusa:{root}",
                "--out",
                tmp_path / "r",
                "lrr=1",
            ],
            "Did you mean 'lr'?",
        ),
        (["eval", "--run", run, "--checkpoint", run / "checkpoints" / "last.pt"], "exactly one of"),
    ]
    for args, message in cases:
        code, _, err = _main(args, capsys)
        assert code == 2, (args, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, err)
