"""What a run logs as it trains: ``RUN/config.yaml``, TensorBoard scalars and loss means."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from crossview._version import code_version
from crossview.errors import CrossviewError
from crossview.io import write_text_atomic
from crossview.training.config import TrainConfig

CONFIG_FILE = "config.yaml"


def write_run_config(out: Path, method: Any, config: TrainConfig, preset: str | None,
                     data: Any, world_size: int) -> Path:
    """``RUN/config.yaml``: method, preset, data spec, resolved method and train configs."""
    doc = {
        "method": method.name,
        "preset": preset,
        "data": data,
        "code_version": code_version(),
        "world_size": world_size,
        "method_config": method.config.to_dict(),
        "train_config": config.to_dict(),
    }
    return write_text_atomic(Path(out) / CONFIG_FILE, yaml.safe_dump(doc, sort_keys=False))


def make_writer(out: Path) -> Any:
    """Open a TensorBoard ``SummaryWriter`` under ``RUN/tb``."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(Path(out) / "tb"))


def summary(metrics: dict[str, Any]) -> str:
    """``R@1 12.3 | R@5 ... | PSNR 12.5 | SSIM 0.20`` for logs."""
    from crossview.evaluation.results import convention_note

    keys = [k for k in ("R@1", "R@5", "R@10", "R@1%", "AP", "hit_rate", "PSNR", "SSIM")
            if isinstance(metrics.get(k), (int, float))]
    text = " | ".join(f"{k} {metrics[k]:.2f}" for k in keys) or str(metrics)
    note = convention_note(metrics) if "details" in metrics else ""
    return f"{text} ({note})" if note else text


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
