"""timm backbones for the retrieval methods, and strict loading of local pretrained weights.

Weights are never downloaded: every model is created with ``pretrained=False`` and weights come
only from a local file named by the user (``config.pretrained``), checked and loaded strictly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from crossview.errors import ConfigError

logger = logging.getLogger(__name__)

_MAX_KEYS_SHOWN = 5


def create_timm_model(name: str, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=False, **kwargs)`` with a one-line error for bad names.

    Args:
        name: A timm model name, e.g. ``"vgg16"``, ``"resnet34"``, ``"convnext_base"``.
        **kwargs: Passed to timm (``features_only``, ``out_indices``, ``num_classes``, ``dims``...).

    """
    import timm

    if not timm.is_model(name):
        from crossview.errors import unknown_name_error

        raise unknown_name_error("timm backbone", name, timm.list_models(name.split("_")[0] + "*"))
    try:
        return timm.create_model(name, pretrained=False, **kwargs)
    except TypeError as err:
        raise ConfigError(f"backbone {name!r}: bad timm arguments {kwargs}: {err}") from None


_HEAD_KWARGS = ("features_only", "out_indices", "num_classes")


def create_backbone(
    name: str, pretrained: str | None = None, pretrained_sha256: str | None = None, **kwargs: Any
) -> nn.Module:
    """Create a timm model (random init, or weights from a local file) with ``kwargs``.

    With ``pretrained``, the file must match the *full* classification model ``name`` (the form
    timm and ImageNet checkpoints are published in) exactly; it is loaded strictly into that model,
    whose tensors are then copied into the requested variant (``features_only`` or
    ``num_classes=0``, which hold a subset of its keys).

    Args:
        name: timm model name.
        pretrained: Local weights file, or None for random init.
        pretrained_sha256: Optional expected SHA-256 of the file.
        **kwargs: timm arguments of the returned model.

    """
    model = create_timm_model(name, **kwargs)
    if pretrained is not None:
        full = create_timm_model(name, **{k: v for k, v in kwargs.items() if k not in _HEAD_KWARGS})
        load_pretrained(full, pretrained, pretrained_sha256)
        copy_matching_state(full, model)
    return model


class FeatureBackbone(nn.Module):
    """A timm ``features_only`` CNN returning one feature map ``(B, C, H/r, W/r)``.

    Args:
        name: timm model name.
        out_index: Index into timm's ``feature_info`` of the map to return (e.g. ``vgg16`` 4 =
            conv5_3 at stride 16; ``resnet34`` 3 = layer3 at stride 16).
        pretrained: Local weights file of the full timm model (see :func:`load_pretrained`).
        pretrained_sha256: Optional expected SHA-256 of ``pretrained``.
        **timm_kwargs: Extra timm arguments (the same are used to check ``pretrained``).

    """

    def __init__(
        self,
        name: str,
        out_index: int,
        pretrained: str | None = None,
        pretrained_sha256: str | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.body: Any = create_backbone(
            name,
            pretrained,
            pretrained_sha256,
            features_only=True,
            out_indices=(out_index,),
            **timm_kwargs,
        )
        info: Any = self.body.feature_info
        self.out_channels: int = info.channels()[-1]
        self.reduction: int = info.reduction()[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, 3, H, W)`` (normalised) -> feature map ``(B, C, H', W')``."""
        return self.body(x)[-1]


def copy_matching_state(source: nn.Module, target: nn.Module) -> None:
    """Copy ``source``'s tensors into ``target``, which must hold a subset of its keys.

    timm's ``features_only`` wrappers keep the original module names, so the feature extractor's
    state is a subset of the classification model's; every target key must be found.
    """
    src = source.state_dict()
    missing = [k for k in target.state_dict() if k not in src]
    if missing:
        raise ConfigError(
            f"pretrained weights lack {len(missing)} backbone keys, "
            f"e.g. {missing[:_MAX_KEYS_SHOWN]}"
        )
    target.load_state_dict({k: src[k] for k in target.state_dict()}, strict=True)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a local ``.safetensors`` or torch file (``weights_only=True``).

    A torch file holding ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped (common
    checkpoint layouts); anything that is not a mapping of tensors is rejected.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights {path}: file not found (weights are never downloaded; "
            "give the path of a local .pth/.safetensors file)"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise ConfigError(
            f"pretrained weights {path}: cannot be read ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ConfigError(
            f"pretrained weights {path}: expected a mapping of parameter names to tensors"
        )
    return dict(state)


def load_pretrained(module: nn.Module, path: str | Path, sha256: str | None = None) -> None:
    """Verify a local weights file and load it into ``module`` strictly.

    Args:
        module: The module whose ``state_dict`` keys and shapes the file must match exactly.
        path: Local ``.pth`` / ``.pt`` / ``.safetensors`` file.
        sha256: Expected hex SHA-256 of the file, if the user gave one.

    Raises:
        ConfigError: Missing or unreadable file, checksum mismatch, missing / unexpected keys or
            shape mismatches (naming the file and the first few offending keys).

    """
    path = Path(path)
    if sha256 is not None and path.is_file():
        actual = sha256_of(path)
        if actual.lower() != sha256.lower():
            raise ConfigError(
                f"pretrained weights {path}: sha256 {actual} does not match the expected {sha256}"
            )
    state = read_state_dict(path)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ConfigError(
            f"pretrained weights {path} do not match {type(module).__name__}: "
            f"{len(missing)} missing keys {missing[:_MAX_KEYS_SHOWN]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:_MAX_KEYS_SHOWN]}"
        )
    bad = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise ConfigError(
            f"pretrained weights {path}: {len(bad)} shape mismatches (file vs model), "
            f"e.g. {bad[:_MAX_KEYS_SHOWN]}"
        )
    module.load_state_dict(state, strict=True)
    logger.info("loaded %d tensors from %s", len(state), path)
