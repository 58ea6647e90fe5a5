"""How the trainer builds its batches: augmentation config, batch samplers, device moves."""

from __future__ import annotations

from typing import Any

import torch

from crossview.data.table import PairTable
from crossview.errors import ConfigError
from crossview.training.config import TrainConfig
from crossview.training.sampling import BatchSampler, RandomBatchSampler


def augment_config(value: bool | dict[str, Any]) -> Any:
    """``TrainConfig.augment`` as an ``AugmentConfig`` (``None`` when off)."""
    from crossview.data.augment import AugmentConfig

    if value is False:
        return None
    if value is True:
        # "on" without details: the synchronised rotation/flip pairs of DESIGN.md.
        return AugmentConfig(rot90_prob=0.5, flip_prob=0.5)
    return AugmentConfig.from_dict(dict(value), where="train.augment")


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


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``; other values are kept."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list):
        return [to_device(v, device) for v in batch]
    return batch
