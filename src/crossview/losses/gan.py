"""Adversarial losses on discriminator logits (patch maps or vectors of any shape).

``vanilla`` is the conditional GAN objective of CDE eq. 5 / pix2pix written with logits:
D minimises ``BCE(D(real), 1) + BCE(D(fake), 0)`` and G uses the non-saturating form
``BCE(D(fake), 1) = -log D(fake)`` (Goodfellow et al. 2014, the "standard protocol" CDE App. B
cites). ``lsgan`` (least squares, targets 1/0) and ``hinge`` (SAGAN / BigGAN) are offered as
options; every loss is averaged over all logits. ``real_label < 1`` is one-sided label smoothing
(Salimans et al. 2016; the X-Fork code of Regmi & Shah uses 0.9 for D's real target and for G's
target): the "real" target of ``vanilla`` and ``lsgan`` becomes ``real_label``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError, unknown_name_error

GanKind = Literal["vanilla", "lsgan", "hinge"]
GAN_KINDS: tuple[str, ...] = ("vanilla", "lsgan", "hinge")


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise unknown_name_error("GAN loss", kind, list(GAN_KINDS))


def _check_real_label(kind: str, real_label: float) -> None:
    if not 0.0 < real_label <= 1.0:
        raise ConfigError(f"real_label: expected a value in (0, 1], got {real_label}")
    if kind == "hinge" and real_label != 1.0:
        raise ConfigError("real_label < 1 (label smoothing) has no meaning for the hinge loss")


def discriminator_loss(
    real_logits: Tensor, fake_logits: Tensor, kind: GanKind = "vanilla", real_label: float = 1.0
) -> Tensor:
    """Loss D minimises: real logits pushed to "real", fake logits to "fake".

    Args:
        real_logits: D's logits on real (condition, street) pairs, any shape.
        fake_logits: D's logits on (condition, synthesized) pairs, any shape.
        kind: ``vanilla`` (BCE, CDE eq. 5), ``lsgan`` or ``hinge``.
        real_label: Target of real logits (``vanilla``, ``lsgan``); below 1 smooths it.

    Returns:
        Scalar ``loss_real + loss_fake`` (each a mean over its logits).

    """
    _check_kind(kind)
    _check_real_label(kind, real_label)
    if kind == "vanilla":
        real = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, real_label))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    elif kind == "lsgan":
        real = ((real_logits - real_label) ** 2).mean()
        fake = (fake_logits**2).mean()
    else:
        real = F.relu(1.0 - real_logits).mean()
        fake = F.relu(1.0 + fake_logits).mean()
    return real + fake


def generator_loss(
    fake_logits: Tensor, kind: GanKind = "vanilla", real_label: float = 1.0
) -> Tensor:
    """Adversarial loss G minimises on D's logits for synthesized images (any shape).

    ``vanilla``: non-saturating ``-log sigmoid(l)``, or BCE against ``real_label`` when it is
    below 1; ``lsgan``: ``(l - real_label)^2``; ``hinge``: ``-l``.
    """
    _check_kind(kind)
    _check_real_label(kind, real_label)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(
            fake_logits, torch.full_like(fake_logits, real_label))
    if kind == "lsgan":
        return ((fake_logits - real_label) ** 2).mean()
    return -fake_logits.mean()
