"""Distance-threshold recall: CVACT_test 5 m and the CrossLocate N x t grid (SPECS.md §4).

A query is found at N for radius t if any of its top-N references lies within t metres
(inclusive). With "ties do not hurt" this is exact without a top-k: let s* be the best score among
the query's in-radius references; the query is found at N iff fewer than N references score
strictly above s*. In-radius candidates come from a KD-tree (UTM Euclidean, or geodesic for
latitude/longitude via an ECEF chord pre-filter and an exact WGS84 check), so the only pass over
the score matrix is the blockwise one of :func:`crossview.evaluation.retrieval.score_blocks`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation.retrieval import (
    DEFAULT_BLOCK_SIZE,
    ArrayLike,
    count_above,
    descriptor_pair,
    one_percent_k,
    parse_ks,
    recall_from_ranks,
    score_blocks,
)

METRICS = ("utm", "geodesic")


def _positions(pos: ArrayLike, n: int, name: str) -> np.ndarray:
    arr = np.asarray(pos.cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    if arr.shape != (n, 2):
        raise CrossviewError(f"{name}: expected shape ({n}, 2), got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise CrossviewError(f"{name}: row {int(np.flatnonzero(bad)[0])} has a NaN/inf position")
    return arr


def _ecef(latlon: np.ndarray) -> np.ndarray:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x, y, z = tr.transform(latlon[:, 1], latlon[:, 0], np.zeros(len(latlon)))
    return np.stack([x, y, z], axis=1)


def neighbours_within(
    query_pos: np.ndarray, reference_pos: np.ndarray, radius_m: float, metric: str = "utm"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each query, the reference indices within ``radius_m`` (inclusive) and their distances.

    Args:
        query_pos: (Q, 2) easting/northing (``utm``) or latitude/longitude degrees (``geodesic``).
        reference_pos: (M, 2) likewise.
        radius_m: Radius in metres.
        metric: ``"utm"`` (Euclidean) or ``"geodesic"`` (WGS84).

    """
    from scipy.spatial import cKDTree

    if metric not in METRICS:
        raise ConfigError(f"distance metric {metric!r} unknown; choose one of {list(METRICS)}")
    if metric == "utm":
        qa, ra = query_pos, reference_pos
    else:
        qa, ra = _ecef(query_pos), _ecef(reference_pos)
    # A slightly inflated radius so the exact check below decides the boundary; a chord is never
    # longer than the geodesic, so no in-radius reference is lost.
    lists = cKDTree(ra).query_ball_point(qa, r=radius_m * (1 + 1e-9) + 1e-6)
    idx_out, dist_out = [], []
    for i, cand in enumerate(lists):
        cand = np.asarray(sorted(cand), dtype=np.int64)
        d = point_distances(query_pos[i], reference_pos[cand], metric)
        keep = d <= radius_m
        idx_out.append(cand[keep])
        dist_out.append(d[keep])
    return idx_out, dist_out


def point_distances(q: np.ndarray, refs: np.ndarray, metric: str) -> np.ndarray:
    """Distances (m) from one position ``q`` (2,) to each of ``refs`` (N, 2) under ``metric``."""
    if len(refs) == 0:
        return np.zeros(0)
    if metric == "utm":
        return np.hypot(refs[:, 0] - q[0], refs[:, 1] - q[1])
    n = len(refs)
    _, _, d = _wgs84().inv(np.full(n, q[1]), np.full(n, q[0]), refs[:, 1], refs[:, 0])
    return np.asarray(d)


@functools.lru_cache(maxsize=1)
def _wgs84() -> Any:
    from pyproj import Geod

    return Geod(ellps="WGS84")


def yaw_difference_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute circular difference of headings in degrees, in [0, 180]."""
    d = np.abs((np.asarray(a) - np.asarray(b)) % 360.0)
    return np.minimum(d, 360.0 - d)


def best_candidate_rank(
    query: torch.Tensor,
    reference: torch.Tensor,
    candidates: Sequence[Sequence[np.ndarray]],
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Rank (count strictly above) of each query's best-scoring candidate, per candidate set.

    Args:
        query: (Q, D) descriptors.
        reference: (M, D) descriptors.
        candidates: T lists of Q index arrays (e.g. one list per radius).
        block_size: Query rows per block.
        device: Where to compute.

    Returns:
        (Q, T) int64; M where a query has no candidate (never found).

    """
    num_sets = len(candidates)
    m = reference.shape[0]
    ranks = np.full((query.shape[0], num_sets), m, dtype=np.int64)
    for start, s in score_blocks(query, reference, block_size, device):
        b = s.shape[0]
        for t, sets in enumerate(candidates):
            rows = [(i, sets[start + i]) for i in range(b) if len(sets[start + i])]
            if not rows:
                continue
            width = max(len(c) for _, c in rows)
            idx = torch.zeros((len(rows), width), dtype=torch.int64)
            valid = torch.zeros((len(rows), width), dtype=torch.bool)
            for j, (_, c) in enumerate(rows):
                idx[j, : len(c)] = torch.from_numpy(c)
                valid[j, : len(c)] = True
            sel = torch.tensor([i for i, _ in rows], dtype=torch.int64, device=s.device)
            sub = s.index_select(0, sel)
            cand = sub.gather(1, idx.to(s.device)).masked_fill(~valid.to(s.device), float("-inf"))
            best = cand.max(dim=1, keepdim=True).values
            ranks[start + sel.cpu().numpy(), t] = count_above(sub, best).cpu().numpy()
    return ranks


@dataclasses.dataclass
class DistanceRecallResult:
    """Recall (percent) at top-N within each radius; optionally also requiring a yaw match."""

    recall: dict[float, dict[int, float]]
    """radius_m -> {N: percent}."""
    one_percent_rule: str
    one_percent_k: int
    metric: str
    num_queries: int
    num_references: int
    max_yaw_deg: float | None = None
    direction: str = "ground_to_aerial"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; with one radius the keys are ``R@1``... ``R@1%`` directly."""

        def keys(rec: dict[int, float]) -> dict[str, float]:
            out = {f"R@{k}": v for k, v in rec.items() if k != -1}
            out["R@1%"] = rec[-1]
            return out

        out: dict[str, Any]
        if len(self.recall) == 1:
            ((radius, rec),) = self.recall.items()
            out = keys(rec)
            out["radius_m"] = radius
        else:
            out = {"by_radius_m": {f"{r:g}": keys(rec) for r, rec in self.recall.items()}}
        out |= dict(
            one_percent={"rule": self.one_percent_rule, "k": self.one_percent_k},
            distance=self.metric,
            inclusive=True,
            max_yaw_deg=self.max_yaw_deg,
            direction=self.direction,
            num_queries=self.num_queries,
            num_references=self.num_references,
            found_rule="any of the top N within the radius; ties do not hurt",
        )
        return out


def distance_recall(
    query: ArrayLike,
    reference: ArrayLike,
    query_pos: ArrayLike,
    reference_pos: ArrayLike,
    radii_m: float | Sequence[float],
    ks: Sequence[int] = (1, 5, 10),
    one_percent: str = "floor",
    metric: str = "utm",
    query_yaw_deg: ArrayLike | None = None,
    reference_yaw_deg: ArrayLike | None = None,
    max_yaw_deg: float | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
) -> DistanceRecallResult:
    """Percentage of queries with any of their top-N references within each radius.

    Args:
        query: (Q, D) descriptors.
        reference: (M, D) descriptors.
        query_pos: (Q, 2) UTM easting/northing, or latitude/longitude for ``geodesic``.
        reference_pos: (M, 2) likewise.
        radii_m: One radius or several (metres, inclusive).
        ks: The N values; recall@1% is added with K from ``one_percent``.
        one_percent: Rule for K of recall@1% (see :data:`ONE_PERCENT_RULES`).
        metric: ``"utm"`` or ``"geodesic"``.
        query_yaw_deg: (Q,) headings, degrees clockwise from north (with ``max_yaw_deg``).
        reference_yaw_deg: (M,) headings.
        max_yaw_deg: If given, a reference only counts when its heading is also within this many
            degrees of the query's (CrossLocate, 30 deg).
        block_size: Query rows per block.
        device: Where to compute.

    """
    q, r = descriptor_pair(query, reference)
    k1 = one_percent_k(r.shape[0], one_percent)  # options are checked before the expensive pass
    ks = parse_ks(ks)
    radii_list = [radii_m] if isinstance(radii_m, (int, float)) else list(radii_m)
    radii = sorted({float(x) for x in radii_list})
    if not radii or radii[0] < 0:
        raise ConfigError(f"radius must be >= 0 metres, got {radii_m}")
    qp = _positions(query_pos, q.shape[0], "query positions")
    rp = _positions(reference_pos, r.shape[0], "reference positions")
    idx, dist = neighbours_within(qp, rp, radii[-1], metric)
    if max_yaw_deg is not None:
        if query_yaw_deg is None or reference_yaw_deg is None:
            raise ConfigError("max_yaw_deg needs both query and reference yaw")
        qy, ry = np.asarray(query_yaw_deg, float), np.asarray(reference_yaw_deg, float)
        ok = [yaw_difference_deg(qy[i], ry[c]) <= max_yaw_deg for i, c in enumerate(idx)]
        idx = [c[o] for c, o in zip(idx, ok, strict=True)]
        dist = [d[o] for d, o in zip(dist, ok, strict=True)]
    candidates = [[c[d <= rad] for c, d in zip(idx, dist, strict=True)] for rad in radii]
    ranks = best_candidate_rank(q, r, candidates, block_size, device)
    recall = {}
    for t, rad in enumerate(radii):
        # A query with no in-radius candidate has rank M, so it never counts as found.
        res = recall_from_ranks(ranks[:, t], r.shape[0], ks, one_percent)
        recall[rad] = {**res.recall, -1: res.one_percent}
    return DistanceRecallResult(
        recall, one_percent, k1, metric, q.shape[0], r.shape[0], max_yaw_deg
    )


def _metric_points(pos: np.ndarray, metric: str) -> np.ndarray:
    """Points whose Euclidean distances are the metric's: UTM metres, or ECEF for lat/lon.

    The ECEF chord differs from the WGS84 geodesic by ``d**3 / (24 R**2)``: 1 mm at 10 km.
    """
    if metric not in METRICS:
        raise ConfigError(f"distance metric {metric!r} unknown; choose one of {list(METRICS)}")
    return pos if metric == "utm" else _ecef(pos)


def _distance_block(q: np.ndarray, r: torch.Tensor) -> torch.Tensor:
    """``(b, M)`` float64 Euclidean distances of points ``q`` (b, k) to ``r`` (M, k)."""
    return torch.cdist(torch.from_numpy(q).to(r), r)


def nearest_retrieved_distance(
    query: ArrayLike,
    reference: ArrayLike,
    query_pos: ArrayLike,
    reference_pos: ArrayLike,
    ns: Sequence[int] = (1, 100),
    metric: str = "utm",
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
) -> dict[int, np.ndarray]:
    """Per N, each query's distance (m) to the nearest of its top-N retrieved references.

    "Top N" with ties not hurting, as in :func:`distance_recall`: the references scoring at
    least the N-th highest score (fewer than N score strictly above them). So a query counts as
    found at N within t exactly when its value is ``<= t``: the curve of recall against t is the
    empirical distribution of these values (:func:`recall_curve`), and it equals
    :func:`distance_recall` at every radius.

    Returns:
        ``{N: (Q,) float64}`` for each ``N`` (capped at the number of references).

    """
    q, r = descriptor_pair(query, reference)
    ns = [min(n, r.shape[0]) for n in parse_ks(ns)]
    qp = _metric_points(_positions(query_pos, q.shape[0], "query positions"), metric)
    rp = torch.from_numpy(_metric_points(_positions(reference_pos, r.shape[0],
                                                    "reference positions"), metric))
    out = {n: np.empty(q.shape[0]) for n in ns}
    for start, s in score_blocks(q, r, block_size, device):
        kth = s.topk(max(ns), dim=1).values  # (b, N_max), descending
        dist = _distance_block(qp[start:start + s.shape[0]], rp).to(s.device)
        for n in ns:
            retrieved = s >= kth[:, n - 1 : n]
            nearest = dist.masked_fill(~retrieved, float("inf")).amin(dim=1)
            out[n][start:start + s.shape[0]] = nearest.cpu().numpy()
    return out


def radius_grid(max_m: float = 10_000.0, points: int = 201) -> np.ndarray:
    """Radii of a recall-vs-distance curve: ``points`` values from 0 to ``max_m`` metres."""
    if not max_m > 0 or points < 2:
        raise ConfigError(f"curve: need max_m > 0 and points >= 2, got {max_m}, {points}")
    return np.linspace(0.0, float(max_m), int(points))


def recall_curve(nearest: dict[int, np.ndarray], radii_m: np.ndarray) -> dict[str, Any]:
    """Recall (percent) against distance from :func:`nearest_retrieved_distance` values.

    Returns:
        ``{"radii_m": [...], "recall": {"<N>": [...]}}`` (JSON-able).

    """
    radii = np.asarray(radii_m, dtype=np.float64)
    recall = {}
    for n, d in nearest.items():
        sorted_d = np.sort(d)
        found = np.searchsorted(sorted_d, radii, side="right")  # d <= t: found
        recall[str(n)] = (100.0 * found / max(len(d), 1)).tolist()
    return {"radii_m": radii.tolist(), "recall": recall}


def chance_recall(
    query_pos: ArrayLike,
    reference_pos: ArrayLike,
    radii_m: Sequence[float] | np.ndarray,
    ns: Sequence[int] = (1, 10, 100),
    metric: str = "utm",
    block_size: int = 1024,
) -> dict[int, np.ndarray]:
    """Expected recall (percent) of random retrieval: N distinct references drawn uniformly.

    A query with ``m`` of the ``M`` references within ``t`` is found with probability
    ``1 - C(M - m, N) / C(M, N) = 1 - prod_{i<N} (M - m - i) / (M - i)`` (exact, no sampling):
    the paper's "chance" baseline, averaged over the queries.

    Returns:
        ``{N: (T,) float64}``, one value per radius, ``N`` capped at ``M``.

    """
    qp0 = np.asarray(query_pos, dtype=np.float64)
    rp0 = np.asarray(reference_pos, dtype=np.float64)
    m_total = len(rp0)
    qp = _metric_points(_positions(qp0, len(qp0), "query positions"), metric)
    rp = torch.from_numpy(_metric_points(_positions(rp0, m_total, "reference positions"), metric))
    radii = np.asarray(radii_m, dtype=np.float64)
    counts = np.empty((len(qp), len(radii)), dtype=np.int64)
    for start in range(0, len(qp), block_size):
        dist = np.sort(_distance_block(qp[start:start + block_size], rp).numpy(), axis=1)
        for row, d in enumerate(dist):
            counts[start + row] = np.searchsorted(d, radii, side="right")
    out = {}
    for n in parse_ks(ns):
        n = min(n, m_total)
        miss = np.ones(counts.shape)  # P(no pick within t), a factor per draw
        for i in range(n):
            miss *= np.clip(m_total - counts - i, 0, None) / (m_total - i)
        out[n] = 100.0 * (1.0 - miss).mean(axis=0)
    return out
