"""CDE generator / discriminator / street encoder against the paper's Tables 5 and 6."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torchvision.models import resnet34

from crossview.errors import ConfigError
from crossview.methods import create_method
from crossview.methods.cde_discriminator import CDEDiscriminator
from crossview.methods.cde_generator import CDEGenerator
from crossview.methods.cde_street import StreetEncoder

TABLE5 = {  # Generator, input (3, 112, 616)
    "stem": (32, 112, 616),
    "enc1": (64, 56, 308),
    "enc2": (128, 28, 154),
    "enc3": (256, 14, 77),
    "bottleneck": (256, 14, 77),
    "up1": (128, 28, 154),
    "attention": (256, 28, 154),
    "up2": (64, 56, 308),
    "up3": (64, 112, 616),
    "output": (3, 112, 616),
}
TABLE6 = {  # Discriminator, input (6, 112, 616)
    "conv1": (64, 56, 308),
    "conv2": (128, 28, 154),
    "attention": (128, 28, 154),
    "conv3": (256, 14, 77),
    "conv4": (512, 14, 76),
    "output": (1, 14, 75),
}


@pytest.fixture(scope="module")
def paper_outputs():
    torch.manual_seed(0)
    gen, disc, street = CDEGenerator(), CDEDiscriminator(), StreetEncoder()
    x = torch.rand(1, 3, 112, 616) * 2 - 1
    with torch.no_grad():
        return gen.stages(x), disc.stages(x, x.flip(-1)), street(x), gen, disc


def test_generator_stages_match_table5(paper_outputs):
    stages = paper_outputs[0]
    assert list(stages) == list(TABLE5)
    assert {k: tuple(v.shape[1:]) for k, v in stages.items()} == TABLE5
    out = stages["output"]
    assert out.min() >= -1 and out.max() <= 1  # Tanh


def test_discriminator_stages_match_table6(paper_outputs):
    stages = paper_outputs[1]
    assert {k: tuple(v.shape[1:]) for k, v in stages.items()} == TABLE6
    assert stages["conv1"].min() < 0  # LeakyReLU, not ReLU


def test_street_encoder_matches_generator_latent(paper_outputs):
    street, latent = paper_outputs[2], paper_outputs[0]["bottleneck"]
    assert street.shape == latent.shape == (1, 256, 14, 77)


def _convs(module: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("which", ["generator", "discriminator"])
def test_spectral_norm_on_every_conv_but_the_last(paper_outputs, which):
    module = paper_outputs[3] if which == "generator" else paper_outputs[4]
    convs = _convs(module)
    last = "to_rgb" if which == "generator" else "output.1"
    plain = [n for n, m in convs if not parametrize.is_parametrized(m, "weight")]
    assert plain == [last]
    # G: stem 1 + 3 down x 3 + 6 bottleneck x 2 + 3 up x 3 + non-local 4 + last 1; D: 5 + 4.
    assert len(convs) == (36 if which == "generator" else 9)
    sn = [m for n, m in convs if n != last]
    assert all(type(m.parametrizations.weight[0]).__name__ == "_SpectralNorm" for m in sn)


def test_discriminator_leaky_slope():
    disc = CDEDiscriminator(width=0.125)
    slopes = {m.negative_slope for m in disc.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}


def test_generator_instance_norm_after_each_block():
    gen = CDEGenerator(width=0.125)
    for name in ("stem", "enc1", "enc2", "enc3", "up1", "up2", "up3"):
        assert isinstance(getattr(gen, name)[-1], nn.InstanceNorm2d), name
    assert len(gen.bottleneck) == 6


def test_paper_preset_descriptor_and_polar_sizes():
    method = create_method("cde", "paper", pretrained=None)
    assert method.input_spec.ground_hw == (112, 616) and method.input_spec.polar
    assert method.descriptor_dim == 8 * 256
    assert method.safa_sat.num_positions == 14 * 77
    cvusa = create_method("cde", "paper_cvusa", width=0.125, num_bottleneck=1, pretrained=None)
    polar = cvusa.polar(torch.rand(1, 3, 64, 64))
    assert polar.shape == (1, 3, 112, 616) and polar.min() >= -1 and polar.max() <= 1


def test_resnet34_weights_load_strictly(tmp_path):
    torch.manual_seed(1)
    state = resnet34(weights=None).state_dict()
    path = tmp_path / "resnet34.pth"
    torch.save(state, path)
    encoder = StreetEncoder()
    encoder.load_resnet34(path)
    assert torch.equal(encoder.layer3[5].conv2.weight, state["layer3.5.conv2.weight"])
    assert torch.equal(encoder.bn1.running_var, state["bn1.running_var"])
    del state["layer2.0.downsample.0.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"layer2\.0\.downsample\.0\.weight.*extra\.weight"):
        StreetEncoder().load_resnet34(path)


def test_state_dict_round_trip_is_strict_and_exact():
    a = create_method("cde", "tiny").eval()
    b = create_method("cde", "tiny", pretrained=None)
    b.load_state_dict(a.state_dict(), strict=True)
    b.eval()
    tiles = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(a.synthesize(tiles), b.synthesize(tiles))
        assert torch.allclose(a.encode_aerial(tiles), b.encode_aerial(tiles))


@pytest.mark.parametrize(
    "override",
    [
        {"ground_hw": (30, 176)},
        {"width": 0.0},
        {"synthesis": False, "retrieval": False},
        {"synthesis": False, "retrieval_features": "synthesized"},
        {"gan_loss": "wgan"},
    ],
)
def test_bad_config_is_rejected(override):
    with pytest.raises(ConfigError):
        create_method("cde", "tiny", **override)


def test_non_local_block_is_embedded_gaussian_attention():
    from crossview.methods.cde_blocks import NonLocalBlock

    block = NonLocalBlock(16, pool=True).eval()
    with torch.no_grad():
        block.gamma.fill_(0.5)
        x = torch.randn(2, 16, 6, 10)
        theta = block.theta(x).flatten(2).transpose(1, 2)  # (B, N, C/8) queries
        phi = torch.nn.functional.max_pool2d(block.phi(x), 2).flatten(2).transpose(1, 2)
        g = torch.nn.functional.max_pool2d(block.g(x), 2).flatten(2).transpose(1, 2)
        attended = torch.nn.functional.scaled_dot_product_attention(theta, phi, g, scale=1.0)
        want = x + 0.5 * block.out(attended.transpose(1, 2).reshape(2, 8, 6, 10))
        assert torch.allclose(block(x), want, atol=1e-5)
        block.gamma.zero_()
        assert torch.equal(block(x), x)  # starts as the identity (SAGAN)
