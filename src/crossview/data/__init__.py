"""Datasets: layout adapters into one :class:`PairTable`, torch datasets, augmentation, samplers.

Sample dicts produced by the datasets (torchgeo-style) have the keys
``ground`` (float32 ``(3, Hg, Wg)`` in [0, 1]), ``aerial`` (float32 ``(3, S, S)`` north-up tile in
[0, 1]; never polar-transformed here), ``index`` (row in the table), ``id`` (str),
``latlon`` (float64 ``(2,)``; NaN if unknown), ``utm`` (float64 ``(2,)``), ``yaw_deg`` (float).

Entry points: :class:`DataSpec` (a dataset as ``LAYOUT:ROOT`` plus options), :func:`get_layout`,
:func:`load_layout` / :func:`check_layout` (:mod:`crossview.data.layouts`), :class:`PairDataset`,
:class:`GroundDataset`, :class:`ReferenceDataset` (:mod:`crossview.data.datasets`),
:class:`AugmentConfig` (:mod:`crossview.data.augment`), :class:`GPSNeighbourSampler` and
:class:`SimilarityNeighbourSampler` (:mod:`crossview.data.samplers`).
"""

from __future__ import annotations

from typing import Any

from crossview.data.table import Pair, PairTable, Reference

_LAZY = {
    "DataSpec": "layouts",
    "get_layout": "layouts",
    "load_layout": "layouts",
    "check_layout": "layouts",
    "parse_data_spec": "layouts",
    "list_layouts": "layouts",
    "register_layout": "layouts",
    "PairDataset": "datasets",
    "GroundDataset": "datasets",
    "ReferenceDataset": "datasets",
    "AugmentConfig": "augment",
    "GPSNeighbourSampler": "samplers",
    "SimilarityNeighbourSampler": "samplers",
}

__all__ = ["Pair", "PairTable", "Reference", *_LAZY]


def __getattr__(name: str) -> Any:
    # Lazy so that importing the table type does not pull in torch/PIL/scipy.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"crossview.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'crossview.data' has no attribute {name!r}")
