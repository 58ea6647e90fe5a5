"""University-1652 protocol: AP by the trapezoid rule, mAP and CMC recall@k (SPECS.md §4).

Gallery items labelled -1 (junk) are removed. Every gallery item of the query's class is a correct
match. Ranking is optimistic at ties ("ties do not hurt"): correct items come before incorrect ones
of equal score, so the i-th correct match (0-based, best first) sits at row
``i + #{incorrect items scoring strictly above it}``. AP then follows the University-1652 code:
each correct match adds ``(1/ngood) * (precision_before + precision_after) / 2`` with
``precision_after = (i+1)/(row+1)`` and ``precision_before = i/row`` (1 when row is 0).
A query without any correct gallery item scores AP 0 and misses (it is counted, not skipped, as
the reference code divides by the number of queries).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from crossview.errors import CrossviewError
from crossview.evaluation.retrieval import (
    DEFAULT_BLOCK_SIZE,
    ArrayLike,
    descriptor_pair,
    parse_ks,
    score_blocks,
)

JUNK_LABEL = -1


def average_precision(rows_good: np.ndarray) -> float:
    """AP of one query from the sorted 0-based rows of its correct matches (trapezoid rule)."""
    ngood = len(rows_good)
    if ngood == 0:
        return 0.0
    ap = 0.0
    for i, row in enumerate(rows_good):
        precision = (i + 1) / (row + 1)
        old_precision = i / row if row != 0 else 1.0
        ap += (old_precision + precision) / (2 * ngood)
    return ap


@dataclasses.dataclass
class UniversityResult:
    """mAP and CMC recall@k in percent."""

    ap: float
    recall: dict[int, float]
    num_queries: int
    num_gallery: int
    num_queries_without_match: int
    direction: str = "ground_to_aerial"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: ``{"AP": .., "R@1": .., ...}``."""
        out: dict[str, Any] = {"AP": self.ap}
        out.update({f"R@{k}": v for k, v in self.recall.items()})
        out.update(
            direction=self.direction,
            num_queries=self.num_queries,
            num_references=self.num_gallery,
            num_queries_without_match=self.num_queries_without_match,
            junk_label=JUNK_LABEL,
            ap_rule="trapezoid (University-1652 code)",
        )
        return out


def good_rows(scores: torch.Tensor, good: torch.Tensor) -> list[np.ndarray]:
    """Rows of the correct matches in the optimistic ranking, per query of a block.

    Args:
        scores: (b, M) with junk items already at -inf.
        good: (b, M) bool, correct items.

    """
    out = []
    sorted_all = torch.sort(scores, dim=1).values  # ascending, for searchsorted
    m = scores.shape[1]
    for i in range(scores.shape[0]):
        g = torch.sort(scores[i][good[i]], descending=True).values
        if g.numel() == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        above_all = m - torch.searchsorted(sorted_all[i], g, right=True)
        g_asc = torch.flip(g, [0])
        above_good = g.numel() - torch.searchsorted(g_asc, g, right=True)
        rows = torch.arange(g.numel(), device=g.device) + (above_all - above_good)
        out.append(rows.cpu().numpy())
    return out


def university_evaluate(
    query: ArrayLike,
    gallery: ArrayLike,
    query_labels: ArrayLike,
    gallery_labels: ArrayLike,
    ks: Sequence[int] = (1, 5, 10),
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
    direction: str = "ground_to_aerial",
) -> UniversityResult:
    """University-1652 mAP and recall@k of ``query`` against ``gallery`` by class label."""
    q, g = descriptor_pair(query, gallery, "query", "gallery")
    ql = np.asarray(query_labels, dtype=np.int64)
    gl = np.asarray(gallery_labels, dtype=np.int64)
    if ql.shape != (q.shape[0],) or gl.shape != (g.shape[0],):
        raise CrossviewError(
            f"labels: expected shapes ({q.shape[0]},) and ({g.shape[0]},), "
            f"got {ql.shape} and {gl.shape}"
        )
    ks = parse_ks(ks)
    gl_t = torch.from_numpy(gl)
    junk = gl_t == JUNK_LABEL
    aps, first = np.zeros(q.shape[0]), np.full(q.shape[0], np.iinfo(np.int64).max)
    for start, s in score_blocks(q, g, block_size, device):
        b = s.shape[0]
        s.masked_fill_(junk.to(s.device)[None, :], float("-inf"))
        lab = torch.from_numpy(ql[start : start + b]).to(s.device)
        good = (gl_t.to(s.device)[None, :] == lab[:, None]) & ~junk.to(s.device)[None, :]
        for i, rows in enumerate(good_rows(s, good)):
            aps[start + i] = average_precision(rows)
            if len(rows):
                first[start + i] = rows[0]
    n = max(q.shape[0], 1)
    return UniversityResult(
        ap=100.0 * float(aps.sum()) / n,
        recall={k: 100.0 * np.count_nonzero(first < k) / n for k in ks},
        num_queries=q.shape[0],
        num_gallery=g.shape[0],
        num_queries_without_match=int(np.count_nonzero(first == np.iinfo(np.int64).max)),
        direction=direction,
    )
