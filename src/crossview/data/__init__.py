"""Datasets: layout adapters into one :class:`PairTable`, torch datasets, augmentation, samplers.

Sample dicts produced by the datasets (torchgeo-style) have the keys
``ground`` (float32 ``(3, Hg, Wg)`` in [0, 1]), ``aerial`` (float32 ``(3, S, S)`` north-up tile in
[0, 1]; never polar-transformed here), ``index`` (row in the table), ``id`` (str),
``latlon`` (float64 ``(2,)``; NaN if unknown), ``utm`` (float64 ``(2,)``), ``yaw_deg`` (float).
"""

from crossview.data.table import Pair, PairTable, Reference

__all__ = ["Pair", "PairTable", "Reference"]
