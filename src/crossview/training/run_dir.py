"""Helpers of the trainer: the run directory, resume checks, logging, batches and state encoding."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from crossview._version import code_version
from crossview.data.table import PairTable
from crossview.device import autocast_dtype
from crossview.errors import ConfigError, CrossviewError
from crossview.io import write_text_atomic
from crossview.training.config import RESUMABLE_CHANGES, TrainConfig
from crossview.training.sampling import BatchSampler, RandomBatchSampler

if TYPE_CHECKING:
    from crossview.training.trainer import Trainer

logger = logging.getLogger(__name__)
CONFIG_FILE = "config.yaml"


def amp_dtype(enabled: bool, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: bf16/fp16 on CUDA when ``enabled``, else ``None`` (full precision)."""
    return autocast_dtype(device) if enabled else None


def augment_config(value: bool | dict[str, Any]) -> Any:
    """``TrainConfig.augment`` as an ``AugmentConfig`` (``None`` when off)."""
    from crossview.data.augment import AugmentConfig

    if value is False:
        return None
    if value is True:
        # "on" without details: the synchronised rotation/flip pairs of DESIGN.md.
        return AugmentConfig(rot90_prob=0.5, flip_prob=0.5)
    return AugmentConfig.from_dict(dict(value), where="train.augment")


def make_batch_sampler(cfg: TrainConfig, table: PairTable | None, num_items: int,
                       similarity: bool) -> BatchSampler:
    """Build the global batch sampler ``cfg.sampler`` asks for (similarity once switched)."""
    if cfg.sampler == "random":
        return RandomBatchSampler(num_items, cfg.batch_size, cfg.seed)
    if table is None:
        raise ConfigError(f"train.sampler={cfg.sampler!r} needs a train table with coordinates")
    from crossview.data import samplers

    # Each anchor brings up to ``neighbours`` hard negatives; keys (positive tiles) never repeat
    # inside a batch, so VIGOR panoramas sharing a tile are not each other's false negatives.
    neighbours = cfg.sampler_neighbours or max(1, cfg.batch_size // 2)
    keys = [p.positive for p in table.pairs]
    if similarity:
        return samplers.SimilarityNeighbourSampler(len(table), cfg.batch_size, neighbours,
                                                   seed=cfg.seed, keys=keys)
    try:
        return samplers.GPSNeighbourSampler.from_table(table, cfg.batch_size, neighbours,
                                                       seed=cfg.seed, keys=keys)
    except ConfigError as err:
        raise ConfigError(f"train.sampler={cfg.sampler!r}: {err}; use train.sampler=random for "
                          "data without coordinates") from None


def other_phase_params(
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, list[torch.nn.Parameter]]:
    """Per optimizer, the parameters that only *other* optimizers update."""
    own = {n: {id(p) for g in o.param_groups for p in g["params"]} for n, o in optimizers.items()}
    out: dict[str, list[torch.nn.Parameter]] = {}
    for name in optimizers:
        seen: set[int] = set()
        out[name] = []
        for other, opt in optimizers.items():
            for p in (p for g in opt.param_groups for p in g["params"]):
                if other != name and id(p) not in own[name] and id(p) not in seen:
                    seen.add(id(p))
                    out[name].append(p)
    return out


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``; other values are kept."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list):
        return [to_device(v, device) for v in batch]
    return batch


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


# --- run directory ---------------------------------------------------------------------------
def run_config(trainer: Trainer) -> dict[str, Any]:
    """Return what a checkpoint of ``trainer`` records besides the method config."""
    return {"train_config": trainer.config.to_dict(), "preset": trainer.preset,
            "data": trainer.data_spec}


def write_run_config(trainer: Trainer) -> Path:
    """``RUN/config.yaml``: method, preset, data spec, resolved method and train configs."""
    doc = {
        "method": trainer.method.name,
        "preset": trainer.preset,
        "data": trainer.data_spec,
        "code_version": code_version(),
        "world_size": trainer.dist.world_size,
        "method_config": trainer.method.config.to_dict(),
        "train_config": trainer.config.to_dict(),
    }
    return write_text_atomic(trainer.out / CONFIG_FILE, yaml.safe_dump(doc, sort_keys=False))


def check_resumable(payload: dict[str, Any], method: Any, config: TrainConfig, path: Path) -> None:
    """Refuse to resume ``path`` with a different method or different non-logistic settings."""
    if payload.get("method") != method.name:
        raise ConfigError(f"{path} is a run of method {payload.get('method')!r}, not "
                          f"{method.name!r}; choose another --out")
    old_m = dict(payload.get("method_config") or {})
    new_m = method.config.to_dict()
    diffs = [f"method.{k}: {old_m.get(k)!r} -> {new_m.get(k)!r}"
             for k in sorted(set(old_m) | set(new_m))
             if k != "pretrained" and old_m.get(k) != new_m.get(k)]
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


def make_writer(out: Path) -> Any:
    """Open a TensorBoard ``SummaryWriter`` under ``RUN/tb``."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(Path(out) / "tb"))


def summary(metrics: dict[str, Any]) -> str:
    """``R@1 12.3 | R@5 ... | PSNR 12.5 | SSIM 0.20`` for logs."""
    keys = [k for k in ("R@1", "R@5", "R@10", "R@1%", "PSNR", "SSIM")
            if isinstance(metrics.get(k), (int, float))]
    return " | ".join(f"{k} {metrics[k]:.2f}" for k in keys) or str(metrics)


def log_metrics(writer: Any, metrics: dict[str, Any], step: int) -> None:
    """Numeric metrics to TensorBoard under ``val/``."""
    if writer is None:
        return
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            writer.add_scalar(f"val/{key}", value, step)
    writer.flush()


class LossLog:
    """Running means of every named loss per phase between TensorBoard writes."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, phase: str, losses: dict[str, torch.Tensor]) -> None:
        """Accumulate detached values (no device sync until :meth:`flush`)."""
        for name, value in losses.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                continue
            key = f"{phase}/{name}"
            value = value.detach().float().reshape(())
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] += 1

    def flush(self, writer: Any, step: int, optimizers: dict[str, torch.optim.Optimizer],
              pairs_per_s: float | None) -> dict[str, float]:
        """Write the means (and learning rates, throughput); non-finite losses are an error."""
        means = {k: float(v) / self.counts[k] for k, v in self.sums.items()}
        self.sums.clear()
        self.counts.clear()
        bad = [k for k, v in means.items() if not np.isfinite(v)]
        if bad:
            raise CrossviewError(f"training diverged before step {step}: non-finite losses {bad}")
        if writer is not None:
            for key, value in means.items():
                writer.add_scalar(f"train/{key}", value, step)
            for name, opt in optimizers.items():
                writer.add_scalar(f"lr/{name}", opt.param_groups[0]["lr"], step)
            if pairs_per_s is not None:
                writer.add_scalar("speed/pairs_per_s", pairs_per_s, step)
        return means
