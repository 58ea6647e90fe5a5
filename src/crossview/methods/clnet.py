"""CLNet (Cao et al. 2025): neural correspondence maps, NEC and GFR on ConvNeXt (paper §3).

Per feature level ``i`` (the 4 ConvNeXt stages) the ground view has a learnable neural map
``N_g^i`` ``(C_i, Hg_i, Wg_i)`` (eq. 1); the NEC MLP ``Gamma_bev`` maps it to the satellite map
``N_s^i`` ``(C_i, Hs_i, Ws_i)`` (eq. 2); GFR refines each stage's output
``f' = f * softmax_hw(N / ||N||_2) + f`` (eqs. 3-4) before the next stage. The descriptor is
the last refined stage, average-pooled and LayerNorm-ed by the ConvNeXt head (as Sample4Geo,
whose settings the paper follows), then L2-normalised; the loss is symmetric InfoNCE (eq. 5).
Choices the paper leaves open are listed in ``docs/methods.md``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal

import torch
from torch import Tensor, nn

from crossview.errors import ConfigError
from crossview.methods.registry import register_method
from crossview.methods.sample4geo import InfoNCEMethod, Sample4GeoConfig, create_convnext

TABLE5_ROWS: dict[int, dict[str, Any]] = {
    1: {"nec": False, "gfr_norm": False, "gfr_residual": "none"},
    2: {"nec": True, "gfr_norm": False, "gfr_residual": "none"},
    3: {"nec": True, "gfr_norm": False, "gfr_residual": "map"},
    4: {"nec": True, "gfr_norm": False, "gfr_residual": "feature"},
    5: {"nec": True, "gfr_norm": True, "gfr_residual": "map"},
    6: {"nec": True, "gfr_norm": True, "gfr_residual": "feature"},
}
"""Config overrides reproducing each row (#1-#6) of the paper's Table 5 ablation (GFR always on):
``create_method("clnet", **TABLE5_ROWS[5])``. Row #6 is the paper's eqs. 3-4 (the default)."""


@dataclasses.dataclass
class CLNetConfig(Sample4GeoConfig):
    """CLNet: ConvNeXt per view + neural maps, NEC and GFR at the 4 stages, InfoNCE."""

    share_backbone: bool = False
    """One ConvNeXt for both views (Sample4Geo-style); False: separate ``F_g``, ``F_s``
    (Algorithm 1)."""
    nec: bool = True
    """Table 5 "NEC" column: satellite maps are ``Gamma_bev(N_g)`` (rows #2-#6); False gives
    each view its own independent learnable map (row #1)."""
    gfr_norm: bool = True
    """Table 5 "Norm" column: divide ``N`` by its global L2 norm before the softmax (eq. 4;
    rows #5, #6)."""
    gfr_residual: Literal["none", "map", "feature"] = "feature"
    """Table 5 residual columns: ``feature`` adds ``f`` (eq. 3, "GFR(f^i)", rows #4, #6),
    ``map`` adds the neural map ``N`` ("GFR(N^i)", rows #3, #5), ``none`` nothing (#1, #2)."""
    nec_hidden: int = 256
    """Hidden width of the NEC MLP (``Hg*Wg -> hidden -> Hs*Ws`` per level, shared over
    channels)."""
    neural_map_init_std: float = 0.02
    """Std of the normal init of the neural maps (the paper does not say; timm's usual 0.02)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nec_hidden < 1 or self.neural_map_init_std <= 0:
            raise ConfigError(
                f"nec_hidden >= 1 and neural_map_init_std > 0 expected, got "
                f"{self.nec_hidden} / {self.neural_map_init_std}"
            )


def gfr(
    features: Tensor,
    neural_map: Tensor,
    norm: bool = True,
    residual: Literal["none", "map", "feature"] = "feature",
) -> Tensor:
    """Global Feature Recalibration (eqs. 3-4): ``f * softmax_hw(N / ||N||_2) + residual``.

    Args:
        features: Stage output ``f`` ``(B, C, H, W)``.
        neural_map: The view's neural map ``N`` ``(C, H, W)``.
        norm: Divide ``N`` by its global (all-entries) L2 norm first.
        residual: ``"feature"`` adds ``f`` (eq. 3), ``"map"`` adds ``N``, ``"none"`` nothing.

    Returns:
        Refined features ``(B, C, H, W)``; the softmax runs over the ``H*W`` positions per channel.

    """
    if features.shape[1:] != neural_map.shape:
        raise ValueError(
            f"gfr: features {tuple(features.shape)} and neural map {tuple(neural_map.shape)} "
            "differ in (C, H, W)"
        )
    c, h, w = neural_map.shape
    scaled = neural_map / neural_map.norm(p=2) if norm else neural_map
    weights = torch.softmax(scaled.reshape(c, h * w), dim=-1).reshape(c, h, w)
    out = features * weights
    if residual == "feature":
        return out + features
    if residual == "map":
        return out + neural_map
    return out


class NEC(nn.Module):
    """Neural bird's-Eye view Converter of one level: ``N_g (C, Hg, Wg) -> N_s (C, Hs, Ws)``.

    A two-layer MLP over the flattened positions, shared by all channels (eq. 2: a learnable
    mapping of ground-view positions to satellite-view positions, in the spirit of IPM).
    """

    def __init__(self, ground_hw: tuple[int, int], sat_hw: tuple[int, int], hidden: int) -> None:
        super().__init__()
        self.sat_hw = sat_hw
        self.mlp = nn.Sequential(
            nn.Linear(ground_hw[0] * ground_hw[1], hidden),
            nn.GELU(),
            nn.Linear(hidden, sat_hw[0] * sat_hw[1]),
        )

    def forward(self, ground_map: Tensor) -> Tensor:
        """Ground map ``(C, Hg, Wg)`` -> satellite map ``(C, Hs, Ws)``."""
        c = ground_map.shape[0]
        return self.mlp(ground_map.reshape(c, -1)).reshape(c, *self.sat_hw)


def stage_shapes(convnext: Any, in_hw: tuple[int, int]) -> list[tuple[int, int, int]]:
    """``(C, H, W)`` after each ConvNeXt stage for a ``(1, 3, *in_hw)`` input (meta device)."""
    meta = copy.deepcopy(convnext).to("meta").eval()
    shapes = []
    with torch.no_grad():
        x = meta.stem(torch.empty(1, 3, *in_hw, device="meta"))
        for stage in meta.stages:
            x = stage(x)
            shapes.append((int(x.shape[1]), int(x.shape[2]), int(x.shape[3])))
    return shapes


PRESETS = {
    # CPU minutes from random init: a narrow, shallow ConvNeXt (timm dims/depths), small inputs;
    # layer scale starts at 1 (timm default 1e-6 leaves the few blocks near-identity for hundreds
    # of steps, which stalled learning from scratch on the synthetic world).
    "tiny": {
        "doc": "CPU minutes from random init (narrow shared ConvNeXt, 32x128 / 64 px inputs)",
        "method": {
            "backbone": "convnext_atto",
            "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 2, 1],
                                "ls_init_value": 1.0},
            "share_backbone": True, "ground_hw": [32, 128], "aerial_size": 64, "nec": True,
            "gfr_norm": True, "gfr_residual": "feature", "nec_hidden": 64,
            "label_smoothing": 0.1, "init_temperature": 0.07, "optimizer": "adamw",
            "lr": 1.0e-3, "weight_decay": 0.01,
            "schedule": {"kind": "cosine", "warmup_steps": 30},
        },
        "train": {
            "epochs": 60, "batch_size": 64, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 4, "eval_every": 2, "time_budget_min": 15, "augment": True,
            "cache_images": True, "sampler_neighbours": 3,
        },
    },
    # CLNet section 4.3 on CVUSA / CVACT: ConvNeXt-B per view, 384x384 satellite, 140x768
    # ground, batch 128, AdamW lr 1e-3 (PyTorch defaults otherwise), cosine with warm-up, 40
    # epochs; other settings as Sample4Geo (label smoothing 0.1, 1 warm-up epoch, GPS then
    # similarity sampling).
    "paper": {
        "doc": "CLNet on CVUSA / CVACT: ConvNeXt-B per view, 384 / 140x768, batch 128",
        "method": {
            "backbone": "convnext_base", "share_backbone": False, "ground_hw": [140, 768],
            "aerial_size": 384, "nec": True, "gfr_norm": True, "gfr_residual": "feature",
            "nec_hidden": 256, "label_smoothing": 0.1, "init_temperature": 0.07,
            "optimizer": "adamw", "lr": 1.0e-3, "weight_decay": 0.01,
            "schedule": {"kind": "cosine", "warmup_steps": 277},
        },
        "train": {
            "epochs": 40, "batch_size": 128, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 1, "eval_every": 4,
        },
        # CPU smoke runs: the same modules at small inputs and a narrow, shallow ConvNeXt.
        "smoke": {"ground_hw": [32, 128], "aerial_size": 64,
                  "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 1, 1]}},
    },
}
"""Named recipes of ``clnet`` (method and train sections)."""


@register_method("clnet", presets=PRESETS)
class CLNet(InfoNCEMethod):
    """CLNet: correspondence learning between views through neural maps, NEC and GFR."""

    config_class = CLNetConfig
    config: CLNetConfig

    def __init__(self, config: CLNetConfig) -> None:
        super().__init__(config)
        self.ground_backbone: Any = create_convnext(config)
        self.aerial_backbone: Any = (
            self.ground_backbone if config.share_backbone else create_convnext(config)
        )
        size = config.aerial_size
        g_shapes = stage_shapes(self.ground_backbone, config.ground_hw)
        s_shapes = stage_shapes(self.aerial_backbone, (size, size))
        self.ground_maps = nn.ParameterList(
            [nn.Parameter(torch.randn(s) * config.neural_map_init_std) for s in g_shapes]
        )
        if config.nec:
            self.nec = nn.ModuleList(
                [
                    NEC(g[1:], s[1:], config.nec_hidden)
                    for g, s in zip(g_shapes, s_shapes, strict=True)
                ]
            )
        else:  # Table 5 row #1: an independent satellite map per level
            self.aerial_maps = nn.ParameterList(
                [nn.Parameter(torch.randn(s) * config.neural_map_init_std) for s in s_shapes]
            )

    @property
    def descriptor_dim(self) -> int:
        """Descriptor length ``D``."""
        return int(self.ground_backbone.num_features)

    def neural_maps(self, view: Literal["ground", "aerial"]) -> list[Tensor]:
        """Return the 4 neural maps ``(C_i, H_i, W_i)`` of ``view`` (satellite ones through NEC)."""
        if view == "ground":
            return list(self.ground_maps)
        if self.config.nec:
            return [nec(m) for nec, m in zip(self.nec, self.ground_maps, strict=True)]
        return list(self.aerial_maps)

    def _encode(self, convnext: Any, x: Tensor, maps: list[Tensor]) -> Tensor:
        """Normalised images -> stages with GFR after each -> pooled head -> L2 ``(B, C4)``."""
        x = convnext.stem(x)
        for stage, neural_map in zip(convnext.stages, maps, strict=True):
            x = stage(x)
            if x.shape[1:] != neural_map.shape:
                raise ValueError(
                    f"clnet: stage output {tuple(x.shape[1:])} does not match its neural map "
                    f"{tuple(neural_map.shape)}; inputs must be {self.input_spec}"
                )
            x = gfr(x, neural_map, self.config.gfr_norm, self.config.gfr_residual)
        x = convnext.forward_head(convnext.norm_pre(x), pre_logits=True)
        return nn.functional.normalize(x.float(), dim=-1)

    def encode_ground(self, ground: Tensor) -> Tensor:
        """Ground panoramas ``(B, 3, Hg, Wg)`` in [0, 1] -> L2-normalised ``(B, D)``."""
        self._check_views(ground=ground)
        return self._encode(
            self.ground_backbone, self.normalize(ground), self.neural_maps("ground")
        )

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> L2-normalised ``(B, D)``."""
        self._check_views(aerial=aerial)
        return self._encode(
            self.aerial_backbone, self.normalize(aerial), self.neural_maps("aerial")
        )
