"""Checkpoints: embedded config and checksum, strict loading, run resolution."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch

from crossview.errors import ConfigError, InputFileError
from crossview.training import load_checkpoint, load_run, save_checkpoint
from crossview.training.checkpoint import FORMAT, read_checkpoint, state_dict_sha256
from tests.training.dummy import make_dummy


def _save(tmp_path, method, name="last.pt", **kwargs):
    path = tmp_path / "run" / "checkpoints" / name
    sha = save_checkpoint(path, method, **kwargs)
    return path, sha


def test_roundtrip_rebuilds_method_with_identical_weights(tmp_path):
    method = make_dummy(width=3, dim=5)
    opt = torch.optim.SGD(method.parameters(), lr=0.1)
    path, sha = _save(
        tmp_path,
        method,
        optimizers={"main": opt},
        config_dict={"train_config": {"epochs": 3}, "preset": "tiny", "data": "cvusa:/x"},
    )
    ckpt = load_checkpoint(path)
    assert ckpt.method_name == "dummy" and ckpt.sha256 == sha
    assert ckpt.method.config.width == 3 and ckpt.method.config.dim == 5
    for key, value in method.state_dict().items():
        assert torch.equal(ckpt.method.state_dict()[key], value)
    payload = ckpt.payload
    assert payload["format"] == FORMAT
    assert payload["train_config"] == {"epochs": 3} and payload["preset"] == "tiny"
    assert payload["code_version"].startswith("0.")
    assert "main" in payload["optimizers"]


def test_sha256_is_over_canonical_state_bytes():
    # Independent computation: sorted keys, then key, dtype/shape and raw bytes of each tensor.
    state = {"b": torch.arange(3, dtype=torch.float32), "a": torch.ones(2, 2, dtype=torch.float64)}
    digest = hashlib.sha256()
    for key in ("a", "b"):
        t = state[key]
        digest.update(key.encode() + b"\0" + f"{t.dtype}|{tuple(t.shape)}".encode() + b"\0")
        digest.update(t.numpy().tobytes())
    assert state_dict_sha256(state) == digest.hexdigest()
    changed = dict(state, b=torch.tensor([0.0, 1.0, 2.0001]))
    assert state_dict_sha256(changed) != digest.hexdigest()


def test_tampered_weights_fail_checksum(tmp_path):
    path, _ = _save(tmp_path, make_dummy())
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["model"]))
    payload["model"][key] = payload["model"][key] + 1e-3
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(InputFileError, match="checksum mismatch"):
        load_checkpoint(path)


def test_strict_load_names_missing_and_unexpected_keys(tmp_path):
    method = make_dummy()
    path, _ = _save(tmp_path, method)
    payload = torch.load(path, weights_only=True)
    model = payload["model"]
    model["extra.weight"] = torch.zeros(1)
    del model["ground_net.head.bias"]
    payload["sha256"] = state_dict_sha256(model)  # a consistent but mismatched checkpoint
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ConfigError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "missing keys [ground_net.head.bias]" in message
    assert "unexpected keys [extra.weight]" in message
    assert "\n" not in message


def test_shape_mismatch_from_config_is_named(tmp_path):
    path, _ = _save(tmp_path, make_dummy(dim=8))
    payload = torch.load(path, weights_only=True)
    payload["method_config"]["dim"] = 6  # config no longer matches the weights
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(
        ConfigError, match=r"shape mismatch .*ground_net.head.weight \(8, 4\) vs \(6, 4\)"
    ):
        load_checkpoint(path)


def test_foreign_and_missing_files(tmp_path):
    with pytest.raises(InputFileError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "nope.pt")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(InputFileError, match="not a crossview checkpoint"):
        read_checkpoint(other)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(InputFileError, match="cannot read checkpoint"):
        read_checkpoint(garbage)


def test_load_run_resolves_best_then_last(tmp_path):
    method = make_dummy()
    last, sha_last = _save(tmp_path, method, "last.pt")
    run = tmp_path / "run"
    loaded = load_run(run)  # no best.pt yet: falls back to last
    assert loaded.checkpoint_path == last and loaded.checkpoint_sha256 == sha_last
    with torch.no_grad():
        method.ground_net.head.bias.add_(1.0)
    best, sha_best = _save(tmp_path, method, "best.pt")
    assert load_run(run).checkpoint_path == best and sha_best != sha_last
    assert load_run(run, which="last").checkpoint_sha256 == sha_last
    assert load_run(best).method_name == "dummy"
    assert not load_run(run).method.training
    with pytest.raises(InputFileError, match="run directory or checkpoint not found"):
        load_run(tmp_path / "missing")
    with pytest.raises(InputFileError, match="not a crossview run"):
        load_run(tmp_path)
    with pytest.raises(ConfigError, match="which"):
        load_run(run, which="first")
