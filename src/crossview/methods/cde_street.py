"""CDE's street encoder R_E: a modified ResNet34 (SPECS.md §3, CDE Appendix A "Retrieval").

``conv1`` (7x7, stride 2) -> ``bn1`` -> ReLU -> ``layer1`` (3 blocks, stride 1) -> ``layer2``
(4 blocks, stride 2) -> ``layer3`` (6 blocks, stride 2); the max-pool and ``layer4`` / ``fc`` of
ResNet34 are dropped. Total stride 8, so a 112x616 street panorama gives 256x14x77 features:
exactly G_E's size and channels, with the standard ResNet34 strides (no stride was changed).

Parameter names match torchvision's ``resnet34`` so its ImageNet weights load from a local file
(``layer4.*`` and ``fc.*`` are the only keys set aside, by name).
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from crossview.errors import InputFileError
from crossview.methods.cde_generator import scaled

RESNET34_BLOCKS = (3, 4, 6)
"""Basic blocks of ResNet34's layer1-3."""
DROPPED_PREFIXES = ("layer4.", "fc.")
"""torchvision ``resnet34`` keys that R_E does not use."""


class StreetEncoder(nn.Module):
    """R_E: street images ``(B, 3, H, W)`` in [-1, 1] (CDE App. B) -> ``(B, C, H/8, W/8)``.

    Args:
        width: Channel multiplier; 1 gives ResNet34's 64/128/256 channels.

    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3 = (scaled(c, width) for c in (64, 128, 256))
        self.out_channels = c3
        self.conv1 = nn.Conv2d(3, c1, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_layer(c1, c1, RESNET34_BLOCKS[0], stride=1)
        self.layer2 = _make_layer(c1, c2, RESNET34_BLOCKS[1], stride=2)
        self.layer3 = _make_layer(c2, c3, RESNET34_BLOCKS[2], stride=2)

    def forward(self, x: Tensor) -> Tensor:
        """Local features of the street view (no max-pool after the stem)."""
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def load_resnet34(self, path: str | Path) -> None:
        """Load ``resnet34`` ImageNet weights (torchvision or timm) from a local file, strictly.

        Every key of R_E must be present with the same shape; the file must otherwise be a whole
        ResNet34 (``layer4.*`` and the classifier are the keys R_E drops). Anything else is an
        error naming keys (:func:`crossview.methods.backbones.load_backbone_weights`).
        """
        from crossview.methods.backbones import load_backbone_weights

        path = Path(path)
        if not path.is_file():
            raise InputFileError(
                path,
                "ResNet34 weights not found (give a local torchvision "
                "resnet34 state_dict file; nothing is downloaded)",
            )
        load_backbone_weights(self, "resnet34", path)


def _make_layer(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_ch != out_ch:
        downsample = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
        )
    layers = [BasicBlock(in_ch, out_ch, stride=stride, downsample=downsample)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
