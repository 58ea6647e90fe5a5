"""SAFA spatial-aware feature aggregation (Shi et al. 2019; SPECS.md §3).

The :class:`SpatialAwareAggregation` module is shared by the ``safa`` method and CDE's retrieval
branch. Per image it reduces the local feature map over channels to one value per position
(``N = H*W`` values), maps that vector through ``k`` independent pairs of fully-connected layers
``N -> N/2 -> N`` (no activation, no softmax: SPECS §3) to ``k`` spatial masks, pools the features
with each mask and concatenates the ``k`` pooled vectors *k-major* (entry ``k*C + c``) before a
final L2 normalisation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.data.inputs import unseen_mask
from crossview.errors import ConfigError
from crossview.geometry.polar import polar_transform
from crossview.losses.ranking import (
    cde_hard_ratio,
    soft_margin_from_distances,
    weighted_soft_margin_loss,
)
from crossview.methods.backbones import (
    FeatureBackbone,
    PretrainedSlot,
    init_pretrained,
    require_pretrained,
)
from crossview.methods.base import check_shape, l2_normalize
from crossview.methods.matching import (
    GroundMap,
    feature_validity,
    flatten_normalized,
    polar_correlation,
)
from crossview.methods.registry import register_method
from crossview.methods.retrieval import (
    RetrievalConfig,
    RetrievalMethod,
    batch_negative_mask,
    feature_map_hw,
)

FC_INIT_STD = 0.005
"""Std of the normal init of SAFA's FC weights (SPECS §3)."""
FC_INIT_BIAS = 0.1
"""Constant init of SAFA's FC biases (SPECS §3)."""


class SpatialAwareAggregation(nn.Module):
    """SAFA's spatial-aware aggregation: ``(B, C, H, W)`` -> L2-normalised ``(B, k*C)``.

    Args:
        num_positions: ``N = H*W`` of the feature maps this module will see (fixed by the FCs).
        num_masks: Number ``k`` of spatial masks (8 in SAFA and CDE).
        reduce: Channel reduction giving the mask input: ``"max"`` (paper, CDE's PyTorch code)
            or ``"mean"`` (final commit of SAFA's TF code).

    """

    def __init__(
        self, num_positions: int, num_masks: int = 8, reduce: Literal["max", "mean"] = "max"
    ) -> None:
        super().__init__()
        if num_positions < 2:
            raise ValueError(f"num_positions: expected >= 2, got {num_positions}")
        if num_masks < 1:
            raise ValueError(f"num_masks: expected >= 1, got {num_masks}")
        if reduce not in ("max", "mean"):
            raise ValueError(f"reduce: expected 'max' or 'mean', got {reduce!r}")
        self.num_positions = num_positions
        self.num_masks = num_masks
        self.reduce = reduce
        hidden = num_positions // 2  # TF code: int(h*w/2)
        # One FC pair per mask, stored batched: weight1[k] is (N, N/2), weight2[k] is (N/2, N).
        self.weight1 = nn.Parameter(torch.empty(num_masks, num_positions, hidden))
        self.bias1 = nn.Parameter(torch.empty(num_masks, hidden))
        self.weight2 = nn.Parameter(torch.empty(num_masks, hidden, num_positions))
        self.bias2 = nn.Parameter(torch.empty(num_masks, num_positions))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """SPECS §3 init: weights normal(0, 0.005), biases 0.1."""
        nn.init.normal_(self.weight1, mean=0.0, std=FC_INIT_STD)
        nn.init.normal_(self.weight2, mean=0.0, std=FC_INIT_STD)
        nn.init.constant_(self.bias1, FC_INIT_BIAS)
        nn.init.constant_(self.bias2, FC_INIT_BIAS)

    def masks(self, features: Tensor) -> Tensor:
        """Spatial masks ``(B, k, N)`` of features ``(B, C, H, W)`` (no normalisation)."""
        check_shape(features, (None, None, None, None), "features")
        b, c, h, w = features.shape
        if h * w != self.num_positions:
            raise ValueError(
                f"features: expected H*W = {self.num_positions} positions, got {h}x{w} = {h * w}"
            )
        flat = features.reshape(b, c, h * w)
        pooled = flat.amax(dim=1) if self.reduce == "max" else flat.mean(dim=1)  # (B, N)
        hidden = torch.einsum("bn,knh->bkh", pooled, self.weight1) + self.bias1  # (B, k, N/2)
        return torch.einsum("bkh,khn->bkn", hidden, self.weight2) + self.bias2  # (B, k, N)

    def forward(self, features: Tensor) -> Tensor:
        """Aggregate features ``(B, C, H, W)`` into L2-normalised descriptors ``(B, k*C)``."""
        masks = self.masks(features)  # (B, k, N)
        b, c = features.shape[:2]
        flat = features.reshape(b, c, -1)  # (B, C, N)
        pooled = torch.einsum("bcn,bkn->bkc", flat, masks)  # descriptor_k = sum_n f[n,:] m_k[n]
        return l2_normalize(pooled.reshape(b, self.num_masks * c))  # k-major: entry k*C + c

    def extra_repr(self) -> str:
        """Sizes shown in ``repr``."""
        return (
            f"num_positions={self.num_positions}, num_masks={self.num_masks}, "
            f"reduce={self.reduce!r}"
        )


@dataclasses.dataclass
class SafaConfig(RetrievalConfig):
    """SAFA: two CNN branches (ground, polar aerial) + spatial-aware aggregation + ranking loss."""

    backbone: str = "vgg16"
    """timm model of both branches (SAFA: ``vgg16``; ``resnet34`` as in CDE's retrieval branch)."""
    feature_index: int = 4
    """timm ``feature_info`` index of the map fed to SA (``vgg16``: 4 = conv5_3, stride 16)."""
    backbone_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra timm arguments (e.g. smaller widths for the ``tiny`` preset)."""
    final_pool: bool = True
    """2x2 max-pool ('SAME' padding) after the backbone, as SAFA's TF code does after conv5_3."""
    tf_same_pooling: bool = False
    """The backbone's own max-pools round up as TF's 'SAME' padding does (``ceil_mode``): SAFA's
    VGG16 then sees 112x616 -> 7x39 at conv5_3 and 4x20 positions after the final pool (PyTorch's
    floor pools give 4x19)."""
    frozen_stages: int = 0
    """Backbone feature stages whose weights stay fixed (SAFA's TF code: 3 = conv1_1-conv3_3)."""
    dropout: float = 0.0
    """Dropout probability applied after each stage of :attr:`dropout_stages` (SAFA: 0.2, i.e.
    TF keep_prob 0.8)."""
    dropout_stages: tuple[int, ...] = ()
    """Feature stages (timm ``feature_info`` indices) followed by dropout (SAFA: 3, 4 = after
    conv4_3 and conv5_3)."""
    polar_hw: tuple[int, int] = (112, 616)
    """Size ``(H, W)`` of the polar-transformed aerial input (SAFA / CDE: 112x616)."""
    num_masks: int = 8
    """Number ``k`` of SAFA spatial masks (8 exactly, SPECS §3)."""
    reduce: Literal["max", "mean"] = "max"
    """Channel reduction feeding the masks (paper: max; SAFA's final TF commit: mean)."""
    alpha: float = 10.0
    """Weight ``alpha`` of the soft-margin ranking loss (SPECS §2)."""
    hard_mining: bool = False
    """Use CDE's hard-mining schedule by epoch (``crossview.losses.ranking.cde_hard_ratio``)."""
    negative_radius_m: float | None = None
    """Pairs closer than this many metres are not negatives (CVACT training: 25); None disables."""
    include_diagonal: bool = False
    """Add the constant diagonal terms as SAFA's TF code does (CDE's code: no)."""
    matching: Literal["descriptor", "dsm"] = "descriptor"
    """``descriptor``: SAFA's aggregated descriptors (the paper). ``dsm``: no aggregation; the
    ground and polar-aerial feature maps are compared at every azimuth shift (DSM, Shi et al.
    CVPR 2020; ``crossview.methods.matching``), in the loss and in ``locate``: for limited-FOV
    queries, photos and unknown headings."""
    match_channels: int = 0
    """``dsm`` only: a 1x1 convolution reduces the maps to this many channels (DSM: 16), which
    sizes the stored aerial vectors (``C*h*W``); 0 keeps the backbone's channels."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.match_channels < 0:
            raise ConfigError(f"match_channels: expected >= 0, got {self.match_channels}")
        if self.num_masks < 1 or self.alpha <= 0:
            raise ConfigError(
                f"num_masks >= 1 and alpha > 0 expected, got {self.num_masks} / {self.alpha}"
            )
        if not 0.0 <= self.dropout < 1.0 or self.frozen_stages < 0:
            raise ConfigError(f"dropout in [0, 1) and frozen_stages >= 0 expected, got "
                              f"{self.dropout} / {self.frozen_stages}")


class _StageDropout:
    """Forward hook: dropout on a module's output while the module trains (keeps state keys)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, module: nn.Module, inputs: Any, output: Tensor) -> Tensor:
        return F.dropout(output, self.p, module.training)


class _LocalFeatures(nn.Module):
    """Backbone, then an optional 2x2 'SAME' max-pool: images -> local features ``(B, C, h, w)``.

    SAFA's TF details are options (:class:`SafaConfig`): 'SAME' pooling inside the backbone,
    frozen first stages, dropout after chosen stages (hooks, so parameter names stay timm's and
    pretrained files load unchanged).
    """

    def __init__(self, config: SafaConfig) -> None:
        super().__init__()
        self.backbone = FeatureBackbone(config.backbone, config.feature_index,
                                        **config.backbone_kwargs)
        self.final_pool = config.final_pool
        body = self.backbone.body
        if config.tf_same_pooling:
            for module in body.modules():
                if isinstance(module, nn.MaxPool2d):
                    module.ceil_mode = True
        stages = self.backbone.stage_modules() if (config.frozen_stages
                                                   or config.dropout_stages) else []
        if config.frozen_stages:
            if config.frozen_stages > len(stages):
                raise ConfigError(f"frozen_stages={config.frozen_stages}: the backbone has "
                                  f"{len(stages)} stages up to feature_index")
            last = stages[config.frozen_stages - 1]
            for name, child in body.named_children():
                child.requires_grad_(False)
                if name == last:
                    break
        for stage in config.dropout_stages:
            if not 0 <= stage < len(stages):
                raise ConfigError(f"dropout_stages: stage {stage} is not one of the backbone's "
                                  f"{len(stages)} stages up to feature_index")
            if config.dropout > 0:
                getattr(body, stages[stage]).register_forward_hook(_StageDropout(config.dropout))

    def forward(self, x: Tensor) -> Tensor:
        """Run the module on ``x`` (see the class docstring for shapes)."""
        f = self.backbone(x)
        if self.final_pool:
            f = F.max_pool2d(f, kernel_size=2, stride=2, ceil_mode=True)  # TF 'SAME' padding
        return f


class _Branch(nn.Module):
    """One SAFA branch: local features -> spatial-aware aggregation ``(B, k*C)``."""

    def __init__(self, config: SafaConfig, in_hw: tuple[int, int]) -> None:
        super().__init__()
        self.local = _LocalFeatures(config)
        channels, h, w = feature_map_hw(self.local, in_hw)
        if h * w < 2:
            raise ConfigError(
                f"input {in_hw} gives a {h}x{w} feature map; SAFA needs >= 2 positions"
            )
        self.channels, self.feature_hw = channels, (h, w)
        self.aggregate = SpatialAwareAggregation(h * w, config.num_masks, config.reduce)

    def forward(self, x: Tensor) -> Tensor:
        """Run the module on ``x`` (see the class docstring for shapes)."""
        return self.aggregate(self.local(x))


class _MatchBranch(nn.Module):
    """A DSM branch: local features, then an optional 1x1 channel reduction: ``(B, C', h, w)``."""

    def __init__(self, config: SafaConfig, in_hw: tuple[int, int]) -> None:
        super().__init__()
        self.local = _LocalFeatures(config)
        channels, h, w = feature_map_hw(self.local, in_hw)
        self.proj = (nn.Conv2d(channels, config.match_channels, kernel_size=1)
                     if config.match_channels else nn.Identity())
        self.channels = config.match_channels or channels
        self.feature_hw = (h, w)

    def forward(self, x: Tensor) -> Tensor:
        """Run the module on ``x`` (see the class docstring for shapes)."""
        return self.proj(self.local(x))

_SAFA_METHOD = {
    "backbone": "vgg16", "feature_index": 4, "final_pool": True, "tf_same_pooling": True,
    "frozen_stages": 3, "dropout": 0.2, "dropout_stages": [3, 4], "pretrained": "imagenet",
    "polar_hw": [112, 616], "num_masks": 8, "reduce": "max", "alpha": 10.0,
    "hard_mining": False, "include_diagonal": False, "optimizer": "adam", "lr": 1.0e-5,
    "betas": [0.9, 0.999], "weight_decay": 0.0, "schedule": {"kind": "constant"},
}
_SAFA_TRAIN = {
    # 100 epochs of batch 32 from shuffled pairs, no augmentation or clipping; R@1% with
    # K = floor(N/100) (SAFA's test code, SPECS §4), CVACT_test within 5 m.
    "epochs": 100, "batch_size": 32, "augment": "none", "grad_clip_norm": 0.0,
    "sampler": "random", "eval_every": 1,
    "eval_conventions": {"recall": {"one_percent": "floor"},
                         "cvact_test": {"one_percent": "floor", "radius_m": 5.0}},
}
# CPU minutes from random init: a half-width ResNet-18 up to layer2 (stride 8, 64 channels,
# 4x16 positions, 512-d descriptor), 32x128 ground and polar inputs from 64 px tiles.
_TINY_METHOD: dict[str, Any] = {
    "backbone": "resnet18", "feature_index": 2,
    "backbone_kwargs": {"channels": [32, 64, 128, 256], "stem_width": 32},
    "final_pool": False, "ground_hw": [32, 128], "aerial_size": 64, "polar_hw": [32, 128],
    "num_masks": 8, "alpha": 10.0, "optimizer": "adam", "lr": 3.0e-4,
}
_TINY_TRAIN: dict[str, Any] = {
    "epochs": 70, "batch_size": 64, "sampler": "random", "eval_every": 2,
    "time_budget_min": 15, "augment": True, "cache_images": True,
}
_SAFA_SMOKE = {"ground_hw": [32, 128], "aerial_size": 64, "polar_hw": [32, 128],
               "pretrained": "none"}

PRESETS = {
    "tiny": {
        "doc": "CPU minutes from random init (half-width ResNet-18 to layer2, 32x128 inputs)",
        "method": _TINY_METHOD,
        "train": _TINY_TRAIN,
    },
    # Photos (docs/locate.md): the tiny sizes with DSM matching instead of SAFA's aggregation,
    # trained on the queries locate meets: 25 % whole panoramas, otherwise 60-180 degrees of
    # view, half of those below 180 as pinhole photos (pitch +-10), at unknown headings.
    "tiny_photo": {
        "doc": "tiny + DSM matching, trained on limited-FOV / pinhole / unknown-heading queries",
        "method": {**_TINY_METHOD, "matching": "dsm", "match_channels": 0},
        "train": {
            **_TINY_TRAIN,
            "query": {"fov_deg": [60, 180], "full_prob": 0.25, "heading": "unknown",
                      "pinhole_prob": 0.5, "pitch_deg": [-10, 10]},
        },
    },
    # SAFA (NeurIPS 2019), details from its TF code: ImageNet VGG16 to conv5_3 with 'SAME'
    # pooling, conv1_1-conv3_3 frozen, dropout 0.2 (keep 0.8) after conv4_3 and conv5_3, a final
    # 2x2 pool -> 4x20 positions; polar 112x616 from the full-resolution tile (CVUSA 750 px);
    # k = 8, alpha = 10, Adam lr 1e-5, batch 32, exhaustive mini-batch, no augmentation.
    "paper": {
        "doc": "SAFA (NeurIPS 2019) on CVUSA: VGG16, polar 112x616 from the 750 px tile, k=8",
        "method": {**_SAFA_METHOD, "ground_hw": [112, 616], "aerial_size": 750,
                   "ground_vfov_deg": 90.0},
        "train": dict(_SAFA_TRAIN),
        "smoke": _SAFA_SMOKE,
    },
    # CVACT: the middle half of the 180-degree panorama (+-45 degrees, SPECS §1), polar from the
    # full 1200 px tile, pairs closer than 25 m are no negatives (SPECS §2).
    "paper_cvact": {
        "doc": "SAFA on CVACT: middle half of the panorama, polar from the 1200 px tile, 25 m mask",
        "method": {**_SAFA_METHOD, "ground_hw": [112, 616], "aerial_size": 1200,
                   "ground_vfov_deg": 90.0, "negative_radius_m": 25.0},
        "train": dict(_SAFA_TRAIN),
        "smoke": _SAFA_SMOKE,
    },
}
"""Named recipes of ``safa`` (method and train sections)."""


@register_method("safa", presets=PRESETS)
class Safa(RetrievalMethod):
    """SAFA (Shi et al., NeurIPS 2019) with CDE's loss options.

    Polar-transformed aerial input, separate ground and aerial CNN branches, spatial-aware
    aggregation (k masks) and the weighted soft-margin ranking loss with CDE's optional hard
    mining and CVACT's 25 m negative mask (SPECS §2, §3).
    """

    config_class = SafaConfig
    config: SafaConfig

    def __init__(self, config: SafaConfig) -> None:
        super().__init__(config)
        require_pretrained(config, config.backbone)
        branch = _MatchBranch if config.matching == "dsm" else _Branch
        self.ground_branch: Any = branch(config, config.ground_hw)
        self.aerial_branch: Any = branch(config, config.polar_hw)
        if self.ground_branch.channels != self.aerial_branch.channels:
            raise ConfigError("safa: ground and aerial branches give different channel counts")
        if config.matching == "dsm" and (self.ground_branch.feature_hw
                                         != self.aerial_branch.feature_hw):
            raise ConfigError(f"safa matching=dsm: ground {config.ground_hw} and polar "
                              f"{config.polar_hw} inputs give feature maps "
                              f"{self.ground_branch.feature_hw} and "
                              f"{self.aerial_branch.feature_hw}; they must be equal")
        self.hard_ratio = 1.0
        init_pretrained(self)

    def pretrained_slots(self) -> list[PretrainedSlot]:
        """Both branches' backbones take the backbone's ImageNet weights."""
        cfg = self.config
        kwargs = {"features_only": True, "out_indices": (cfg.feature_index,),
                  **cfg.backbone_kwargs}
        return [PretrainedSlot(f"{b}_branch.local.backbone.body", cfg.backbone,
                               getattr(self, f"{b}_branch").local.backbone.body, kwargs)
                for b in ("ground", "aerial")]

    @property
    def uses_polar(self) -> bool:
        """SAFA polar-transforms the tiles in ``encode_aerial``."""
        return True

    @property
    def descriptor_dim(self) -> int:
        """Descriptor length ``D`` (``matching=dsm``: the flattened map, ``C*h*W``)."""
        if self.can_match:
            c, h, w = self.match_shape
            return c * h * w
        return self.config.num_masks * self.ground_branch.channels

    def encode_ground(self, ground: Tensor) -> Tensor:
        """Ground panoramas ``(B, 3, Hg, Wg)`` in [0, 1] -> L2-normalised ``(B, D)``."""
        if self.can_match:
            features, valid = self.ground_features(ground)
            return flatten_normalized(features * valid)
        check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        return self.ground_branch(self.normalize(ground))

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> L2-normalised ``(B, D)``."""
        if self.can_match:
            return flatten_normalized(self.aerial_features(aerial))
        size = self.config.aerial_size
        check_shape(aerial, (None, 3, size, size), "aerial")
        polar = polar_transform(aerial, *self.config.polar_hw)  # SAFA / CDE eq. 1, in float
        return self.aerial_branch(self.normalize(polar))

    # --- DSM matching (matching="dsm") --------------------------------------------------------
    @property
    def can_match(self) -> bool:
        """Whether this model compares feature maps (``matching=dsm``)."""
        return self.config.matching == "dsm"

    @property
    def match_shape(self) -> tuple[int, int, int]:
        """``(C, h, W)`` of the ground and polar-aerial feature maps."""
        return (self.ground_branch.channels, *self.ground_branch.feature_hw)

    def ground_features(self, ground: Tensor) -> GroundMap:
        """Ground images -> feature maps ``(B, C, h, W)`` and their validity ``(B, 1, h, W)``.

        Positions whose pixels are mostly the pad colour (the unseen part of a limited view or
        a photo, :func:`crossview.data.inputs.unseen_mask`) are invalid and zeroed.
        """
        check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        features = self.ground_branch(self.normalize(ground))
        valid = feature_validity(unseen_mask(ground, self.input_spec.pad_rgb),
                                 self.ground_branch.feature_hw).to(features.dtype)
        return GroundMap(features * valid, valid)

    def aerial_features(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` -> polar-aligned feature maps ``(B, C, h, W)``."""
        size = self.config.aerial_size
        check_shape(aerial, (None, 3, size, size), "aerial")
        polar = polar_transform(aerial, *self.config.polar_hw)
        return self.aerial_branch(self.normalize(polar))

    def set_epoch(self, epoch: int) -> None:
        """CDE hard mining: the fraction of pair losses kept depends on the epoch (0-based)."""
        self.hard_ratio = cde_hard_ratio(epoch) if self.config.hard_mining else 1.0

    def training_step(
        self, batch: dict[str, Any], step: int, phase: str = "main"
    ) -> dict[str, Tensor]:
        """Named losses of a batch; ``total`` is minimised."""
        ground, aerial = self._check_batch(batch)
        if self.can_match:
            return self._dsm_step(ground, aerial, batch)
        grd = self.encode_ground(ground)
        sat = self.encode_aerial(aerial)
        mask = batch_negative_mask(batch, self.config.negative_radius_m, grd.device)
        loss = weighted_soft_margin_loss(
            sat,
            grd,
            alpha=self.config.alpha,
            hard_ratio=self.hard_ratio,
            negative_mask=mask,
            include_diagonal=self.config.include_diagonal,
        )
        return {"total": loss, "ranking": loss.detach()}

    def _dsm_step(self, ground: Tensor, aerial: Tensor, batch: dict[str, Any]
                  ) -> dict[str, Tensor]:
        """DSM's loss: the ranking loss on ``2 - 2 max_shift score`` of every pair of the batch."""
        scores = polar_correlation(self.ground_features(ground), self.aerial_features(aerial))
        best = scores.amax(dim=-1)  # (B ground, B aerial)
        mask = batch_negative_mask(batch, self.config.negative_radius_m, best.device)
        loss = soft_margin_from_distances(
            2.0 - 2.0 * best.transpose(0, 1), alpha=self.config.alpha,
            hard_ratio=self.hard_ratio, negative_mask=mask,
            include_diagonal=self.config.include_diagonal)
        return {"total": loss, "ranking": loss.detach()}

    def extra_state(self) -> dict[str, Any]:
        """Return the current hard-mining ratio (informational)."""
        return {"hard_ratio": self.hard_ratio}
