"""timm backbones for the retrieval methods, and strict loading of local pretrained weights.

Weights are never downloaded: every model is created with random weights and weights come only
from a local file, named by the user or found in a weights directory:

- ``pretrained: null`` / ``"none"``: random init (the explicit opt-out of a paper preset).
- ``pretrained: "imagenet"``: the backbone's ImageNet file, looked up by name
  (:data:`KNOWN_FILES`, then the timm model name, with any of :data:`WEIGHT_SUFFIXES`, or a
  folder of that name holding ``model.safetensors`` / ``pytorch_model.bin``) in
  ``method.weights_dir`` or the directory named by ``$CROSSVIEW_WEIGHTS``.
- ``pretrained: PATH``: that file.

A file may be in timm's key layout, or in a layout timm converts itself (its
``checkpoint_filter_fn`` / ``_filter_fn`` of the model's module: torchvision VGG, official
ConvNeXt), or a torchvision ConvNeXt (converted here, as timm has no converter for it);
torchvision ResNets share timm's keys. After conversion the file must match the full
classification model key for key and shape, except its classifier (the head the methods drop;
an ImageNet-21k head of another size is allowed); the method's module (a ``features_only``
wrapper, a model without classifier, CDE's truncated ResNet34) takes its subset, strictly.
``crossview weights check FILE --method M`` reports all of this without loading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from crossview.errors import ConfigError

logger = logging.getLogger(__name__)

_MAX_KEYS_SHOWN = 5
WEIGHTS_ENV = "CROSSVIEW_WEIGHTS"
"""Environment variable naming the directory searched for ``pretrained: imagenet`` files."""
IMAGENET = "imagenet"
"""The ``pretrained`` value that looks the backbone's ImageNet weights up by name."""
NO_WEIGHTS = ("none", "null", "")
"""``pretrained`` values meaning random init (case-insensitive), besides ``None``."""
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
"""File suffixes tried for each known name."""
KNOWN_FILES: dict[str, tuple[str, ...]] = {
    # The first name is the weights the papers used; the others are accepted as well.
    "vgg16": ("vgg16.tv_in1k", "vgg16-397923af"),
    "resnet34": ("resnet34.tv_in1k", "resnet34-b627a593", "resnet34-333f7ec4"),
    "convnext_base": (
        "convnext_base.fb_in22k_ft_in1k_384",  # Sample4Geo's (and so CLNet's) starting point
        "convnext_base_22k_1k_384",  # the same weights, official ConvNeXt release name
        "convnext_base.fb_in22k_ft_in1k",
        "convnext_base_22k_1k_224",
        "convnext_base.fb_in1k",
        "convnext_base_1k_224_ema",
    ),
}
"""File stems looked up in the weights directory per timm model (then the model name itself)."""
_HF_FILES = ("model.safetensors", "pytorch_model.bin")
_HEAD_KWARGS = ("features_only", "out_indices", "num_classes")


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


def create_backbone(
    name: str, pretrained: str | Path | None = None, pretrained_sha256: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Create a timm model with ``kwargs`` (random init, or weights from a local file).

    ``pretrained`` is a resolved file (see :func:`resolve_pretrained`); it is converted and
    checked against the full classification model ``name`` (:func:`load_backbone_weights`).
    """
    model = create_timm_model(name, **kwargs)
    if pretrained is not None:
        load_backbone_weights(model, name, pretrained, pretrained_sha256, **kwargs)
    return model


class FeatureBackbone(nn.Module):
    """A timm ``features_only`` CNN returning one feature map ``(B, C, H/r, W/r)``.

    Args:
        name: timm model name.
        out_index: Index into timm's ``feature_info`` of the map to return (e.g. ``vgg16`` 4 =
            conv5_3 at stride 16; ``resnet34`` 3 = layer3 at stride 16).
        pretrained: Local weights file (resolved; see :func:`load_backbone_weights`).
        pretrained_sha256: Optional expected SHA-256 of ``pretrained``.
        **timm_kwargs: Extra timm arguments (the same are used to check ``pretrained``).

    """

    def __init__(
        self,
        name: str,
        out_index: int,
        pretrained: str | Path | None = None,
        pretrained_sha256: str | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.name = name
        self.timm_kwargs = dict(timm_kwargs)
        build = dict(timm_kwargs)
        if name.startswith("vgg") and "mlp_ratio" not in build:
            # timm builds VGG's 4096-wide classifier MLP (120M values) before the feature wrapper
            # drops it; a minimal width builds 10x faster and changes no kept module.
            build["mlp_ratio"] = 1.0 / 4096
        self.body: Any = create_backbone(name, features_only=True, out_indices=(out_index,),
                                         **build)
        if pretrained is not None:
            load_backbone_weights(self.body, name, pretrained, pretrained_sha256,
                                  features_only=True, out_indices=(out_index,), **timm_kwargs)
        info: Any = self.body.feature_info
        self.out_channels: int = info.channels()[-1]
        self.reduction: int = info.reduction()[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(B, 3, H, W)`` (normalised) -> feature map ``(B, C, H', W')``."""
        return self.body(x)[-1]

    def stage_modules(self) -> list[str]:
        """Child names of :attr:`body` ending each timm feature stage, in order."""
        with torch.device("meta"):
            every = create_timm_model(self.name, features_only=True, **self.timm_kwargs)
        info: Any = every.feature_info
        names = [d["module"] for d in info.get_dicts()]
        children = [n for n, _ in self.body.named_children()]
        out = []
        for name in names:
            flat = name.replace(".", "_")
            match = name if name in children else flat if flat in children else None
            if match is None:
                break  # stages past the returned one are not in the body
            out.append(match)
        return out


# --- pretrained weights: where the file is ---------------------------------------------------
def weights_directory(weights_dir: str | Path | None = None) -> Path | None:
    """The directory searched for ``pretrained: imagenet`` (``weights_dir``, else the env)."""
    value = weights_dir if weights_dir not in (None, "") else os.environ.get(WEIGHTS_ENV)
    return Path(value).expanduser() if value else None


def weight_candidates(backbone: str, directory: Path) -> list[Path]:
    """Files ``pretrained: imagenet`` accepts for ``backbone`` in ``directory``, preferred first."""
    stems = [*KNOWN_FILES.get(backbone, ()), backbone]
    out = [directory / f"{stem}{suffix}" for stem in stems for suffix in WEIGHT_SUFFIXES]
    out += [directory / stem / name for stem in stems for name in _HF_FILES]
    return out


def is_random_init(pretrained: str | Path | None) -> bool:
    """Whether a ``pretrained`` value means random init (``None``, ``"none"``, ``"null"``)."""
    return pretrained is None or str(pretrained).strip().lower() in NO_WEIGHTS


def resolve_pretrained(
    pretrained: str | Path | None, backbone: str, weights_dir: str | Path | None = None
) -> Path | None:
    """The local file a ``pretrained`` value names for ``backbone`` (``None``: random init).

    Raises:
        ConfigError: One line naming the expected file and the ways to give it.

    """
    if is_random_init(pretrained):
        return None
    ways = (f"give method.pretrained=PATH, set {WEIGHTS_ENV}=DIR or method.weights_dir=DIR, or "
            "method.pretrained=none to train from random init")
    if str(pretrained).strip().lower() == IMAGENET:
        directory = weights_directory(weights_dir)
        first = weight_candidates(backbone, directory or Path(f"${WEIGHTS_ENV}"))
        if directory is not None:
            for path in weight_candidates(backbone, directory):
                if path.is_file():
                    return path
        where = f"in {directory}" if directory is not None else f"(${WEIGHTS_ENV} is not set)"
        others = ", ".join(s for s in KNOWN_FILES.get(backbone, ())[1:3])
        raise ConfigError(
            f"{backbone} ImageNet weights not found {where}: expected {first[0]} (or .pth; "
            f"also accepted: {others + ', ' if others else ''}{backbone}.pth) there; {ways}"
        )
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise ConfigError(f"pretrained weights {path}: file not found (weights are never "
                          f"downloaded); {ways}")
    return path


# --- pretrained weights: reading and converting ----------------------------------------------
def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a local ``.safetensors`` or torch file (``weights_only=True``).

    A torch file holding ``{"state_dict": ...}``, ``{"model": ...}`` or ``{"model_state": ...}``
    is unwrapped (common checkpoint layouts), and a ``module.`` prefix on every key (a
    DistributedDataParallel save) is removed; anything that is not a mapping of tensors is
    rejected. Torch files are memory-mapped where possible, so unused tensors are never read.
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
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) torch files cannot be memory-mapped
                state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise ConfigError(
            f"pretrained weights {path}: cannot be read ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    for wrapper in ("state_dict", "model", "model_state"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ConfigError(
            f"pretrained weights {path}: expected a mapping of parameter names to tensors"
        )
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def torchvision_convnext_to_timm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a torchvision ``convnext_*`` state dict to timm's ConvNeXt keys.

    torchvision: ``features.0`` stem, ``features.{1,3,5,7}.j`` blocks of stage 0-3 (``block.0``
    depthwise conv, ``block.2`` LayerNorm, ``block.3`` / ``block.5`` MLP, ``layer_scale``
    ``(C, 1, 1)``), ``features.{2,4,6}`` downsampling into stage 1-3, ``classifier.0`` norm,
    ``classifier.2`` linear. timm: ``stem``, ``stages.i.downsample``, ``stages.i.blocks.j``
    (``conv_dw``, ``norm``, ``mlp.fc1``, ``mlp.fc2``, ``gamma`` ``(C,)``), ``head.norm``,
    ``head.fc``.
    """
    parts = {"0": "conv_dw", "2": "norm", "3": "mlp.fc1", "5": "mlp.fc2"}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        new: str | None = None
        m = re.fullmatch(r"features\.(\d+)\.(\d+)\.(.+)", key)
        if key.startswith("features.0."):
            new = "stem." + key[len("features.0."):]
        elif m:
            feature, index, rest = int(m.group(1)), m.group(2), m.group(3)
            if feature % 2 == 1:  # a stage's blocks
                stage = (feature - 1) // 2
                if rest == "layer_scale":
                    new, value = f"stages.{stage}.blocks.{index}.gamma", value.reshape(-1)
                else:
                    b = re.fullmatch(r"block\.(\d+)\.(weight|bias)", rest)
                    if b and b.group(1) in parts:
                        new = f"stages.{stage}.blocks.{index}.{parts[b.group(1)]}.{b.group(2)}"
            else:  # a downsampling layer: index 0 norm, 1 conv
                new = f"stages.{feature // 2}.downsample.{index}.{rest}"
        elif key.startswith("classifier.0."):
            new = "head.norm." + key[len("classifier.0."):]
        elif key.startswith("classifier.2."):
            new = "head.fc." + key[len("classifier.2."):]
        out[new if new is not None else key] = value
    return out


def _timm_filter(name: str) -> Any:
    """Timm's own converter of foreign checkpoints for model ``name`` (None if it has none)."""
    import importlib

    import timm

    module = importlib.import_module(timm.models.model_entrypoint(name).__module__)
    return getattr(module, "checkpoint_filter_fn", None) or getattr(module, "_filter_fn", None)


def _head_free(keys: Iterable[str], classifier: str | None) -> set[str]:
    if not classifier:
        return set(keys)
    return {k for k in keys if not k.startswith(classifier + ".")}


def convert_state(state: dict[str, Tensor], name: str, full: nn.Module
                  ) -> tuple[dict[str, Tensor], str]:
    """Bring ``state`` into timm's keys of model ``name`` (``full``, any device, e.g. meta).

    Returns the converted state and the format it was in: ``timm`` (keys as they are),
    ``converted by timm (<function>)`` or ``torchvision ConvNeXt (converted by crossview)``.
    The first conversion whose keys match the model's (classifier aside) wins; otherwise the
    state is returned as it is, and the mismatch is reported by the caller.
    """
    classifier = getattr(full, "pretrained_cfg", {}).get("classifier")
    own = _head_free(full.state_dict().keys(), classifier)
    if _head_free(state, classifier) == own:
        return state, "timm"
    attempts: list[tuple[str, Any]] = []
    fn = _timm_filter(name)
    if fn is not None:
        nargs = len(inspect.signature(fn).parameters)
        attempts.append((f"converted by timm ({fn.__module__}.{fn.__name__})",
                         (lambda s: fn(s, full)) if nargs >= 2 else fn))
    if "convnext" in name:
        attempts.append(("torchvision ConvNeXt (converted by crossview)",
                         torchvision_convnext_to_timm))
    for label, convert in attempts:
        try:
            candidate = dict(convert(dict(state)))
        except (KeyError, RuntimeError, ValueError, IndexError):
            continue  # not this format
        if _head_free(candidate, classifier) == own:
            return candidate, label
    return state, "unknown"


# --- pretrained weights: checking and loading ------------------------------------------------
@dataclasses.dataclass
class WeightsReport:
    """What a weights file gives a module (``crossview weights check``)."""

    path: Path
    backbone: str
    format: str
    """``timm``, ``converted by timm (...)``, ``torchvision ConvNeXt (...)`` or ``unknown``."""
    target_keys: int
    """Tensors of the module the file is loaded into."""
    filled: int
    """Module tensors the file fills (name and shape match)."""
    missing: list[str]
    """Model keys (classifier aside) absent from the file."""
    unexpected: list[str]
    """File keys that are no key of the model (classifier aside)."""
    mismatched: list[str]
    """``key: file shape vs model shape``."""
    classifier: str
    """What happens to the file's classifier (never used by the methods)."""
    target: str = ""
    """Name of the module (e.g. ``ground_branch.local.backbone.body``)."""

    @property
    def ok(self) -> bool:
        """Whether the file fills every tensor of the module strictly."""
        return not (self.missing or self.unexpected or self.mismatched) and (
            self.filled == self.target_keys)

    def problem(self) -> str:
        """One line naming the first offending keys (empty when :attr:`ok`)."""
        if self.ok:
            return ""
        return (f"pretrained weights {self.path} ({self.format} format) do not match "
                f"{self.backbone}: {len(self.missing)} missing keys "
                f"{self.missing[:_MAX_KEYS_SHOWN]}, {len(self.unexpected)} unexpected keys "
                f"{self.unexpected[:_MAX_KEYS_SHOWN]}, {len(self.mismatched)} shape mismatches "
                f"{self.mismatched[:_MAX_KEYS_SHOWN]} (file vs model)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = dataclasses.asdict(self)
        out["path"], out["ok"] = str(self.path), self.ok
        return out


def _match_keys(target: Iterable[str], source: Iterable[str]) -> dict[str, str]:
    """Target key -> source key: equal, or equal once dots become underscores.

    timm's feature wrappers flatten nested sequences (``features.0`` -> ``features_0``), so a
    target key may only match after that normalisation; an ambiguous normalised key is not used.
    """
    source = list(source)
    exact = set(source)
    flat: dict[str, list[str]] = {}
    for key in source:
        flat.setdefault(key.replace(".", "_"), []).append(key)
    out = {}
    for key in target:
        if key in exact:
            out[key] = key
        else:
            hits = flat.get(key.replace(".", "_"), [])
            if len(hits) == 1:
                out[key] = hits[0]
    return out


def _full_model(name: str, timm_kwargs: Mapping[str, Any]) -> nn.Module:
    kwargs = {k: v for k, v in timm_kwargs.items() if k not in _HEAD_KWARGS}
    with torch.device("meta"):  # keys and shapes only: no memory, no init cost
        return create_timm_model(name, **kwargs)


def inspect_weights(target: nn.Module, name: str, path: str | Path,
                    state: dict[str, Tensor] | None = None, **timm_kwargs: Any
                    ) -> tuple[WeightsReport, dict[str, Tensor]]:
    """Check a weights file against timm model ``name`` and the module ``target`` it is for.

    Returns the report and ``target``'s state from the file (complete only when ``ok``).
    ``target`` may live on any device (the meta device for a check without memory).
    """
    path = Path(path)
    state = read_state_dict(path) if state is None else state
    full = _full_model(name, timm_kwargs)
    converted, fmt = convert_state(state, name, full)
    classifier = getattr(full, "pretrained_cfg", {}).get("classifier")
    model_state = full.state_dict()
    own = _head_free(model_state, classifier)
    have = _head_free(converted, classifier)
    missing = sorted(own - have)
    unexpected = sorted(have - own)
    mismatched = [f"{k}: {tuple(converted[k].shape)} vs {tuple(model_state[k].shape)}"
                  for k in sorted(own & have)
                  if tuple(converted[k].shape) != tuple(model_state[k].shape)]
    head = [k for k in converted if classifier and k.startswith(classifier + ".")]
    if not classifier:
        head_note = "none"
    elif not head:
        head_note = f"{classifier}: absent from the file (not used)"
    else:
        rows = converted[head[0]].shape[0]
        head_note = f"{classifier}: {rows} classes in the file, not used by the method"
    target_state = target.state_dict()
    mapping = _match_keys(target_state, converted)
    loaded = {}
    for k, src in mapping.items():
        if tuple(converted[src].shape) == tuple(target_state[k].shape):
            loaded[k] = converted[src]
        elif src not in own or tuple(converted[src].shape) == tuple(model_state[src].shape):
            mismatched.append(f"{k}: {tuple(converted[src].shape)} vs "
                              f"{tuple(target_state[k].shape)} (module)")
    unmapped = [k for k in target_state if k not in mapping]
    missing += [f"{k} (module key)" for k in unmapped if k not in missing]
    report = WeightsReport(path, name, fmt, len(target_state), len(loaded), missing, unexpected,
                           mismatched, head_note)
    return report, loaded


def load_backbone_weights(target: nn.Module, name: str, path: str | Path,
                          sha256: str | None = None, state: dict[str, Tensor] | None = None,
                          **timm_kwargs: Any) -> WeightsReport:
    """Load a weights file for timm model ``name`` into ``target`` strictly (see module doc).

    ``state``: the file's tensors when the caller has read them already (several slots).

    Raises:
        ConfigError: unreadable file, checksum mismatch, or any missing / unexpected key or
            shape mismatch (naming the file, its format and the first offending keys).

    """
    path = Path(path)
    _check_sha256(path, sha256)
    report, loaded = inspect_weights(target, name, path, state, **timm_kwargs)
    if not report.ok:
        raise ConfigError(report.problem())
    with torch.no_grad():
        target.load_state_dict(loaded, strict=True)
    logger.info("loaded %d tensors of %s from %s (%s)", report.filled, name, path, report.format)
    return report


def _check_sha256(path: Path, sha256: str | None) -> None:
    """Raise when ``path`` exists and its SHA-256 is not the one the user gave."""
    if sha256 is not None and path.is_file():
        actual = sha256_of(path)
        if actual.lower() != sha256.lower():
            raise ConfigError(
                f"pretrained weights {path}: sha256 {actual} does not match the expected {sha256}"
            )


def load_pretrained(module: nn.Module, path: str | Path, sha256: str | None = None) -> None:
    """Verify a local weights file and load it into ``module`` strictly (keys as they are).

    Args:
        module: The module whose ``state_dict`` keys and shapes the file must match exactly.
        path: Local ``.pth`` / ``.pt`` / ``.safetensors`` file.
        sha256: Expected hex SHA-256 of the file, if the user gave one.

    Raises:
        ConfigError: Missing or unreadable file, checksum mismatch, missing / unexpected keys or
            shape mismatches (naming the file and the first few offending keys).

    """
    path = Path(path)
    _check_sha256(path, sha256)
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


# --- methods: which modules take pretrained weights ------------------------------------------
@dataclasses.dataclass(frozen=True)
class PretrainedSlot:
    """A module of a method initialised from a backbone's ImageNet weights."""

    name: str
    """Attribute path in the method (for reports), e.g. ``backbone``."""
    backbone: str
    """timm model whose weights it takes (``vgg16``, ``resnet34``, ``convnext_base``)."""
    module: nn.Module
    timm_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """timm arguments the module was built with (the full model is built the same way)."""


def require_pretrained(config: Any, *backbones: str) -> None:
    """Fail before building anything when ``config.pretrained`` names weights that are absent.

    Methods call it first in their constructor, so a missing file costs no model build.
    """
    for backbone in backbones:
        resolve_pretrained(config.pretrained, backbone, getattr(config, "weights_dir", None))


def init_pretrained(method: Any) -> list[WeightsReport]:
    """Load ``method.config.pretrained`` into every slot of ``method.pretrained_slots()``.

    Slots sharing a module are loaded once. Nothing happens for random init.
    """
    cfg = method.config
    if is_random_init(cfg.pretrained):
        return []
    reports = []
    seen: set[int] = set()
    states: dict[Path, dict[str, Tensor]] = {}  # SAFA's two branches read one file once
    for slot in method.pretrained_slots():
        if id(slot.module) in seen:
            continue
        seen.add(id(slot.module))
        path = resolve_pretrained(cfg.pretrained, slot.backbone, getattr(cfg, "weights_dir", None))
        assert path is not None  # random init returned above
        path = Path(path)
        if path not in states:
            _check_sha256(path, getattr(cfg, "pretrained_sha256", None))
            states[path] = read_state_dict(path)
        report = load_backbone_weights(slot.module, slot.backbone, path, state=states[path],
                                       **slot.timm_kwargs)
        reports.append(dataclasses.replace(report, target=slot.name))
    return reports


def check_weights_file(method: Any, path: str | Path) -> list[WeightsReport]:
    """Report what a weights file fills in every pretrained slot of ``method`` (no loading)."""
    path = Path(path)
    state = read_state_dict(path)
    out = []
    for slot in method.pretrained_slots():
        report, _ = inspect_weights(slot.module, slot.backbone, path, state, **slot.timm_kwargs)
        out.append(dataclasses.replace(report, target=slot.name))
    return out


def check_weights(method_name: str, path: str | Path, preset: str = "paper",
                  overrides: Mapping[str, Any] | None = None) -> list[WeightsReport]:
    """What a weights file fills in method ``method_name`` built from ``preset`` (no loading).

    The method is built on the meta device (shapes only: instant, no memory), with random init,
    and each of its pretrained slots is checked (``crossview weights check``).

    Raises:
        ConfigError: The method has no module that takes pretrained weights, or the file is
            unreadable.

    """
    from crossview.methods.registry import create_method

    with torch.device("meta"):
        method = create_method(method_name, preset, **{**dict(overrides or {}),
                                                      "pretrained": None})
    if not method.pretrained_slots():
        raise ConfigError(f"method {method_name!r} (preset {preset!r}) has no module that takes "
                          "pretrained backbone weights")
    return check_weights_file(method, path)
