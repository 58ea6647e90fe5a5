"""Networks of Regmi & Shah (ICCV 2019): X-Fork generator, PatchGAN, matching encoders.

* :class:`XForkGenerator` (paper §3.1, §4.2): a 4-channel panorama (RGB in [-1, 1] + Canny
  edges, :func:`canny_edges`) goes through 4x4 stride-2 conv-BN-LeakyReLU blocks down to a
  rectangular bottleneck (paper: 1x4 from 256x1024), reshaped per channel to a square (2x2);
  a shared decoder of ReLU-ConvT-BN blocks then forks into two heads of two blocks each, the
  aerial image and its colour segmentation map (Tanh). ``layout="code"`` is the authors' Lua
  variant (SPECS.md §9): one conv less (2x8 reshaped to 4x4) and no ReLU before each head.
* :class:`PatchDiscriminator`: the unconditional PatchGAN of the code (aerial image only).
* :class:`MatchEncoder` + :class:`Stream`: the 8-layer conv encoder (4x4 stride 2, TF 'SAME'
  padding, ReLU, no BN, dropout on the aggregated layers), whose last three maps (conv6-conv8)
  are flattened and concatenated (multi-scale aggregation), then a linear FC to ``D`` and L2.

Channel widths of G and D scale with ``ngf`` / ``ndf`` (64 in the paper); decoder widths are
fixed by the distance to the output: ``ngf * min(8, S / (2 r))`` channels at resolution ``r``
(paper: 512 down to 64 at 256 px, then 3).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.errors import ConfigError
from crossview.methods.base import check_shape, l2_normalize

GAN_INIT_STD = 0.02
"""Std of the normal init of G and D convolutions (pix2pix / X-Fork code)."""
FC_INIT_STD = 0.005
"""Std of the truncated-normal init of the descriptor FC layers (SPECS §9)."""


def canny_edges(images: Tensor, thresholds: tuple[float, float] = (50.0, 100.0)) -> Tensor:
    """Canny edge map of RGB images ``(B, 3, H, W)`` in [0, 1]: ``(B, 1, H, W)`` in {0, 1}.

    kornia's Canny on the greyscale image (``kornia.color.rgb_to_grayscale``) without a
    Gaussian blur (``kernel_size=1``: OpenCV's ``cv2.Canny``, which the authors used, does not
    blur). ``thresholds`` are given on OpenCV's 0-255 grey scale (code: 50 / 100); kornia's
    magnitude is the unnormalised 3x3 Sobel of the [0, 1] image, so they are divided by 255.
    OpenCV's default magnitude is the L1 norm ``|gx| + |gy|`` and kornia's the L2 norm: identical
    on axis-aligned edges, up to sqrt(2) lower on diagonal ones.

    Hysteresis is :func:`hysteresis_components`, equal to kornia's own (``hysteresis=True``)
    and much faster: kornia grows edges by one pixel per iteration, which on 32 panoramas of
    32x128 px took seconds on a CPU.
    """
    import kornia

    check_shape(images, (None, 3, None, None), "images")
    low, high = thresholds
    if not 0.0 < low <= high:
        raise ConfigError(f"canny_thresholds: expected 0 < low <= high, got {thresholds}")
    if images.is_meta:  # shape-only runs: no pixels to find edges in
        return images.new_empty(images.shape[0], 1, *images.shape[2:])
    with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
        grey = kornia.color.rgb_to_grayscale(images.float())
        _, weak_strong = kornia.filters.canny(grey, low / 255.0, high / 255.0, kernel_size=1,
                                              hysteresis=False)
    return hysteresis_components(weak_strong)


def hysteresis_components(weak_strong: Tensor) -> Tensor:
    """Canny hysteresis: ``(B, 1, H, W)`` with 0 / 0.5 (weak) / 1 (strong) -> edges in {0, 1}.

    Keeps every 8-connected component of weak-or-strong pixels that holds a strong pixel: the
    fixed point of kornia's iteration (a weak pixel with a strong 8-neighbour becomes strong).
    """
    import numpy as np
    from scipy import ndimage

    check_shape(weak_strong, (None, 1, None, None), "weak_strong")
    values = weak_strong[:, 0].detach().cpu().numpy()
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connected within an image, never across the batch
    labels, count = ndimage.label(values > 0, structure=structure)
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[values == 1])] = True
    keep[0] = False
    edges = torch.from_numpy(keep[labels]).to(weak_strong.device, weak_strong.dtype)
    return edges.unsqueeze(1)


def init_gan_weights(module: nn.Module) -> None:
    """pix2pix / X-Fork init: convolutions N(0, 0.02), BN gamma N(1, 0.02) and beta 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, GAN_INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, GAN_INIT_STD)
            nn.init.zeros_(m.bias)


def _down(c_in: int, c_out: int, first: bool) -> nn.Sequential:
    # The Lua code zeroes every conv bias before each update, so the convolutions have none.
    conv = nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)
    if first:
        return nn.Sequential(conv)
    return nn.Sequential(nn.LeakyReLU(0.2), conv, nn.BatchNorm2d(c_out))


def _up(c_in: int, c_out: int, relu: bool, bn: bool = True, dropout: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReLU()] if relu else []
    layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False))
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


class XForkGenerator(nn.Module):
    """X-Fork: ``(B, 4, H, W)`` panorama + edges -> aerial image and segmentation, ``(B, 3, S, S)``.

    Args:
        in_hw: Input panorama size ``(H, W)`` (paper 256x1024); both divisible by ``2**downs``.
        out_size: Side ``S`` of the synthesized aerial image (paper 512).
        ngf: Channels of the first conv (64); later layers use up to ``8 * ngf``.
        layout: ``paper`` (down to a 1-row bottleneck, e.g. 1x4 -> 2x2) or ``code`` (down to 2
            rows, e.g. 2x8 -> 4x4, and no ReLU before each head's first ConvT).
        in_channels: Input channels (RGB + edge map = 4).
        dropout_blocks: Leading decoder blocks with dropout 0.5 (pix2pix: 3).

    """

    def __init__(self, in_hw: tuple[int, int], out_size: int, ngf: int = 64,
                 layout: Literal["paper", "code"] = "paper", in_channels: int = 4,
                 dropout_blocks: int = 3) -> None:
        super().__init__()
        h, w = in_hw
        bottom_rows = 1 if layout == "paper" else 2
        if h < bottom_rows or h % bottom_rows or not _is_pow2(h // bottom_rows):
            raise ConfigError(f"xfork_ground_hw {in_hw}: height must be {bottom_rows} x a power "
                              f"of 2 ({layout} layout)")
        downs = int(math.log2(h // bottom_rows))
        if downs < 2 or w % (2**downs):
            raise ConfigError(f"xfork_ground_hw {in_hw}: width must be divisible by {2**downs} "
                              f"and height >= {4 * bottom_rows}")
        bh, bw = h >> downs, w >> downs
        side = math.isqrt(bh * bw)
        if side * side != bh * bw:
            raise ConfigError(f"xfork_ground_hw {in_hw}: the {bh}x{bw} bottleneck cannot be "
                              "reshaped to a square map (use a panorama of aspect 1:4 or 1:16)")
        ups = math.log2(out_size / side) if out_size % side == 0 else -1.0
        if ups != int(ups) or ups < 3:
            raise ConfigError(f"aerial_size {out_size}: must be {side} x 2**k with k >= 3 for a "
                              f"{bh}x{bw} bottleneck reshaped to {side}x{side}")
        self.in_hw, self.out_size, self.layout = (h, w), out_size, layout
        self.bottleneck_hw, self.square = (bh, bw), side
        enc = [ngf * min(8, 2**i) for i in range(downs)]
        self.encoder = nn.ModuleList(
            _down(c_in, c_out, i == 0)
            for i, (c_in, c_out) in enumerate(zip([in_channels, *enc[:-1]], enc, strict=True))
        )
        # Channels at each decoder output resolution r: ngf * min(8, S / (2 r)).
        res = [side * 2**k for k in range(1, int(ups) + 1)]
        dec = [ngf * min(8, out_size // (2 * r)) for r in res[:-1]]
        shared = len(dec) - 1  # the last two blocks of each branch are the heads
        c_prev = enc[-1]
        blocks = []
        for j in range(shared):
            blocks.append(_up(c_prev, dec[j], relu=True, dropout=j < dropout_blocks))
            c_prev = dec[j]
        self.decoder = nn.ModuleList(blocks)
        head_relu = layout == "paper"
        self.image_head = nn.Sequential(_up(c_prev, dec[-1], relu=head_relu),
                                        _up(dec[-1], 3, relu=True, bn=False), nn.Tanh())
        self.seg_head = nn.Sequential(_up(c_prev, dec[-1], relu=head_relu),
                                      _up(dec[-1], 3, relu=True, bn=False), nn.Tanh())
        init_gan_weights(self)

    def feature_maps(self, x: Tensor) -> dict[str, Tensor]:
        """Every stage's output: ``e1..eN``, ``square``, ``d1..dM``, ``image``, ``seg``."""
        check_shape(x, (None, None, *self.in_hw), "xfork input")
        out: dict[str, Tensor] = {}
        for i, block in enumerate(self.encoder, 1):
            x = block(x)
            out[f"e{i}"] = x
        b, c = x.shape[:2]
        # Per channel, the bh x bw values are laid out row-major on the square (Torch Reshape).
        x = F.relu(x).reshape(b, c, self.square, self.square)
        out["square"] = x
        for j, block in enumerate(self.decoder, 1):
            x = block(x)
            out[f"d{j}"] = x
        out["image"] = self.image_head(x)
        out["seg"] = self.seg_head(x)
        return out

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 4, H, W)`` -> aerial image and segmentation map, ``(B, 3, S, S)`` in [-1, 1]."""
        maps = self.feature_maps(x)
        return maps["image"], maps["seg"]


class PatchDiscriminator(nn.Module):
    """Unconditional PatchGAN on aerial images ``(B, 3, S, S)`` in [-1, 1] -> logit map.

    ``n_layers`` stride-2 convs (the first without BN), one stride-1 conv with BN, then a
    stride-1 conv to one channel; all LeakyReLU(0.2). Paper size (512 px, ``n_layers=4``):
    a 30x30 map.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 4, in_channels: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"d_layers: expected >= 1, got {n_layers}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2)]
        c_prev = ndf
        for n in range(1, n_layers):
            c = ndf * min(2**n, 8)
            layers += [nn.Conv2d(c_prev, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c),
                       nn.LeakyReLU(0.2)]
            c_prev = c
        c = ndf * min(2**n_layers, 8)
        layers += [nn.Conv2d(c_prev, c, 4, 1, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
                   nn.Conv2d(c, 1, 4, 1, 1, bias=False)]
        self.layers = nn.Sequential(*layers)
        init_gan_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, 1, h, w)`` (no sigmoid; the loss takes logits)."""
        check_shape(x, (None, 3, None, None), "discriminator input")
        return self.layers(x)


def same_padding(size: int, kernel: int = 4, stride: int = 2) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one axis: output ``ceil(size / stride)``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class MatchEncoder(nn.Module):
    """Conv encoder of the matching networks: ``(B, 3, H, W)`` -> conv1..convN maps.

    Each layer: 4x4 stride-2 conv with TF 'SAME' padding (asymmetric on odd sizes), ReLU; the
    last ``aggregate`` layers are followed by dropout (``dropout``, training only). Init as the
    TF code: Glorot-uniform weights and biases (a bias of ``C`` values: U(+-sqrt(3 / C))).
    """

    def __init__(self, channels: Sequence[int], aggregate: int = 3, dropout: float = 0.5,
                 in_channels: int = 3) -> None:
        super().__init__()
        if not 1 <= aggregate <= len(channels):
            raise ConfigError(f"match_aggregate: expected 1..{len(channels)}, got {aggregate}")
        self.channels, self.aggregate = tuple(channels), aggregate
        convs = [nn.Conv2d(c_in, c_out, 4, 2, 0)
                 for c_in, c_out in zip([in_channels, *channels[:-1]], channels, strict=True)]
        for conv in convs:
            nn.init.xavier_uniform_(conv.weight)
            bound = math.sqrt(3.0 / conv.out_channels)
            nn.init.uniform_(conv.bias, -bound, bound)  # type: ignore[arg-type]
        self.convs = nn.ModuleList(convs)
        self.dropout = nn.Dropout(dropout)

    def feature_maps(self, x: Tensor) -> list[Tensor]:
        """conv1..convN outputs (after ReLU, and dropout on the aggregated ones)."""
        maps = []
        first_aggregated = len(self.convs) - self.aggregate
        for i, conv in enumerate(self.convs):
            (top, bottom), (left, right) = same_padding(x.shape[-2]), same_padding(x.shape[-1])
            x = F.relu(conv(F.pad(x, (left, right, top, bottom))))
            if i >= first_aggregated:
                x = self.dropout(x)
            maps.append(x)
        return maps

    def forward(self, x: Tensor) -> Tensor:
        """Multi-scale aggregation: the last ``aggregate`` maps flattened and concatenated."""
        maps = self.feature_maps(x)[-self.aggregate:]
        return torch.cat([m.flatten(1) for m in maps], dim=1)

    def output_features(self, hw: tuple[int, int]) -> int:
        """Length of the aggregated vector for an input of size ``hw``."""
        h, w = hw
        sizes = []
        for _ in self.convs:
            h, w = -(-h // 2), -(-w // 2)
            sizes.append(h * w)
        return sum(s * c for s, c in zip(sizes[-self.aggregate:],
                                         self.channels[-self.aggregate:], strict=True))


def descriptor_fc(in_features: int, out_features: int, bias: float) -> nn.Linear:
    """Linear layer with the code's init: truncated normal (std 0.005, +-2 std), constant bias."""
    fc = nn.Linear(in_features, out_features)
    nn.init.trunc_normal_(fc.weight, std=FC_INIT_STD, a=-2 * FC_INIT_STD, b=2 * FC_INIT_STD)
    nn.init.constant_(fc.bias, bias)
    return fc


class Stream(nn.Module):
    """One matching stream: encoder -> multi-scale vector -> FC -> L2-normalised ``(B, D)``.

    ``fc`` may be shared with another stream (the code's joint network shares the aerial FC
    between the real and the synthesized aerial streams).
    """

    def __init__(self, encoder: MatchEncoder, fc: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = fc

    def forward(self, x: Tensor) -> Tensor:
        """Normalised images ``(B, 3, H, W)`` -> descriptors ``(B, D)``."""
        return l2_normalize(self.fc(self.encoder(x)))


@contextlib.contextmanager
def evaluating(*modules: nn.Module | None) -> Iterator[None]:
    """Eval mode (BN running statistics, no dropout) for frozen networks, restored after."""
    training = [m for module in modules if module is not None for m in module.modules()
                if m.training]
    for m in training:
        m.training = False
    try:
        yield
    finally:
        for m in training:
            m.training = True


def _is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0
