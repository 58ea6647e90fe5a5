"""Blockwise retrieval core: scores, ranks of the truth, running top-k, recall@k (SPECS.md §4).

Similarity is the dot product of L2-normalised float32 descriptors (DESIGN.md "Tensors"). The
query x reference matrix is never materialised: queries are processed in blocks of ``b`` rows
against all ``M`` references, so memory is bounded by ``b x M`` scores, and ``b`` shrinks so that
one block stays under ``max_block_bytes``.

Ranks are taken from the same blockwise matrix product as every other score of the row, so a
reference identical to the truth ties with it exactly (a separate dot product would round
differently and could make the truth outrank itself).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from crossview.device import get_device
from crossview.errors import ConfigError, CrossviewError
from crossview.progress import track

logger = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 1024
"""Query rows per block (keeps the matrix product efficient on CPU and GPU)."""
DEFAULT_MAX_BLOCK_BYTES = 512 * 2**20
"""Upper bound on one block of float32 scores; the block shrinks for large galleries."""
ONE_PERCENT_RULES = ("floor", "floor+1", "ceil")
"""K of recall@1%: floor(N/100) (SAFA test, Sample4Geo), floor(N/100)+1 (CVM-Net, VIGOR) or
ceil(N/100) (CDE)."""

ArrayLike = np.ndarray | torch.Tensor


def as_descriptors(x: ArrayLike | Sequence[Sequence[float]], name: str) -> torch.Tensor:
    """Validate descriptors and return them as a float32 (N, D) tensor (no copy when possible).

    Args:
        x: (N, D) numpy array or tensor.
        name: Name used in error messages (a file or argument).

    Raises:
        CrossviewError: Not 2-D, empty, or a row with NaN/inf (the first bad row is named).

    """
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise CrossviewError(
            f"{name}: expected a non-empty (N, D) descriptor array, got shape {tuple(t.shape)}"
        )
    if not (
        t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64)
    ):
        raise CrossviewError(f"{name}: expected numeric descriptors, got dtype {t.dtype}")
    t = t.to(torch.float32)
    finite = torch.isfinite(t).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        raise CrossviewError(f"{name}: row {bad} contains NaN or inf")
    norms = t.norm(dim=1)
    if bool(((norms - 1).abs() > 1e-3).any()):
        logger.warning(
            "%s: descriptors are not L2-normalised (norms in [%.3g, %.3g]); ranking "
            "uses raw dot products",
            name,
            float(norms.min()),
            float(norms.max()),
        )
    return t


def check_pair(
    query: torch.Tensor, reference: torch.Tensor, qname: str = "query", rname: str = "reference"
) -> None:
    """Raise if query and reference descriptors have different dimensions."""
    if query.shape[1] != reference.shape[1]:
        raise CrossviewError(
            f"descriptor dimensions differ: {qname} has {query.shape[1]}, "
            f"{rname} has {reference.shape[1]}"
        )


def descriptor_pair(
    query: ArrayLike, reference: ArrayLike, qname: str = "query", rname: str = "reference"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate both descriptor sets (:func:`as_descriptors`) and their common dimension.

    The input check every protocol starts with; returns float32 (Q, D) and (M, D) tensors.
    """
    q = as_descriptors(query, qname)
    r = as_descriptors(reference, rname)
    check_pair(q, r, qname, rname)
    return q, r


def one_percent_k(num_references: int, rule: str = "floor") -> int:
    """K of recall@1% for ``num_references`` under ``rule`` (0 becomes 1, SPECS.md §4)."""
    if rule == "floor":
        k = num_references // 100
    elif rule == "floor+1":
        k = num_references // 100 + 1
    elif rule == "ceil":
        k = math.ceil(num_references / 100)
    else:
        raise ConfigError(
            f"--one-percent rule {rule!r} unknown; choose one of {list(ONE_PERCENT_RULES)}"
        )
    return max(k, 1)


def _rows_per_block(num_references: int, block_size: int, max_block_bytes: int) -> int:
    if block_size < 1:
        raise ConfigError(f"block_size must be >= 1, got {block_size}")
    return max(1, min(block_size, max_block_bytes // (4 * max(num_references, 1))))


def score_blocks(
    query: torch.Tensor,
    reference: torch.Tensor,
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
    max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, scores)`` with scores (b, M) = query[start:start+b] @ reference.T.

    The yielded tensor is a reused buffer on ``device``: consume it before the next step.
    """
    dev = get_device(device)
    ref = reference.to(dev)
    rows = _rows_per_block(ref.shape[0], block_size, max_block_bytes)
    buf = torch.empty((rows, ref.shape[0]), dtype=torch.float32, device=dev)
    starts = range(0, query.shape[0], rows)
    for start in (
        track(starts, f"scoring {query.shape[0]} x {ref.shape[0]}") if len(starts) > 1 else starts
    ):
        q = query[start : start + rows].to(dev, non_blocking=True)
        out = buf[: q.shape[0]]
        torch.mm(q, ref.T, out=out)
        yield start, out


def count_above(scores: torch.Tensor, threshold: torch.Tensor, rows: int = 32) -> torch.Tensor:
    """Per row, the number of scores strictly above that row's threshold.

    Args:
        scores: (b, M) scores.
        threshold: (b, 1) thresholds.
        rows: Rows compared at a time. A few rows keep the boolean mask and the int32 sum in
            cache: on CPU this is ~5x faster than one ``(scores > threshold).sum(1)`` over the
            block (which also materialises an int64 copy of the mask).

    Returns:
        (b,) int64 counts.

    """
    out = torch.empty(scores.shape[0], dtype=torch.int64, device=scores.device)
    for i in range(0, scores.shape[0], rows):
        out[i : i + rows] = (scores[i : i + rows] > threshold[i : i + rows]).sum(
            1, dtype=torch.int32
        )
    return out


def truth_rank(
    query: ArrayLike,
    reference: ArrayLike,
    truth_index: ArrayLike,
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
    exclude: ArrayLike | None = None,
) -> np.ndarray:
    """Rank of each query's true reference: the number of references scoring strictly higher.

    Args:
        query: (Q, D) descriptors.
        reference: (M, D) descriptors.
        truth_index: (Q,) index of each query's true reference.
        block_size: Query rows per block.
        device: Where to compute (default: :func:`crossview.device.get_device`).
        exclude: Optional (Q, E) reference indices that never count against the query (VIGOR
            semi-positives); ``-1`` pads rows with fewer.

    Returns:
        (Q,) int64 ranks; hit@K means rank < K.

    """
    q, r = descriptor_pair(query, reference)
    truth = _index_array(truth_index, q.shape[0], r.shape[0], "truth_index")
    excl = None if exclude is None else torch.as_tensor(np.asarray(exclude), dtype=torch.int64)
    if excl is not None and (excl.ndim != 2 or excl.shape[0] != q.shape[0]):
        raise CrossviewError(f"exclude: expected shape ({q.shape[0]}, E), got {tuple(excl.shape)}")
    ranks = torch.empty(q.shape[0], dtype=torch.int64)
    for start, s in score_blocks(q, r, block_size, device):
        b = s.shape[0]
        t = truth[start : start + b].to(s.device)
        thr = s.gather(1, t[:, None])
        if excl is not None:
            e = excl[start : start + b].to(s.device)
            # Padding (-1) points at the truth itself, which is never above its own score.
            e = torch.where(e < 0, t[:, None], e)
            s.scatter_(1, e, float("-inf"))
        ranks[start : start + b] = count_above(s, thr).cpu()
    return ranks.numpy()


def _index_array(idx: ArrayLike, n: int, m: int, name: str) -> torch.Tensor:
    arr = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx)
    if arr.shape != (n,):
        raise CrossviewError(f"{name}: expected shape ({n},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise CrossviewError(f"{name}: expected integer indices, got dtype {arr.dtype}")
    if n and (arr.min() < 0 or arr.max() >= m):
        bad = int(np.flatnonzero((arr < 0) | (arr >= m))[0])
        raise CrossviewError(f"{name}: row {bad} has index {arr[bad]} outside [0, {m})")
    return torch.from_numpy(arr.astype(np.int64))


def topk_blocks(
    query: ArrayLike,
    reference: ArrayLike,
    k: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` references of every query, highest score first.

    References are scanned in chunks of ``chunk_size`` rows with a running merge, so memory is
    bounded by ``block_size x (chunk_size + k)`` (default: one chunk of all references).

    Returns:
        scores (Q, k) float32 and indices (Q, k) int64.

    """
    q, r = descriptor_pair(query, reference)
    if not 1 <= k <= r.shape[0]:
        raise ConfigError(f"k must be in [1, {r.shape[0]}] (number of references), got {k}")
    chunk = r.shape[0] if chunk_size is None else max(1, chunk_size)
    dev = get_device(device)
    scores = np.empty((q.shape[0], k), dtype=np.float32)
    indices = np.empty((q.shape[0], k), dtype=np.int64)
    rows = _rows_per_block(chunk, block_size, DEFAULT_MAX_BLOCK_BYTES)
    for start in range(0, q.shape[0], rows):
        qb = q[start : start + rows].to(dev)
        best_s = torch.full((qb.shape[0], 0), float("-inf"), device=dev)
        best_i = torch.zeros((qb.shape[0], 0), dtype=torch.int64, device=dev)
        for c0 in range(0, r.shape[0], chunk):
            s = qb @ r[c0 : c0 + chunk].to(dev).T
            kk = min(k, s.shape[1])
            cs, ci = torch.topk(s, kk, dim=1)
            # Running merge: keep the best k of (previous best, this chunk's best).
            best_s, order = torch.topk(
                torch.cat([best_s, cs], 1), min(k, best_s.shape[1] + kk), dim=1
            )
            best_i = torch.cat([best_i, ci + c0], 1).gather(1, order)
        scores[start : start + qb.shape[0]] = best_s.cpu().numpy()
        indices[start : start + qb.shape[0]] = best_i.cpu().numpy()
    return scores, indices


@dataclasses.dataclass
class RecallResult:
    """Recall@k and recall@1% of one retrieval direction (values in percent)."""

    recall: dict[int, float]
    """k -> percentage of queries whose truth has rank < k."""
    one_percent: float
    one_percent_rule: str
    one_percent_k: int
    direction: str
    num_queries: int
    num_references: int
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: ``{"R@1": .., "R@1%": .., "one_percent": {"rule", "k"}, ...}``."""
        out: dict[str, Any] = {f"R@{k}": v for k, v in self.recall.items()}
        out["R@1%"] = self.one_percent
        out["one_percent"] = {"rule": self.one_percent_rule, "k": self.one_percent_k}
        out.update(
            direction=self.direction,
            num_queries=self.num_queries,
            num_references=self.num_references,
            tie_rule="ties do not hurt (strictly higher)",
        )
        out.update(self.extras)
        return out


def parse_ks(ks: Sequence[int] | str) -> list[int]:
    """Parse ``"1,5,10"`` or a sequence into sorted unique positive ints (ConfigError if bad)."""
    items = ks.split(",") if isinstance(ks, str) else list(ks)
    try:
        values = sorted({int(str(v).strip()) for v in items})
    except ValueError:
        raise ConfigError(f"--ks must be comma-separated positive integers, got {ks!r}") from None
    if not values or values[0] < 1:
        raise ConfigError(f"--ks must be comma-separated positive integers, got {ks!r}")
    return values


def recall_from_ranks(
    ranks: np.ndarray,
    num_references: int,
    ks: Sequence[int] = (1, 5, 10),
    one_percent: str = "floor",
    direction: str = "ground_to_aerial",
) -> RecallResult:
    """Recall@k (percent) from truth ranks (hit@K when rank < K)."""
    ranks = np.asarray(ranks)
    k1 = one_percent_k(num_references, one_percent)
    n = max(len(ranks), 1)
    return RecallResult(
        recall={k: 100.0 * float(np.count_nonzero(ranks < k)) / n for k in parse_ks(ks)},
        one_percent=100.0 * float(np.count_nonzero(ranks < k1)) / n,
        one_percent_rule=one_percent,
        one_percent_k=k1,
        direction=direction,
        num_queries=len(ranks),
        num_references=num_references,
    )


def recall_at_k(
    query: ArrayLike,
    reference: ArrayLike,
    truth_index: ArrayLike,
    ks: Sequence[int] = (1, 5, 10),
    one_percent: str = "floor",
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
    direction: str = "ground_to_aerial",
) -> RecallResult:
    """Recall@k and recall@1% of ``query`` against ``reference`` with known true indices."""
    one_percent_k(1, one_percent)  # validate the rule before the expensive pass
    ranks = truth_rank(query, reference, truth_index, block_size, device)
    return recall_from_ranks(ranks, len(reference), ks, one_percent, direction)


def inverse_truth(truth_index: np.ndarray, num_references: int) -> np.ndarray | None:
    """For one-to-one pairs, the query index of each reference (aerial->ground truth), else None."""
    truth = np.asarray(truth_index)
    if len(truth) != num_references or len(np.unique(truth)) != num_references:
        return None
    inv = np.empty(num_references, dtype=np.int64)
    inv[truth] = np.arange(num_references)
    return inv


def recall_both_directions(
    ground: ArrayLike,
    aerial: ArrayLike,
    truth_index: ArrayLike,
    ks: Sequence[int] = (1, 5, 10),
    one_percent: str = "floor",
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: str | torch.device | None = None,
) -> dict[str, RecallResult]:
    """Ground->aerial recall, plus aerial->ground where every reference has exactly one query."""
    out = {
        "ground_to_aerial": recall_at_k(
            ground, aerial, truth_index, ks, one_percent, block_size, device, "ground_to_aerial"
        )
    }
    inv = inverse_truth(np.asarray(truth_index), len(aerial))
    if inv is not None:
        out["aerial_to_ground"] = recall_at_k(
            aerial, ground, inv, ks, one_percent, block_size, device, "aerial_to_ground"
        )
    return out
