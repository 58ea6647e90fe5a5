"""VIGOR protocol: recall of the positive, official hit rate and metre-level error (SPECS.md §4).

* Recall uses the positive only (rank = references scoring strictly above it).
* Hit rate (official VIGOR code): a query hits when no reference other than its semi-positives
  scores strictly above its positive.
* Metre-level error: distance from the true camera position to the centre of the top-1 tile. When
  the top-1 tile is the positive or a semi-positive, it is the camera's pixel offset in that tile
  times the tile's ground resolution; otherwise positions (UTM metres) are used, the camera's
  being the positive tile's centre plus its offset (row down = south, column right = east).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation.distance import point_distances
from crossview.evaluation.retrieval import (
    DEFAULT_BLOCK_SIZE,
    ArrayLike,
    count_above,
    descriptor_pair,
    one_percent_k,
    recall_from_ranks,
    score_blocks,
)


@dataclasses.dataclass
class VigorResult:
    """VIGOR metrics (percent, metres)."""

    recall: dict[int, float]
    one_percent: float
    one_percent_rule: str
    one_percent_k: int
    hit_rate: float
    mean_error_m: float | None
    median_error_m: float | None
    num_queries: int
    num_references: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with ``R@k``, ``R@1%``, ``hit_rate`` and the metre errors."""
        out: dict[str, Any] = {f"R@{k}": v for k, v in self.recall.items()}
        out.update(
            {
                "R@1%": self.one_percent,
                "one_percent": {"rule": self.one_percent_rule, "k": self.one_percent_k},
                "hit_rate": self.hit_rate,
                "mean_error_m": self.mean_error_m,
                "median_error_m": self.median_error_m,
                "direction": "ground_to_aerial",
                "num_queries": self.num_queries,
                "num_references": self.num_references,
                "hit_rule": "no reference other than the semi-positives scores above the positive",
            }
        )
        return out


def vigor_ranks(
    query: torch.Tensor,
    reference: torch.Tensor,
    refs: np.ndarray,
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One blockwise pass: positive rank, rank ignoring semi-positives, and top-1 index.

    Args:
        query: (Q, D) descriptors.
        reference: (M, D) descriptors.
        refs: (Q, 1 + S) reference indices, positive first, ``-1`` padding.
        block_size: Query rows per block.
        device: Where to compute.

    Returns:
        Three (Q,) int64 arrays.

    """
    q_all = query.shape[0]
    rank, hit_rank, top1 = (np.empty(q_all, dtype=np.int64) for _ in range(3))
    refs_t = torch.from_numpy(np.asarray(refs, dtype=np.int64))
    for start, s in score_blocks(query, reference, block_size, device):
        b = s.shape[0]
        r = refs_t[start : start + b].to(s.device)
        pos = r[:, :1]
        thr = s.gather(1, pos)
        top1[start : start + b] = s.argmax(dim=1).cpu().numpy()
        rank[start : start + b] = count_above(s, thr).cpu().numpy()
        # Padding points at the positive, which never counts against itself.
        s.scatter_(1, torch.where(r < 0, pos, r)[:, 1:], float("-inf"))
        hit_rank[start : start + b] = count_above(s, thr).cpu().numpy()
    return rank, hit_rank, top1


def metre_errors(
    top1: np.ndarray,
    refs: np.ndarray,
    offsets_px: np.ndarray,
    resolution_m: np.ndarray,
    reference_utm: np.ndarray | None = None,
    query_utm: np.ndarray | None = None,
    metric: str = "utm",
) -> np.ndarray:
    """Distance (m) from each true camera position to the centre of its top-1 tile.

    Args:
        top1: (Q,) retrieved tile indices.
        refs: (Q, 1 + S) the query's positive and semi-positive indices (``-1`` padding).
        offsets_px: (Q, 1 + S, 2) camera (row, col) offset from each of those tiles' centres.
        resolution_m: (M,) metres per pixel of every tile.
        reference_utm: (M, 2) tile-centre easting/northing, needed when a top-1 tile is none of
            the query's own tiles.
        query_utm: (Q, 2) camera positions; derived from the positive tile when absent.
        metric: ``"utm"``, or ``"geodesic"`` when the positions are latitude/longitude (cities
            in several UTM zones); the camera position is then required.

    """
    err = np.empty(len(top1))
    for i, t in enumerate(top1):
        own = np.flatnonzero(refs[i] == t)
        if len(own):
            err[i] = float(np.hypot(*offsets_px[i, own[0]])) * float(resolution_m[t])
            continue
        if reference_utm is None or not np.isfinite(reference_utm[t]).all():
            raise ConfigError(
                f"metre-level error of query {i}: its top-1 tile {t} is not one of its "
                "own tiles and has no position"
            )
        cam = query_utm[i] if query_utm is not None else None
        if (cam is None or not np.isfinite(cam).all()) and metric == "geodesic":
            raise ConfigError(f"metre-level error of query {i}: camera latitude/longitude unknown")
        if cam is None or not np.isfinite(cam).all():
            p = refs[i, 0]
            row, col = offsets_px[i, 0]
            cam = reference_utm[p] + np.array([col, -row]) * float(resolution_m[p])
        err[i] = float(point_distances(np.asarray(cam, float), reference_utm[t : t + 1], metric)[0])
    return err


def vigor_evaluate(
    query: ArrayLike,
    reference: ArrayLike,
    refs: ArrayLike,
    offsets_px: ArrayLike | None = None,
    resolution_m: ArrayLike | None = None,
    reference_utm: ArrayLike | None = None,
    query_utm: ArrayLike | None = None,
    ks: Sequence[int] = (1, 5, 10),
    one_percent: str = "floor+1",
    metric: str = "utm",
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
) -> VigorResult:
    """VIGOR recall, hit rate and (with offsets and resolutions) metre-level error.

    ``one_percent`` defaults to VIGOR's own floor(N/100)+1 and is recorded in the output.
    """
    q, r = descriptor_pair(query, reference)
    refs_a = np.asarray(refs, dtype=np.int64)
    if refs_a.ndim != 2 or refs_a.shape[0] != q.shape[0] or refs_a.shape[1] < 1:
        raise CrossviewError(f"refs: expected shape ({q.shape[0]}, 1+S), got {refs_a.shape}")
    if (refs_a[:, 0] < 0).any() or (refs_a >= r.shape[0]).any():
        raise CrossviewError(f"refs: indices must be in [0, {r.shape[0]}) with a positive per row")
    one_percent_k(r.shape[0], one_percent)  # check the rule before the expensive pass
    rank, hit_rank, top1 = vigor_ranks(q, r, refs_a, block_size, device)
    n = max(q.shape[0], 1)
    mean = median = None
    if offsets_px is not None and resolution_m is not None:
        err = metre_errors(
            top1,
            refs_a,
            np.asarray(offsets_px, float),
            np.asarray(resolution_m, float),
            None if reference_utm is None else np.asarray(reference_utm, float),
            None if query_utm is None else np.asarray(query_utm, float),
            metric,
        )
        mean, median = float(err.mean()), float(np.median(err))
    recall = recall_from_ranks(rank, r.shape[0], ks, one_percent)
    return VigorResult(
        recall=recall.recall,
        one_percent=recall.one_percent,
        one_percent_rule=one_percent,
        one_percent_k=recall.one_percent_k,
        hit_rate=100.0 * np.count_nonzero(hit_rank == 0) / n,
        mean_error_m=mean,
        median_error_m=median,
        num_queries=q.shape[0],
        num_references=r.shape[0],
    )
