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

Report which convention a number used. ``lpips`` (AlexNet / SqueezeNet, local weights only) is
implemented in :mod:`crossview.evaluation.synthesis_lpips` and re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation.synthesis_lpips import LPIPS, load_lpips, lpips

__all__ = [
    "LPIPS",
    "evaluate_batches",
    "evaluate_synthesis",
    "load_lpips",
    "lpips",
    "polar_baseline",
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


def _accumulate(
    predictors: dict[str, Callable[[Tensor], Tensor]],
    batches: Iterable[dict[str, Any]],
    convention: Convention,
    lpips_model: Any | None,
    device: torch.device | str,
) -> dict[str, dict[str, float]]:
    """Mean metrics of every predictor over the same batches (each batch is read once)."""
    sums: dict[str, dict[str, float]] = {name: {} for name in predictors}
    count = 0
    with torch.no_grad():
        for batch in batches:
            aerial = batch["aerial"].to(device)
            target = batch["ground"].to(device).float()
            for name, predict in predictors.items():
                pred = predict(aerial).float().clamp(0.0, 1.0)
                values = synthesis_metrics(pred, target, convention, lpips_model)
                for key, value in values.items():
                    sums[name][key] = sums[name].get(key, 0.0) + float(value.sum())
            count += aerial.shape[0]
    if count == 0:
        raise CrossviewError("synthesis evaluation: no samples to evaluate")
    return {
        name: {**{k: v / count for k, v in totals.items()}, "count": count}
        for name, totals in sums.items()
    }


def evaluate_batches(
    synthesize: Callable[[Tensor], Tensor],
    batches: Iterable[dict[str, Any]],
    convention: Convention = "sat2density",
    lpips_model: Any | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Mean metrics of ``synthesize(batch["aerial"])`` against ``batch["ground"]`` over batches.

    ``synthesize`` maps tiles ``(B, 3, S, S)`` in [0, 1] to panoramas in [0, 1], e.g.
    ``method.synthesize`` or :func:`polar_baseline` (CDE Table 4, first row). Infinite PSNR/SD
    (identical images) are kept as ``inf``. Returns the means and ``count``.
    """
    _check_convention(convention)
    return _accumulate({"pred": synthesize}, batches, convention, lpips_model, device)["pred"]


def evaluate_synthesis(
    method: Any,
    table: Any,
    splits: Iterable[str] | None = None,
    batch_size: int = 8,
    convention: Convention = "sat2density",
    lpips_model: Any | None = None,
    device: torch.device | str | None = None,
    limit: int | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per-split mean synthesis metrics of ``method.synthesize`` and of the polar baseline.

    The evaluator of ``crossview eval --synthesis``. Pairs are read by the data pipeline
    (:class:`~crossview.data.datasets.PairDataset` without augmentation: the ground image band-
    cropped and resized to ``method.input_spec.ground_hw``, its positive tile to ``aerial_size``),
    exactly as in training; a missing or corrupt file raises :class:`InputFileError`. The polar-
    transformed tile itself (CDE Table 4, first row) is scored on the same pairs for comparison.

    Args:
        method: A method with ``can_synthesize`` (e.g. ``cde``).
        table: The pairs (a :class:`~crossview.data.table.PairTable`).
        splits: Splits to evaluate; default every split present.
        batch_size: Images per forward pass.
        convention: ``"sat2density"`` (default) or ``"xfork"`` (see module docstring).
        lpips_model: An :class:`LPIPS` from :func:`load_lpips`, or ``None`` to skip LPIPS.
        device: Where to run (default :func:`crossview.device.get_device`).
        limit: Evaluate at most this many pairs per split (the first ones, in table order).

    Returns:
        ``{split: {"generator": m, "polar_baseline": m}}`` with
        ``m = {"psnr", "ssim", "sd", "rmse", ["lpips"], "count"}``.

    """
    from crossview.device import get_device

    if not getattr(method, "can_synthesize", False):
        raise ConfigError(f"method {getattr(method, 'name', method)!r} does not synthesize views")
    _check_convention(convention)
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected >= 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit: expected >= 1 pairs per split, got {limit}")
    dev = get_device(device)
    was_training = method.training
    method.eval().to(dev)
    if lpips_model is not None:
        lpips_model.to(dev)
    predictors = {
        "generator": method.synthesize,
        "polar_baseline": polar_baseline(tuple(method.input_spec.ground_hw)),
    }
    available = list(table.splits())
    chosen = list(splits) if splits is not None else available
    if not chosen:
        raise ConfigError(f"no split to evaluate (splits: {available})")
    results = {}
    try:
        for split in chosen:
            if split not in available:
                raise ConfigError(f"split {split!r} not in the data (splits: {available})")
            batches = _split_batches(table.select(split), method.input_spec, batch_size, limit)
            results[split] = _accumulate(predictors, batches, convention, lpips_model, dev)
    finally:
        method.train(was_training)
    return results


def pool_splits(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Pool an :func:`evaluate_synthesis` result over its splits: ``{predictor: means}``.

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


def _split_batches(
    table: Any, spec: Any, batch_size: int, limit: int | None
) -> Iterable[dict[str, Any]]:
    """Batches of un-augmented training pairs (``ground``, ``aerial``) of one split."""
    from torch.utils.data import DataLoader, Subset

    from crossview.data.datasets import PairDataset
    from crossview.progress import track

    dataset: Any = PairDataset(table, spec, None)
    if limit is not None and limit < len(dataset):
        dataset = Subset(dataset, range(limit))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    return track(loader, "synthesis eval", total=math.ceil(len(dataset) / batch_size))


def polar_baseline(ground_hw: tuple[int, int]) -> Callable[[Tensor], Tensor]:
    """Return CDE Table 4's "I_ps vs I_g" baseline: the polar-transformed tile as prediction."""
    from crossview.geometry.polar import polar_transform

    def predict(aerial: Tensor) -> Tensor:
        return polar_transform(aerial, ground_hw[0], ground_hw[1])

    return predict


def sample_grid(tile: Tensor, polar: Tensor, synthesized: Tensor | None, real: Tensor) -> Tensor:
    """Stack, per sample, the tile (resized to H x H, left-aligned), polar tile, synthesis, real.

    Args:
        tile: North-up tiles ``(B, 3, S, S)``.
        polar: Polar-transformed tiles ``(B, 3, H, W)``.
        synthesized: Synthesized panoramas ``(B, 3, H, W)`` or ``None``.
        real: Real street panoramas ``(B, 3, H, W)``.

    Returns:
        One image ``(3, B * rows * H, W)`` in [0, 1]; a missing synthesis is left out.

    """
    h, w = real.shape[-2:]
    side = min(h, w)
    small = F.interpolate(
        tile.float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True
    )
    tile_row = F.pad(small, (0, w - side, 0, h - side))
    rows = [
        tile_row,
        polar.float(),
        *([synthesized.float()] if synthesized is not None else []),
        real.float().to(tile_row.device),
    ]
    stacked = torch.stack([r.to(tile_row.device) for r in rows], dim=1)  # (B, rows, 3, H, W)
    b, n = stacked.shape[:2]
    return stacked.permute(2, 0, 1, 3, 4).reshape(3, b * n * h, w).clamp(0.0, 1.0)


def finite_or_none(value: float) -> float | None:
    """JSON-safe number (``inf``/``nan`` become ``None``)."""
    return value if math.isfinite(value) else None
