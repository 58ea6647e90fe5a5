"""Trainer state in checkpoints: safe encoding, resume checks and named-state loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossview.errors import ConfigError
from crossview.training.config import RESUMABLE_CHANGES, TrainConfig


# --- checkpoint-safe encoding of trainer state (torch.load(weights_only=True) refuses numpy) ---
def to_safe(obj: Any) -> Any:
    """Replace numpy arrays/scalars by tensors/numbers (arrays tagged for :func:`from_safe`)."""
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj)).clone()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_safe(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_safe(v) for v in obj)
    return obj


def from_safe(obj: Any) -> Any:
    """Inverse of :func:`to_safe`."""
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return obj["__ndarray__"].numpy()
        return {k: from_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_safe(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(from_safe(v) for v in obj)
    return obj


def check_resumable(payload: dict[str, Any], method: Any, config: TrainConfig, path: Path) -> None:
    """Refuse to resume ``path`` with a different method or different non-logistic settings."""
    if payload.get("method") != method.name:
        raise ConfigError(f"{path} is a run of method {payload.get('method')!r}, not "
                          f"{method.name!r}; choose another --out")
    old_m = dict(payload.get("method_config") or {})
    new_m = method.config.to_dict()
    diffs = [f"method.{k}: {old_m.get(k)!r} -> {new_m.get(k)!r}"
             for k in sorted(set(old_m) | set(new_m))
             if k not in ("pretrained", "weights_dir") and old_m.get(k) != new_m.get(k)]
    old_t = dict(payload.get("train_config") or {})
    diffs += [f"train.{k}: {old_t.get(k)!r} -> {v!r}" for k, v in sorted(config.to_dict().items())
              if k not in RESUMABLE_CHANGES and k in old_t and old_t[k] != v]
    if diffs:
        raise ConfigError(f"{path}: cannot resume with different settings ({'; '.join(diffs)}); "
                          "use the run's settings or a new --out")


def load_named_states(objects: dict[str, Any], states: dict[str, Any], kind: str,
                      path: Path) -> None:
    """Load ``states[name]`` into ``objects[name]``; the name sets must match exactly."""
    if set(objects) != set(states):
        raise ConfigError(f"{path}: {kind} names {sorted(states)} do not match {sorted(objects)}")
    for name, obj in objects.items():
        try:
            obj.load_state_dict(states[name])
        except (ValueError, KeyError, RuntimeError) as err:
            raise ConfigError(f"{path}: cannot restore {kind} {name!r}: {err}") from None
