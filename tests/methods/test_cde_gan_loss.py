"""GAN losses of crossview.losses.gan against hand-written formulas."""

from __future__ import annotations

import math

import pytest
import torch

from crossview.errors import ConfigError
from crossview.losses.gan import discriminator_loss, generator_loss

REAL = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
FAKE = torch.tensor([-3.0, 1.5, 0.25])


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_vanilla_is_the_conditional_gan_log_loss():
    d = sum(-_log_sigmoid(x) for x in REAL.flatten().tolist()) / 4
    d += sum(-math.log(1 - 1 / (1 + math.exp(-x))) for x in FAKE.tolist()) / 3
    assert discriminator_loss(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    g = sum(-_log_sigmoid(x) for x in FAKE.tolist()) / 3  # non-saturating -log D(G(x))
    assert generator_loss(FAKE).item() == pytest.approx(g, rel=1e-6)


def test_lsgan_and_hinge():
    d_ls = (
        sum((x - 1) ** 2 for x in REAL.flatten().tolist()) / 4
        + sum(x**2 for x in FAKE.tolist()) / 3
    )
    assert discriminator_loss(REAL, FAKE, "lsgan").item() == pytest.approx(d_ls, rel=1e-6)
    assert generator_loss(FAKE, "lsgan").item() == pytest.approx(
        sum((x - 1) ** 2 for x in FAKE.tolist()) / 3, rel=1e-6
    )
    d_h = (
        sum(max(0, 1 - x) for x in REAL.flatten().tolist()) / 4
        + sum(max(0, 1 + x) for x in FAKE.tolist()) / 3
    )
    assert discriminator_loss(REAL, FAKE, "hinge").item() == pytest.approx(d_h, rel=1e-6)
    assert generator_loss(FAKE, "hinge").item() == pytest.approx(-sum(FAKE.tolist()) / 3, rel=1e-6)


def test_gradients_push_the_right_way():
    fake = FAKE.clone().requires_grad_(True)
    generator_loss(fake).backward()
    assert (fake.grad < 0).all()  # G raises D's logit on its images
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    discriminator_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()


def test_unknown_kind():
    with pytest.raises(ConfigError, match="vanilla"):
        generator_loss(FAKE, "wasserstein")  # type: ignore[arg-type]
