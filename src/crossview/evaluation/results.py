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
