"""Argument checks shared by the geometry functions: one-line errors naming the argument."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from crossview.errors import ConfigError


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name}: expected a positive integer, got {value!r} (zero-size request)")
    return int(value)


def check_finite(value: float, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """Return ``value`` as a float if it is finite and inside ``[low, high]``.

    ``low_open`` makes the lower bound exclusive (e.g. a field of view must be ``> 0``).
    """
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    below = low is not None and (out <= low if low_open else out < low)
    if below or (high is not None and out > high):
        lo = "(" if low_open else "["
        raise ConfigError(f"{name}: expected a value in {lo}{low}, {high}], got {value!r}")
    return out


def check_image_batch(x: object, name: str, square: bool = False) -> Tensor:
    """Check that ``x`` is a floating-point ``(N, C, H, W)`` tensor with non-zero H and W.

    Args:
        x: The candidate tensor.
        name: Argument name used in the error message.
        square: Also require ``H == W`` (aerial tiles).

    """
    if not isinstance(x, Tensor):
        raise ConfigError(f"{name}: expected a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ConfigError(f"{name}: expected shape (N, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ConfigError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ConfigError(f"{name}: expected non-empty images, got shape {tuple(x.shape)}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ConfigError(
            f"{name}: aerial tiles must be square, got {x.shape[-2]}x{x.shape[-1]} (HxW)"
        )
    return x


def sampling_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype to resample in: float16/bfloat16 grids would misplace taps by ~0.1 px at 256 px."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32
