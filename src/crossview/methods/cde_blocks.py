"""Building blocks of CDE's generator and discriminator (Toker et al. 2021, Appendix A).

The residual blocks follow the BigGAN / SAGAN family the paper cites as its inspiration ([4, 44,
22]) for Figures 5-7, whose drawings are not in the text we have:

* down (Fig. 5): ``x -> ReLU -> conv3x3 -> ReLU -> conv3x3 -> avgpool2``, shortcut
  ``conv1x1 -> avgpool2``; halves H and W ("reduce the spatial size by a factor of 4", in area).
* plain (Fig. 6): ``x -> ReLU -> conv3x3 -> ReLU -> conv3x3``, identity shortcut.
* up (Fig. 7): ``x -> ReLU -> upsample2 (nearest) -> conv3x3 -> ReLU -> conv3x3``, shortcut
  ``upsample2 -> conv1x1``; doubles H and W.

Instance normalisation comes *after* each down / up block (Table 5 "+ IN"), not inside it, and
every convolution is spectrally normalised (``torch.nn.utils.parametrizations.spectral_norm``)
except the last one of G and of D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def sn_conv(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True
) -> nn.Module:
    """Build a spectrally normalised ``Conv2d`` (Miyato et al. 2018; CDE Appendix A)."""
    return spectral_norm(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias)
    )


class ResBlockDown(nn.Module):
    """Residual down-sampling block (CDE Fig. 5): ``(B, Cin, H, W) -> (B, Cout, H/2, W/2)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = sn_conv(in_ch, out_ch, 3, padding=1)
        self.conv2 = sn_conv(out_ch, out_ch, 3, padding=1)
        self.shortcut = sn_conv(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        h = self.conv1(F.relu(x))
        h = F.avg_pool2d(self.conv2(F.relu(h)), 2)
        return h + F.avg_pool2d(self.shortcut(x), 2)


class ResBlock(nn.Module):
    """Residual block at constant size (CDE Fig. 6, the six bottleneck blocks)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = sn_conv(channels, channels, 3, padding=1)
        self.conv2 = sn_conv(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ResBlockUp(nn.Module):
    """Residual up-sampling block (CDE Fig. 7): ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = sn_conv(in_ch, out_ch, 3, padding=1)
        self.conv2 = sn_conv(out_ch, out_ch, 3, padding=1)
        self.shortcut = sn_conv(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.conv1(F.relu(up))))
        return h + self.shortcut(up)


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018) in the SAGAN / BigGAN form.

    ``theta``/``phi`` project to ``C/8`` and ``g`` to ``C/2`` channels with 1x1 convolutions;
    ``phi`` and ``g`` are max-pooled 2x2 (Wang et al.'s sub-sampling trick, as BigGAN does; at
    28x154 the full attention matrix would be 4312x4312 per image) when ``pool`` is set and the map
    is even-sized. The output ``x + gamma * W_o(attention)`` starts as the identity (``gamma = 0``,
    SAGAN), which plays the role of Wang et al.'s zero-initialised output normalisation.
    """

    def __init__(self, channels: int, pool: bool = True) -> None:
        super().__init__()
        self.inner = max(1, channels // 8)
        self.value_ch = max(1, channels // 2)
        self.theta = sn_conv(channels, self.inner, 1, bias=False)
        self.phi = sn_conv(channels, self.inner, 1, bias=False)
        self.g = sn_conv(channels, self.value_ch, 1, bias=False)
        self.out = sn_conv(self.value_ch, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``."""
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (B, C/8, N)
        phi, g = self.phi(x), self.g(x)
        if self.pool and h % 2 == 0 and w % 2 == 0:
            phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)
        attn = torch.softmax(theta.transpose(1, 2) @ phi.flatten(2), dim=-1)  # (B, N, N')
        o = (g.flatten(2) @ attn.transpose(1, 2)).view(b, self.value_ch, h, w)  # (B, C/2, H, W)
        return x + self.gamma * self.out(o)
