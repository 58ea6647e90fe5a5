"""One-sided label smoothing of the GAN losses (``real_label``, X-Fork code: 0.9)."""

from __future__ import annotations

import math

import pytest
import torch

from crossview.errors import ConfigError
from crossview.losses.gan import discriminator_loss, generator_loss


def _bce(logit: float, target: float) -> float:
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_vanilla_with_smoothed_real_label_is_bce_against_it():
    real, fake = torch.tensor([[0.3, -1.2]]), torch.tensor([[2.0, -0.5]])
    want_d = (_bce(0.3, 0.9) + _bce(-1.2, 0.9)) / 2 + (_bce(2.0, 0.0) + _bce(-0.5, 0.0)) / 2
    assert discriminator_loss(real, fake, "vanilla", real_label=0.9).item() == pytest.approx(want_d)
    want_g = (_bce(2.0, 0.9) + _bce(-0.5, 0.9)) / 2
    assert generator_loss(fake, "vanilla", real_label=0.9).item() == pytest.approx(want_g)


def test_default_real_label_is_unchanged_and_lsgan_uses_it():
    fake = torch.tensor([0.2, 1.5])
    assert torch.equal(generator_loss(fake), generator_loss(fake, real_label=1.0))
    assert generator_loss(fake, "lsgan", 0.9).item() == pytest.approx(
        ((0.2 - 0.9) ** 2 + (1.5 - 0.9) ** 2) / 2)


@pytest.mark.parametrize(("kind", "label"), [("vanilla", 0.0), ("vanilla", 1.2), ("hinge", 0.9)])
def test_bad_real_label_raises(kind, label):
    with pytest.raises(ConfigError, match="real_label|label smoothing"):
        generator_loss(torch.zeros(2), kind, label)
