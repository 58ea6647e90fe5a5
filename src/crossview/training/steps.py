"""Pipeline steps over files (STYLE.md §8): ``train`` -> ``evaluate`` / ``embed``.

Each step takes a data spec (``LAYOUT:ROOT``) and a run directory or checkpoint, and writes its
result atomically; the ``crossview train|eval|embed`` commands and the public API
(:func:`crossview.train`, :func:`crossview.evaluate`, :func:`crossview.embed`) are these.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from crossview.data.table import PairTable
from crossview.errors import ConfigError
from crossview.training.checkpoint import LoadedModel, load_run
from crossview.training.config import TrainConfig, route_overrides
from crossview.training.rng import seed_everything

if TYPE_CHECKING:
    from crossview.data.layouts import DataSpec

logger = logging.getLogger(__name__)


DataLike = Union[str, "DataSpec", Mapping[str, Any]]
"""A dataset: ``LAYOUT:ROOT`` (or its string form with options), a DataSpec, or its dict."""


def data_spec(data: DataLike, options: Sequence[str] | Mapping[str, Any] | None = None
              ) -> DataSpec:
    """The :class:`~crossview.data.layouts.DataSpec` of ``data`` plus ``options`` (validated)."""
    from crossview.data.layouts import DataSpec

    spec = DataSpec.coerce(data)
    return DataSpec.parse(str(spec), options) if options else spec


def load_data(data: DataLike) -> PairTable:
    """Read a dataset (``LAYOUT:ROOT``, a DataSpec or its dict) into a PairTable."""
    return data_spec(data).load()


def select_split(table: PairTable, split: str | None) -> PairTable:
    """``table`` restricted to ``split`` (``None``: everything)."""
    return table if split is None else table.select(split)


def resolve_preset(method_name: str, preset: str, layout: str | None) -> str:
    """The preset a run uses: ``<preset>_<layout>`` when the method has one, else ``preset``.

    Paper recipes differ per dataset (input sizes, batch, epochs, vertical crop, evaluation
    convention), so ``--preset paper`` on ``cvact:`` data trains ``paper_cvact`` where the method
    defines it (``paper_vigor``, ``paper_university1652``, ``paper_cvusa`` likewise); a preset
    that names a dataset already, or one without a dataset variant, is used as it is. Layout
    aliases resolve to their layout first (``university-1652`` -> ``university1652``).
    """
    from crossview.methods.registry import list_presets

    if layout is None:
        return preset
    from crossview.data.layouts import get_layout

    try:
        name = get_layout(layout).name
    except Exception:  # noqa: BLE001 - an unknown layout fails later, where it is read
        name = layout
    candidate = f"{preset}_{name}"
    return candidate if candidate in list_presets(method_name) else preset


def build_configs(method_name: str, preset: str, overrides: dict[str, Any] | None = None,
                  time_budget_min: float | None = None) -> tuple[Any, TrainConfig]:
    """Build the method (from its preset, with overrides) and the resolved :class:`TrainConfig`."""
    from crossview.methods.registry import create_method, get_method_class, get_preset

    cls = get_method_class(method_name)
    fields = [f.name for f in dataclasses.fields(cls.config_class)]
    method_over, train_over = route_overrides(fields, dict(overrides or {}))
    if time_budget_min is not None:
        train_over["time_budget_min"] = time_budget_min
    recipe = get_preset(method_name, preset)
    config = TrainConfig.from_dict({**recipe.train, **train_over},
                                   where=f"{method_name}:{preset}:train")
    seed_everything(config.seed)  # reproducible random init of the method
    method = create_method(method_name, preset, **method_over)
    return method, config


def train(method_name: str, data: DataLike, out: str | Path, preset: str = "tiny",
          overrides: dict[str, Any] | None = None, time_budget_min: float | None = None,
          device: str | None = None,
          data_options: Sequence[str] | Mapping[str, Any] | None = None) -> Any:
    """Train ``method_name`` on the train split of ``data`` into run directory ``out``.

    The step behind ``crossview train`` (and :func:`crossview.train`). The run records the
    resolved dataset (layout, root, every option) so ``eval`` reloads exactly the same data.
    Re-running the same call on an existing run resumes it from ``checkpoints/last.pt``.
    ``preset`` is resolved per dataset first (:func:`resolve_preset`: ``paper`` on CVACT is
    ``paper_cvact`` where the method has it); the run records the preset used.

    Args:
        method_name: A registered method.
        data: ``LAYOUT:ROOT`` (or a DataSpec / its dict).
        out: Run directory.
        preset: The method's preset.
        overrides: ``method.F`` / ``train.F`` / bare ``F`` config overrides.
        time_budget_min: Stop after this many minutes (run total).
        device: Torch device (default: CUDA when present).
        data_options: Layout options (``["area=cross"]`` or a mapping), as ``--data-opt``.

    Returns:
        The :class:`~crossview.training.trainer.TrainResult`.

    """
    from crossview.training.trainer import Trainer

    spec = data_spec(data, data_options)
    chosen = resolve_preset(method_name, preset, spec.layout)
    if chosen != preset:
        logger.info("preset %r on %s data: using %r", preset, spec.layout, chosen)
    preset = chosen
    method, config = build_configs(method_name, preset, overrides, time_budget_min)
    table = spec.load()
    if "train" not in table.splits():
        raise ConfigError(f"data {spec} has no train split (splits: {table.splits()})")
    val = None
    if config.eval_split in table.splits():
        val = table.select(config.eval_split)
    else:
        logger.warning("data %s has no %r split: training without evaluation", spec,
                       config.eval_split)
    trainer = Trainer(method, table.select("train"), val, config, out, device=device,
                      preset=preset, data=spec.to_dict())
    return trainer.fit()


def _data_spec(model: LoadedModel, data: DataLike | None,
               options: Sequence[str] | Mapping[str, Any] | None = None) -> DataSpec:
    """``data`` (with ``options``) when given, else the dataset the run recorded."""
    recorded = model.config.get("data")
    if data is None and not recorded:
        raise ConfigError(f"{model.checkpoint_path} records no data spec; pass --data LAYOUT:ROOT")
    if data is None and options:
        raise ConfigError("--data-opt needs --data (the run's own data keeps its options)")
    return data_spec(data if data is not None else recorded, options)  # type: ignore[arg-type]


def _retrieval_model(run_or_checkpoint: str | Path, which: str) -> LoadedModel:
    """Load the run's model; refuse in one line one that gives no descriptors (CDE w/o R)."""
    model = load_run(run_or_checkpoint, which)
    if not model.method.can_retrieve:
        raise ConfigError(f"{model.checkpoint_path}: this {model.method_name} model has no "
                          "retrieval branch (retrieval=false); evaluate it with --synthesis")
    return model


def untrained_method(model: LoadedModel) -> Any:
    """The run's method as training started: its config, initialised with the run's seed.

    :func:`build_configs` seeds every RNG with ``train.seed`` right before building the
    method, so this gives the same initial weights (random init, or the ``pretrained`` file's:
    the paper's "ImageNet" baseline for a pretrained VGG16).
    """
    from crossview.training.checkpoint import build_method

    seed = int((model.config.get("train_config") or {}).get("seed", 0))
    seed_everything(seed)
    return build_method(model.method_name, model.config.get("method_config") or {},
                        str(model.checkpoint_path))


def evaluate(run_or_checkpoint: str | Path, data: DataLike | None = None,
             split: str | None = "val", protocol: str | None = None, which: str = "best",
             batch_size: int = 64, fov_deg: float | None = None, device: str | None = None,
             data_options: Sequence[str] | Mapping[str, Any] | None = None,
             conventions: Mapping[str, Mapping[str, Any]] | None = None,
             baselines: bool = False) -> dict[str, Any]:
    """Embed ``split`` of ``data`` with a trained model and score it under its protocol.

    The step behind ``crossview eval`` (and :func:`crossview.evaluate`); ``data`` defaults to
    the run's own data, and the protocol options to the run's ``train.eval_conventions`` (the
    conventions of the paper its preset reproduces), each overridden by ``conventions``.

    Args:
        run_or_checkpoint: Run directory or checkpoint file.
        data: ``LAYOUT:ROOT`` (default: the run's own data).
        split: Split to evaluate (``None``: everything).
        protocol: Evaluation protocol (default: the layout's).
        which: Checkpoint of a run directory: ``best`` or ``last``.
        batch_size: Images per forward pass.
        fov_deg: Limited query FOV (panorama methods, DSM protocol).
        device: Torch device (default: CUDA when present).
        data_options: Layout options, as ``--data-opt``.
        conventions: Protocol options by protocol name, merged over the run's recorded
            ``train.eval_conventions`` (each given option overrides the recorded one).
        baselines: Also score the untrained network (:func:`untrained_method`) on the same data,
            under ``baselines["untrained"]`` (protocols with a chance baseline, such as
            ``crosslocate``, give it in ``details["chance"]``).

    Returns:
        ``R@1``, ``R@5``, ``R@10``, ``R@1%`` (percent, query -> reference) at the top level, the
        protocol's full result under ``details``, each descriptor variant of a staged method under
        ``variants``, what was evaluated (method, checkpoint and its sha256, data, split) and the
        ``conventions`` the numbers depend on (``note``: the same in one line).

    """
    from crossview._version import code_version
    from crossview.evaluation.results import convention_note
    from crossview.inference import retrieval_metrics

    model = _retrieval_model(run_or_checkpoint, which)
    spec = _data_spec(model, data, data_options)
    table = select_split(spec.load(), split)
    recorded = dict((model.config.get("train_config") or {}).get("eval_conventions") or {})
    for name, options in (conventions or {}).items():
        recorded[name] = {**recorded.get(name, {}), **options}
    result = retrieval_metrics(model.method, table, protocol, batch_size, device, fov_deg,
                               conventions=recorded)
    if baselines:
        untrained = retrieval_metrics(untrained_method(model), table, protocol, batch_size,
                                      device, fov_deg, conventions=recorded)
        result["baselines"] = {"untrained": untrained}
    details = result["details"]
    forward = details.get("ground_to_aerial", details.get("query_to_gallery", details))
    one_percent = forward.get("one_percent", {}) if isinstance(forward, dict) else {}
    return {
        **result,
        "method": model.method_name, "checkpoint": str(model.checkpoint_path),
        "checkpoint_sha256": model.checkpoint_sha256, "data": str(spec), "split": split,
        "num_queries": len(table), "num_references": len(table.references),
        "conventions": {
            "units": "percent", "direction": forward.get("direction", "ground_to_aerial")
            if isinstance(forward, dict) else "ground_to_aerial",
            "similarity": "dot product of L2-normalised descriptors",
            "rank": "number of references scoring strictly higher than the truth",
            "one_percent_rule": one_percent.get("rule"), "one_percent_k": one_percent.get("k"),
            "protocol_options": result.get("convention", {}), "note": convention_note(result),
            "fov_deg": fov_deg, "code_version": code_version(),
        },
    }


def embed(run_or_checkpoint: str | Path, out: str | Path, data: DataLike | None = None,
          split: str | None = None, which: str = "best", batch_size: int = 64,
          device: str | None = None,
          data_options: Sequence[str] | Mapping[str, Any] | None = None) -> Path:
    """Write ground and aerial descriptors of ``data`` (one ``split`` or all) to Parquet.

    The step behind ``crossview embed``. Columns: ``id``, ``view`` (``ground``/``aerial``),
    ``split``, ``lat``, ``lon``, ``descriptor`` (fixed-size list of float32). Schema metadata:
    ``method``, ``checkpoint_sha256``, ``descriptor_dim``, ``data``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from crossview.inference import embed_aerial, embed_ground
    from crossview.io import atomic_path

    model = _retrieval_model(run_or_checkpoint, which)
    spec = _data_spec(model, data, data_options)
    table = select_split(spec.load(), split)
    g = embed_ground(model.method, table, batch_size, device)
    a = embed_aerial(model.method, table, batch_size, device)
    rows_g = [(p.id, "ground", p.split, p.lat, p.lon) for p in table.pairs]
    rows_a = [(r.id, "aerial", r.split or split or "", r.lat, r.lon) for r in table.references]
    rows = rows_g + rows_a
    desc = np.concatenate([g, a]).astype(np.float32, copy=False)
    dim = desc.shape[1] if desc.ndim == 2 else 0
    flat = pa.array(desc.reshape(-1), type=pa.float32())
    columns = {
        "id": pa.array([r[0] for r in rows], pa.string()),
        "view": pa.array([r[1] for r in rows], pa.string()),
        "split": pa.array([r[2] for r in rows], pa.string()),
        "lat": pa.array([r[3] for r in rows], pa.float64()),
        "lon": pa.array([r[4] for r in rows], pa.float64()),
        "descriptor": pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    metadata = {"method": model.method_name, "checkpoint_sha256": model.checkpoint_sha256,
                "descriptor_dim": str(dim), "data": str(spec), "split": split or "all"}
    arrow = pa.table(columns).replace_schema_metadata(metadata)
    with atomic_path(out) as tmp:
        pq.write_table(arrow, tmp)
    return Path(out)


def _has_true_geometry(method: Any, table: PairTable) -> bool:
    """Whether ``method`` renders depth and every pair has its true depth and sky maps."""
    from crossview.data.datasets import available_extras

    return (hasattr(method, "render_geometry")
            and available_extras(table, ["sky", "depth"]) == ["sky", "depth"])


def evaluate_synthesis(run_or_checkpoint: str | Path, data: DataLike | None = None,
                       splits: list[str] | None = None, which: str = "best",
                       batch_size: int = 64, convention: str = "sat2density",
                       lpips_model: Any = None, device: str | None = None,
                       data_options: Sequence[str] | Mapping[str, Any] | None = None
                       ) -> dict[str, Any]:
    """Synthesis metrics of a trained generator on ``splits`` of ``data`` (``eval --synthesis``).

    Returns:
        ``synthesis``: ``{split: {"generator": m, "polar_baseline": m}}`` with mean ``psnr``,
        ``ssim``, ``sd``, ``rmse`` (+ ``lpips``) and ``count`` (see
        :func:`crossview.inference.synthesis_scores`; non-finite means are ``None``), plus what
        was evaluated (method, checkpoint and its sha256, data, splits, convention); for a
        method that renders depth (sat2density) on data with true depth and sky (the synthetic
        world), ``geometry``: ``{split: {"generator": g, "flat_ground": g}}``
        (:func:`crossview.inference.geometry_scores`).

    """
    from crossview.evaluation.synthesis import finite_or_none
    from crossview.inference import synthesis_scores

    model = load_run(run_or_checkpoint, which)
    if not model.method.can_synthesize:
        raise ConfigError(f"{model.checkpoint_path}: method {model.method_name!r} has no generator "
                          "to evaluate with --synthesis (use plain `crossview eval`)")
    spec = _data_spec(model, data, data_options)
    table = spec.load()
    result = synthesis_scores(model.method, table, splits, batch_size, convention, lpips_model,
                              device)
    extra = {}
    if _has_true_geometry(model.method, table):  # methods that render depth (sat2density)
        from crossview.inference import geometry_scores

        geometry = geometry_scores(model.method, table, splits, batch_size, device)
        extra["geometry"] = {split: {name: {k: v if k in ("count", "depth_pixels")
                                            else finite_or_none(float(v)) for k, v in m.items()}
                                     for name, m in by_name.items()}
                             for split, by_name in geometry.items()}
    return {
        "synthesis": {
            split: {name: {k: int(v) if k == "count" else finite_or_none(float(v))
                           for k, v in m.items()} for name, m in by_name.items()}
            for split, by_name in result.items()
        },
        **extra,
        "method": model.method_name, "checkpoint": str(model.checkpoint_path),
        "checkpoint_sha256": model.checkpoint_sha256, "data": str(spec), "splits": list(result),
        "convention": convention, "lpips": getattr(lpips_model, "net", None),
    }
