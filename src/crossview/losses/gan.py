"""Adversarial losses on discriminator logits (patch maps or vectors of any shape).

``vanilla`` is the conditional GAN objective of CDE eq. 5 / pix2pix written with logits:
D minimises ``BCE(D(real), 1) + BCE(D(fake), 0)`` and G uses the non-saturating form
``BCE(D(fake), 1) = -log D(fake)`` (Goodfellow et al. 2014, the "standard protocol" CDE App. B
cites). ``lsgan`` (least squares, targets 1/0) and ``hinge`` (SAGAN / BigGAN) are offered as
options; every loss is averaged over all logits.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import unknown_name_error

GanKind = Literal["vanilla", "lsgan", "hinge"]
GAN_KINDS: tuple[str, ...] = ("vanilla", "lsgan", "hinge")


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise unknown_name_error("GAN loss", kind, list(GAN_KINDS))


def discriminator_loss(
    real_logits: Tensor, fake_logits: Tensor, kind: GanKind = "vanilla"
) -> Tensor:
    """Loss D minimises: real logits pushed to "real", fake logits to "fake".

    Args:
        real_logits: D's logits on real (condition, street) pairs, any shape.
        fake_logits: D's logits on (condition, synthesized) pairs, any shape.
        kind: ``vanilla`` (BCE, CDE eq. 5), ``lsgan`` or ``hinge``.

    Returns:
        Scalar ``loss_real + loss_fake`` (each a mean over its logits).

    """
    _check_kind(kind)
    if kind == "vanilla":
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    elif kind == "lsgan":
        real = ((real_logits - 1.0) ** 2).mean()
        fake = (fake_logits**2).mean()
    else:
        real = F.relu(1.0 - real_logits).mean()
        fake = F.relu(1.0 + fake_logits).mean()
    return real + fake


def generator_loss(fake_logits: Tensor, kind: GanKind = "vanilla") -> Tensor:
    """Adversarial loss G minimises on D's logits for synthesized images (any shape).

    ``vanilla``: non-saturating ``-log sigmoid(l)``; ``lsgan``: ``(l - 1)^2``; ``hinge``: ``-l``.
    """
    _check_kind(kind)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "lsgan":
        return ((fake_logits - 1.0) ** 2).mean()
    return -fake_logits.mean()
