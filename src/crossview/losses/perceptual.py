"""Perceptual loss on VGG19 features (Johnson et al. 2016; Sat2Density's configuration).

Sat2Density's code compares ``relu3_1``, ``relu4_1`` and ``relu5_1`` of VGG19 with weights
0.125, 0.25 and 1.0 and an L1 distance; images in ``[0, 1]`` are normalised with the ImageNet
mean and std first. Weights come from a local torchvision ``vgg19`` state dict, either the full
classification model (``features.*`` and ``classifier.*``, as torchvision publishes it) or its
convolutional part alone (``features.*``), loaded strictly; they are never downloaded. Without
a file the network has random weights (tests, smoke runs): say so when reporting numbers. The
VGG parameters never require gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.errors import ConfigError

logger = logging.getLogger(__name__)

VGG19_RELU = {"relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11,
              "relu3_2": 13, "relu3_3": 15, "relu3_4": 17, "relu4_1": 20, "relu4_2": 22,
              "relu4_3": 24, "relu4_4": 26, "relu5_1": 29, "relu5_2": 31, "relu5_3": 33,
              "relu5_4": 35}
"""Index of each ReLU in ``torchvision.models.vgg19().features``."""
SAT2DENSITY_LAYERS = ("relu3_1", "relu4_1", "relu5_1")
SAT2DENSITY_WEIGHTS = (0.125, 0.25, 1.0)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class VGGPerceptualLoss(nn.Module):
    """``sum_l w_l mean|phi_l(pred) - phi_l(target)|`` over VGG19 ReLU layers.

    Args:
        weights_path: Local torchvision ``vgg19`` state dict (``.pth``/``.safetensors``), or
            ``None`` for random weights.
        layers: ReLU layer names (keys of :data:`VGG19_RELU`).
        layer_weights: One weight per layer.

    """

    mean: Tensor
    std: Tensor

    def __init__(self, weights_path: str | Path | None = None,
                 layers: Sequence[str] = SAT2DENSITY_LAYERS,
                 layer_weights: Sequence[float] = SAT2DENSITY_WEIGHTS) -> None:
        super().__init__()
        # Only the convolutional part: building torchvision's whole vgg19 would initialise its
        # 123M-parameter classifier for nothing.
        from torchvision.models.vgg import cfgs, make_layers

        unknown = [name for name in layers if name not in VGG19_RELU]
        if unknown or len(layers) != len(layer_weights) or not layers:
            raise ConfigError(f"perceptual loss: layers must be non-empty names from "
                              f"{sorted(VGG19_RELU)} with one weight each, got {list(layers)} "
                              f"and {list(layer_weights)}")
        features = make_layers(cfgs["E"], batch_norm=False)
        if weights_path is not None:
            _load_vgg19(features, Path(weights_path))
        else:
            logger.warning("perceptual loss: VGG19 has random weights (no weights file given)")
        self.indices = [VGG19_RELU[name] for name in layers]
        self.layer_weights = [float(w) for w in layer_weights]
        self.features = features[: max(self.indices) + 1].eval()
        self.features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        """The feature extractor stays in eval mode."""
        super().train(mode)
        self.features.eval()
        return self

    def _features(self, x: Tensor) -> list[Tensor]:
        out, taken = [], set(self.indices)
        x = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taken:
                out.append(x)
        return out

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Loss between ``(B, 3, H, W)`` images in [0, 1]; no gradient flows into ``target``."""
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
            raise ConfigError(f"perceptual loss: expected pred and target (B, 3, H, W) of equal "
                              f"shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
        with torch.no_grad():
            real = self._features(target)
        fake = self._features(pred)
        total = pred.new_zeros(())
        for w, f, r in zip(self.layer_weights, fake, real, strict=True):
            total = total + w * F.l1_loss(f, r)
        return total


def _load_vgg19(features: nn.Module, path: Path) -> None:
    """Load the ``features.*`` of a full ``vgg19`` or a features-only state dict, strictly."""
    from crossview.methods.backbones import read_state_dict

    state = read_state_dict(path)
    own = {f"features.{k}" for k in features.state_dict()}
    full = own | {f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}
    if set(state) not in (own, full):
        missing, unexpected = sorted(own - set(state)), sorted(set(state) - full)
        raise ConfigError(f"perceptual loss weights {path}: not a torchvision vgg19 state dict "
                          f"({len(missing)} missing keys {missing[:3]}, {len(unexpected)} "
                          f"unexpected keys {unexpected[:3]})")
    try:
        features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                  if k.startswith("features.")}, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1].strip()
        raise ConfigError(f"perceptual loss weights {path}: {first}") from None
