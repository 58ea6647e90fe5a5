"""Evaluation: retrieval protocol metrics from descriptors (blockwise) and synthesis metrics.

Retrieval (SPECS.md §4): :func:`truth_rank`, :func:`topk_blocks`, :func:`recall_at_k`,
:func:`distance_recall`, :func:`vigor_evaluate`, :func:`university_evaluate` and the protocol
layer :func:`evaluate_protocol` that scores a :class:`~crossview.data.table.PairTable`.
"""

from crossview.evaluation.distance import DistanceRecallResult, distance_recall
from crossview.evaluation.protocols import (
    PROTOCOLS,
    Scored,
    default_protocol,
    evaluate_protocol,
    get_protocol,
    list_protocols,
    register_protocol,
)
from crossview.evaluation.retrieval import (
    ONE_PERCENT_RULES,
    RecallResult,
    one_percent_k,
    recall_at_k,
    recall_both_directions,
    recall_from_ranks,
    topk_blocks,
    truth_rank,
)
from crossview.evaluation.university import UniversityResult, university_evaluate
from crossview.evaluation.vigor import VigorResult, vigor_evaluate

__all__ = [
    "ONE_PERCENT_RULES",
    "PROTOCOLS",
    "DistanceRecallResult",
    "RecallResult",
    "Scored",
    "UniversityResult",
    "VigorResult",
    "default_protocol",
    "distance_recall",
    "evaluate_protocol",
    "get_protocol",
    "list_protocols",
    "one_percent_k",
    "recall_at_k",
    "recall_both_directions",
    "recall_from_ranks",
    "register_protocol",
    "topk_blocks",
    "truth_rank",
    "university_evaluate",
    "vigor_evaluate",
]
