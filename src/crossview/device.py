"""The one device helper: CUDA when present, else CPU; overridable."""

from __future__ import annotations

import os

import torch

from crossview.errors import ConfigError

DEVICE_ENV = "CROSSVIEW_DEVICE"
"""Environment variable that overrides the automatic choice (e.g. ``cpu``, ``cuda:1``)."""


def get_device(requested: str | torch.device | None = None) -> torch.device:
    """Return the device to run on.

    Args:
        requested: An explicit device (``--device`` on the CLI). ``None`` or ``"auto"`` falls back
            to the ``CROSSVIEW_DEVICE`` environment variable, then CUDA if available, else CPU.
    """
    choice = requested if requested not in (None, "auto") else os.environ.get(DEVICE_ENV, "auto")
    if choice in (None, "auto", ""):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device {choice!r} is not a valid torch device: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {choice!r} requested but CUDA is not available on this machine")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype that helps on ``device`` (bf16/fp16 on CUDA), or None on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
