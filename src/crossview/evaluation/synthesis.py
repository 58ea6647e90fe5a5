"""Synthesis metrics: PSNR, SSIM, sharpness difference, RMSE and LPIPS (SPECS.md §7).

Every metric takes ``pred`` and ``target`` float tensors ``(N, 3, H, W)`` in [0, 1] and returns
``N`` per-image values (float64). Two conventions:

* ``"sat2density"`` (default): PSNR with data range 1; SSIM with an 11x11 Gaussian window
  (sigma 1.5) per RGB channel, averaged over channels (equal to scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1, channel_axis=...)``: both keep only the "valid" window positions); sharpness
  difference ``SD = 10 log10(1 / mean|dv GT + dh GT - dv P - dh P|)`` with absolute forward
  differences on the common (H-2)x(W-2) interior; RMSE on the 0-255 scale.
* ``"xfork"`` (the tables of X-Fork and CDE): SSIM on luma only (ITU-R BT.601
  ``Y = 0.299 R + 0.587 G + 0.114 B``) and PSNR as written for [-1, 1] images with peak 1, i.e.
  ``10 log10(1 / MSE_[-1,1]) = PSNR_[0,1] - 20 log10(2)``; SD and RMSE are unchanged.

Report which convention a number used. Functions here compare images only; running a generator
over a dataset is :func:`crossview.inference.synthesis_scores`. ``lpips`` (AlexNet / SqueezeNet,
local weights only) is implemented in :mod:`crossview.evaluation.synthesis_lpips` and
re-exported here.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation.synthesis_lpips import LPIPS, load_lpips, lpips

__all__ = [
    "LPIPS",
    "SynthesisMeter",
    "load_lpips",
    "lpips",
    "pool_splits",
    "psnr",
    "rmse",
    "sharpness_difference",
    "ssim",
    "synthesis_metrics",
]

Convention = Literal["sat2density", "xfork"]
CONVENTIONS: tuple[str, ...] = ("sat2density", "xfork")
LUMA_BT601 = (0.299, 0.587, 0.114)
"""RGB -> luma weights of the X-Fork convention."""
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check(pred: Tensor, target: Tensor, min_size: int = 1) -> tuple[Tensor, Tensor]:
    """Validate a (pred, target) pair and return float64 copies."""
    if pred.ndim != 4 or pred.shape != target.shape or pred.shape[1] != 3:
        raise CrossviewError(
            f"synthesis metrics: expected pred and target of equal shape (N, 3, H, W), "
            f"got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if min(pred.shape[-2:]) < min_size:
        raise CrossviewError(
            f"synthesis metrics: images of {tuple(pred.shape[-2:])} are smaller than "
            f"the {min_size}x{min_size} this metric needs"
        )
    for name, x in (("pred", pred), ("target", target)):
        if not torch.isfinite(x).all():
            raise CrossviewError(f"synthesis metrics: {name} contains NaN or infinite values")
    return pred.detach().double(), target.detach().double()


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ConfigError(
            f"unknown synthesis-metric convention {convention!r}; choose one of {list(CONVENTIONS)}"
        )


def psnr(pred: Tensor, target: Tensor, convention: Convention = "sat2density") -> Tensor:
    """Peak signal-to-noise ratio per image, dB (``inf`` for identical images)."""
    _check_convention(convention)
    p, t = _check(pred, target)
    mse = (p - t).pow(2).flatten(1).mean(dim=1)
    if convention == "xfork":
        mse = mse * 4.0  # the same images mapped to [-1, 1], peak still 1
    return 10.0 * torch.log10(1.0 / mse)


def rmse(pred: Tensor, target: Tensor) -> Tensor:
    """Root-mean-square error per image on the 0-255 scale."""
    p, t = _check(pred, target)
    return (255.0 * (p - t)).pow(2).flatten(1).mean(dim=1).sqrt()


def _gaussian_window(device: torch.device) -> Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-(x**2) / (2.0 * SSIM_SIGMA**2))
    return g / g.sum()


def _ssim_per_channel(x: Tensor, y: Tensor) -> Tensor:
    """Mean SSIM ``(N, C)`` over valid window positions of ``(N, C, H, W)`` float64 images."""
    c = x.shape[1]
    g = _gaussian_window(x.device)
    wy = g.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    wx = g.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(z: Tensor) -> Tensor:  # separable Gaussian, no padding ("valid")
        return F.conv2d(F.conv2d(z, wy, groups=c), wx, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data range 1
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.flatten(2).mean(dim=2)


def ssim(pred: Tensor, target: Tensor, convention: Convention = "sat2density") -> Tensor:
    """Structural similarity per image (Gaussian 11x11, sigma 1.5, data range 1)."""
    _check_convention(convention)
    p, t = _check(pred, target, min_size=SSIM_WINDOW)
    if convention == "xfork":
        weights = torch.tensor(LUMA_BT601, dtype=p.dtype, device=p.device).view(1, 3, 1, 1)
        p, t = (p * weights).sum(1, keepdim=True), (t * weights).sum(1, keepdim=True)
    return _ssim_per_channel(p, t).mean(dim=1)


def sharpness_difference(pred: Tensor, target: Tensor) -> Tensor:
    """Sharpness difference (Mathieu et al. 2015, as in X-Fork / Sat2Density code) per image, dB.

    ``|x[i+1, j] - x[i, j]|`` and ``|x[i, j+1] - x[i, j]|`` at the interior pixels
    ``1 <= i <= H-2``, ``1 <= j <= W-2``; ``inf`` for identical images.
    """
    p, t = _check(pred, target, min_size=3)

    def grads(z: Tensor) -> tuple[Tensor, Tensor]:
        dv = (z[:, :, 2:, 1:-1] - z[:, :, 1:-1, 1:-1]).abs()
        dh = (z[:, :, 1:-1, 2:] - z[:, :, 1:-1, 1:-1]).abs()
        return dv, dh

    (tv, th), (pv, ph) = grads(t), grads(p)
    diff = (tv + th - pv - ph).abs().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / diff)


def synthesis_metrics(
    pred: Tensor,
    target: Tensor,
    convention: Convention = "sat2density",
    lpips_model: Any | None = None,
) -> dict[str, Tensor]:
    """All per-image metrics of a batch: ``psnr``, ``ssim``, ``sd``, ``rmse`` (+ ``lpips``)."""
    out = {
        "psnr": psnr(pred, target, convention),
        "ssim": ssim(pred, target, convention),
        "sd": sharpness_difference(pred, target),
        "rmse": rmse(pred, target),
    }
    if lpips_model is not None:
        out["lpips"] = lpips_model(pred, target).double()
    return out


class SynthesisMeter:
    """Running means of :func:`synthesis_metrics` over ``(prediction, target)`` batches.

    One meter scores several predictors on the same targets (e.g. a generator and the polar
    baseline): :meth:`update` takes the predictor's name. Running the predictors is the caller's
    job (:func:`crossview.inference.synthesis_scores`); this class only compares images.
    """

    def __init__(self, convention: Convention = "sat2density", lpips_model: Any | None = None
                 ) -> None:
        _check_convention(convention)
        self.convention: Convention = convention
        self.lpips_model = lpips_model
        self._sums: dict[str, dict[str, float]] = {}
        self._counts: dict[str, int] = {}

    def update(self, name: str, pred: Tensor, target: Tensor) -> None:
        """Add a batch of predictions ``(N, 3, H, W)`` of predictor ``name`` against targets."""
        pred = pred.detach().float().clamp(0.0, 1.0)
        values = synthesis_metrics(pred, target.detach().float(), self.convention, self.lpips_model)
        sums = self._sums.setdefault(name, {})
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + float(value.sum())
        self._counts[name] = self._counts.get(name, 0) + pred.shape[0]

    def means(self) -> dict[str, dict[str, float]]:
        """``{name: {"psnr", "ssim", "sd", "rmse", ["lpips"], "count"}}`` (infinite kept)."""
        if not self._counts or not any(self._counts.values()):
            raise CrossviewError("synthesis evaluation: no samples to evaluate")
        return {name: {**{k: v / self._counts[name] for k, v in sums.items()},
                       "count": self._counts[name]}
                for name, sums in self._sums.items()}


def pool_splits(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Pool per-split synthesis means over their splits: ``{predictor: means}``.

    Means are weighted by each split's ``count`` (the same as one pass over all their pairs);
    ``count`` is the total.
    """
    if not results:
        raise CrossviewError("synthesis evaluation: no split to pool")
    pooled: dict[str, dict[str, float]] = {}
    for per_predictor in results.values():
        for name, means in per_predictor.items():
            sums = pooled.setdefault(name, {})
            n = means["count"]
            for key, value in means.items():
                sums[key] = sums.get(key, 0) + (n if key == "count" else value * n)
    return {
        name: {k: (v if k == "count" else v / sums["count"]) for k, v in sums.items()}
        for name, sums in pooled.items()
    }


def finite_or_none(value: float) -> float | None:
    """JSON-safe number (``inf``/``nan`` become ``None``)."""
    return value if math.isfinite(value) else None
