"""Geometry of synthesized panoramas against the truth (beyond Sat2Density's paper).

A method that renders a panorama's depth and opacity (Sat2Density) is scored on pairs whose true
depth and sky are known (the synthetic world's ``crossview_gt/depth`` and ``sky``):

- ``abs_rel_median``: the median over pixels of ``|d - d*| / d*`` on pixels that are not sky
  and whose true depth ``d*`` is at most ``max_depth_m`` (50 m). Both depths are ranges along
  the ray in metres (the world's ``depth``: distance from the camera to the hit; the renderer's:
  ``sum w_k t_k``); pixels of every image are pooled.
- ``ground_iou`` / ``sky_iou``: the intersection over union of the rendered opacity above
  ``threshold`` (0.5) with the true non-sky pixels, and of its complement with the sky, pooled
  over images; ``miou`` their mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from crossview.errors import ConfigError

MAX_DEPTH_M = 50.0
OPACITY_THRESHOLD = 0.5


def _check(name: str, x: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(x.shape) != shape:
        raise ConfigError(f"{name}: expected shape {shape}, got {tuple(x.shape)}")


class GeometryMeter:
    """Pooled depth error and sky/non-sky IoU per named predictor (e.g. model vs baseline).

    Args:
        max_depth_m: Pixels whose true depth is larger are left out of the depth error.
        threshold: Opacity above which a pixel is predicted as not sky.

    """

    def __init__(self, max_depth_m: float = MAX_DEPTH_M,
                 threshold: float = OPACITY_THRESHOLD) -> None:
        if not max_depth_m > 0 or not 0.0 < threshold < 1.0:
            raise ConfigError(f"GeometryMeter: need max_depth_m > 0 and 0 < threshold < 1, got "
                              f"{max_depth_m}, {threshold}")
        self.max_depth_m = float(max_depth_m)
        self.threshold = float(threshold)
        self._rel: dict[str, list[np.ndarray]] = {}
        self._counts: dict[str, dict[str, int]] = {}

    @torch.no_grad()
    def update(self, name: str, depth_m: Tensor, opacity: Tensor, true_depth_m: Tensor,
               true_sky: Tensor) -> None:
        """Add a batch: ``(B, 1, H, W)`` predicted depth and opacity, true depth and sky (1)."""
        if depth_m.ndim != 4 or depth_m.shape[1] != 1:
            raise ConfigError(f"depth_m: expected (B, 1, H, W), got {tuple(depth_m.shape)}")
        shape = tuple(depth_m.shape)
        for label, t in (("opacity", opacity), ("true_depth_m", true_depth_m),
                         ("true_sky", true_sky)):
            _check(label, t, shape)
        pred, truth = depth_m.double().cpu(), true_depth_m.double().cpu()
        sky = true_sky.cpu() > 0.5
        valid = ~sky & (truth > 0) & (truth <= self.max_depth_m)
        rel = ((pred - truth).abs() / truth.clamp(min=1e-12))[valid]
        self._rel.setdefault(name, []).append(rel.float().numpy())
        ground = opacity.cpu() > self.threshold
        counts = self._counts.setdefault(name, dict.fromkeys(
            ("ground_inter", "ground_union", "sky_inter", "sky_union", "images"), 0))
        counts["ground_inter"] += int((ground & ~sky).sum())
        counts["ground_union"] += int((ground | ~sky).sum())
        counts["sky_inter"] += int((~ground & sky).sum())
        counts["sky_union"] += int((~ground | sky).sum())
        counts["images"] += shape[0]

    def results(self) -> dict[str, dict[str, Any]]:
        """``{name: {abs_rel_median, ground_iou, sky_iou, miou, depth_pixels, count}}``."""
        out = {}
        for name, counts in self._counts.items():
            rel = np.concatenate(self._rel[name]) if self._rel[name] else np.zeros(0)
            ground = counts["ground_inter"] / counts["ground_union"] if counts[
                "ground_union"] else float("nan")
            sky = counts["sky_inter"] / counts["sky_union"] if counts["sky_union"] else float(
                "nan")
            out[name] = {
                "abs_rel_median": float(np.median(rel)) if rel.size else float("nan"),
                "ground_iou": ground,
                "sky_iou": sky,
                "miou": float(np.nanmean([ground, sky])) if counts["images"] else float("nan"),
                "depth_pixels": int(rel.size),
                "count": counts["images"],
            }
        return out


def geometry_metrics(depth_m: Tensor, opacity: Tensor, true_depth_m: Tensor, true_sky: Tensor,
                     max_depth_m: float = MAX_DEPTH_M,
                     threshold: float = OPACITY_THRESHOLD) -> dict[str, Any]:
    """The metrics of one batch (see the module docstring and :class:`GeometryMeter`)."""
    meter = GeometryMeter(max_depth_m, threshold)
    meter.update("x", depth_m, opacity, true_depth_m, true_sky)
    return meter.results()["x"]


__all__ = ["MAX_DEPTH_M", "OPACITY_THRESHOLD", "GeometryMeter", "geometry_metrics"]
