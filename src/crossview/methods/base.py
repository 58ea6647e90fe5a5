"""The small contract every method implements (see STYLE.md §3).

A method is an ``nn.Module`` that encodes each view into L2-normalised descriptors, returns named
losses from ``training_step``, and *declares* its optimizers and the order in which they step as
data. The one trainer, the evaluator, the index and ``locate`` use nothing else.

Inputs (DESIGN.md "Tensors"): ``ground`` float32 ``(B, 3, Hg, Wg)`` in ``[0, 1]`` at
``input_spec.ground_hw``; ``aerial`` float32 ``(B, 3, S, S)`` north-up tiles in ``[0, 1]`` at
``input_spec.aerial_size``, both made by the one input path (:mod:`crossview.data.inputs`) from
the method's :class:`~crossview.data.inputs.InputSpec`. A method that works on polar-transformed
tiles applies the transform itself inside ``encode_aerial`` (the data pipeline never does), and
owns its normalisation (declared as ``InputSpec.mean`` / ``std``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from crossview.config import Config
from crossview.data.inputs import InputSpec
from crossview.errors import ConfigError, unknown_name_error

if TYPE_CHECKING:
    from crossview.methods.matching import GroundMap
    from crossview.methods.registry import Preset


@dataclasses.dataclass
class ScheduleSpec(Config):
    """Learning-rate schedule, as data."""

    kind: Literal["constant", "cosine", "step"] = "constant"
    """``constant``; ``cosine`` decay to ``min_lr_ratio * lr``; ``step`` decays by ``gamma``."""
    warmup_steps: int = 0
    """Linear warm-up steps from 0 to the base learning rate."""
    warmup_epochs: float = 0.0
    """Further warm-up in epochs (Sample4Geo: 1, or 0.1 on University-1652), turned into steps
    by the trainer once it knows the epoch length; adds to ``warmup_steps``."""
    min_lr_ratio: float = 0.0
    """Final learning rate of the cosine schedule, relative to the base rate."""
    step_size: int = 1000
    """Steps between decays for ``step``."""
    gamma: float = 0.1
    """Decay factor for ``step``."""


@dataclasses.dataclass
class OptimizerSpec:
    """One optimizer a method declares: which parameters, which algorithm, which schedule."""

    params: list[nn.Parameter] | list[dict[str, Any]]
    kind: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: ScheduleSpec = dataclasses.field(default_factory=ScheduleSpec)


@dataclasses.dataclass(frozen=True)
class Phase:
    """One update within a training iteration: losses of ``name`` step optimizer ``optimizer``.

    Retrieval methods declare a single phase; GAN methods declare e.g. ``D`` then ``G``; staged
    methods give each stage its epochs (a schedule as data: the trainer runs, in each epoch, the
    phases whose range holds it, and sizes each optimizer's LR schedule to its active epochs).
    """

    name: str
    optimizer: str
    epochs: tuple[int, int | None] = (0, None)
    """Epochs ``[first, last)`` in which the phase runs (``None``: to the end)."""

    def __post_init__(self) -> None:
        first, last = self.epochs
        if first < 0 or (last is not None and last <= first):
            raise ConfigError(f"phase {self.name!r}: epochs must be [first >= 0, last > first), "
                              f"got {self.epochs}")

    def active(self, epoch: int) -> bool:
        """Whether the phase runs in ``epoch`` (0-based)."""
        first, last = self.epochs
        return epoch >= first and (last is None or epoch < last)


@dataclasses.dataclass
class MethodConfig(Config):
    """Fields every method config has; methods subclass this with their own fields."""

    ground_hw: tuple[int, int] = (128, 512)
    """Ground input size ``(H, W)``."""
    aerial_size: int = 256
    """Aerial tile input side ``S``."""
    pretrained: str | None = None
    """Backbone weights, never downloaded: ``None`` / ``"none"`` random init, ``"imagenet"`` the
    backbone's ImageNet file found in :attr:`weights_dir` (or ``$CROSSVIEW_WEIGHTS``), or a path
    (:mod:`crossview.methods.backbones`)."""
    weights_dir: str | None = None
    """Directory searched for ``pretrained: imagenet`` files (default ``$CROSSVIEW_WEIGHTS``)."""

    def __post_init__(self) -> None:
        # "none" (the CLI's explicit opt-out) and None mean the same: store one form.
        from crossview.methods.backbones import is_random_init

        if is_random_init(self.pretrained):
            self.pretrained = None


class Method(nn.Module):
    """Base class of every registered method."""

    name: ClassVar[str] = "base"
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    presets: ClassVar[dict[str, Preset]] = {}
    """Named recipes, set by :func:`~crossview.methods.registry.register_method`."""

    def __init__(self, config: MethodConfig) -> None:
        super().__init__()
        self.config = config

    # --- what the data pipeline needs -------------------------------------------------------
    @property
    def input_spec(self) -> InputSpec:
        """Input sizes and conventions for the one input path (:mod:`crossview.data.inputs`)."""
        return InputSpec(ground_hw=self.config.ground_hw, aerial_size=self.config.aerial_size)

    @property
    def descriptor_dim(self) -> int:
        """Length ``D`` of the descriptors returned by the encoders."""
        raise NotImplementedError

    # --- inference ---------------------------------------------------------------------------
    def encode_ground(self, ground: Tensor) -> Tensor:
        """Ground images ``(B, 3, Hg, Wg)`` in [0, 1] -> L2-normalised descriptors ``(B, D)``."""
        raise NotImplementedError

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> L2-normalised descriptors ``(B, D)``."""
        raise NotImplementedError

    synthesis_source: ClassVar[Literal["aerial", "ground"]] = "aerial"
    """The view :meth:`synthesize` takes; it returns the other one (``crossview synthesize``,
    synthesis metrics and sample grids follow it)."""

    def synthesize(self, source: Tensor) -> Tensor:
        """Synthesize the other view in [0, 1] from ``source`` (synthesis methods).

        ``synthesis_source == "aerial"``: tiles ``(B, 3, S, S)`` -> ground panoramas
        ``(B, 3, Hg, Wg)``; ``"ground"``: panoramas -> tiles.
        """
        raise NotImplementedError(f"method {self.name!r} does not synthesize views")

    def synthesize_outputs(self, source: Tensor) -> dict[str, Tensor]:
        """The synthesized view and its by-products (e.g. a segmentation map), by name.

        Key ``""`` is the view :meth:`synthesize` returns; ``crossview synthesize`` writes it as
        ``<stem>.png`` and every other key ``k`` (file-name-safe) as ``<stem>_<k>.png``. Each value
        is a ``(B, 3 or 1, H, W)`` batch in [0, 1]. A key ending in ``.npy`` holds ``(B, C, H, W)``
        values in their own unit (e.g. depth in metres), written as ``<stem>_<k>``. A method with
        inference options of its own (Sat2Density: ``illumination``, ``camera_height_m``) adds
        them as keyword parameters; :func:`crossview.inference.synthesize_files` forwards its
        ``**options`` and refuses those the method does not take. Default:
        ``{"": synthesize(source)}``.
        """
        return {"": self.synthesize(source)}

    @property
    def can_synthesize(self) -> bool:
        """Whether :meth:`synthesize` is implemented."""
        return type(self).synthesize is not Method.synthesize

    @property
    def can_retrieve(self) -> bool:
        """Whether the encoders give descriptors; the trainer evaluates by synthesis otherwise."""
        return True

    def retrieval_variants(self) -> list[str]:
        """Other descriptor pairs the method can give (e.g. one per stage); default none.

        Evaluation scores each beside the default descriptors (``result["variants"]``), so one
        run can report a paper's whole table; :meth:`variant` selects one.
        """
        return []

    @contextlib.contextmanager
    def variant(self, name: str | None) -> Iterator[None]:
        """Encode with descriptor variant ``name`` for the duration (``None``: the default)."""
        if name is not None and name not in self.retrieval_variants():
            raise unknown_name_error(f"descriptor variant of {self.name!r}", name,
                                     self.retrieval_variants())
        previous = self.active_variant
        self.__dict__["_variant"] = name
        try:
            yield
        finally:
            self.__dict__["_variant"] = previous

    @property
    def active_variant(self) -> str | None:
        """The descriptor variant the encoders give now (``None``: the default)."""
        return self.__dict__.get("_variant")

    # --- orientation-aware matching (optional; crossview.methods.matching) --------------------
    @property
    def can_match(self) -> bool:
        """Whether the method gives polar-aligned feature maps for :meth:`match` (DSM).

        Such a method's ``encode_aerial`` returns its aerial map flattened and L2-normalised
        (``match_shape`` tells how to fold it back), so a GeoIndex of those descriptors holds the
        maps, and its ``encode_ground`` the ground map the same way (the score at heading 0).
        """
        return False

    @property
    def match_shape(self) -> tuple[int, int, int]:
        """``(C, h, W)`` of the feature maps :meth:`match` compares."""
        raise NotImplementedError(f"method {self.name!r} does not match feature maps")

    def ground_features(self, ground: Tensor) -> GroundMap:
        """Ground images ``(B, 3, Hg, Wg)`` -> feature maps and where they saw something."""
        raise NotImplementedError(f"method {self.name!r} does not match feature maps")

    def aerial_features(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` -> polar-aligned feature maps ``(B, C, h, W)``."""
        raise NotImplementedError(f"method {self.name!r} does not match feature maps")

    def match(self, ground: GroundMap, aerial: Tensor) -> tuple[Tensor, Tensor]:
        """Similarity ``(Q, N)`` and heading ``(Q, N)`` (deg) of every query/tile pair.

        Default: DSM's correlation over every azimuth shift
        (:func:`crossview.methods.matching.match_maps`).
        """
        from crossview.methods.matching import match_maps

        return match_maps(ground, aerial)

    # --- training ----------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """Updates per iteration, in order. Default: one phase stepping optimizer ``main``."""
        return [Phase("main", "main")]

    def optimizers(self) -> dict[str, OptimizerSpec]:
        """Optimizers by name, declared as data; the trainer builds them."""
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any], step: int, phase: str = "main"
                      ) -> dict[str, Tensor]:
        """Named losses of ``phase`` on ``batch``; must contain ``"total"`` (what is minimised)."""
        raise NotImplementedError

    def forward(self, batch: dict[str, Any], step: int = 0, phase: str = "main"
                ) -> dict[str, Tensor]:
        """Alias of :meth:`training_step`, so DDP's gradient hooks see the training call."""
        return self.training_step(batch, step, phase)

    def check_training_data(self, table: Any) -> None:
        """Check the training ``PairTable`` at start (``None`` for other datasets).

        The trainer calls it before any work: refuse data the method cannot train on, or say
        what the method will do without an optional input. Default: nothing to check.
        """

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at each epoch start (hard-mining schedules depend on it)."""

    def pretrained_slots(self) -> list[Any]:
        """Modules initialised from ImageNet weights by ``config.pretrained``; default none.

        A list of :class:`~crossview.methods.backbones.PretrainedSlot`; ``crossview weights
        check`` and :func:`~crossview.methods.backbones.init_pretrained` use it.
        """
        return []

    def compile_targets(self) -> list[nn.Module]:
        """Submodules ``train.compile`` compiles in place (``nn.Module.compile``).

        Default: the direct children whose ``forward`` the encoders call. A method whose
        encoders call parts of a child (not its ``forward``) lists those parts instead. In-place
        compilation keeps parameter names, so checkpoints are unchanged.
        """
        return [m for m in self.children() if any(True for _ in m.parameters())]

    def extra_state(self) -> dict[str, Any]:
        """Non-parameter state to checkpoint (e.g. counters); default none."""
        return {}


def l2_normalize(x: Tensor, dim: int = -1) -> Tensor:
    """L2-normalise along ``dim`` (float32 output, safe for zero vectors)."""
    return nn.functional.normalize(x.float(), p=2.0, dim=dim, eps=1e-12)


def check_shape(x: Tensor, expected: tuple[int | None, ...], name: str) -> None:
    """Raise ``ValueError`` naming ``name`` with expected and actual shapes (``None`` = any)."""
    ok = x.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, x.shape, strict=True))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")


@torch.no_grad()
def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into ``modules``' parameters (they stay in the graph for inputs).

    Parameters recorded in the autograd graph while frozen receive no gradient at ``backward``,
    so a phase's loss never leaves gradients on another phase's parameters. Parameters that were
    frozen already stay frozen afterwards.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
