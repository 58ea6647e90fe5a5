"""CDE's discriminator D: a conditional PatchGAN on (polar satellite, street) pairs (Table 6).

Stage shapes for a ``(1, 6, 112, 616)`` input at ``width = 1`` (Table 6, tested exactly)::

    conv1      4x4 s2 + LeakyReLU(0.1)   (64, 56, 308)
    conv2      4x4 s2 + LeakyReLU(0.1)   (128, 28, 154)
    attention  non-local                 (128, 28, 154)
    conv3      4x4 s2 + LeakyReLU(0.1)   (256, 14, 77)
    conv4      4x4 s1 + LeakyReLU(0.1)   (512, 14, 76)
    output     4x4 s1 (no spectral norm) (1, 14, 75)

The stride-1 4x4 convolutions keep the height but lose one column: Table 6's sizes fix the padding
to 1 column on each side and 1 row above / 2 below (PyTorch's ``padding="same"`` split for an even
kernel, applied to rows only). Stride-2 layers pad 1 on every side.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crossview.methods.cde_blocks import NonLocalBlock, sn_conv
from crossview.methods.cde_generator import scaled

LEAK = 0.1
"""Negative slope of D's LeakyReLU (Table 6)."""


class CDEDiscriminator(nn.Module):
    """Conditional PatchGAN D; returns per-patch real/fake logits ``(B, 1, H/8, W/8 - 2)``.

    Args:
        width: Channel multiplier (1 reproduces Table 6).
        attention_pool: Sub-sample keys/values 2x2 in the non-local block.

    """

    def __init__(self, width: float = 1.0, attention_pool: bool = True) -> None:
        super().__init__()
        c1, c2, c3, c4 = (scaled(c, width) for c in (64, 128, 256, 512))
        act = nn.LeakyReLU(LEAK)
        self.conv1 = nn.Sequential(sn_conv(6, c1, 4, stride=2, padding=1), act)
        self.conv2 = nn.Sequential(sn_conv(c1, c2, 4, stride=2, padding=1), act)
        self.attention = NonLocalBlock(c2, pool=attention_pool)
        self.conv3 = nn.Sequential(sn_conv(c2, c3, 4, stride=2, padding=1), act)
        self.conv4 = nn.Sequential(nn.ZeroPad2d((1, 1, 1, 2)), sn_conv(c3, c4, 4), act)
        # Appendix A: no spectral norm on the last convolution of D.
        self.output = nn.Sequential(nn.ZeroPad2d((1, 1, 1, 2)), nn.Conv2d(c4, 1, 4))

    def stages(self, satellite: Tensor, street: Tensor) -> dict[str, Tensor]:
        """Every named stage output of Table 6, in order; inputs ``(B, 3, H, W)`` in [-1, 1]."""
        if satellite.shape != street.shape:
            raise ValueError(
                f"discriminator: satellite {tuple(satellite.shape)} and street "
                f"{tuple(street.shape)} must have the same shape"
            )
        out: dict[str, Tensor] = {"conv1": self.conv1(torch.cat([satellite, street], dim=1))}
        out["conv2"] = self.conv2(out["conv1"])
        out["attention"] = self.attention(out["conv2"])
        out["conv3"] = self.conv3(out["attention"])
        out["conv4"] = self.conv4(out["conv3"])
        out["output"] = self.output(out["conv4"])
        return out

    def forward(self, satellite: Tensor, street: Tensor) -> Tensor:
        """Patch logits ``(B, 1, h, w)`` for the condition ``satellite`` and image ``street``."""
        return self.stages(satellite, street)["output"]
