"""Sat2Density generators (paper App. A): DensityNet and RenderNet.

Both are the Pix2Pix / pix2pixHD ResNet generator as the authors' code builds it: a 7x7 stem,
``downsamples`` stride-2 3x3 convolutions doubling the channels, residual blocks
(conv-norm-ReLU-conv-norm + skip), then as many nearest-neighbour 2x up-sampling blocks
(up-sample, 3x3 conv, norm, LeakyReLU 0.2) halving the channels, and a 7x7 output convolution.
Reflection padding, instance normalisation and (code) spectral normalisation throughout. App. A:
the stem and the down-sampling layers use PReLU instead of ReLU.

* **DensityNet** (6 residual blocks) maps the tile ``(B, 3, S, S)`` to ``N - 1`` density slices
  ``(B, N-1, S, S)`` above the fixed ground slice (the code predicts 64 and prepends the ground:
  65 slices). App. A: Tanh output; crossview maps it to non-negative densities per metre with
  ``sigma = max_density * (1 + tanh(x)) / 2`` (``density_activation="tanh"``), i.e.
  ``max_density * sigmoid(2x)``: bounded like the paper's Tanh, and exponential in ``x`` at low
  densities, so empty space is reached smoothly. The output bias starts at the ``x`` that gives
  ``initial_density`` (0.03 per metre: a nearly transparent volume, about what the code's ReLU
  starts from); a mid-range start (``x = 0``, 50 per metre) would make every ray opaque within
  a metre and starve the far samples of gradient. ``"relu"`` is the authors' code:
  ``sigma = relu(x) / (L/2)``, their density per half-tile unit converted to per metre.
* **RenderNet** (9 residual blocks in the code) maps the rendered panorama (colour, optionally
  depth and opacity) to the final panorama; a sigmoid output gives ``[0, 1]`` (code). The
  illumination feature modulates the last three up-sampling blocks (Fig. 7):
  ``x * (1 + w) + b`` after their normalisation, with ``(w, b)`` a linear map of the feature per
  block (the code modulates two blocks; the paper's three are used here).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.errors import ConfigError

DensityActivation = Literal["tanh", "relu"]


def conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, spectral: bool = True) -> nn.Module:
    """Reflection-padded convolution (spectrally normalised when ``spectral``)."""
    layer = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2,
                      padding_mode="reflect")
    return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer


def norm(channels: int) -> nn.Module:
    """Instance normalisation with a learned affine transform."""
    return nn.InstanceNorm2d(channels, affine=True)


class ResBlock(nn.Module):
    """``x + norm(conv(relu(norm(conv(x)))))`` (imaginaire's CNACN order)."""

    def __init__(self, channels: int, spectral: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, 3, spectral=spectral), norm(channels),
                                  nn.ReLU(), conv(channels, channels, 3, spectral=spectral),
                                  norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return x + self.body(x)


class Encoder(nn.Module):
    """Stem, PReLU down-sampling, residual blocks: ``(B, Cin, H, W)`` -> ``(B, f 2^d, ., .)``."""

    def __init__(self, in_ch: int, filters: int, downsamples: int, res_blocks: int,
                 spectral: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv(in_ch, filters, 7, spectral=spectral), norm(filters),
                                   nn.PReLU()]
        for i in range(downsamples):
            ch = filters * 2**i
            layers += [conv(ch, 2 * ch, 3, stride=2, spectral=spectral), norm(2 * ch), nn.PReLU()]
        ch = filters * 2**downsamples
        layers += [ResBlock(ch, spectral) for _ in range(res_blocks)]
        self.body = nn.Sequential(*layers)
        self.out_channels = ch

    def forward(self, x: Tensor) -> Tensor:
        """Encode images."""
        return self.body(x)


class UpBlock(nn.Module):
    """Nearest 2x up-sampling, 3x3 conv, norm, optional modulation, LeakyReLU(0.2)."""

    def __init__(self, in_ch: int, out_ch: int, spectral: bool = True) -> None:
        super().__init__()
        self.conv = conv(in_ch, out_ch, 3, spectral=spectral)
        self.norm = norm(out_ch)
        self.out_channels = out_ch

    def forward(self, x: Tensor, scale: Tensor | None = None,
                shift: Tensor | None = None) -> Tensor:
        """``(B, Cin, H, W)`` -> ``(B, Cout, 2H, 2W)``; ``scale``, ``shift``: ``(B, Cout)``."""
        y = self.norm(self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest")))
        if scale is not None and shift is not None:
            y = y * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]
        return F.leaky_relu(y, 0.2)


class _Generator(nn.Module):
    """Encoder, up-sampling decoder and a 7x7 output convolution (no activation)."""

    def __init__(self, in_ch: int, out_ch: int, filters: int, downsamples: int, res_blocks: int,
                 spectral: bool) -> None:
        super().__init__()
        if downsamples < 1 or filters < 1 or res_blocks < 0:
            raise ConfigError(f"generator: need downsamples >= 1, filters >= 1, res_blocks >= 0, "
                              f"got {downsamples}, {filters}, {res_blocks}")
        self.downsamples = downsamples
        self.encoder = Encoder(in_ch, filters, downsamples, res_blocks, spectral)
        self.up = nn.ModuleList(
            UpBlock(filters * 2 ** (i + 1), filters * 2**i, spectral)
            for i in reversed(range(downsamples))
        )
        self.head = conv(filters, out_ch, 7, spectral=False)

    def check_input(self, x: Tensor, channels: int, name: str) -> None:
        """One-line error unless ``x`` is ``(B, channels, H, W)`` with H, W multiples of ``2^d``."""
        step = 2**self.downsamples
        if x.ndim != 4 or x.shape[1] != channels or x.shape[-1] % step or x.shape[-2] % step:
            raise ConfigError(f"{name}: expected (B, {channels}, H, W) with H and W multiples of "
                              f"{step}, got {tuple(x.shape)}")


class DensityNet(_Generator):
    """Tile ``(B, 3, S, S)`` in [0, 1] -> densities per metre ``(B, slices, S, S)`` (>= 0).

    Args:
        slices: Output slices (above the ground slice): ``N - 1``.
        tile_size_m: Side of the tile's ground square (for the ``relu`` unit conversion).
        filters: Channels of the stem (code: 32).
        downsamples: Stride-2 layers (code: 4).
        res_blocks: Residual blocks (App. A: 6).
        activation: ``tanh`` (paper, see module doc) or ``relu`` (code).
        max_density: ``sigma`` at ``tanh = 1``, per metre.
        initial_density: Density (per metre) of a zero pre-activation plus the initial bias
            (``tanh`` only).
        spectral: Spectral normalisation of the convolutions (code).

    """

    def __init__(self, slices: int, tile_size_m: float, filters: int = 32, downsamples: int = 4,
                 res_blocks: int = 6, activation: DensityActivation = "tanh",
                 max_density: float = 100.0, initial_density: float = 0.03,
                 spectral: bool = True) -> None:
        super().__init__(3, slices, filters, downsamples, res_blocks, spectral)
        if activation not in ("tanh", "relu"):
            raise ConfigError(f"density_activation: expected 'tanh' or 'relu', got {activation!r}")
        if activation == "tanh" and not 0.0 < initial_density < max_density:
            raise ConfigError(f"initial_density: expected a value in (0, max_density="
                              f"{max_density}), got {initial_density}")
        self.activation = activation
        self.max_density = float(max_density)
        self.half_tile_m = tile_size_m / 2.0
        if activation == "tanh":
            head = self.head
            assert isinstance(head, nn.Conv2d) and head.bias is not None
            with torch.no_grad():
                head.bias.fill_(math.atanh(2.0 * initial_density / max_density - 1.0))

    def forward(self, tile: Tensor) -> Tensor:
        """Densities of the slices above the ground."""
        self.check_input(tile, 3, "aerial")
        x = self.encoder(tile)
        for block in self.up:
            x = block(x)
        x = self.head(x)
        if self.activation == "tanh":
            return self.max_density * 0.5 * (1.0 + torch.tanh(x))
        return F.relu(x) / self.half_tile_m


class RenderNet(_Generator):
    """Rendered panorama ``(B, Cin, H, W)`` (+ illumination feature) -> panorama in [0, 1].

    Args:
        in_channels: 3 (colour) + 1 per extra input (depth, opacity).
        filters: Channels of the stem (code: 64).
        downsamples: Stride-2 layers (code: 4).
        res_blocks: Residual blocks (code: 9).
        style_channels: Size of the illumination feature; 0 disables the modulation.
        modulated_blocks: Number of last up-sampling blocks that are modulated (paper: 3).
        spectral: Spectral normalisation of the convolutions (code).

    """

    def __init__(self, in_channels: int, filters: int = 64, downsamples: int = 4,
                 res_blocks: int = 9, style_channels: int = 256, modulated_blocks: int = 3,
                 spectral: bool = True) -> None:
        super().__init__(in_channels, 3, filters, downsamples, res_blocks, spectral)
        self.in_channels = in_channels
        self.modulated = min(modulated_blocks, downsamples) if style_channels > 0 else 0
        channels = [filters * 2**i for i in reversed(range(downsamples))]  # up-block outputs
        self.style = nn.ModuleList(nn.Linear(style_channels, 2 * c)
                                   for c in channels[downsamples - self.modulated:])

    def forward(self, rendered: Tensor, style: Tensor | None = None) -> Tensor:
        """``rendered`` ``(B, Cin, H, W)``; ``style`` ``(B, style_channels)`` or ``None``."""
        self.check_input(rendered, self.in_channels, "rendered")
        if (style is None) != (self.modulated == 0):
            raise ConfigError("RenderNet: an illumination feature is needed exactly when the "
                              "network was built with style_channels > 0")
        x = self.encoder(rendered)
        first = len(self.up) - self.modulated
        for i, block in enumerate(self.up):
            if i >= first and style is not None:
                scale, shift = self.style[i - first](style).chunk(2, dim=1)
                x = block(x, scale, shift)
            else:
                x = block(x)
        return torch.sigmoid(self.head(x))
