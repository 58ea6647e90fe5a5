"""Optimizers and learning-rate schedules built from a method's declared ``OptimizerSpec``s."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from crossview.errors import ConfigError
from crossview.methods.base import OptimizerSpec, ScheduleSpec


def build_optimizer(spec: OptimizerSpec, name: str = "main") -> torch.optim.Optimizer:
    """Build the torch optimizer an ``OptimizerSpec`` declares (adam, adamw or sgd)."""
    params: list[Any] = list(spec.params)
    betas = (float(spec.betas[0]), float(spec.betas[1]))
    if not params:
        raise ConfigError(f"optimizer {name!r} has no parameters")
    if spec.kind == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=betas,
                                weight_decay=spec.weight_decay)
    if spec.kind == "adamw":
        return torch.optim.AdamW(params, lr=spec.lr, betas=betas,
                                 weight_decay=spec.weight_decay)
    if spec.kind == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum,
                               weight_decay=spec.weight_decay)
    raise ConfigError(f"optimizer {name!r}: unknown kind {spec.kind!r}; choose adam, adamw or sgd")


def lr_factor(spec: ScheduleSpec, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimizer step ``s`` (0-based).

    Linear warm-up ``(s + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then
    ``constant`` (1), ``cosine`` (half cosine from 1 to ``min_lr_ratio`` over the remaining
    ``total_steps - warmup_steps``) or ``step`` (``gamma ** ((s - warmup) // step_size)``).
    """
    warmup = max(0, int(spec.warmup_steps))
    if spec.kind not in ("constant", "cosine", "step"):
        raise ConfigError(f"schedule kind {spec.kind!r}: choose constant, cosine or step")
    if spec.kind == "step" and spec.step_size < 1:
        raise ConfigError(f"schedule step_size: expected >= 1, got {spec.step_size}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        after = step - warmup
        if spec.kind == "cosine":
            progress = min(1.0, after / max(1, total_steps - warmup))
            cosine = 0.5 * (1 + math.cos(math.pi * progress))
            return spec.min_lr_ratio + (1 - spec.min_lr_ratio) * cosine
        if spec.kind == "step":
            return spec.gamma ** (after // spec.step_size)
        return 1.0

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, spec: ScheduleSpec,
                    total_steps: int, steps_per_epoch: int = 0) -> LambdaLR:
    """Build a ``LambdaLR`` following :func:`lr_factor`; stepped once per optimizer step.

    ``spec.warmup_epochs`` becomes ``round(warmup_epochs * steps_per_epoch)`` more warm-up steps.
    The factor is a closure (not a callable object), so the scheduler's ``state_dict`` holds only
    plain counters and the schedule itself is rebuilt from the method's spec on resume.
    """
    if spec.warmup_epochs:
        if spec.warmup_epochs < 0:
            raise ConfigError(f"schedule warmup_epochs: expected >= 0, got {spec.warmup_epochs}")
        extra = round(spec.warmup_epochs * steps_per_epoch)
        spec = dataclasses.replace(spec, warmup_steps=spec.warmup_steps + extra, warmup_epochs=0.0)
    return LambdaLR(optimizer, lr_factor(spec, total_steps))


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
