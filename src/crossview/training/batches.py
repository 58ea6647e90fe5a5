"""How the trainer builds its batches: augmentation config, batch samplers, device moves."""

from __future__ import annotations

from typing import Any

import torch

from crossview.data.table import PairTable
from crossview.errors import ConfigError
from crossview.training.config import TrainConfig
from crossview.training.sampling import BatchSampler, RandomBatchSampler


def augment_config(value: bool | str | dict[str, Any]) -> Any:
    """``TrainConfig.augment`` as an ``AugmentConfig`` (``None`` when off).

    ``true`` is the ``rot90_flip`` preset (the synchronised rotation/flip pairs of DESIGN.md), a
    string names a preset (:data:`crossview.data.augment_presets.AUGMENT_PRESETS`), a mapping
    gives fields, with an optional ``preset`` key whose fields it overrides.
    """
    from crossview.data.augment import AugmentConfig
    from crossview.data.augment_presets import augment_preset

    if value is False or value == "none":
        return None
    if value is True:
        value = "rot90_flip"
    if isinstance(value, str):
        return AugmentConfig.from_dict(augment_preset(value), where=f"train.augment={value}")
    fields = dict(value)
    name = fields.pop("preset", None)
    base = augment_preset(str(name)) if name is not None else {}
    return AugmentConfig.from_dict({**base, **fields}, where="train.augment")


def query_config(value: dict[str, Any] | None) -> Any:
    """``TrainConfig.query`` as a ``QueryConfig`` (``None`` when absent)."""
    if value is None:
        return None
    from crossview.data.queries import QueryConfig

    return QueryConfig.from_dict(dict(value), where="train.query")


TWIN_KEYS = ("ground_twin", "aerial_twin")
"""Sample keys of the rotated twins (``query.rotation_negatives``)."""


def merge_twins(batch: dict[str, Any]) -> dict[str, Any]:
    """Append each sample's rotated twin to the batch (``2B`` pairs); other keys repeat.

    Twins are the same places at another heading (:mod:`crossview.data.queries`): beside their
    originals they are in-batch negatives for every method's loss, without the method knowing.
    """
    if TWIN_KEYS[0] not in batch:
        return batch
    size = len(batch["ground"])
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if key in TWIN_KEYS:
            continue
        if key in ("ground", "aerial"):
            out[key] = torch.cat([value, batch[f"{key}_twin"]])
        elif isinstance(value, torch.Tensor) and value.ndim >= 1 and len(value) == size:
            out[key] = torch.cat([value, value])
        elif isinstance(value, list) and len(value) == size:
            out[key] = value + value
        else:
            out[key] = value
    return out


def make_batch_sampler(cfg: TrainConfig, table: PairTable | None, num_items: int,
                       similarity: bool) -> BatchSampler:
    """Build the global batch sampler ``cfg.sampler`` asks for (similarity once switched)."""
    if cfg.sampler == "random":
        return RandomBatchSampler(num_items, cfg.batch_size, cfg.seed)
    if table is None:
        raise ConfigError(f"train.sampler={cfg.sampler!r} needs a train table")
    from crossview.data import samplers

    # Keys (positive tiles) never repeat inside a batch, so VIGOR panoramas sharing a tile, or
    # University-1652 drone images of one building, are not each other's false negatives.
    keys = [p.positive for p in table.pairs]
    if cfg.sampler == "unique":
        return samplers.UniqueKeySampler(len(table), cfg.batch_size, cfg.seed, keys)
    # Each anchor brings up to ``neighbours`` hard negatives.
    neighbours = cfg.sampler_neighbours or max(1, cfg.batch_size // 2)
    if similarity:
        return samplers.SimilarityNeighbourSampler(len(table), cfg.batch_size, neighbours,
                                                   seed=cfg.seed, keys=keys,
                                                   sample_range=cfg.sampler_range)
    try:
        return samplers.GPSNeighbourSampler.from_table(table, cfg.batch_size, neighbours,
                                                       seed=cfg.seed, keys=keys,
                                                       sample_range=cfg.sampler_range)
    except ConfigError as err:
        hint = table.extras.get("coordinates_hint")
        raise ConfigError(f"train.sampler={cfg.sampler!r}: {err}"
                          f"{'; ' + hint if hint else ''}; or use train.sampler=random") from None


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move every tensor of a (nested) batch to ``device``; other values are kept.

    Copies are asynchronous (``non_blocking``; effective from page-locked memory). With
    ``channels_last``, 4-D floating-point tensors (images, maps) arrive in that memory format.
    """
    if isinstance(batch, torch.Tensor):
        out = batch.to(device, non_blocking=True)
        if channels_last and out.ndim == 4 and out.is_floating_point():
            out = out.contiguous(memory_format=torch.channels_last)
        return out
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, list):
        return [to_device(v, device, channels_last) for v in batch]
    return batch
