"""Headline numbers of evaluation results, as the trainer, ``eval`` and reports show them."""

from __future__ import annotations

from typing import Any

HEADLINE = ("R@1", "R@5", "R@10", "R@1%")
"""Headline metrics (percent), taken from the ground-to-aerial direction of a protocol result."""


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """``R@1``/``R@5``/``R@10``/``R@1%`` of an ``evaluate_protocol`` result (ground -> aerial).

    Protocol results nest per direction (``{"ground_to_aerial": {"R@1": ...}, ...}``); flat
    results are used as they are. Missing keys are left out.
    """
    source = result
    if "R@1" not in result:
        source = next((result[k] for k in ("ground_to_aerial", "position")
                       if isinstance(result.get(k), dict)), {})
    return {k: source[k] for k in HEADLINE if k in source}


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
