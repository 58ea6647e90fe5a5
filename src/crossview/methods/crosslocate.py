"""CrossLocate (Tomešek et al., WACV 2022; SPECS.md §8): photos against rendered DEM views.

One VGG16-style branch, shared by query photos ("ground" in the registry's terms) and rendered
database views ("aerial": depth, silhouettes, segmentation or the three as channels):

- conv1_1 ... conv5_3 with max-pooling after blocks 1-4 and **no ReLU after conv5_3** (the
  representation is not restricted to be non-negative), no pool5 (paper §4.1);
- per-position L2 normalisation over channels, global max pooling over positions, L2: a
  ``C``-dimensional descriptor (512 for VGG16).

Queries are scaled by their own field of view to the database's angular resolution through the
one input path (``InputSpec.photo_fov_deg``: a photo of FOV ``f`` on a canvas of
``ground_hw`` spanning the database's 60 deg, :func:`crossview.data.inputs.photo_canvas`).

Depth enters as the dataset's 8-bit log depth (``depth_input="log8"``, default): a fixed,
monotone function of the *absolute* depth in metres (sky 0; ``ln d`` between 10 m and 100 km
mapped to 1..255), replicated to three channels by the image reader. The paper feeds absolute
depth (its code: raw metres from EXR files); ``depth_input="metres"`` decodes the 8-bit values
back to metres (:func:`crossview.dem.encoding.decode_depth8`, 3.7 % steps) and feeds
``metres / depth_scale_m`` instead (``depth_scale_m=1`` is the reference code's raw metres).
Every input is then ImageNet-normalised (the pretrained VGG16's statistics).

Training (paper §4.2, SPECS §8): triplet loss on squared Euclidean distances, margin 0.1, summed
over queries x 10 negatives. Positives are database views within 20 m and 15 deg of yaw (the
``crosslocate`` layout's references; a batch holds each query's best one). Negatives are database
views farther than 2 km from the query, mined by descriptor distance: each query takes the
``negatives`` hardest (nearest in descriptor space) of the batch's other database views that are
farther than ``negative_min_distance_m``; the ``paper`` preset builds its batches with the
trainer's similarity sampler (``train.sampler=gps_then_similarity`` from epoch 0: an anchor and
the pairs whose database view its query confuses most, recomputed at every evaluation), so
those candidates are the hardest of the whole training database at the last refresh.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.data.inputs import InputSpec
from crossview.errors import ConfigError
from crossview.losses.triplet import triplet_loss
from crossview.methods.backbones import (
    PretrainedSlot,
    init_pretrained,
    is_random_init,
    require_pretrained,
)
from crossview.methods.base import Method, OptimizerSpec, check_shape, l2_normalize
from crossview.methods.registry import register_method
from crossview.methods.retrieval import ImageNetNormalize, RetrievalConfig

logger = logging.getLogger(__name__)

VGG16_CHANNELS = (64, 128, 256, 512, 512)
"""Output channels of VGG16's five convolutional blocks."""
VGG16_CONVS = (2, 2, 3, 3, 3)
"""Convolutions per block of VGG16 (conv1_1-1_2, ..., conv5_1-5_3)."""
DEPTH8_LOG_RANGE = math.log(100_000.0 / 10.0)
"""``ln(hi / lo)`` of the 8-bit depth scale (10 m .. 100 km, :mod:`crossview.dem.encoding`)."""


@dataclasses.dataclass
class CrossLocateConfig(RetrievalConfig):
    """CrossLocate: a shared VGG16 branch, per-position L2 + global max pooling, triplet loss."""

    ground_hw: tuple[int, int] = (500, 500)
    """Canvas of the query photos (paper: 500x500 spanning the database's 60 deg)."""
    aerial_size: int = 500
    """Side of the database views (paper: 500); must equal the canvas width (same scale)."""
    channels: tuple[int, ...] = VGG16_CHANNELS
    """Output channels of the five blocks (VGG16; the last is the descriptor size)."""
    convs_per_block: tuple[int, ...] = VGG16_CONVS
    """3x3 convolutions per block (VGG16: 2, 2, 3, 3, 3)."""
    photo_fov_deg: float = 60.0
    """Horizontal FOV the canvas spans: the database views' FOV (paper: 60)."""
    fov_scaling: Literal["focal", "degrees", "fit"] = "focal"
    """How a photo is scaled by its FOV (:func:`crossview.data.inputs.photo_content_width`);
    ``fit`` ignores the FOV (the paper's no-FOV ablation)."""
    modality: Literal["depth", "silhouettes", "segmentation", "multi"] = "depth"
    """Database modality the model is trained on (the layout's ``modality`` must match)."""
    depth_input: Literal["log8", "metres"] = "log8"
    """Depth channels as the 8-bit log encoding (default) or decoded to metres (module doc)."""
    depth_scale_m: float = 1000.0
    """With ``depth_input="metres"``: the network sees ``metres / depth_scale_m``."""
    margin: float = 0.1
    """Triplet margin on squared distances (paper: 0.1)."""
    negatives: int = 10
    """Negatives per query (paper: 10)."""
    negative_min_distance_m: float = 2000.0
    """Database views farther than this from the query are negatives (paper: 2 km)."""
    positive_radius_m: float = 20.0
    """Positives lie within this distance (the layout's rule; used to check training data)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.channels) != len(self.convs_per_block) or not self.channels:
            raise ConfigError(f"crosslocate: channels {list(self.channels)} and convs_per_block "
                              f"{list(self.convs_per_block)} must have one entry per block")
        if min(self.channels) < 1 or min(self.convs_per_block) < 1:
            raise ConfigError("crosslocate: channels and convs_per_block must be >= 1")
        if self.ground_hw[1] != self.aerial_size:
            raise ConfigError(
                f"crosslocate: the photo canvas width {self.ground_hw[1]} must equal the "
                f"database view size {self.aerial_size} (both span photo_fov_deg at one scale)")
        if not 0 < self.photo_fov_deg < 180:
            raise ConfigError(f"crosslocate: photo_fov_deg must be in (0, 180), got "
                              f"{self.photo_fov_deg}")
        if self.margin < 0 or self.negatives < 1 or self.negative_min_distance_m < 0:
            raise ConfigError(f"crosslocate: margin >= 0, negatives >= 1 and "
                              f"negative_min_distance_m >= 0 expected, got {self.margin}, "
                              f"{self.negatives}, {self.negative_min_distance_m}")
        if not self.depth_scale_m > 0:
            raise ConfigError(f"crosslocate: depth_scale_m must be > 0, got {self.depth_scale_m}")
        standard = (tuple(self.channels), tuple(self.convs_per_block)) == (VGG16_CHANNELS,
                                                                          VGG16_CONVS)
        if not is_random_init(self.pretrained) and not standard:
            raise ConfigError("crosslocate: pretrained VGG16 weights need the VGG16 layout "
                              "(channels 64,128,256,512,512; convs 2,2,3,3,3)")


def vgg_features(channels: tuple[int, ...], convs_per_block: tuple[int, ...],
                 in_channels: int = 3) -> nn.Sequential:
    """VGG convolutional blocks, max-pooled after every block but the last, last ReLU removed.

    With VGG16's sizes the modules sit at the indices of timm's / torchvision's
    ``vgg16.features`` (conv1_1 at 0, ..., conv5_3 at 28), so pretrained weights copy by name;
    index 29 (ReLU after conv5_3) and 30 (pool5) are left out.
    """
    layers: list[nn.Module] = []
    previous = in_channels
    for block, (width, count) in enumerate(zip(channels, convs_per_block, strict=True)):
        for _ in range(count):
            layers += [nn.Conv2d(previous, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            previous = width
        if block < len(channels) - 1:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    layers.pop()  # paper §4.1: no ReLU after the very last convolution
    return nn.Sequential(*layers)


def max_of_normalized(features: Tensor) -> Tensor:
    """Per-position L2 over channels, global max pooling, L2: ``(B, C, H, W)`` -> ``(B, C)``."""
    check_shape(features, (None, None, None, None), "features")
    local = F.normalize(features.float(), p=2.0, dim=1, eps=1e-12)
    return l2_normalize(local.amax(dim=(2, 3)))


def pairwise_far(utm: Tensor, min_distance_m: float) -> Tensor:
    """``(B, B)`` bool: pairs farther apart than ``min_distance_m`` (unknown positions: far).

    ``utm`` is ``(B, 2)`` easting/northing in metres (NaN where unknown). The diagonal is False.
    """
    utm = torch.as_tensor(utm, dtype=torch.float64)
    check_shape(utm, (None, 2), "utm")
    dist = torch.cdist(utm, utm)
    far = ~(dist <= min_distance_m)  # NaN compares False: an unknown position counts as far
    far.fill_diagonal_(False)
    return far


def hardest_negatives(query: Tensor, database: Tensor, far: Tensor,
                      k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` database rows nearest each query (squared Euclidean) among its ``far`` ones.

    Args:
        query: ``(B, D)`` query descriptors.
        database: ``(B, D)`` database descriptors (row ``j``: the positive of query ``j``).
        far: ``(B, B)`` bool, ``far[i, j]``: row ``j`` may be a negative of query ``i``.
        k: Negatives per query.

    Returns:
        ``(B, K, D)`` negative descriptors and their ``(B, K)`` validity, ``K = min(k, B)``;
        a query with fewer than ``K`` far rows gets invalid slots (zero loss).

    """
    k = min(k, database.shape[0])
    with torch.no_grad():  # mining picks rows; the loss differentiates through them
        dist = torch.cdist(query.float(), database.float()).pow(2)
        dist = dist.masked_fill(~far.to(dist.device), float("inf"))
        order = dist.topk(k, dim=1, largest=False)
    valid = torch.isfinite(order.values)
    return database[order.indices], valid


class _Branch(nn.Module):
    """The shared network: VGG features then :func:`max_of_normalized`."""

    def __init__(self, config: CrossLocateConfig) -> None:
        super().__init__()
        self.features = vgg_features(tuple(config.channels), tuple(config.convs_per_block))

    def forward(self, x: Tensor) -> Tensor:
        """Normalised images ``(B, 3, H, W)`` -> L2-normalised descriptors ``(B, C)``."""
        return max_of_normalized(self.features(x))


PRESETS = {
    # CPU minutes from random init: a narrow, shallower VGG (5 blocks, last ReLU removed, the
    # same aggregation) on 96 px views and canvases; Adam 3e-4 (1e-5 is for a pretrained VGG16).
    # ``smoke``: the contract tests' fixture spans 400 m, so every other view is a negative there.
    "tiny": {
        "doc": "CPU minutes from random init (narrow 5-block VGG, 96 px views)",
        "method": {
            "channels": [16, 32, 64, 96, 128], "convs_per_block": [1, 1, 2, 2, 2],
            "ground_hw": [96, 96], "aerial_size": 96, "photo_fov_deg": 60.0,
            "margin": 0.1, "negatives": 10, "negative_min_distance_m": 2000.0,
            "optimizer": "adam", "lr": 3.0e-4,
        },
        "train": {
            "epochs": 200, "batch_size": 24, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 0, "sampler_neighbours": 3, "eval_every": 2,
            "time_budget_min": 20, "augment": False, "cache_images": True,
            "best_metric": "R@1",
        },
        "smoke": {"ground_hw": [32, 32], "aerial_size": 32, "negative_min_distance_m": 0.0},
    },
    # CrossLocate (WACV 2022): ImageNet VGG16 (pretrained: imagenet, a local vgg16 file in timm,
    # torchvision or the official format), 500x500 views and canvases at 60 deg, triplet margin
    # 0.1 x 10 negatives > 2 km, Adam 1e-5, no augmentation or clipping.
    "paper": {
        "doc": "CrossLocate (WACV 2022): VGG16 conv5_3, 500x500, triplet 0.1 x 10, Adam 1e-5",
        "method": {
            "channels": list(VGG16_CHANNELS), "convs_per_block": list(VGG16_CONVS),
            "ground_hw": [500, 500], "aerial_size": 500, "photo_fov_deg": 60.0,
            "margin": 0.1, "negatives": 10, "negative_min_distance_m": 2000.0,
            "optimizer": "adam", "lr": 1.0e-5, "pretrained": "imagenet",
            "schedule": {"kind": "constant"},
        },
        "train": {
            "epochs": 30, "batch_size": 16, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 0, "sampler_neighbours": 3, "eval_every": 1,
            "augment": False, "grad_clip_norm": 0.0, "eval_conventions": {},
        },
        "smoke": {"ground_hw": [64, 64], "aerial_size": 64, "negative_min_distance_m": 0.0,
                  "pretrained": "none"},
    },
}
"""Named recipes of ``crosslocate`` (method and train sections)."""


@register_method("crosslocate", presets=PRESETS)
class CrossLocate(Method):
    """CrossLocate (Tomešek et al., WACV 2022): one branch for photos and rendered views.

    Not a :class:`~crossview.methods.retrieval.RetrievalMethod`: its negatives are defined by
    distance (> 2 km), so the two-view learning test on a 500 m synthetic world does not apply;
    ``benchmarks/bench_crosslocate.py`` checks learning on a DEM dataset instead.
    """

    config_class = CrossLocateConfig
    config: CrossLocateConfig

    def __init__(self, config: CrossLocateConfig) -> None:
        super().__init__(config)
        require_pretrained(config, "vgg16")
        self.normalize = ImageNetNormalize()
        self.branch = _Branch(config)
        init_pretrained(self)

    def pretrained_slots(self) -> list[PretrainedSlot]:
        """The shared branch's ``features`` take VGG16's (timm / torchvision keys match)."""
        return [PretrainedSlot("branch", "vgg16", self.branch)]

    # --- what the data pipeline needs -------------------------------------------------------
    @property
    def input_spec(self) -> InputSpec:
        """Photo canvas at the database's angular resolution, views at ``aerial_size``."""
        cfg = self.config
        return InputSpec(ground_hw=cfg.ground_hw, aerial_size=cfg.aerial_size,
                         photo_fov_deg=cfg.photo_fov_deg, photo_scaling=cfg.fov_scaling)

    @property
    def descriptor_dim(self) -> int:
        """Descriptor length: the last block's channels (512 for VGG16)."""
        return int(self.config.channels[-1])

    # --- inference ---------------------------------------------------------------------------
    def encode_ground(self, ground: Tensor) -> Tensor:
        """Query photos on their canvas ``(B, 3, Hg, Wg)`` in [0, 1] -> ``(B, D)``."""
        check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        return self.branch(self.normalize(ground))

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """Rendered database views ``(B, 3, S, S)`` in [0, 1] -> ``(B, D)``."""
        size = self.config.aerial_size
        check_shape(aerial, (None, 3, size, size), "aerial")
        return self.branch(self.normalize(self.database_input(aerial)))

    def database_input(self, views: Tensor) -> Tensor:
        """The depth channels as the config's ``depth_input`` asks (others unchanged)."""
        cfg = self.config
        if cfg.depth_input == "log8" or cfg.modality not in ("depth", "multi"):
            return views
        metres = depth8_to_metres(views) / cfg.depth_scale_m
        if cfg.modality == "depth":
            return metres
        return torch.cat([views[:, :2], metres[:, 2:]], dim=1)  # multi: depth is channel B

    # --- training ----------------------------------------------------------------------------
    def optimizers(self) -> dict[str, OptimizerSpec]:
        """One ``main`` optimizer over every parameter (paper: Adam, lr 1e-5)."""
        cfg = self.config
        return {"main": OptimizerSpec(list(self.parameters()), cfg.optimizer, cfg.lr, cfg.betas,
                                      cfg.weight_decay, schedule=cfg.schedule)}

    def training_step(self, batch: dict[str, Any], step: int,
                      phase: str = "main") -> dict[str, Tensor]:
        """Triplet loss of each query, its positive view and its hardest far negatives."""
        for key in ("ground", "aerial", "utm"):
            if key not in batch:
                raise ConfigError(f"training batch: missing key {key!r} (has {sorted(batch)})")
        query = self.encode_ground(batch["ground"])
        database = self.encode_aerial(batch["aerial"])
        far = pairwise_far(batch["utm"], self.config.negative_min_distance_m)
        negatives, valid = hardest_negatives(query, database, far, self.config.negatives)
        loss = triplet_loss(query, database, negatives, self.config.margin, valid=valid)
        return {"total": loss, "triplet": loss.detach(),
                "negatives_per_query": valid.float().sum(1).mean()}

    def check_training_data(self, table: Any) -> None:
        """Refuse another database modality; say how many positives are not within 20 m."""
        if table is None or getattr(table, "layout", None) != "crosslocate":
            return
        modality = table.extras.get("modality", "depth")
        if modality != self.config.modality:
            raise ConfigError(f"crosslocate: the data's database modality is {modality!r} but "
                              f"the model is configured for {self.config.modality!r} (set "
                              f"--data-opt modality=... or method.modality=...)")
        far = sum(p.extras.get("positive_distance_m", 0.0) > self.config.positive_radius_m
                  for p in table.pairs)
        if far:
            logger.warning("crosslocate: %d of %d training queries have no database view within "
                           "%g m (the uniform database's grid); their positive is the nearest "
                           "position's best-yaw view (train on the sparse variant for exact "
                           "positives)", far, len(table.pairs), self.config.positive_radius_m)


def depth8_to_metres(views: Tensor) -> Tensor:
    """Metres of 8-bit log depth images in ``[0, 1]`` (``v / 255``); sky (``v < 0.5``) is 0.

    The torch twin of :func:`crossview.dem.encoding.decode_depth8`.
    """
    v = views.float() * 255.0
    metres = 10.0 * torch.exp((v.clamp_min(1.0) - 1.0) / 254.0 * DEPTH8_LOG_RANGE)
    return torch.where(v >= 0.5, metres, torch.zeros_like(metres))
