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


def distance_recall_rows(result: dict[str, Any], label: str = "trained") -> list[dict[str, Any]]:
    """Rows ``{"model", "R@N t m": percent, ...}`` of a ``crosslocate`` evaluation and baselines.

    ``result`` is what :func:`crossview.evaluate` returns (``details`` from the ``crosslocate``
    protocol, and ``baselines["untrained"]`` with ``baselines=True``): the model, the untrained
    network and chance (random database views) in one table, position only.
    """
    def cells(by_radius: dict[str, Any]) -> dict[str, Any]:
        return {f"R@{k[2:]} {r} m": v for r, rec in by_radius.items() for k, v in rec.items()
                if k.startswith("R@") and k != "R@1%"}

    details = result.get("details", result)
    if "position" not in details:
        return []
    rows = [{"model": label, **cells(details["position"]["by_radius_m"])}]
    untrained = (result.get("baselines") or {}).get("untrained")
    if untrained is not None:
        rows.append({"model": "untrained", **cells(untrained["details"]["position"]
                                                   ["by_radius_m"])})
    if "chance" in details:
        rows.append({"model": "chance", **cells(details["chance"]["by_radius_m"])})
    return rows


def distance_curves(result: dict[str, Any], label: str = "trained") -> dict[str, Any]:
    """``{label: curve}`` of a ``crosslocate`` evaluation, its untrained baseline and chance."""
    details = result.get("details", result)
    curves = {}
    if "curve" in details:
        curves[label] = details["curve"]
    untrained = (result.get("baselines") or {}).get("untrained")
    if untrained is not None and "curve" in untrained["details"]:
        curves["untrained"] = untrained["details"]["curve"]
    if "chance" in details:
        curves["chance"] = details["chance"]["curve"]
    return curves
