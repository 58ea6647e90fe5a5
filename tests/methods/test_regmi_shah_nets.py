"""Regmi-Shah networks at the paper's input sizes (SPECS.md §9), shapes on the meta device."""

from __future__ import annotations

import kornia
import pytest
import torch

from crossview.errors import ConfigError
from crossview.methods import create_method
from crossview.methods.regmi_shah_nets import (
    MatchEncoder,
    PatchDiscriminator,
    Stream,
    XForkGenerator,
    canny_edges,
    descriptor_fc,
    same_padding,
)

PAPER_CHANNELS = (64, 128, 256, 512, 512, 512, 512, 512)


def _shapes(maps):
    return {k: tuple(v.shape[1:]) for k, v in maps.items()}


def test_xfork_paper_layout_stages():
    # §3.1 / §4.2: 256x1024 -> 1x4 bottleneck reshaped to 2x2, six shared decoder blocks, two
    # blocks per head up to 512x512 (pix2pix channel widths).
    with torch.device("meta"):
        g = XForkGenerator((256, 1024), 512, ngf=64, layout="paper")
        maps = g.feature_maps(torch.empty(2, 4, 256, 1024))
    enc = [(64, 128, 512), (128, 64, 256), (256, 32, 128), (512, 16, 64), (512, 8, 32),
           (512, 4, 16), (512, 2, 8), (512, 1, 4)]
    dec = [(512, 4, 4), (512, 8, 8), (512, 16, 16), (512, 32, 32), (256, 64, 64),
           (128, 128, 128)]
    want = {f"e{i}": s for i, s in enumerate(enc, 1)}
    want["square"] = (512, 2, 2)
    want.update({f"d{j}": s for j, s in enumerate(dec, 1)})
    want.update(image=(3, 512, 512), seg=(3, 512, 512))
    assert _shapes(maps) == want
    # Two blocks per head (ConvT 128->64 at 256 px, ConvT 64->3 at 512 px), not shared.
    convs = [m for m in g.image_head.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(128, 64), (64, 3)]
    assert not {id(p) for p in g.image_head.parameters()} & {id(p) for p in g.seg_head.parameters()}


def test_xfork_code_layout_stages():
    # The Lua code: seven convs to 512x2x8, reshaped to 512x4x4, five shared blocks.
    with torch.device("meta"):
        g = XForkGenerator((256, 1024), 512, ngf=64, layout="code")
        maps = g.feature_maps(torch.empty(1, 4, 256, 1024))
    assert tuple(maps["e7"].shape[1:]) == (512, 2, 8) and "e8" not in maps
    assert tuple(maps["square"].shape[1:]) == (512, 4, 4)
    assert [tuple(maps[f"d{j}"].shape[1:]) for j in range(1, 6)] == [
        (512, 8, 8), (512, 16, 16), (512, 32, 32), (256, 64, 64), (128, 128, 128)]
    assert "d6" not in maps and tuple(maps["image"].shape[1:]) == (3, 512, 512)


def test_bottleneck_reshape_is_per_channel_row_major():
    g = XForkGenerator((32, 128), 64, ngf=4).eval()
    x = torch.randn(1, 4, 32, 128)
    maps = g.feature_maps(x)
    bottleneck = torch.relu(maps[f"e{len(g.encoder)}"])  # (1, C, 1, 4)
    assert torch.equal(maps["square"][0, :, 0, :], bottleneck[0, :, 0, :2])
    assert torch.equal(maps["square"][0, :, 1, :], bottleneck[0, :, 0, 2:])


def test_discriminator_stages_paper_size():
    with torch.device("meta"):
        d = PatchDiscriminator(64, 4)
        x = torch.empty(2, 3, 512, 512)
        shapes = []
        for layer in d.layers:
            x = layer(x)
            if isinstance(layer, torch.nn.Conv2d):
                shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 256, 256), (128, 128, 128), (256, 64, 64), (512, 32, 32),
                      (512, 31, 31), (1, 30, 30)]


@pytest.mark.parametrize(("size", "want"), [(224, (1, 1)), (77, (1, 2)), (7, (1, 2)),
                                            (2, (1, 1)), (1, (1, 2))])
def test_tf_same_padding(size, want):
    assert same_padding(size) == want
    before, after = want
    assert (size + before + after - 4) // 2 + 1 == -(-size // 2)  # output = ceil(size / 2)


def test_matching_encoder_conv1_to_conv8_paper_sizes():
    with torch.device("meta"):
        enc = MatchEncoder(PAPER_CHANNELS)
        ground = enc.feature_maps(torch.empty(2, 3, 224, 1232))
        aerial = enc.feature_maps(torch.empty(2, 3, 512, 512))
    ground_hw = [(112, 616), (56, 308), (28, 154), (14, 77), (7, 39), (4, 20), (2, 10), (1, 5)]
    aerial_hw = [(256, 256), (128, 128), (64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    assert [tuple(m.shape[1:]) for m in ground] == [
        (c, *hw) for c, hw in zip(PAPER_CHANNELS, ground_hw, strict=True)]
    assert [tuple(m.shape[1:]) for m in aerial] == [
        (c, *hw) for c, hw in zip(PAPER_CHANNELS, aerial_hw, strict=True)]
    # conv6-conv8 flattened: 105 x 512 (ground) and 84 x 512 (aerial), the code's FC inputs.
    assert enc.output_features((224, 1232)) == 53760
    assert enc.output_features((512, 512)) == 43008


def test_descriptors_are_1000d_at_paper_sizes():
    with torch.device("meta"):
        enc = MatchEncoder(PAPER_CHANNELS)
        ground = Stream(enc, descriptor_fc(53760, 1000, 0.1))
        aerial = Stream(MatchEncoder(PAPER_CHANNELS), descriptor_fc(43008, 1000, 0.1))
        f_g = ground(torch.empty(3, 3, 224, 1232))
        f_a = aerial(torch.empty(3, 3, 512, 512))
        fused = descriptor_fc(2000, 1000, 0.01)(torch.cat([f_g, f_a], 1))
    assert f_g.shape == f_a.shape == fused.shape == (3, 1000)


def test_descriptor_fc_init():
    fc = descriptor_fc(300, 200, 0.1)
    assert fc.weight.abs().max() <= 0.01 + 1e-9  # truncated at 2 std
    assert 0.004 < fc.weight.std() < 0.005  # truncation narrows the std a little
    assert torch.all(fc.bias == 0.1)


def test_edge_channel_is_kornia_canny_of_the_greyscale_input():
    method = create_method("regmi_shah", "tiny", xfork_ground_hw=(32, 128))
    g = torch.Generator().manual_seed(0)
    ground = torch.rand(2, 3, 32, 128, generator=g)
    ground[:, :, 10:20, 40:70] = 0.9  # a bright block: clear edges
    x = method.xfork_input(ground)
    grey = 0.299 * ground[:, :1] + 0.587 * ground[:, 1:2] + 0.114 * ground[:, 2:]
    _, want = kornia.filters.canny(grey, 50 / 255, 100 / 255, kernel_size=1)
    assert x.shape == (2, 4, 32, 128)
    assert torch.equal(x[:, 3:], want)
    assert 0 < x[:, 3].sum() < x[:, 3].numel()
    assert torch.allclose(x[:, :3], ground * 2 - 1)


def test_edges_at_the_xfork_size_when_it_differs_from_the_input():
    method = create_method("regmi_shah", "tiny", xfork_ground_hw=(64, 256))
    ground = torch.rand(1, 3, 32, 128)
    x = method.xfork_input(ground)
    resized = torch.nn.functional.interpolate(ground, size=(64, 256), mode="bilinear",
                                              align_corners=False, antialias=True).clamp(0, 1)
    assert x.shape == (1, 4, 64, 256)
    assert torch.equal(x[:, 3:], canny_edges(resized))


def test_bad_sizes_raise():
    with pytest.raises(ConfigError, match="square"):
        XForkGenerator((32, 64), 64)  # 1x2 bottleneck
    with pytest.raises(ConfigError, match="aerial_size"):
        XForkGenerator((32, 128), 48)
    with pytest.raises(ConfigError, match="canny"):
        canny_edges(torch.rand(1, 3, 8, 8), (100.0, 50.0))
