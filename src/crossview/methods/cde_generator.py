"""CDE's generator G: a residual U-Net from polar satellite to street panorama (Table 5).

Stage shapes for a ``(1, 3, 112, 616)`` input at ``width = 1`` (Table 5, tested exactly)::

    stem        Conv + IN                       (32, 112, 616)
    enc1        ResBlockDown + IN               (64, 56, 308)
    enc2        ResBlockDown + IN               (128, 28, 154)
    enc3        ResBlockDown + IN               (256, 14, 77)
    bottleneck  6 x ResBlock = G_E              (256, 14, 77)
    up1         concat(enc3) -> ResBlockUp + IN (128, 28, 154)
    attention   concat(enc2) -> non-local       (256, 28, 154)
    up2         ResBlockUp + IN                 (64, 56, 308)
    up3         concat(enc1) -> ResBlockUp + IN (64, 112, 616)
    output      Conv (no spectral norm) + Tanh  (3, 112, 616)

``width`` scales every channel count (the ``tiny`` preset); the paper uses 1.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crossview.methods.cde_blocks import NonLocalBlock, ResBlock, ResBlockDown, ResBlockUp, sn_conv


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1 (channel counts of the narrow presets)."""
    return max(1, int(round(channels * width)))


class CDEGenerator(nn.Module):
    r"""Generator G of CDE; :meth:`encode` is G_E (the bottleneck output used for retrieval).

    Args:
        width: Channel multiplier (1 reproduces Table 5).
        num_bottleneck: Residual blocks in the bottleneck (6 in the paper).
        attention_pool: Sub-sample keys/values 2x2 in the non-local block (see NonLocalBlock).
        decoder: Build the decoder ``G \\ G_E``; ``False`` is Table 3's ablation (i).

    """

    def __init__(
        self,
        width: float = 1.0,
        num_bottleneck: int = 6,
        attention_pool: bool = True,
        decoder: bool = True,
    ) -> None:
        super().__init__()
        c0, c1, c2, c3 = (scaled(c, width) for c in (32, 64, 128, 256))
        self.latent_channels = c3
        self.stem = nn.Sequential(sn_conv(3, c0, 3, padding=1), _norm(c0))
        self.enc1 = nn.Sequential(ResBlockDown(c0, c1), _norm(c1))
        self.enc2 = nn.Sequential(ResBlockDown(c1, c2), _norm(c2))
        self.enc3 = nn.Sequential(ResBlockDown(c2, c3), _norm(c3))
        self.bottleneck = nn.Sequential(*(ResBlock(c3) for _ in range(num_bottleneck)))
        self.has_decoder = decoder
        if decoder:
            self.up1 = nn.Sequential(ResBlockUp(2 * c3, c2), _norm(c2))
            self.attention = NonLocalBlock(2 * c2, pool=attention_pool)
            self.up2 = nn.Sequential(ResBlockUp(2 * c2, c1), _norm(c1))
            self.up3 = nn.Sequential(ResBlockUp(2 * c1, c1), _norm(c1))
            # Appendix A: no spectral norm on the last convolution of G.
            self.to_rgb = nn.Conv2d(c1, 3, 3, padding=1)

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """G_E: polar tiles ``(B, 3, H, W)`` in [-1, 1] -> latent ``(B, C3, H/8, W/8)``, skips."""
        stages = self.stages(x, decode=False)
        return stages["bottleneck"], [stages["enc1"], stages["enc2"], stages["enc3"]]

    def decode(self, latent: Tensor, skips: list[Tensor]) -> Tensor:
        r"""``G \ G_E``: latent and skips ``[enc1, enc2, enc3]`` -> image in [-1, 1]."""
        if not self.has_decoder:
            raise RuntimeError("this CDE generator was built without a decoder (ablation i)")
        enc1, enc2, enc3 = skips
        h = self.up1(torch.cat([latent, enc3], dim=1))
        h = self.attention(torch.cat([h, enc2], dim=1))
        h = self.up2(h)
        h = self.up3(torch.cat([h, enc1], dim=1))
        return torch.tanh(self.to_rgb(h))

    def stages(self, x: Tensor, decode: bool = True) -> dict[str, Tensor]:
        """Every named stage output of Table 5 (see the module docstring), in order."""
        out: dict[str, Tensor] = {"stem": self.stem(x)}
        out["enc1"] = self.enc1(out["stem"])
        out["enc2"] = self.enc2(out["enc1"])
        out["enc3"] = self.enc3(out["enc2"])
        out["bottleneck"] = self.bottleneck(out["enc3"])
        if decode and self.has_decoder:
            out["up1"] = self.up1(torch.cat([out["bottleneck"], out["enc3"]], dim=1))
            out["attention"] = self.attention(torch.cat([out["up1"], out["enc2"]], dim=1))
            out["up2"] = self.up2(out["attention"])
            out["up3"] = self.up3(torch.cat([out["up2"], out["enc1"]], dim=1))
            out["output"] = torch.tanh(self.to_rgb(out["up3"]))
        return out

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Polar tiles in [-1, 1] -> ``(synthesized image in [-1, 1], latent G_E)``."""
        latent, skips = self.encode(x)
        return self.decode(latent, skips), latent


def _norm(channels: int) -> nn.Module:
    # Instance norm after each block (Table 5 "+ IN"); affine as in pix2pix-style generators.
    return nn.InstanceNorm2d(channels, affine=True)
