"""Metrics of localization under query conditions (known / unknown heading, FOV, photos).

Scores are reduced per query as they are computed (:func:`reduce_scores`: the rank of the true
tile, the top-1 tile and the heading error at the true tile), so no ``Q x N`` matrix is kept; then
:func:`summarize` gives the row of the query-condition table (docs/locate.md):

- ``R@1``, ``R@5``, ``R@1%`` (percent; rank = tiles scoring strictly higher than the truth, SPECS
  §4; ``R@1%`` uses ``K = max(1, floor(N / 100))``);
- ``median_m``: median distance in metres between the top-1 tile's centre and the query's
  position (UTM; the error a user of ``locate`` sees); ``None`` without coordinates;
- ``heading_err_deg``: median absolute angular error of the heading estimated *for the true
  tile* (so it measures orientation, not retrieval), and ``heading_within_30`` the share within
  30 degrees (CrossLocate's yaw criterion, SPECS §4). Both are ``None`` when the heading was
  given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crossview.errors import ConfigError
from crossview.evaluation.distance import yaw_difference_deg


def reduce_scores(scores: np.ndarray, truth: np.ndarray, headings: np.ndarray | None = None,
                  true_heading: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per query: rank of the true tile, index of the top-1 tile, heading error at the truth.

    Args:
        scores: ``(Q, N)`` similarities (higher is better).
        truth: ``(Q,)`` index of each query's true tile.
        headings: ``(Q, N)`` estimated headings (deg), or ``None`` when the heading was given.
        true_heading: ``(Q,)`` true headings (deg), with ``headings``.

    Returns:
        ``(ranks (Q,), top1 (Q,), heading_err (Q,) or None)``.

    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    if scores.ndim != 2 or truth.shape != (scores.shape[0],):
        raise ConfigError(f"scores (Q, N) and truth (Q,) expected, got {scores.shape} and "
                          f"{truth.shape}")
    if not np.isfinite(scores).all():
        raise ConfigError("scores contain NaN/inf")
    rows = np.arange(len(truth))
    true_score = scores[rows, truth]
    ranks = (scores > true_score[:, None]).sum(axis=1)
    top1 = scores.argmax(axis=1)
    err = None
    if headings is not None:
        if true_heading is None:
            raise ConfigError("heading errors need the true headings")
        err = yaw_difference_deg(np.asarray(headings, np.float64)[rows, truth],
                                 np.asarray(true_heading, np.float64))
    return ranks, top1, err


def summarize(ranks: np.ndarray, top1: np.ndarray, num_refs: int,
              query_utm: np.ndarray, ref_utm: np.ndarray,
              heading_err: np.ndarray | None = None) -> dict[str, Any]:
    """One row of the condition table from the per-query reductions (module docstring)."""
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        raise ConfigError("no queries to summarize")
    k1 = max(1, num_refs // 100)
    dist = np.linalg.norm(np.asarray(ref_utm)[np.asarray(top1)] - np.asarray(query_utm), axis=1)
    row: dict[str, Any] = {
        "R@1": 100.0 * float(np.mean(ranks < 1)),
        "R@5": 100.0 * float(np.mean(ranks < 5)),
        "R@1%": 100.0 * float(np.mean(ranks < k1)),
        "one_percent_k": k1,
        "median_m": float(np.median(dist)) if np.isfinite(dist).all() else None,
        "heading_err_deg": None,
        "heading_within_30": None,
        "queries": int(len(ranks)),
    }
    if heading_err is not None:
        row["heading_err_deg"] = float(np.median(heading_err))
        row["heading_within_30"] = 100.0 * float(np.mean(np.asarray(heading_err) <= 30.0))
    return row
