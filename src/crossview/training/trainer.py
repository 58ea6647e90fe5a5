"""The one trainer: every method, retrieval or GAN, trains through :class:`Trainer`.

Per optimizer step (``grad_accum`` micro-batches of the global batch), for each declared
:class:`~crossview.methods.base.Phase` active in the current epoch (``Phase.epochs``: stages as
data), in order: zero that phase's optimizer (first micro-batch),
forward under autocast (CUDA only), backward ``losses["total"] / grad_accum`` into *that phase's
parameters only* (gradients another phase's loss leaves on them are discarded), and on the last
micro-batch step the optimizer, its GradScaler and its LR schedule. Evaluation, checkpoints and
similarity-sampling refreshes happen at epoch ends; a wall-clock budget or ``max_steps`` stops at
a step boundary, evaluates and checkpoints. ``fit()`` on a run directory holding
``checkpoints/last.pt`` resumes exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from crossview import _faults
from crossview.data.datasets import GroundDataset, PairDataset, ReferenceDataset
from crossview.data.table import PairTable
from crossview.device import autocast_dtype
from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation.results import synthesis_headline
from crossview.inference import (
    embed_aerial,
    embed_ground,
    eval_mode,
    retrieval_metrics,
    synthesis_scores,
)
from crossview.io import plain
from crossview.methods.base import Method
from crossview.progress import make_progress
from crossview.training import batches as tb
from crossview.training import feeding, run_log
from crossview.training import state as ts
from crossview.training.checkpoint import (
    CHECKPOINT_DIR,
    load_state_strict,
    read_checkpoint,
    save_checkpoint,
)
from crossview.training.config import BEST_METRICS, TrainConfig
from crossview.training.distributed import (
    barrier,
    broadcast_flag,
    broadcast_tensor,
    init_distributed,
)
from crossview.training.optim import build_optimizer, build_scheduler, other_phase_params
from crossview.training.records import append_metrics, write_learning_curve
from crossview.training.rng import capture_rng, restore_rng, rng_preserved, seed_everything
from crossview.training.sampling import ResumableShardSampler

SAMPLE_ITEMS = 4
"""Validation pairs shown by the sample-image hook at each evaluation."""

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`."""

    run_dir: Path
    epoch: int
    """Completed epochs."""
    step: int
    """Optimizer steps done in total (across resumptions)."""
    minutes: float
    """Wall-clock minutes of the run in total (across resumptions)."""
    stopped: str
    """``completed``, ``max_steps`` or ``time_budget``."""
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_metrics: dict[str, Any] | None
    last_metrics: dict[str, Any] | None
    pairs_per_s: float
    """Training throughput of this call: pairs per second after its first step, evaluation
    excluded (0 when the call made fewer than two steps)."""


class Trainer:
    """Train ``method`` on ``train_table``, evaluating on ``val_table``, into run directory ``out``.

    Args:
        method: A :class:`~crossview.methods.base.Method`.
        train_table: Training pairs (already the train split).
        val_table: Validation pairs, or ``None`` for no evaluation.
        config: Trainer settings.
        out: Run directory (``config.yaml``, ``checkpoints/``, ``metrics.jsonl``, ``tb/``).
        device: Device override; ``None`` uses :func:`crossview.device.get_device`.
        preset: Preset name recorded in the run (informational).
        data: The dataset recorded in the run (a ``DataSpec`` dict, or ``LAYOUT:ROOT``), so
            ``eval`` can reload it.
        train_dataset: Use this dataset instead of ``PairDataset(train_table, ...)``.
        val_data: ``(ground_dataset, aerial_dataset)`` instead of the ones built from ``val_table``.

    """

    def __init__(self, method: Method, train_table: PairTable | None,
                 val_table: PairTable | None, config: TrainConfig, out: str | Path,
                 device: str | torch.device | None = None, *, preset: str | None = None,
                 data: Any = None, train_dataset: Dataset | None = None,
                 val_data: tuple[Dataset, Dataset] | None = None) -> None:
        if train_table is None and train_dataset is None:
            raise ConfigError("Trainer needs a train_table or a train_dataset")
        self.method = method
        self.train_table, self.val_table = train_table, val_table
        self.config = config
        _check_best_metric(method, config)
        self.out = Path(out)
        self.preset, self.data_spec = preset, data
        self.dist = init_distributed(device)
        self.device = self.dist.device
        self._train_dataset, self._val_data = train_dataset, val_data
        # Counters (restored on resume).
        self.epoch = 0
        self.micro_in_epoch = 0
        self.step = 0
        self.elapsed_s = 0.0
        self.best: dict[str, Any] | None = None
        self.last_metrics: dict[str, Any] | None = None
        self.similarity_active = False
        self._evaluated_step = -1
        self._saved_step = -1
        self._samples: dict[str, Any] | None = None  # fixed batch of the samples hook

    # --- set-up ------------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        """``RUN/checkpoints``."""
        return self.out / CHECKPOINT_DIR

    def _setup(self) -> None:
        cfg = self.config
        seed_everything(cfg.seed)
        self.method.check_training_data(self.train_table)
        self.method.to(self.device)
        self.channels_last = feeding.use_channels_last(cfg.channels_last, self.device)
        if self.channels_last:
            feeding.to_channels_last(self.method)
        if cfg.compile:
            count = feeding.compile_method(self.method, cfg.compile_backend, cfg.compile_mode)
            logger.info("compiled %d modules of %s (%s)", count, self.method.name,
                        cfg.compile_backend)
        self.phases = list(self.method.phases())
        specs = self.method.optimizers()
        missing = sorted({p.optimizer for p in self.phases} - set(specs))
        if missing:
            raise ConfigError(
                f"method {self.method.name!r}: phases use undeclared optimizers {missing}"
            )
        names = dict.fromkeys(p.optimizer for p in self.phases)  # declared order, no repeats
        self.optimizers = {n: build_optimizer(specs[n], n) for n in names}
        self._build_data()
        # Each LR schedule spans the epochs in which its optimizer steps (staged methods).
        self.schedulers = {}
        for n, o in self.optimizers.items():
            epochs = sum(any(p.optimizer == n and p.active(e) for p in self.phases)
                         for e in range(cfg.epochs))
            self.schedulers[n] = build_scheduler(o, specs[n].schedule,
                                                 max(1, epochs) * self.steps_per_epoch,
                                                 self.steps_per_epoch)
        self.amp_dtype = autocast_dtype(self.device) if cfg.amp else None
        fp16 = self.amp_dtype == torch.float16
        self.scalers = {n: torch.amp.GradScaler("cuda") for n in self.optimizers} if fp16 else {}
        self._other_params = other_phase_params(self.optimizers)
        self.active_phases = self.phases
        self.model: nn.Module = self.method
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            unused = cfg.find_unused_parameters or len(self.optimizers) > 1
            self.model = DDP(self.method, device_ids=ids, find_unused_parameters=unused)

    def _build_data(self) -> None:
        cfg = self.config
        if self._train_dataset is None:
            assert self.train_table is not None  # checked in __init__
            self._train_dataset = PairDataset(self.train_table, self.method.input_spec,
                                              tb.augment_config(cfg.augment), seed=cfg.seed,
                                              query=tb.query_config(cfg.query))
            if cfg.cache_images:
                self._train_dataset.cache_images(cfg.cache_images, cfg.cache_dir)
        if cfg.cache_images and self._val_data is None and self.val_table is not None:
            spec = self.method.input_spec
            ground = GroundDataset(self.val_table, spec)
            aerial = ReferenceDataset(self.val_table, spec)
            ground.cache_images(cfg.cache_images, cfg.cache_dir)
            aerial.cache_images(cfg.cache_images, cfg.cache_dir)
            self._val_data = (ground, aerial)
        self._epoch_data = feeding.EpochDataset(self._train_dataset)
        self._train_loader: DataLoader | None = None
        n = len(self._train_dataset)  # type: ignore[arg-type]
        self.inner_sampler = tb.make_batch_sampler(cfg, self.train_table, n, self.similarity_active)
        self.sampler = ResumableShardSampler(self.inner_sampler, cfg.batch_size, self.dist.rank,
                                             self.dist.world_size, cfg.grad_accum)
        # Steps of the first epoch size the LR schedule (neighbour samplers vary a little).
        self.steps_per_epoch = self.sampler.epoch_length() // cfg.grad_accum
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"training split has {n} pairs: too few for batch_size={cfg.batch_size} x "
                f"grad_accum={cfg.grad_accum}; lower them or add data"
            )

    def _eval_workers(self) -> int:
        """Workers reading images for evaluation and similarity refreshes (as for training)."""
        return feeding.resolve_workers(self.config.num_workers, self.device,
                                       feeding.local_world_size(self.dist.world_size))

    def _loader(self) -> DataLoader:
        """The run's one training DataLoader (persistent workers live across epochs)."""
        if self._train_loader is not None:
            return self._train_loader
        cfg = self.config
        workers = feeding.resolve_workers(cfg.num_workers, self.device,
                                          feeding.local_world_size(self.dist.world_size))
        options = feeding.loader_options(workers, self.device, cfg.pin_memory,
                                         cfg.prefetch_factor, cfg.persistent_workers)
        # Own generator: the DataLoader's base seed never draws from the global RNG, so building
        # the iterator (fresh run or resume) leaves the training RNG streams untouched. Samples
        # draw their augmentation from (seed, epoch, index), whatever the worker layout.
        generator = torch.Generator().manual_seed(cfg.seed * 1000003)
        loader = DataLoader(self._epoch_data, batch_sampler=self.sampler,  # type: ignore[arg-type]
                            generator=generator, **options)
        if options.get("persistent_workers"):
            self._train_loader = loader
        logger.info("training data: %d workers, pin_memory=%s, prefetch %s", workers,
                    options["pin_memory"], options.get("prefetch_factor"))
        return loader

    # --- resume ------------------------------------------------------------------------------
    def _resume(self) -> bool:
        path = self.ckpt_dir / "last.pt"
        if not path.is_file():
            return False
        payload = read_checkpoint(path)
        ts.check_resumable(payload, self.method, self.config, path)
        load_state_strict(self.method, payload["model"], str(path))
        ts.load_named_states(self.optimizers, payload["optimizers"], "optimizer", path)
        ts.load_named_states(self.schedulers, payload["schedulers"], "scheduler", path)
        state = ts.from_safe(payload["state"])
        ts.load_named_states(self.scalers, state.get("scalers", {}), "GradScaler", path)
        self.epoch, self.micro_in_epoch = int(state["epoch"]), int(state["micro_in_epoch"])
        self.step, self.elapsed_s = int(state["step"]), float(state["elapsed_s"])
        self.best, self.last_metrics = state.get("best"), state.get("last_metrics")
        self._evaluated_step = int(state.get("evaluated_step", -1))
        if state.get("similarity_active") and not self.similarity_active:
            self._switch_to_similarity(refresh=False)
        self.inner_sampler.load_state_dict(state["sampler"])
        load_extra = getattr(self.method, "load_extra_state", None)
        if load_extra is not None and state.get("method_extra"):
            load_extra(state["method_extra"])
        restore_rng(state["rng"])
        logger.info("resumed %s at epoch %d, step %d", path, self.epoch, self.step)
        return True

    def _state(self) -> dict[str, Any]:
        return ts.to_safe({
            "epoch": self.epoch, "micro_in_epoch": self.micro_in_epoch, "step": self.step,
            "elapsed_s": self._elapsed(), "best": self.best, "last_metrics": self.last_metrics,
            "evaluated_step": self._evaluated_step, "similarity_active": self.similarity_active,
            "sampler": self.inner_sampler.state_dict(), "rng": capture_rng(),
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "method_extra": (self.method.extra_state()
                             if hasattr(self.method, "extra_state") else {}),
        })

    def _save(self, name: str) -> Path:
        path = self.ckpt_dir / f"{name}.pt"
        if name == "last":
            self._saved_step = self.step
        save_checkpoint(path, self.method, self.optimizers, self.schedulers, self._state(),
                        {"train_config": self.config.to_dict(), "preset": self.preset,
                         "data": self.data_spec})
        return path

    # --- the loop ----------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self.elapsed_s + (time.perf_counter() - self._t0)

    def fit(self) -> TrainResult:
        """Train until ``epochs``, ``max_steps`` or the time budget; returns where it stopped."""
        self._t0 = time.perf_counter()
        self._setup()
        self._resume()
        self._t0 = time.perf_counter()
        self._train_s, self._pairs, self._warm = 0.0, 0, False
        self._writer = None
        if self.dist.is_main:
            run_log.write_run_config(self.out, self.method, self.config, self.preset,
                                     self.data_spec, self.dist.world_size)
            self._writer = run_log.make_writer(self.out)
        try:
            stopped = self._loop(self._writer)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._train_loader = None  # persistent workers end with the run
        best = self.ckpt_dir / "best.pt"
        return TrainResult(
            run_dir=self.out, epoch=self.epoch, step=self.step, minutes=self._elapsed() / 60,
            stopped=stopped, last_checkpoint=self.ckpt_dir / "last.pt",
            best_checkpoint=best if best.is_file() else None,
            best_metrics=(self.best or {}).get("metrics"), last_metrics=self.last_metrics,
            pairs_per_s=self._pairs / self._train_s if self._train_s > 0 else 0.0,
        )

    def _loop(self, writer: Any) -> str:
        cfg = self.config
        stopped: str | None = None
        logs = run_log.LossLog()
        total = cfg.epochs * self.steps_per_epoch
        with make_progress() as progress:
            task = progress.add_task("training", total=total, completed=min(self.step, total),
                                     info="")
            while self.epoch < cfg.epochs and stopped is None:
                stopped = self._stop_reason()
                if stopped is None:
                    stopped = self._run_epoch(logs, writer, progress, task)
        logs.flush(writer, self.step, self.optimizers, None)
        if self._evaluated_step != self.step:
            self._evaluate()
        if self.dist.is_main and self._saved_step != self.step:
            self._save("last")
        barrier(self.dist)
        return stopped or "completed"

    def _run_epoch(self, logs: run_log.LossLog, writer: Any, progress: Any,
                   task: Any) -> str | None:
        """Train the rest of the current epoch; returns a stop reason if one arose."""
        cfg = self.config
        self._begin_epoch()
        stopped = None
        t_last = time.perf_counter()
        for batch in self._loader():
            accum = self.micro_in_epoch % cfg.grad_accum
            self._micro_step(tb.merge_twins(tb.to_device(batch, self.device, self.channels_last)),
                             accum, logs)
            self.micro_in_epoch += 1
            if accum < cfg.grad_accum - 1:
                continue
            self.step += 1
            now = time.perf_counter()
            if self._warm:  # the first step of a call (loader start-up, allocation) is not timed
                self._train_s += now - t_last
                self._pairs += cfg.batch_size * cfg.grad_accum
            self._warm = True
            t_last = now
            rate = self._pairs / max(self._train_s, 1e-9)
            progress.update(task, advance=1, info=f"{rate:.1f} pairs/s")
            if self.step % cfg.log_every == 0:
                logs.flush(writer, self.step, self.optimizers, rate)
            stopped = self._stop_reason()
            if stopped is not None:
                break
        if self.micro_in_epoch >= self.sampler.epoch_length():
            self._end_epoch()
        return stopped

    def _stop_reason(self) -> str | None:
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return "max_steps"
        over = cfg.time_budget_min is not None and self._elapsed() >= cfg.time_budget_min * 60
        return "time_budget" if broadcast_flag(over, self.dist) else None

    def _begin_epoch(self) -> None:
        cfg = self.config
        if (cfg.sampler == "gps_then_similarity" and not self.similarity_active
                and self.epoch >= cfg.similarity_from_epoch):
            self._switch_to_similarity(refresh=True)
        self.active_phases = [p for p in self.phases if p.active(self.epoch)]
        if not self.active_phases:
            raise ConfigError(f"method {self.method.name!r}: no phase is active in epoch "
                              f"{self.epoch} ({[(p.name, p.epochs) for p in self.phases]})")
        self.method.train()
        self.method.set_epoch(self.epoch)
        self._epoch_data.set_epoch(self.epoch)  # per-epoch augmentation draws, every worker
        self.sampler.set_epoch(self.epoch, start=self.micro_in_epoch)

    def _end_epoch(self) -> None:
        cfg = self.config
        self.epoch += 1
        self.micro_in_epoch = 0
        last_epoch = self.epoch >= cfg.epochs
        if cfg.eval_every and (self.epoch % cfg.eval_every == 0 or last_epoch):
            self._evaluate()
            if self.similarity_active:
                self._refresh_similarity()
        if self.dist.is_main and (self.epoch % cfg.checkpoint_every == 0 or last_epoch):
            self._save("last")

    def _micro_step(self, batch: dict[str, Any], accum: int, logs: run_log.LossLog) -> None:
        cfg = self.config
        last_micro = accum == cfg.grad_accum - 1
        for phase in self.active_phases:
            optimizer = self.optimizers[phase.optimizer]
            if accum == 0:
                optimizer.zero_grad(set_to_none=True)
            sync = contextlib.nullcontext()
            if self.dist.distributed and not last_micro:
                sync = self.model.no_sync()  # type: ignore[operator]
            with sync:
                with torch.autocast(self.device.type, dtype=self.amp_dtype,
                                    enabled=self.amp_dtype is not None):
                    losses = self.model(batch, self.step, phase.name)
                if "total" not in losses:
                    raise CrossviewError(
                        f"method {self.method.name!r} phase {phase.name!r}: training_step "
                        f"returned no 'total' loss ({sorted(losses)})"
                    )
                self._backward(phase.optimizer, losses["total"] / cfg.grad_accum)
            logs.add(phase.name, losses)
            if last_micro:
                self._optimizer_step(phase.optimizer)

    def _backward(self, name: str, loss: torch.Tensor) -> None:
        # Gradients this loss leaves on other phases' parameters (e.g. the generator loss flowing
        # through the discriminator) are dropped: stash their grads, backward, put them back.
        others = self._other_params[name]
        saved = [p.grad for p in others]
        for p in others:
            p.grad = None
        scaler = self.scalers.get(name)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        for p, grad in zip(others, saved, strict=True):
            p.grad = grad

    def _optimizer_step(self, name: str) -> None:
        optimizer, scaler = self.optimizers[name], self.scalers.get(name)
        if self.config.grad_clip_norm > 0:
            if scaler is not None:
                scaler.unscale_(optimizer)
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        self.schedulers[name].step()
        _faults.point("train.step")

    # --- evaluation and hard-negative sampling -----------------------------------------------
    def _evaluate(self) -> None:
        self._evaluated_step = self.step
        if self.val_table is None:
            return
        if self.dist.is_main:
            with rng_preserved():
                metrics = self._compute_metrics()
                self._write_samples()
            self._record(metrics)
        barrier(self.dist)

    def _compute_metrics(self) -> dict[str, Any]:
        """Compute validation recalls and, for methods that synthesize, image-quality metrics.

        A method without descriptors (``can_retrieve`` false, e.g. CDE "w/o R") is evaluated by
        synthesis only, so it can train with a validation split and keep a best checkpoint.
        """
        cfg = self.config
        assert self.val_table is not None  # _evaluate returns early without one
        metrics: dict[str, Any] = {}
        _faults.point("train.eval")
        if self.method.can_retrieve:
            metrics = retrieval_metrics(self.method, self.val_table, cfg.eval_protocol,
                                        cfg.embed_batch_size, self.device,
                                        datasets=self._val_data,
                                        conventions=cfg.eval_conventions,
                                        num_workers=self._eval_workers())
        if self.method.can_synthesize and cfg.eval_synthesis_pairs > 0:
            from crossview.evaluation.synthesis import pool_splits

            # At most 16 per batch: a generator's activations at paper size dwarf an encoder's.
            pooled = pool_splits(synthesis_scores(
                self.method, self.val_table, batch_size=min(cfg.embed_batch_size, 16),
                device=self.device, limit=cfg.eval_synthesis_pairs))
            metrics.update(synthesis_headline(pooled["generator"]))
            metrics["synthesis"] = plain(pooled)
        return metrics

    def _write_samples(self) -> None:
        """Write the sample images of a method that defines ``visualize`` (reports.samples).

        ``visualize(batch, max_items) -> {key: (3, H, W) in [0, 1]}`` runs without gradients, in
        eval mode, on the same first validation pairs (no augmentation) at every evaluation.
        """
        from torch.utils.data import default_collate

        from crossview.reports.samples import write_sample_images

        visualize = getattr(self.method, "visualize", None)
        if visualize is None or self.val_table is None or len(self.val_table) == 0:
            return
        if self._samples is None:
            data = PairDataset(self.val_table, self.method.input_spec, None)
            self._samples = default_collate([data[i] for i in
                                             range(min(SAMPLE_ITEMS, len(data)))])
        batch = tb.to_device(self._samples, self.device)
        with eval_mode(self.method), torch.no_grad():
            images = visualize(batch, SAMPLE_ITEMS)
        write_sample_images(images, self.step, self.out, self._writer, self.method.name)

    def _record(self, metrics: dict[str, Any]) -> None:
        record = {"epoch": self.epoch, "step": self.step, "minutes": self._elapsed() / 60,
                  "metrics": metrics}
        self.last_metrics = metrics
        records = append_metrics(self.out, record)
        title = f"{self.method.name} ({self.preset or 'custom'})"
        write_learning_curve(self.out, records, title=title)
        run_log.log_metrics(self._writer, metrics, self.step)
        logger.info("epoch %d step %d: %s", self.epoch, self.step, run_log.summary(metrics))
        key = self.best_metric
        value = metrics.get(key)
        if value is None:
            return
        sign = BEST_METRICS[key]
        previous = None if self.best is None else self.best["metrics"].get(key)
        if previous is None or sign * value > sign * previous:
            self.best = {"epoch": self.epoch, "step": self.step, "metrics": metrics}
            self._save("best")

    @property
    def best_metric(self) -> str:
        """The validation metric that selects ``best.pt`` (``train.best_metric`` or default)."""
        if self.config.best_metric is not None:
            return self.config.best_metric
        return "R@1" if self.method.can_retrieve else "PSNR"

    def _switch_to_similarity(self, refresh: bool) -> None:
        self.similarity_active = True
        self.inner_sampler = tb.make_batch_sampler(self.config, self.train_table,
                                                   len(self._train_dataset), True)  # type: ignore[arg-type]
        self.sampler.inner = self.inner_sampler
        if refresh:
            self._refresh_similarity()

    def _refresh_similarity(self) -> None:
        """Recompute training-pair descriptors and hand them to the similarity sampler.

        Ground image and positive tile of every pair, without augmentation, on rank 0 and
        RNG-neutral; the other ranks receive them by broadcast.
        """
        cfg = self.config
        data = self._train_dataset
        if isinstance(data, PairDataset):  # the same pairs without augmentation
            data = data.without_augmentation()
        n, dim = len(data), int(self.method.descriptor_dim)  # type: ignore[arg-type]
        g, a = torch.zeros(n, dim), torch.zeros(n, dim)
        if self.dist.is_main:
            with rng_preserved():
                bs = cfg.embed_batch_size
                workers = self._eval_workers()
                g = torch.from_numpy(embed_ground(self.method, data, bs, self.device,
                                                  num_workers=workers))
                a = torch.from_numpy(embed_aerial(self.method, data, bs, self.device,
                                                  num_workers=workers))
        g, a = broadcast_tensor(g, self.dist), broadcast_tensor(a, self.dist)
        self.inner_sampler.update(g.numpy(), a.numpy())  # type: ignore[attr-defined]


def _check_best_metric(method: Method, config: TrainConfig) -> None:
    """Refuse a ``train.best_metric`` that this method's evaluation never produces."""
    key = config.best_metric
    if key is None:
        return
    if key.startswith("R@") and not method.can_retrieve:
        raise ConfigError(f"train.best_metric={key}: {method.name} has no retrieval branch; "
                          "use PSNR, SSIM, SD or RMSE")
    if not key.startswith("R@") and not (method.can_synthesize and config.eval_synthesis_pairs):
        raise ConfigError(f"train.best_metric={key}: {method.name} is not evaluated by synthesis "
                          "(needs a method that synthesizes and train.eval_synthesis_pairs > 0)")
