"""Sat2Density discriminators (paper App. A): one on the panorama, two on perspective crops.

D1 sees the panorama down-sampled to half its size (paper: 64x256 for 128x512 panoramas); D2 and
D3 see a random perspective view (horizontal FOV 100 degrees) rendered with
:func:`crossview.geometry.panorama.perspective_from_equirect` at ``crop_sizes[0]`` (paper: 64x64)
and the same view down-sampled to ``crop_sizes[1]`` (32x32), as the authors' code does. Each is a
patch discriminator (imaginaire's, as configured by the code): 3x3 convolutions, the first and
the next ``layers - 1`` with stride 2, the last with stride 1, channels doubling from ``filters``
up to 512, instance norm, LeakyReLU(0.2), spectral norm, then a 3x3 convolution to one logit map.

The view orientations (yaw uniform in [0, 360), pitch uniform in ``+-pitch_range_deg``, code: 40)
are drawn once per call and shared by real and fake panoramas, so feature matching compares the
same views (the code draws them independently for the two).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.geometry.panorama import perspective_from_equirect
from crossview.methods.sat2density_nets import conv, norm


class PatchDiscriminator(nn.Module):
    """Images ``(B, C, H, W)`` -> logits ``(B, 1, h, w)`` and intermediate features."""

    def __init__(self, in_ch: int = 3, filters: int = 64, layers: int = 3,
                 max_filters: int = 512, spectral: bool = True) -> None:
        super().__init__()
        blocks: list[nn.Module] = [self._block(in_ch, filters, 2, spectral)]
        ch = filters
        for i in range(layers):
            nxt = min(ch * 2, max_filters)
            blocks.append(self._block(ch, nxt, 2 if i < layers - 1 else 1, spectral))
            ch = nxt
        self.blocks = nn.ModuleList(blocks)
        self.head = conv(ch, 1, 3, spectral=spectral)

    @staticmethod
    def _block(in_ch: int, out_ch: int, stride: int, spectral: bool) -> nn.Module:
        return nn.Sequential(conv(in_ch, out_ch, 3, stride, spectral), norm(out_ch),
                             nn.LeakyReLU(0.2))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logit map and the features after each block (for feature matching)."""
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.head(x), features


class Sat2DensityDiscriminator(nn.Module):
    """The three discriminators and the views they see.

    Args:
        pano_hw: Panorama size ``(H, W)``; D1 sees ``(H/2, W/2)``.
        vfov_deg: Vertical field of view of the panoramas (for the perspective crops).
        crop_sizes: Sides of the perspective views of D2 and D3 (paper: 64, 32).
        fov_deg: Horizontal FOV of the perspective views (paper: 100).
        pitch_range_deg: Crops look up to this far above or below the horizon (code: 40).
        filters: Channels of the first layer (code: 64).
        layers: Layers after the first (code: 3).
        spectral: Spectral normalisation (code).

    """

    def __init__(self, pano_hw: tuple[int, int], vfov_deg: float,
                 crop_sizes: tuple[int, int] = (64, 32), fov_deg: float = 100.0,
                 pitch_range_deg: float = 40.0, filters: int = 64, layers: int = 3,
                 spectral: bool = True) -> None:
        super().__init__()
        self.pano_hw = (int(pano_hw[0]) // 2, int(pano_hw[1]) // 2)
        self.vfov_deg, self.fov_deg = float(vfov_deg), float(fov_deg)
        self.crop_sizes = (int(crop_sizes[0]), int(crop_sizes[1]))
        self.pitch_range_deg = float(pitch_range_deg)
        self.nets = nn.ModuleList(PatchDiscriminator(3, filters, layers, spectral=spectral)
                                  for _ in range(3))

    def draw_views(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """Random ``(B, 2)`` float64 ``(yaw, pitch)`` in degrees for the perspective crops."""
        u = torch.rand(batch, 2, generator=generator, dtype=torch.float64)
        return torch.stack([u[:, 0] * 360.0, (2.0 * u[:, 1] - 1.0) * self.pitch_range_deg], 1)

    def views(self, pano: Tensor, views: Tensor) -> list[Tensor]:
        """The three inputs: half-size panorama, crop at ``crop_sizes[0]``, crop at ``[1]``."""
        half = F.interpolate(pano, size=self.pano_hw, mode="bilinear", align_corners=False,
                             antialias=True)
        big = self.crop_sizes[0]
        crop = perspective_from_equirect(pano, views[:, 0], views[:, 1], self.fov_deg,
                                         (big, big), self.vfov_deg)
        small = F.interpolate(crop, size=(self.crop_sizes[1],) * 2, mode="bilinear",
                              align_corners=False, antialias=True)
        return [half, crop, small]

    def forward(self, pano: Tensor, views: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        """Logits and features of D1, D2, D3 for panoramas ``(B, 3, H, W)`` in [0, 1]."""
        return [net(x) for net, x in zip(self.nets, self.views(pano, views), strict=True)]
