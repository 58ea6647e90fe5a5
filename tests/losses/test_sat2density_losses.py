"""Sat2Density's losses on known values: L1, L2, KL, feature matching, opacity, perceptual."""

from __future__ import annotations

import math

import pytest
import torch

from crossview.errors import ConfigError
from crossview.losses.feature_matching import feature_matching_loss
from crossview.losses.gan import discriminator_loss, generator_loss
from crossview.losses.kl import gaussian_kl
from crossview.losses.opacity import non_sky_opacity_loss
from crossview.losses.perceptual import VGG19_RELU, VGGPerceptualLoss
from crossview.losses.reconstruction import l1_loss, l2_loss


def test_l1_l2_known_values_and_shape_check():
    pred = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    target = torch.tensor([[1.0, 1.0], [0.0, 3.5]])
    assert float(l1_loss(pred, target)) == pytest.approx((1 + 0 + 2 + 0.5) / 4)
    assert float(l2_loss(pred, target)) == pytest.approx((1 + 0 + 4 + 0.25) / 4)
    with pytest.raises(ConfigError, match="same shape"):
        l1_loss(pred, target[:1])


def test_gaussian_kl_known_values():
    assert float(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    mu = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(4.0), 0.0]])
    first = 0.5 * (1 + 4)  # -1/2 sum(1 + 0 - mu^2 - 1)
    second = -0.5 * (1 + math.log(4.0) - 4.0)
    assert float(gaussian_kl(mu, logvar)) == pytest.approx((first + second) / 2)
    with pytest.raises(ConfigError, match="gaussian_kl"):
        gaussian_kl(mu, logvar[:, :1])


def test_feature_matching_mean_over_discriminators_and_real_detached():
    fake = [[torch.zeros(1, 2, requires_grad=True), torch.ones(2, 2, requires_grad=True)],
            [torch.full((1, 3), 2.0, requires_grad=True)]]
    real = [[torch.ones(1, 2, requires_grad=True), torch.ones(2, 2)], [torch.zeros(1, 3)]]
    loss = feature_matching_loss(fake, real)
    assert float(loss.detach()) == pytest.approx(((1.0 + 0.0) + 2.0) / 2)
    loss.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None
    with pytest.raises(ConfigError, match="discriminators"):
        feature_matching_loss(fake, real[:1])


def test_non_sky_opacity_loss():
    opacity = torch.tensor([1.0, 0.3, 0.8, 0.0]).view(1, 1, 2, 2)
    sky = torch.tensor([0.0, 1.0, 0.0, 1.0]).view(1, 1, 2, 2)
    assert float(non_sky_opacity_loss(opacity, sky)) == pytest.approx((0 + 0.3 + 0.2 + 0) / 4)
    with pytest.raises(ConfigError, match="opacity"):
        non_sky_opacity_loss(opacity, sky[:, :, :1])


def test_non_saturating_gan_is_softplus():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    assert float(generator_loss(logits)) == pytest.approx(
        float(torch.log1p(torch.exp(-logits)).mean()))
    want = float(torch.log1p(torch.exp(-logits)).mean() + torch.log1p(torch.exp(logits)).mean())
    assert float(discriminator_loss(logits, logits)) == pytest.approx(want)


def test_perceptual_loss_random_weights_layers_and_gradients():
    loss_fn = VGGPerceptualLoss()
    assert len(loss_fn.features) == VGG19_RELU["relu5_1"] + 1
    assert all(not p.requires_grad for p in loss_fn.parameters())
    x = torch.rand(2, 3, 32, 32)
    assert float(loss_fn(x, x)) == 0.0
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    target = torch.rand(2, 3, 32, 32, requires_grad=True)
    value = loss_fn(pred, target)
    # Independent computation: the ReLU outputs of torchvision's layers, ImageNet-normalised input.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def feats(img):
        out, h = {}, (img - mean) / std
        for i, layer in enumerate(loss_fn.features):
            h = layer(h)
            out[i] = h
        return out

    fp, ft = feats(pred), feats(target)
    want = sum(w * (fp[i] - ft[i]).abs().mean() for w, i in zip((0.125, 0.25, 1.0), (11, 20, 29),
                                                             strict=True))
    assert float(value.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    value.backward()
    assert pred.grad is not None and target.grad is None
    loss_fn.train()
    assert not loss_fn.features.training


def test_perceptual_loss_reads_local_vgg19_files(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    source = make_layers(cfgs["E"])
    features = {f"features.{k}": v for k, v in source.state_dict().items()}
    path = tmp_path / "vgg19_features.pth"
    torch.save(features, path)
    loss_fn = VGGPerceptualLoss(path)
    torch.testing.assert_close(loss_fn.features[28].weight, source[28].weight)
    # The full classification model's file (as torchvision publishes it), small stand-in heads.
    full = tmp_path / "vgg19_full.pth"
    heads = {f"classifier.{i}.{p}": torch.zeros(1) for i in (0, 3, 6) for p in ("weight", "bias")}
    torch.save({**features, **heads}, full)
    torch.testing.assert_close(VGGPerceptualLoss(full).features[0].weight, source[0].weight)
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(ConfigError, match="not a torchvision vgg19"):
        VGGPerceptualLoss(bad)
    with pytest.raises(ConfigError, match="file not found"):
        VGGPerceptualLoss(tmp_path / "missing.pth")
    with pytest.raises(ConfigError, match="layers"):
        VGGPerceptualLoss(layers=("relu9_9",), layer_weights=(1.0,))
