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
    sums: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for batch in batches:
            pred = synthesize(batch["aerial"].to(device)).float().clamp(0.0, 1.0)
            values = synthesis_metrics(
                pred, batch["ground"].to(device).float(), convention, lpips_model
            )
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + float(value.sum())
            count += pred.shape[0]
    if count == 0:
        raise CrossviewError("synthesis evaluation: no samples to evaluate")
    return {**{k: v / count for k, v in sums.items()}, "count": count}


def evaluate_synthesis(
    method: Any,
    table: Any,
    splits: Iterable[str] | None = None,
    batch_size: int = 8,
    convention: Convention = "sat2density",
    lpips_model: Any | None = None,
    device: torch.device | str | None = None,
    limit: int | None = None,
) -> dict[str, dict[str, float]]:
    """Per-split mean synthesis metrics of ``method.synthesize`` on a :class:`PairTable`.

    For ``crossview eval --synthesis``. Each pair's ground image is resized (area) to
    ``method.input_spec.ground_hw`` and its positive tile (bilinear, antialiased) to
    ``aerial_size``; a missing or corrupt file raises :class:`InputFileError`.

    Args:
        method: A method with ``can_synthesize`` (e.g. ``cde``).
        table: The pairs (a :class:`~crossview.data.table.PairTable`).
        splits: Splits to evaluate; default every split present.
        batch_size: Images per forward pass.
        convention: ``"sat2density"`` (default) or ``"xfork"`` (see module docstring).
        lpips_model: An :class:`LPIPS` from :func:`load_lpips`, or ``None`` to skip LPIPS.
        device: Where to run (default :func:`crossview.device.get_device`).
        limit: Evaluate at most this many pairs per split.

    Returns:
        ``{split: {"psnr", "ssim", "sd", "rmse", ["lpips"], "count"}}``.

    """
    from crossview.device import get_device

    if not getattr(method, "can_synthesize", False):
        raise ConfigError(f"method {getattr(method, 'name', method)!r} does not synthesize views")
    dev = get_device(device)
    method.eval().to(dev)
    if lpips_model is not None:
        lpips_model.to(dev)
    results = {}
    for split in list(splits) if splits is not None else table.splits():
        pairs = table.select(split).pairs[:limit]
        batches = _table_batches(table, pairs, method.input_spec, batch_size)
        results[split] = evaluate_batches(method.synthesize, batches, convention, lpips_model, dev)
    return results


def _table_batches(
    table: Any, pairs: list[Any], spec: Any, batch_size: int
) -> Iterable[dict[str, Tensor]]:
    from pathlib import Path

    from crossview.io import load_image_tensor
    from crossview.progress import track

    def resolve(path: Path) -> Path:
        return path if Path(path).is_absolute() else Path(table.root) / path

    grounds, tiles = [], []
    for pair in track(pairs, "synthesis eval"):
        ground = load_image_tensor(resolve(pair.ground)).unsqueeze(0)
        tile = load_image_tensor(resolve(table.references[pair.positive].path)).unsqueeze(0)
        grounds.append(F.interpolate(ground, size=tuple(spec.ground_hw), mode="area"))
        tiles.append(
            F.interpolate(
                tile,
                size=(spec.aerial_size,) * 2,
                mode="bilinear",
                align_corners=False,
                antialias=True,
            ).clamp(0, 1)
        )
        if len(grounds) == batch_size:
            yield {"ground": torch.cat(grounds), "aerial": torch.cat(tiles)}
            grounds, tiles = [], []
    if grounds:
        yield {"ground": torch.cat(grounds), "aerial": torch.cat(tiles)}


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
