"""Evaluation of saved descriptor files (``crossview eval-descriptors``): any model's output.

Reads ``.npy`` arrays with one-line errors naming the file, then scores them with the blockwise
evaluators (:func:`~crossview.evaluation.retrieval.recall_at_k` by a truth index, or
:func:`~crossview.evaluation.distance.distance_recall` by metric positions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossview.errors import ConfigError, CrossviewError, InputFileError


def load_npy(path: str | Path, name: str) -> np.ndarray:
    """An ``.npy`` array; a missing or unreadable file raises :class:`InputFileError`."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, f"{name} file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputFileError(path, f"cannot read {name} as .npy ({err})") from None


def load_descriptors(path: str | Path, name: str) -> torch.Tensor:
    """``(N, D)`` finite float32 descriptors from ``path``, with errors naming the file."""
    from crossview.evaluation.retrieval import as_descriptors

    try:
        return as_descriptors(load_npy(path, name), name)
    except InputFileError:
        raise
    except CrossviewError as err:
        raise InputFileError(path, str(err)) from None


def evaluate_descriptor_files(
    query: str | Path,
    reference: str | Path,
    truth: str | Path | None = None,
    query_utm: str | Path | None = None,
    reference_utm: str | Path | None = None,
    radius_m: float | None = None,
    ks: str = "1,5,10",
    one_percent: str = "floor",
    both_directions: bool = False,
    block_size: int = 1024,
    device: Any = None,
) -> dict[str, Any]:
    """Recall@k and recall@1% (percent) of saved descriptors, by truth index or by distance.

    Args:
        query: ``(Q, D)`` float ``.npy``.
        reference: ``(M, D)`` float ``.npy``.
        truth: ``(Q,)`` integer ``.npy``: the true reference of each query.
        query_utm: ``(Q, 2)`` easting/northing ``.npy`` (with ``reference_utm`` and ``radius_m``).
        reference_utm: ``(M, 2)`` ``.npy``.
        radius_m: A query is found when any of its top k lies within this distance.
        ks: Comma-separated k values.
        one_percent: ``floor``, ``floor+1`` or ``ceil`` (SPECS.md §4).
        both_directions: Also reference -> query (needs a one-to-one ``truth``).
        block_size: Query rows per block.
        device: Torch device of the blockwise scoring.

    Returns:
        The result dict (``R@k``, ``R@1%``, ...), plus ``query_file`` and ``reference_file``.

    """
    from crossview.device import get_device
    from crossview.evaluation.distance import distance_recall
    from crossview.evaluation.retrieval import (
        check_pair,
        inverse_truth,
        one_percent_k,
        parse_ks,
        recall_at_k,
    )

    k_list = parse_ks(ks)
    one_percent_k(1, one_percent)
    by_truth = truth is not None
    by_radius = query_utm is not None or reference_utm is not None or radius_m is not None
    if by_truth == by_radius:
        raise ConfigError("give either --truth or all of --query-utm, --reference-utm, --radius")
    q = load_descriptors(query, "query")
    r = load_descriptors(reference, "reference")
    check_pair(q, r, str(query), str(reference))
    device = get_device(device)
    if truth is not None:
        t = load_npy(truth, "truth")
        if t.shape != (q.shape[0],) or not np.issubdtype(t.dtype, np.integer):
            raise InputFileError(truth, f"expected ({q.shape[0]},) integers (one per query row), "
                                        f"got shape {t.shape} dtype {t.dtype}")
        if len(t) and (t.min() < 0 or t.max() >= r.shape[0]):
            raise InputFileError(truth, f"indices must be in [0, {r.shape[0]})")
        out = recall_at_k(q, r, t, k_list, one_percent, block_size, device).to_dict()
        if both_directions:
            inv = inverse_truth(t, r.shape[0])
            if inv is None:
                raise ConfigError("--both-directions needs a one-to-one --truth (a permutation)")
            out["aerial_to_ground"] = recall_at_k(
                r, q, inv, k_list, one_percent, block_size, device, "aerial_to_ground"
            ).to_dict()
    else:
        if query_utm is None or reference_utm is None or radius_m is None:
            raise ConfigError("--radius needs --query-utm and --reference-utm (and vice versa)")
        qp = load_npy(query_utm, "query UTM")
        rp = load_npy(reference_utm, "reference UTM")
        try:
            res = distance_recall(q, r, qp, rp, radius_m, k_list, one_percent, "utm",
                                  block_size=block_size, device=device)
        except CrossviewError as err:
            raise ConfigError(f"--query-utm/--reference-utm: {err}") from None
        out = res.to_dict()
    out["query_file"], out["reference_file"] = str(query), str(reference)
    return out
