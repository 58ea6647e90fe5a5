"""``crossview eval-descriptors`` end to end with .npy files, and its one-line errors."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from crossview.cli import app
from crossview.errors import ConfigError, CrossviewError, InputFileError


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    q = rng.integers(-2, 3, size=(40, 6)).astype(np.float32)
    r = rng.integers(-2, 3, size=(40, 6)).astype(np.float32)
    r[20:] = r[:20]
    truth = rng.permutation(40)
    paths = {}
    for name, arr in {
        "q": q,
        "r": r,
        "t": truth,
        "qu": rng.uniform(0, 50, (40, 2)),
        "ru": rng.uniform(0, 50, (40, 2)),
    }.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    return tmp_path, paths, q, r, truth


def run(args):
    return CliRunner().invoke(app, ["eval-descriptors", *map(str, args)])


def test_end_to_end_truth(files):
    tmp, p, q, r, truth = files
    out = tmp / "res.json"
    proc = run(
        [
            "--query",
            p["q"],
            "--reference",
            p["r"],
            "--truth",
            p["t"],
            "--ks",
            "1,5",
            "--one-percent",
            "ceil",
            "--both-directions",
            "--json",
            out,
        ]
    )
    assert proc.exit_code == 0, proc.output
    res = json.loads(out.read_text())
    full = q.astype(np.float64) @ r.T.astype(np.float64)
    ranks = np.array([(full[i] > full[i, truth[i]]).sum() for i in range(40)])
    assert res["R@1"] == pytest.approx(100 * np.mean(ranks < 1))
    assert res["R@5"] == pytest.approx(100 * np.mean(ranks < 5))
    assert res["one_percent"] == {"rule": "ceil", "k": 1}
    assert res["aerial_to_ground"]["direction"] == "aerial_to_ground"
    # Bad input: one line on stderr, exit 2, no traceback.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crossview",
            "eval-descriptors",
            "--query",
            tmp / "missing.npy",
            "--reference",
            p["r"],
            "--truth",
            p["t"],
            "--json",
            out,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing.npy" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_radius_mode(files):
    tmp, p, q, r, _ = files
    out = tmp / "res.json"
    res = run(
        [
            "--query",
            p["q"],
            "--reference",
            p["r"],
            "--query-utm",
            p["qu"],
            "--reference-utm",
            p["ru"],
            "--radius",
            8,
            "--ks",
            "1,10",
            "--json",
            out,
        ]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    qu, ru = np.load(p["qu"]), np.load(p["ru"])
    ok = np.hypot(*(qu[:, None] - ru[None]).transpose(2, 0, 1)) <= 8
    full = q.astype(np.float64) @ r.T.astype(np.float64)
    for k in (1, 10):
        found = []
        for i in range(40):
            order = sorted(range(40), key=lambda j: (-full[i, j], not ok[i, j]))
            found.append(any(ok[i, j] for j in order[:k]))
        assert data[f"R@{k}"] == pytest.approx(100 * np.mean(found))
    assert data["radius_m"] == 8.0


def test_bad_inputs(files):
    tmp, p, q, _, truth = files
    out = tmp / "o.json"
    nan = q.copy()
    nan[7, 2] = np.nan
    np.save(tmp / "nan.npy", nan)
    np.save(tmp / "narrow.npy", q[:, :4])
    np.save(tmp / "short.npy", truth[:10])
    (tmp / "corrupt.npy").write_bytes(b"not numpy")
    cases = [
        (
            ["--query", tmp / "nan.npy", "--reference", p["r"], "--truth", p["t"]],
            InputFileError,
            "row 7",
        ),
        (
            ["--query", p["q"], "--reference", tmp / "narrow.npy", "--truth", p["t"]],
            CrossviewError,
            "dimensions differ",
        ),
        (
            ["--query", p["q"], "--reference", p["r"], "--truth", tmp / "short.npy"],
            InputFileError,
            r"expected \(40,\)",
        ),
        (
            ["--query", tmp / "corrupt.npy", "--reference", p["r"], "--truth", p["t"]],
            InputFileError,
            "cannot read",
        ),
        (
            ["--query", p["q"], "--reference", p["r"], "--truth", p["t"], "--ks", "1,x"],
            ConfigError,
            "--ks",
        ),
        (["--query", p["q"], "--reference", p["r"]], ConfigError, "either --truth"),
        (["--query", p["q"], "--reference", p["r"], "--radius", 5], ConfigError, "--query-utm"),
        (
            ["--query", p["q"], "--reference", p["r"], "--truth", p["t"], "--one-percent", "x"],
            ConfigError,
            "one-percent",
        ),
    ]
    for args, err, msg in cases:
        res = run([*args, "--json", out])
        assert isinstance(res.exception, err), (args, res.exception)
        assert re.search(msg, str(res.exception)), (msg, str(res.exception))
    assert not out.exists()
