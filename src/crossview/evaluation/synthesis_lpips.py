"""LPIPS (Zhang et al. 2018) with AlexNet or SqueezeNet features, weights from local files only.

The computation follows the published metric (v0.1): scale [0, 1] images to [-1, 1], shift/scale
per channel, take the backbone's ReLU outputs at 5 (AlexNet) or 7 (SqueezeNet 1.1) taps, unit-
normalise each feature vector over channels, square the differences, weight channels with the
learned non-negative 1x1 "linear" layers, average spatially and sum over taps.

Nothing is downloaded. Two local files are needed:

* the backbone: a torchvision ``alexnet`` / ``squeezenet1_1`` ``state_dict`` (``features.*`` keys
  are used; ``classifier.*`` keys are the only others accepted, and ignored);
* the linear layers: the LPIPS package's ``weights/v0.1/alex.pth`` / ``squeeze.pth``
  (keys ``lin{k}.model.1.weight``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision import models

from crossview.errors import ConfigError, CrossviewError, InputFileError

Backbone = Literal["alex", "squeeze"]
# Tap ends (exclusive indices into ``features``) and channels per tap, as in LPIPS v0.1.
_TAPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "alex": ((2, 5, 8, 10, 12), (64, 192, 384, 256, 256)),
    "squeeze": ((2, 5, 8, 10, 11, 12, 13), (64, 128, 256, 384, 384, 512, 512)),
}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class _Linear(nn.Module):
    """One LPIPS "linear" layer (named so its keys read ``lin{k}.model.1.weight``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(channels, 1, 1, bias=False))


class LPIPS(nn.Module):
    """LPIPS distance; randomly initialised until :meth:`load_weights` (tests only).

    Args:
        net: ``"alex"`` (CDE Table 2) or ``"squeeze"``.

    """

    def __init__(self, net: Backbone = "alex") -> None:
        super().__init__()
        if net not in _TAPS:
            raise ConfigError(f"unknown LPIPS backbone {net!r}; choose one of {sorted(_TAPS)}")
        self.net = net
        # Build on the meta device and materialise only ``features``: AlexNet's classifier
        # (58M parameters) is never used, and all weights come from a file for real use.
        with torch.device("meta"):
            backbone = models.alexnet() if net == "alex" else models.squeezenet1_1()
        self.features = backbone.features.to_empty(device="cpu")
        for module in self.features.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
        self.taps, channels = _TAPS[net]
        for k, c in enumerate(channels):
            self.add_module(f"lin{k}", _Linear(c))
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _feature_maps(self, x: Tensor) -> list[Tensor]:
        shift, scale = self.get_buffer("shift"), self.get_buffer("scale")
        h = ((x * 2.0 - 1.0) - shift) / scale
        maps, start = [], 0
        for end in self.taps:
            for layer in self.features[start:end]:
                h = layer(h)
            maps.append(h)
            start = end
        return maps

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-image LPIPS ``(N,)`` of images ``(N, 3, H, W)`` in [0, 1]."""
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
            raise CrossviewError(
                f"lpips: expected equal (N, 3, H, W) shapes, got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}"
            )
        total = pred.new_zeros(pred.shape[0])
        for k, (a, b) in enumerate(
            zip(self._feature_maps(pred), self._feature_maps(target), strict=True)
        ):
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            lin: _Linear = getattr(self, f"lin{k}")
            total = total + lin.model((a - b).pow(2)).mean(dim=(1, 2, 3))
        return total

    def load_weights(self, backbone_path: str | Path, linear_path: str | Path) -> LPIPS:
        """Load backbone and linear-layer weights from local files, strictly (see module doc)."""
        backbone = _read_state(backbone_path)
        features = {
            k.removeprefix("features."): v for k, v in backbone.items() if k.startswith("features.")
        }
        others = sorted(k for k in backbone if not k.startswith(("features.", "classifier.")))
        _strict_load(self.features, features, backbone_path, others, prefix="features.")
        lins = nn.ModuleDict(
            {name: child for name, child in self.named_children() if name.startswith("lin")}
        )
        _strict_load(lins, _read_state(linear_path), linear_path, [])
        return self


def load_lpips(net: Backbone, backbone_path: str | Path, linear_path: str | Path) -> LPIPS:
    """Build an LPIPS model with ``net``'s backbone and linear weights read from local files."""
    return LPIPS(net).load_weights(backbone_path, linear_path)


def lpips(pred: Tensor, target: Tensor, model: LPIPS | None = None) -> Tensor:
    """Per-image LPIPS of ``(N, 3, H, W)`` images in [0, 1]; ``model`` from :func:`load_lpips`."""
    if model is None:
        raise ConfigError(
            "lpips needs local weights: build the model with load_lpips(net, "
            "backbone_path, linear_path) (torchvision alexnet/squeezenet1_1 "
            "state_dict + LPIPS v0.1 alex.pth/squeeze.pth); nothing is downloaded"
        )
    with torch.no_grad():
        return model(pred.float(), target.float()).double()


def _read_state(path: str | Path) -> Mapping[str, Tensor]:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            path, "LPIPS weights not found (give a local file; nothing is downloaded)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many exception types on corrupt files
        raise InputFileError(path, f"cannot read weights ({err})") from None
    if not isinstance(state, Mapping):
        raise InputFileError(path, "expected a state_dict mapping of tensors")
    return state


def _strict_load(
    module: nn.Module,
    state: Mapping[str, Tensor],
    path: str | Path,
    foreign: list[str],
    prefix: str = "",
) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own)) + foreign
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        missing, shapes = [prefix + k for k in missing], [prefix + k for k in shapes]
        unexpected = [k if k in foreign else prefix + k for k in unexpected]
        raise ConfigError(
            f"{path}: weights do not match the LPIPS model: missing keys {missing[:6]}, "
            f"unexpected keys {unexpected[:6]}, wrong shapes {shapes[:6]}"
        )
    module.load_state_dict(dict(state), strict=True)
