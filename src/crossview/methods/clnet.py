"""CLNet (Cao et al. 2025): neural correspondence maps, NEC and GFR on ConvNeXt (paper §3).

Per feature level ``i`` (the 4 ConvNeXt stages) the ground view has a learnable neural map
``N_g^i`` ``(C_i, Hg_i, Wg_i)`` (eq. 1); the NEC MLP ``Gamma_bev`` maps it to the satellite map
``N_s^i`` ``(C_i, Hs_i, Ws_i)`` (eq. 2); GFR refines each stage's output before the next stage
(eqs. 3-4, read as :func:`gfr` documents: the map's softmax over positions re-weights them
relative to uniform). The descriptor is the last refined stage, average-pooled and LayerNorm-ed
by the ConvNeXt head (as Sample4Geo, whose settings the paper follows), then L2-normalised; the
loss is symmetric InfoNCE (eq. 5). Choices the paper leaves open are listed in
``docs/methods.md``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal

import torch
from torch import Tensor, nn

from crossview.errors import ConfigError
from crossview.methods.backbones import PretrainedSlot, init_pretrained, require_pretrained
from crossview.methods.registry import register_method
from crossview.methods.sample4geo import (
    INFONCE_METHOD,
    INFONCE_TINY_METHOD,
    INFONCE_TINY_TRAIN,
    UNIVERSITY_SMOKE,
    UNIVERSITY_TRAIN,
    VIGOR_SMOKE,
    VIGOR_TRAIN,
    InfoNCEMethod,
    Sample4GeoConfig,
    convnext_slot,
    create_convnext,
    infonce_paper,
)

TABLE5_ROWS: dict[int, dict[str, Any]] = {
    1: {"nec": False, "gfr_norm": False, "gfr_residual": "none"},
    2: {"nec": True, "gfr_norm": False, "gfr_residual": "none"},
    3: {"nec": True, "gfr_norm": False, "gfr_residual": "map"},
    4: {"nec": True, "gfr_norm": False, "gfr_residual": "feature"},
    5: {"nec": True, "gfr_norm": True, "gfr_residual": "map"},
    6: {"nec": True, "gfr_norm": True, "gfr_residual": "feature"},
}
"""Config overrides reproducing each row (#1-#6) of the paper's Table 5 ablation (GFR always on):
``create_method("clnet", **TABLE5_ROWS[6])``. Row #5, the paper's best (l2 normalisation and the
neural-map residual), is the default and the paper presets' choice; row #6 is eqs. 3-4 as
printed."""


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
    """Table 5 "Norm" column: normalise ``N`` globally before the softmax (eq. 4; rows #5,
    #6)."""
    gfr_residual: Literal["none", "map", "feature"] = "map"
    """Table 5 residual columns: ``feature`` adds ``f`` (eq. 3, "GFR(f^i)", rows #4, #6),
    ``map`` adds the neural map ``N`` ("GFR(N^i)", rows #3, #5), ``none`` nothing (#1, #2)."""
    gfr_mode: Literal["relative", "literal"] = "relative"
    """How eq. 4 is read (:func:`gfr`): ``relative`` (default) re-weights positions by ``H*W``
    times the softmax of the RMS-normalised map; ``literal`` is eq. 4 as printed (every weight
    near ``1/(H*W)``: GFR then barely changes the features)."""
    gfr_temperature: float = 1.0
    """Softmax temperature of the ``relative`` reading (logits ``N / rms(N) / T``)."""
    nec_hidden: int = 256
    """Hidden width of the NEC MLP (``Hg*Wg -> hidden -> Hs*Ws`` per level, shared over
    channels)."""
    neural_map_init_std: float = 0.02
    """Std of the normal init of the neural maps (the paper does not say; timm's usual 0.02)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nec_hidden < 1 or self.neural_map_init_std <= 0 or self.gfr_temperature <= 0:
            raise ConfigError(
                f"nec_hidden >= 1, neural_map_init_std > 0 and gfr_temperature > 0 expected, "
                f"got {self.nec_hidden} / {self.neural_map_init_std} / {self.gfr_temperature}"
            )


def gfr(
    features: Tensor,
    neural_map: Tensor,
    norm: bool = True,
    residual: Literal["none", "map", "feature"] = "map",
    mode: Literal["relative", "literal"] = "relative",
    temperature: float = 1.0,
) -> Tensor:
    """Global Feature Recalibration (eqs. 3-4): ``f * N' + residual``.

    ``N'`` is a softmax of the (normalised) map over the ``H*W`` positions of each channel
    (eq. 4). Read literally (``mode="literal"``: ``N' = softmax(N / ||N||_2)`` with the norm of
    the whole map), every logit is about ``1/sqrt(C*H*W)`` in size, so every weight is about
    ``1/(H*W)``: ``f * N'`` is then negligible beside the residual and GFR is near the identity
    (or, with the map residual, replaces the image by the image-independent map). The paper's
    intent (§3.3: "selectively emphasizing salient regions guided by the neural map", "a globally
    consistent importance distribution") is a re-weighting of positions, which ``relative``
    (default) implements: the map is scaled to unit RMS over all its entries (the global l2 norm
    divided by ``sqrt(C*H*W)``, so its shape, not its scale, sets the weights), the softmax
    over positions gives the importance distribution, and ``H*W`` times it (mean weight 1)
    weighs the features relative to a uniform distribution. Without ``norm`` the raw map is
    the logit.

    Args:
        features: Stage output ``f`` ``(B, C, H, W)``.
        neural_map: The view's neural map ``N`` ``(C, H, W)``.
        norm: Normalise ``N`` globally first (Table 5 "Norm").
        residual: ``"feature"`` adds ``f`` (eq. 3), ``"map"`` adds ``N``, ``"none"`` nothing.
        mode: ``"relative"`` or ``"literal"`` (see above).
        temperature: Softmax temperature of the ``relative`` reading.

    Returns:
        Refined features ``(B, C, H, W)`` in the features' dtype.

    """
    if features.shape[1:] != neural_map.shape:
        raise ValueError(
            f"gfr: features {tuple(features.shape)} and neural map {tuple(neural_map.shape)} "
            "differ in (C, H, W)"
        )
    c, h, w = neural_map.shape
    n = neural_map.double() if neural_map.dtype == torch.float64 else neural_map.float()
    if mode == "literal":
        logits = n / n.norm(p=2) if norm else n
        scale = 1.0
    else:
        logits = n * torch.rsqrt(n.square().mean() + 1e-12) if norm else n
        logits = logits / temperature
        scale = float(h * w)
    weights = (torch.softmax(logits.reshape(c, h * w), dim=-1) * scale).reshape(c, h, w)
    out = features * weights.to(features.dtype)
    if residual == "feature":
        return out + features
    if residual == "map":
        return out + neural_map.to(features.dtype)
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


CLNET_METHOD = {
    # Algorithm 1: F_g and F_s (two ConvNeXt-B); Table 5 row #5 (NEC, l2 normalisation, neural-map
    # residual: the best row); GFR read as re-weighting (gfr docstring).
    "share_backbone": False, **TABLE5_ROWS[5], "gfr_mode": "relative", "gfr_temperature": 1.0,
    "nec_hidden": 256, "neural_map_init_std": 0.02,
}
"""Method fields of every CLNet paper preset, beside the InfoNCE recipe."""

PRESETS = {
    # The Sample4Geo tiny recipe with one shared backbone and CLNet's NEC / GFR heads.
    "tiny": {
        "doc": "CPU minutes from random init (narrow shared ConvNeXt, 32x128 / 64 px inputs)",
        "method": {
            **INFONCE_TINY_METHOD, "share_backbone": True, "nec": True, "gfr_norm": True,
            "gfr_residual": "map", "nec_hidden": 64,
        },
        "train": INFONCE_TINY_TRAIN,
    },
    # CLNet §4.3: ConvNeXt-B per view, 384x384 satellite and 140x768 ground (CVUSA, CVACT),
    # 384x768 ground and batch 96 (VIGOR), 384x384 views (University-1652); batch 128, AdamW lr
    # 1e-3 (PyTorch defaults otherwise), 40 epochs, cosine with warm-up; flip, rotate and
    # ColorJitter; the rest as Sample4Geo (label smoothing, clipping, GPS then similarity).
    "paper": infonce_paper("cvusa", "CLNet on CVUSA: ConvNeXt-B per view, 384 / 140x768, batch "
                           "128, Table 5 row #5", CLNET_METHOD, "clnet"),
    "paper_cvact": infonce_paper("cvact", "CLNet on CVACT: the whole 180-degree panorama at "
                                 "140x768, 384 tiles, batch 128", CLNET_METHOD, "clnet"),
    "paper_vigor": infonce_paper("vigor", "CLNet on VIGOR (same- or cross-area): 384x768 / 384, "
                                 "batch 96", CLNET_METHOD, "clnet", VIGOR_TRAIN, VIGOR_SMOKE),
    "paper_university1652": infonce_paper(
        "university1652", "CLNet on University-1652: 384x384 views, Table 5 row #5",
        {**CLNET_METHOD, "schedule": {**INFONCE_METHOD["schedule"], "warmup_epochs": 0.1}},
        "clnet_university", UNIVERSITY_TRAIN, UNIVERSITY_SMOKE),
}
"""Named recipes of ``clnet`` (method and train sections)."""


@register_method("clnet", presets=PRESETS)
class CLNet(InfoNCEMethod):
    """CLNet: correspondence learning between views through neural maps, NEC and GFR."""

    config_class = CLNetConfig
    config: CLNetConfig

    def __init__(self, config: CLNetConfig) -> None:
        super().__init__(config)
        require_pretrained(config, config.backbone)
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
        init_pretrained(self)

    def pretrained_slots(self) -> list[PretrainedSlot]:
        """Each view's ConvNeXt (one when shared) takes the ImageNet weights."""
        slots = [convnext_slot("ground_backbone", self.ground_backbone, self.config)]
        if self.aerial_backbone is not self.ground_backbone:
            slots.append(convnext_slot("aerial_backbone", self.aerial_backbone, self.config))
        return slots

    def compile_targets(self) -> list[nn.Module]:
        """The stems and stages (the encoders call them one by one, with GFR in between)."""
        out: list[nn.Module] = []
        for convnext in dict.fromkeys((self.ground_backbone, self.aerial_backbone)):
            out += [convnext.stem, *convnext.stages]
        return out

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
            x = gfr(x, neural_map, self.config.gfr_norm, self.config.gfr_residual,
                    self.config.gfr_mode, self.config.gfr_temperature)
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
