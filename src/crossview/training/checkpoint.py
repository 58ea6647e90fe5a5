"""Checkpoints that carry their config, the code version and a checksum, and load strictly.

A checkpoint is one ``torch.save`` file (loaded with ``weights_only=True``: plain containers and
tensors only, no pickled code) holding::

    {"format": "crossview-checkpoint/1", "method": name, "method_config": {...},
     "train_config": {...}, "preset": str | None, "data": str | None,
     "code_version": str, "sha256": hex, "model": state_dict,
     "optimizers": {name: state}, "schedulers": {name: state}, "state": {...trainer state...}}

``sha256`` is computed over a canonical serialisation of the model ``state_dict`` (for each key in
sorted order: the key, dtype, shape and the raw little-endian tensor bytes), so it identifies the
weights independently of ``torch.save``'s container format and detects any change to them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossview._version import code_version
from crossview.errors import ConfigError, InputFileError
from crossview.io import write_bytes_atomic
from crossview.methods.base import Method

logger = logging.getLogger(__name__)

FORMAT = "crossview-checkpoint/1"
"""Format tag written into (and required from) every checkpoint."""
CHECKPOINT_DIR = "checkpoints"
"""Sub-directory of a run holding ``last.pt`` and ``best.pt``."""


@dataclasses.dataclass
class Checkpoint:
    """A verified checkpoint; ``method`` is rebuilt from the embedded config and loaded strictly."""

    path: Path
    method: Any
    """The rebuilt :class:`~crossview.methods.base.Method` (on CPU, in eval mode)."""
    method_name: str
    sha256: str
    payload: dict[str, Any]
    """The whole checkpoint mapping (optimizer, scheduler and trainer state for resuming)."""

    @property
    def config(self) -> dict[str, Any]:
        """The resolved configuration recorded in the checkpoint."""
        return checkpoint_config(self.payload)


@dataclasses.dataclass
class LoadedModel:
    """What :func:`load_run` returns: a ready method plus where it came from."""

    method: Any
    """The :class:`~crossview.methods.base.Method`, on CPU, in eval mode."""
    method_name: str
    checkpoint_path: Path
    checkpoint_sha256: str
    config: dict[str, Any]
    """``method``, ``preset``, ``data``, ``method_config``, ``train_config``, ``code_version``."""


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a model ``state_dict``: keys sorted; key, dtype, shape and raw bytes each."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}] is a {type(value).__name__}, not a tensor")
        tensor = value.detach().cpu().contiguous()
        digest.update(key.encode("utf-8") + b"\0")
        digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}".encode() + b"\0")
        # uint8 view gives the raw bytes for every dtype (bf16 included, which numpy lacks).
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checkpoint_config(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return the configuration part of a checkpoint mapping (no tensors)."""
    keys = ("method", "preset", "data", "method_config", "train_config", "code_version")
    return {k: payload.get(k) for k in keys}


def save_checkpoint(
    path: str | Path,
    method: Method,
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    config_dict: Mapping[str, Any] | None = None,
) -> str:
    """Write a checkpoint of ``method`` atomically and return its model sha256.

    Args:
        path: Output ``.pt`` file (parent directories are created).
        method: The (unwrapped) method; its registry name and ``config`` are embedded.
        optimizers: Optimizers by name (their state is saved for resuming).
        schedulers: LR schedulers by name.
        state: Trainer state (epoch, step, RNG states, sampler position, ...): plain data/tensors.
        config_dict: Extra configuration: ``train_config``, ``preset``, ``data``.

    """
    config_dict = dict(config_dict or {})
    model_state = {k: v.detach().cpu().clone() for k, v in method.state_dict().items()}
    sha = state_dict_sha256(model_state)
    method_config = method.config.to_dict() if hasattr(method, "config") else {}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "method": getattr(method, "name", type(method).__name__),
        "method_config": method_config,
        "train_config": config_dict.pop("train_config", None),
        "preset": config_dict.pop("preset", None),
        "data": config_dict.pop("data", None),
        "code_version": code_version(),
        "sha256": sha,
        "model": model_state,
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "schedulers": {k: s.state_dict() for k, s in (schedulers or {}).items()},
        "state": dict(state or {}),
        "extra": config_dict,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return sha


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and verify a checkpoint file (format and sha256) without building the method."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "checkpoint not found" if not path.exists() else "not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated / foreign files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputFileError(path, f"cannot read checkpoint ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputFileError(
            path, f"not a crossview checkpoint (format {found!r}, expected {FORMAT!r})"
        )
    model = payload.get("model")
    if not isinstance(model, dict):
        raise InputFileError(path, "checkpoint has no model state_dict")
    actual = state_dict_sha256(model)
    if actual != payload.get("sha256"):
        raise InputFileError(
            path, f"checksum mismatch (recorded {payload.get('sha256')}, computed {actual})"
        )
    return payload


def load_state_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                      source: str) -> None:
    """Load strictly; one error names the missing, unexpected and mis-shaped keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"missing keys {_abbrev(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_abbrev(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch (checkpoint vs model) {_abbrev(shapes)}")
    if problems:
        raise ConfigError(f"{source}: checkpoint does not match the model: " + "; ".join(problems))
    module.load_state_dict(dict(state_dict), strict=True)


def _abbrev(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{f', ... ({len(items) - limit} more)' if len(items) > limit else ''}]"


def build_method(name: str, method_config: Mapping[str, Any], source: str) -> Any:
    """Rebuild a registered method from its embedded config.

    Pretrained weights are not reloaded: the checkpoint's state_dict replaces them, and their
    path may not exist on this machine.
    """
    from crossview.methods.registry import get_method_class

    cls = get_method_class(name)
    data = dict(method_config)
    if "pretrained" in data:
        data["pretrained"] = None
    config = cls.config_class.from_dict(data, where=f"{source} method_config")
    return cls(config)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read, verify and rebuild: format and sha256 checked, method rebuilt and loaded strictly.

    Raises:
        InputFileError: Missing, unreadable or foreign file, or checksum mismatch.
        ConfigError: Unknown method, or a state_dict that does not match the rebuilt method
            (the message names the missing / unexpected keys).

    """
    path = Path(path)
    payload = read_checkpoint(path)
    name = payload.get("method")
    if not isinstance(name, str):
        raise InputFileError(path, "checkpoint does not name its method")
    method = build_method(name, payload.get("method_config") or {}, str(path))
    load_state_strict(method, payload["model"], str(path))
    method.eval()
    return Checkpoint(path=path, method=method, method_name=name, sha256=payload["sha256"],
                      payload=payload)


def resolve_checkpoint(run_or_checkpoint: str | Path, which: str = "best") -> Path:
    """Return the checkpoint file of a run (``checkpoints/<which>.pt``) or the file itself.

    ``best.pt`` exists only once an evaluation ran; a run without one falls back to ``last.pt``
    (logged).
    """
    if which not in ("best", "last"):
        raise ConfigError(f"which: expected 'best' or 'last', got {which!r}")
    path = Path(run_or_checkpoint)
    if path.is_file():
        return path
    if not path.is_dir():
        raise InputFileError(path, "run directory or checkpoint not found")
    ckpt_dir = path / CHECKPOINT_DIR
    wanted = ckpt_dir / f"{which}.pt"
    if wanted.is_file():
        return wanted
    last = ckpt_dir / "last.pt"
    if which == "best" and last.is_file():
        logger.warning("%s has no best.pt (no evaluation ran); using last.pt", path)
        return last
    raise InputFileError(path, f"not a crossview run: {wanted} not found")


def load_run(run_or_checkpoint: str | Path, which: str = "best") -> LoadedModel:
    """Load the model of a run directory (``best`` or ``last``) or of a checkpoint file.

    Args:
        run_or_checkpoint: ``RUN`` (as written by ``crossview train``) or a ``.pt`` file.
        which: ``"best"`` (highest validation R@1; falls back to ``last``) or ``"last"``.

    """
    ckpt = load_checkpoint(resolve_checkpoint(run_or_checkpoint, which))
    return LoadedModel(method=ckpt.method, method_name=ckpt.method_name, checkpoint_path=ckpt.path,
                       checkpoint_sha256=ckpt.sha256, config=ckpt.config)
