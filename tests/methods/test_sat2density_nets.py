"""Sat2Density networks: shapes at the paper's sizes (App. A, §4.1), illumination, critics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crossview.errors import ConfigError
from crossview.geometry.panorama import perspective_from_equirect
from crossview.geometry.volume import add_ground_slice
from crossview.methods.sat2density_disc import PatchDiscriminator, Sat2DensityDiscriminator
from crossview.methods.sat2density_nets import DensityNet, RenderNet
from crossview.methods.sat2density_style import StyleEncoder, StyleMLP, sky_histogram


def test_density_net_paper_shapes_on_meta():
    # §4.1: 256x256 tiles -> 256x256x65 volume (64 predicted slices + the fixed ground slice).
    with torch.device("meta"):
        net = DensityNet(64, 30.0)  # code: 32 filters, 4 down-samplings, App. A: 6 res blocks
        out = add_ground_slice(net(torch.empty(2, 3, 256, 256)))
    assert out.shape == (2, 65, 256, 256)
    assert sum(isinstance(m, nn.PReLU) for m in net.modules()) == 1 + 4  # stem + down-sampling
    assert len([m for m in net.encoder.body if type(m).__name__ == "ResBlock"]) == 6
    assert net.encoder.out_channels == 32 * 16


def test_render_net_paper_shapes_and_modulated_blocks_on_meta():
    with torch.device("meta"):
        net = RenderNet(4)  # colour + depth
        out = net(torch.empty(2, 4, 128, 512), torch.empty(2, 256))
    assert out.shape == (2, 3, 128, 512)
    # Fig. 7: the last three of the four up-sampling blocks (256, 128, 64 channels) are modulated.
    assert [lin.out_features for lin in net.style] == [2 * 256, 2 * 128, 2 * 64]
    with torch.device("meta"), pytest.raises(ConfigError, match="illumination"):
        net(torch.empty(1, 4, 128, 512))
    with torch.device("meta"), pytest.raises(ConfigError, match=r"rendered: expected \(B, 4"):
        net(torch.empty(1, 3, 128, 512), torch.empty(1, 256))


def test_only_last_three_blocks_see_the_style():
    net = RenderNet(3, filters=4, downsamples=4, res_blocks=1, style_channels=8,
                    spectral=False).eval()
    x, s1, s2 = torch.rand(1, 3, 32, 64), torch.rand(1, 8), torch.rand(1, 8)
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o)) for b in net.up]
    net(x, s1)
    net(x, s2)
    for h in hooks:
        h.remove()
    first, second = seen[:4], seen[4:]
    assert torch.equal(first[0], second[0])
    assert all(not torch.allclose(a, b) for a, b in zip(first[1:], second[1:], strict=True))
    out = net(x, s1).detach()
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_density_mappings_are_non_negative_and_start_near_transparent():
    torch.manual_seed(0)
    net = DensityNet(7, 30.0, filters=4, downsamples=2, res_blocks=1, initial_density=0.03)
    sigma = net(torch.rand(2, 3, 16, 16)).detach()
    assert sigma.shape == (2, 7, 16, 16) and float(sigma.min()) > 0
    assert float(sigma.max()) <= 100.0
    assert abs(float(sigma.log().median()) - math.log(0.03)) < 2.0
    relu = DensityNet(7, 30.0, filters=4, downsamples=2, res_blocks=1, activation="relu")
    out = relu(torch.rand(2, 3, 16, 16)).detach()
    assert float(out.min()) == 0.0 and float((out == 0).float().mean()) > 0.1
    with pytest.raises(ConfigError, match="density_activation"):
        DensityNet(7, 30.0, activation="softplus")
    with pytest.raises(ConfigError, match=r"aerial: expected \(B, 3, H, W\)"):
        net(torch.rand(1, 3, 18, 16))


def test_sky_histogram_known_values():
    pano = torch.zeros(2, 3, 2, 4)
    pano[0, 0] = 0.05  # red 0.05 -> bin 4 of 90
    pano[0, 1] = 1.0  # green 1.0 -> last bin
    pano[0, 2, :, :2], pano[0, 2, :, 2:] = 0.5, 0.9  # blue: bins 45 and 81
    sky = torch.zeros(2, 1, 2, 4)
    sky[0, :, :, 1:3] = 1.0  # four sky pixels, two of each blue value
    hist = sky_histogram(pano, sky)
    assert hist.shape == (2, 270)
    want = torch.zeros(270)
    want[4], want[90 + 89], want[180 + 45], want[180 + 81] = 1.0, 1.0, 0.5, 0.5
    torch.testing.assert_close(hist[0], want)
    assert float(hist[1].abs().sum()) == 0.0  # no sky, no histogram
    with pytest.raises(ConfigError, match="sky"):
        sky_histogram(pano, sky[:, :, :1])


def test_style_encoder_and_mlp():
    enc, mlp = StyleEncoder(), StyleMLP()
    hist = torch.rand(3, 270)
    mu, logvar, z = enc.train()(hist)
    assert mu.shape == logvar.shape == z.shape == (3, 128)
    assert float(mu.abs().max()) < 1 and float(logvar.abs().max()) < 1 and not torch.equal(z, mu)
    mu2, _, z2 = enc.eval()(hist)
    assert torch.equal(z2, mu2) and torch.allclose(mu2, mu)
    feature = mlp(z2)
    assert feature.shape == (3, 256) and torch.isfinite(mlp(torch.zeros(1, 128))).all()
    # The shared MLP sees the L2-normalised code: scaling a code changes nothing.
    torch.testing.assert_close(mlp(3.0 * z2), feature)
    with pytest.raises(ConfigError, match="histogram"):
        enc(torch.rand(3, 90))


def test_discriminators_at_paper_sizes():
    disc = Sat2DensityDiscriminator((128, 512), 180.0)  # code: 64 filters, 3 layers
    pano = torch.rand(2, 3, 128, 512)
    views = disc.draw_views(2, torch.Generator().manual_seed(0))
    assert float(views[:, 0].min()) >= 0 and float(views[:, 0].max()) < 360
    assert float(views[:, 1].abs().max()) <= 40
    inputs = disc.views(pano, views)
    assert [tuple(x.shape[-2:]) for x in inputs] == [(64, 256), (64, 64), (32, 32)]  # App. A
    crop = perspective_from_equirect(pano, views[:, 0], views[:, 1], 100.0, (64, 64), 180.0)
    torch.testing.assert_close(inputs[1], crop)  # FOV 100 perspective crop
    outs = disc(pano, views)
    assert [tuple(o[0].shape) for o in outs] == [(2, 1, 8, 32), (2, 1, 8, 8), (2, 1, 4, 4)]
    assert [len(o[1]) for o in outs] == [4, 4, 4]
    assert PatchDiscriminator(3, 64, 3).blocks[-1][0].stride == (1, 1)
