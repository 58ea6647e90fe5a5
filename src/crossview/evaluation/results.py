"""Headline numbers of evaluation results, as the trainer, ``eval`` and reports show them."""

from __future__ import annotations

from typing import Any

HEADLINE = ("R@1", "R@5", "R@10", "R@1%", "AP", "hit_rate")
"""Headline metrics (percent), taken from the query-to-reference direction of a protocol result
(``AP``: University-1652; ``hit_rate``: VIGOR)."""


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """``R@1``/``R@5``/``R@10``/``R@1%`` of an ``evaluate_protocol`` result (ground -> aerial).

    Protocol results nest per direction (``{"ground_to_aerial": {"R@1": ...}, ...}``); flat
    results are used as they are. Missing keys are left out.
    """
    source = result
    if "R@1" not in result:
        source = next((result[k] for k in ("ground_to_aerial", "query_to_gallery", "position")
                       if isinstance(result.get(k), dict)), {})
    return {k: source[k] for k in HEADLINE if k in source}


_RULE_TEXT = {"floor": "floor(N/100)", "floor+1": "floor(N/100)+1", "ceil": "ceil(N/100)"}


def convention_note(result: dict[str, Any]) -> str:
    """The conventions a result's headline numbers depend on, in one short line.

    E.g. ``recall; R@1% K=floor(N/100)=88`` or ``cvact_test; within 5 m; R@1% K=ceil(N/100)=93``
    or ``university; drone_to_satellite``. Printed beside the numbers, so that a reader compares
    them with a published table under the same rule.
    """
    details = result.get("details", result)
    if not isinstance(details, dict):
        return ""
    parts = [str(result.get("protocol") or details.get("protocol") or "")]
    direction = next((details[k] for k in ("ground_to_aerial", "query_to_gallery", "position")
                      if isinstance(details.get(k), dict)), details)
    if isinstance(details.get("scoring"), str):
        parts.append(details["scoring"])
    if isinstance(direction.get("direction"), str) and "query_to_gallery" in details:
        parts.append(direction["direction"])
    rule = direction.get("one_percent")
    if isinstance(rule, dict) and "rule" in rule:
        parts.append(f"R@1% K={_RULE_TEXT.get(rule['rule'], rule['rule'])}={rule.get('k')}")
    return "; ".join(p for p in parts if p)


SYNTHESIS_HEADLINE = {"psnr": "PSNR", "ssim": "SSIM", "sd": "SD", "rmse": "RMSE", "lpips": "LPIPS"}
"""Synthesis metrics (``SynthesisMeter`` keys) and their names among validation metrics."""


def synthesis_headline(means: dict[str, float]) -> dict[str, float]:
    """``PSNR``/``SSIM``/``SD``/``RMSE`` (and ``LPIPS``) of one predictor's synthesis means."""
    return {name: means[key] for key, name in SYNTHESIS_HEADLINE.items() if key in means}
