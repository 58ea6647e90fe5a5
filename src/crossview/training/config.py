"""The trainer's typed configuration: section ``train`` of a method's presets, plus overrides."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from crossview.config import Config
from crossview.errors import ConfigError


@dataclasses.dataclass
class TrainConfig(Config):
    """How to train (the method's own hyper-parameters live in its ``MethodConfig``)."""

    epochs: int = 1
    """Passes over the training split."""
    batch_size: int = 8
    """Global micro-batch size (pairs), split evenly across DDP ranks."""
    grad_accum: int = 1
    """Micro-batches whose gradients are summed before each optimizer step."""
    amp: bool = True
    """Mixed precision on CUDA (bf16 where supported, else fp16 with a GradScaler); no-op on CPU."""
    eval_every: int = 1
    """Evaluate on the validation split every this many epochs (0: only at the end)."""
    log_every: int = 10
    """Optimizer steps between TensorBoard loss logs."""
    seed: int = 0
    """Seed of python, numpy and torch RNGs and of the samplers."""
    num_workers: int | None = None
    """DataLoader worker processes; ``None``: on CUDA the cores available to this process (per
    local rank, at most 16, one left for the main process), on CPU 0 (workers compete with the
    model for the same cores)."""
    pin_memory: bool | None = None
    """Page-locked batches for asynchronous host-to-device copies; ``None``: on CUDA."""
    prefetch_factor: int = 4
    """Batches each worker prepares ahead (with ``num_workers > 0``)."""
    persistent_workers: bool = True
    """Keep the workers (and their image caches) alive across epochs (with ``num_workers > 0``)."""
    channels_last: bool | None = None
    """Train in channels-last memory format (faster convolutions on tensor cores); ``None``: on
    CUDA."""
    compile: bool = False
    """``torch.compile`` the method's heavy submodules in place (``Method.compile_targets``);
    parameter names and checkpoints are unchanged."""
    compile_mode: str | None = None
    """``torch.compile`` mode (``None``, ``"max-autotune"``, ``"reduce-overhead"``)."""
    compile_backend: str = "inductor"
    """``torch.compile`` backend (``"eager"`` only checks graph capture: used by CPU tests)."""
    cache_images: bool | Literal["memory", "disk"] = False
    """Skip JPEG decoding after the first read of an image: ``true`` / ``"memory"`` keeps decoded,
    resized pixels in memory (small inputs: the tiny presets; each worker caches its share and
    keeps it with persistent workers), ``"disk"`` writes them once to memory-mapped files under
    :attr:`cache_dir` shared by all workers, runs and ranks (paper sizes)."""
    cache_dir: str | None = None
    """Directory of the ``"disk"`` image cache (default ``$CROSSVIEW_CACHE`` or
    ``~/.cache/crossview``); files are keyed by the dataset and the method's input spec."""
    sampler: Literal["random", "unique", "gps", "gps_then_similarity"] = "random"
    """Batch construction: shuffled; shuffled with no positive reference twice in a batch
    (University-1652: one drone image per building); GPS-neighbour hard negatives; GPS, then
    visual-similarity ones."""
    similarity_from_epoch: int = 0
    """First epoch of similarity sampling for ``gps_then_similarity`` (Sample4Geo: the epoch after
    the first evaluation, i.e. ``eval_every``)."""
    sampler_neighbours: int | None = None
    """Hard negatives added per anchor by the neighbour samplers (default ``batch_size // 2``)."""
    sampler_range: int | None = None
    """Neighbour pool per anchor: the first ``sampler_neighbours / 2`` are the nearest, the rest
    drawn at random from ranks up to ``sampler_range`` (Sample4Geo: 64 of the 128 nearest);
    ``None``: the nearest ``sampler_neighbours``."""
    time_budget_min: float | None = None
    """Wall-clock budget in minutes: stop cleanly (evaluate, checkpoint) once reached."""
    augment: bool | str | dict[str, Any] = False
    """Augmentation: ``false``, ``true`` (synchronised rot90 + flip), a named preset of
    :data:`crossview.data.augment_presets.AUGMENT_PRESETS` (``sample4geo``, ``clnet``, ``cde``,
    ...) or AugmentConfig fields (``{"preset": NAME, ...}`` overrides a preset's fields)."""
    query: dict[str, Any] | None = None
    """Query conditions (limited FOV, unknown heading, pinhole photos, rotation negatives):
    ``crossview.data.queries.QueryConfig`` fields; ``None`` trains on the panoramas as they are."""
    max_steps: int | None = None
    """Stop after this many optimizer steps in total (LR schedules still follow ``epochs``)."""
    checkpoint_every: int = 1
    """Write ``last.pt`` every this many epochs (and always at the end)."""
    eval_split: str = "val"
    """Split evaluated during training."""
    eval_protocol: str | None = None
    """Evaluation protocol name passed to ``evaluate_protocol`` (``None``: the layout's default)."""
    embed_batch_size: int = 64
    """Batch size of descriptor extraction (evaluation, similarity sampling)."""
    eval_synthesis_pairs: int = 64
    """Validation pairs scored with synthesis metrics (PSNR, SSIM, SD, RMSE) at each evaluation,
    for methods that synthesize views (0: none)."""
    best_metric: str | None = None
    """Validation metric that selects ``best.pt`` (``R@1``, ``R@5``, ``R@10``, ``R@1%``, ``PSNR``,
    ``SSIM``, ``SD``, ``RMSE``); default ``R@1``, or ``PSNR`` for a method that cannot retrieve."""
    grad_clip_norm: float = 0.0
    """Clip each optimizer's gradient norm to this value (0: no clipping; Sample4Geo: 100)."""
    eval_conventions: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Options of each evaluation protocol, by protocol name, giving the numbers the preset's
    paper reports (``{"recall": {"one_percent": "ceil"}, "cvact_test": {"one_to_one": true}}``);
    the trainer and ``crossview eval`` of the run use them and record them with the numbers."""
    find_unused_parameters: bool = False
    """DDP option for methods whose phases use only part of the parameters (GANs)."""

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "grad_accum": self.grad_accum, "log_every": self.log_every,
                    "checkpoint_every": self.checkpoint_every,
                    "embed_batch_size": self.embed_batch_size}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"train.{name}: expected >= 1, got {value}")
        if (self.eval_every < 0 or (self.num_workers or 0) < 0
                or self.similarity_from_epoch < 0):
            raise ConfigError(
                "train.eval_every, num_workers and similarity_from_epoch must be >= 0"
            )
        if self.prefetch_factor < 1:
            raise ConfigError(f"train.prefetch_factor: expected >= 1, got {self.prefetch_factor}")
        if self.sampler_range is not None and self.sampler_range < 1:
            raise ConfigError(f"train.sampler_range: expected >= 1, got {self.sampler_range}")
        if self.cache_images is True:
            self.cache_images = "memory"
        if not isinstance(self.eval_conventions, dict) or not all(
                isinstance(v, dict) for v in self.eval_conventions.values()):
            raise ConfigError("train.eval_conventions: expected {protocol: {option: value}}, got "
                              f"{self.eval_conventions!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"train.max_steps: expected >= 1, got {self.max_steps}")
        if self.time_budget_min is not None and self.time_budget_min <= 0:
            raise ConfigError(f"train.time_budget_min: expected > 0, got {self.time_budget_min}")
        if self.eval_synthesis_pairs < 0:
            raise ConfigError(
                f"train.eval_synthesis_pairs: expected >= 0, got {self.eval_synthesis_pairs}"
            )
        if self.best_metric is not None and self.best_metric not in BEST_METRICS:
            raise ConfigError(
                f"train.best_metric: {self.best_metric!r} is not one of {sorted(BEST_METRICS)}"
            )


BEST_METRICS = {"R@1": 1, "R@5": 1, "R@10": 1, "R@1%": 1, "PSNR": 1, "SSIM": 1, "SD": 1,
                "RMSE": -1}
"""Metrics that may select the best checkpoint, with their direction (1: higher is better)."""


RESUMABLE_CHANGES = frozenset({"max_steps", "time_budget_min", "epochs", "eval_every",
                               "log_every", "num_workers", "checkpoint_every", "embed_batch_size",
                               "cache_images", "cache_dir", "eval_synthesis_pairs", "pin_memory",
                               "prefetch_factor", "persistent_workers", "channels_last",
                               "compile", "compile_mode", "compile_backend"})
"""Fields that may differ between a run and its resumption (stop conditions and logistics)."""


def route_overrides(method_fields: list[str],
                    overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split CLI ``key=value`` overrides into (method, train) overrides.

    ``method.<field>`` and ``train.<field>`` are explicit; a bare key goes to whichever config has
    that field (a field both have must be prefixed). Unknown keys raise a one-line error listing
    the valid ones.
    """
    import dataclasses as dc

    from crossview.errors import unknown_name_error

    train_fields = [f.name for f in dc.fields(TrainConfig)]
    method_out: dict[str, Any] = {}
    train_out: dict[str, Any] = {}
    valid = sorted(set(method_fields) | set(train_fields))
    for key, value in overrides.items():
        section, _, field = key.rpartition(".")
        if section == "method" and field in method_fields:
            method_out[field] = value
        elif section == "train" and field in train_fields:
            train_out[field] = value
        elif not section and field in method_fields and field in train_fields:
            raise ConfigError(f"override {key!r} is both a method and a train field; write "
                              f"method.{field}= or train.{field}=")
        elif not section and field in method_fields:
            method_out[field] = value
        elif not section and field in train_fields:
            train_out[field] = value
        else:
            raise unknown_name_error("override (method.F=, train.F= or bare F=)", field, valid)
    return method_out, train_out
