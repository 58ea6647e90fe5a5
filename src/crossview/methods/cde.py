"""Coming Down to Earth (CDE, Toker et al. CVPR 2021): street-view synthesis + retrieval.

The north-up tile is polar-transformed (eq. 1) inside the method; generator G (Table 5) turns the
polar tile into a street panorama and its bottleneck G_E doubles as the satellite feature map for
retrieval; R_E (a modified ResNet34) encodes the street view; SAFA (k = 8) aggregates both; D
(Table 6) is a conditional PatchGAN. Loss (eq. 3): ``lambda_gan L_cGAN + lambda_l1 L_1 +
lambda_ret L_ret`` with weights 1 / 100 / 1000; Adam(0.5, 0.999), lr 1e-4 for all three networks.

Alternation (App. B: "we alternate between updating the weights of each network individually
with one update step per cycle; the gradients for the generator come from both the discriminator
and retrieval networks") is declared as three phases, in this order per iteration:

* ``D`` (optimizer ``discriminator``): ``lambda_gan * L_D`` on real and detached fake pairs.
* ``G`` (optimizer ``generator``): ``lambda_gan * L_G + lambda_l1 * L_1 + lambda_ret * L_ret``;
  L_ret flows into G_E through SAFA_sat, while D, R_E and both SAFA modules are frozen (their
  parameters get no gradient in this phase).
* ``R`` (optimizer ``retrieval``: R_E, SAFA_street, SAFA_sat): ``lambda_ret * L_ret`` with the
  satellite features computed without gradient to G.

Each phase's ``total`` therefore only produces gradients for its own optimizer's parameters.
The order is ``update_order``: ``code`` (default) is D -> R -> G, the order of the authors'
public code (``optimize_parameters``), which produced the published numbers; ``text`` is D -> G ->
R as listed above.
Ablations (config flags): ``synthesis=False`` is Table 3 (i) (no decoder, no D; G_E and R then
train jointly in the single ``R`` phase), ``gan=False`` is (ii), ``retrieval_features=
"synthesized"`` is (iii) (R_E, shared, encodes G(I_ps)), ``retrieval=False`` is Table 4 "w/o R".
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.data.inputs import UNIT_MEAN, UNIT_STD, InputSpec, unseen_mask
from crossview.errors import ConfigError, CrossviewError
from crossview.geometry.polar import polar_transform
from crossview.losses.gan import GanKind, discriminator_loss, generator_loss
from crossview.losses.ranking import (
    cde_hard_ratio,
    soft_margin_from_distances,
    utm_negative_mask,
    weighted_soft_margin_loss,
)
from crossview.methods.backbones import PretrainedSlot, init_pretrained, require_pretrained
from crossview.methods.base import (
    Method,
    MethodConfig,
    OptimizerSpec,
    Phase,
    check_shape,
    frozen,
)
from crossview.methods.cde_discriminator import CDEDiscriminator
from crossview.methods.cde_generator import CDEGenerator
from crossview.methods.cde_street import StreetEncoder
from crossview.methods.matching import (
    GroundMap,
    feature_validity,
    flatten_normalized,
    polar_correlation,
)
from crossview.methods.registry import register_method
from crossview.methods.safa import SpatialAwareAggregation


@dataclasses.dataclass
class CDEConfig(MethodConfig):
    """CDE hyper-parameters (defaults: the paper, App. B). ``ground_hw`` is also the polar size."""

    ground_hw: tuple[int, int] = (112, 616)
    """Street panorama size, equal to the polar-transformed tile size (112x616 in the paper)."""
    aerial_size: int = 512
    """Side of the north-up tile the data pipeline delivers (polar-transformed inside)."""
    polar_supersample: int = 1
    """Polar-transform at ``k`` times ``ground_hw`` then resize bicubically (CDE on CVUSA: 2)."""
    width: float = 1.0
    """Channel multiplier of G, D and R_E (1 = Tables 5 and 6; ``tiny`` uses less)."""
    num_bottleneck: int = 6
    """Residual blocks in G's bottleneck."""
    attention_pool: bool = True
    """2x2 max-pool keys/values in the non-local blocks (Wang et al.'s sub-sampling)."""
    safa_masks: int = 8
    """SAFA attention masks ``k``."""
    alpha: float = 10.0
    """Weight inside the soft-margin ranking loss."""
    hard_mining: bool = True
    """Fine-tune with CDE's hard-negative schedule (``cde_hard_ratio(epoch)``, SPECS §2)."""
    negative_radius_m: float = 0.0
    """If > 0, batch pairs closer than this (batch ``utm``) are not negatives (CVACT: 25)."""
    lambda_ret: float = 1000.0
    """Weight of the retrieval loss."""
    lambda_l1: float = 100.0
    """Weight of the L1 reconstruction loss."""
    lambda_gan: float = 1.0
    """Weight of the conditional GAN loss."""
    gan_loss: GanKind = "vanilla"
    """``vanilla`` (BCE, eq. 5), ``lsgan`` or ``hinge``."""
    lr: float = 1e-4
    """Adam learning rate of G, D and R."""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas."""
    synthesis: bool = True
    """Build the decoder and D; ``False`` is Table 3 ablation (i)."""
    gan: bool = True
    """Use D and the cGAN loss; ``False`` is Table 3 ablation (ii)."""
    retrieval: bool = True
    """Build R; ``False`` is Table 4 "w/o R" (synthesis only, no descriptors)."""
    retrieval_features: Literal["latent", "synthesized"] = "latent"
    """Satellite features for retrieval: G_E (paper) or R_E(G(I_ps)) (Table 3 ablation iii)."""
    matching: Literal["descriptor", "dsm"] = "descriptor"
    """``descriptor``: SAFA on both maps (the paper). ``dsm``: no SAFA; R_E's street map and the
    polar satellite map are compared at every azimuth shift (DSM, ``crossview.methods.matching``)
    in the retrieval loss and in ``locate`` (limited FOV, photos, unknown heading)."""
    update_order: Literal["code", "text"] = "code"
    """Phase order per iteration: ``code`` D -> R -> G (the authors' code, the published
    numbers), ``text`` D -> G -> R (App. B as listed in this module's docstring)."""
    ground_vfov_deg: float = 90.0
    """Vertical span of the street band fed to the model (CVUSA: 90; CDE's CVACT code resizes
    the whole 180-degree panorama: 180)."""


_CDE_TRAIN = {
    # App. B: batch 32; epochs from the authors' code (n_epochs 200), which its hard-mining
    # schedule (SPECS §2: ratios change at epochs 20, 40, 60) needs; horizontal flips; no
    # clipping; random batches; R@1% with K = ceil(N/100) (SPECS §4), CVACT_test within 5 m.
    "epochs": 200, "batch_size": 32, "augment": "cde", "grad_clip_norm": 0.0,
    "sampler": "random", "eval_every": 1,
    "eval_conventions": {"recall": {"one_percent": "ceil"},
                         "cvact_test": {"one_percent": "ceil", "radius_m": 5.0}},
}
_CDE_METHOD = {
    "width": 1.0, "lr": 1.0e-4, "betas": [0.5, 0.999], "lambda_ret": 1000.0, "lambda_l1": 100.0,
    "lambda_gan": 1.0, "hard_mining": True, "update_order": "code", "pretrained": "imagenet",
}
_CDE_SMOKE = {"ground_hw": [32, 176], "aerial_size": 64, "width": 0.25, "pretrained": "none"}

PRESETS = {
    # Tables 5/6 and Appendix B (112x616, width 1, batch 32, Adam(0.5, 0.999) lr 1e-4).
    "paper": {
        "doc": "CDE (CVPR 2021) Tables 5/6, Appendix B: 112x616, width 1, batch 32",
        "method": {**_CDE_METHOD, "ground_hw": [112, 616], "aerial_size": 512,
                   "polar_supersample": 1, "ground_vfov_deg": 90.0},
        "train": dict(_CDE_TRAIN),
        "smoke": _CDE_SMOKE,
    },
    # CVUSA recipe of the paper: the full 750 px tile polar-transformed to 224x1232, then a
    # bicubic resize to 112x616; the street band (90 degrees) resized to 112x616.
    "paper_cvusa": {
        "doc": "CDE's CVUSA recipe: polar to 224x1232 from the 750 px tile, resize to 112x616",
        "method": {**_CDE_METHOD, "ground_hw": [112, 616], "aerial_size": 750,
                   "polar_supersample": 2, "ground_vfov_deg": 90.0},
        "train": dict(_CDE_TRAIN),
        "smoke": _CDE_SMOKE,
    },
    # CVACT: the authors' code resizes the whole 180-degree aligned panorama to 112x616 (no
    # vertical crop) and polar-transforms the 1200 px tile; pairs closer than 25 m are no
    # negatives (SPECS §2).
    "paper_cvact": {
        "doc": "CDE on CVACT: whole 180-degree panorama, polar from the 1200 px tile, 25 m mask",
        "method": {**_CDE_METHOD, "ground_hw": [112, 616], "aerial_size": 1200,
                   "polar_supersample": 1, "ground_vfov_deg": 180.0,
                   "negative_radius_m": 25.0},
        "train": dict(_CDE_TRAIN),
        "smoke": _CDE_SMOKE,
    },
    # CPU minutes: 32x176 panoramas (4x22 latent), a quarter of the channels, 2 bottleneck
    # blocks. Deviations from the paper are only these sizes and batch 8: loss weights
    # (1/100/1000), Adam (0.5, 0.999) and lr 1e-4 are the paper's. On the 400-pair synthetic world
    # this beats the polar-tile baseline on PSNR and SSIM within 2 minutes of CPU training
    # (benchmarks/bench_cde.py).
    "tiny": {
        "doc": "CPU minutes: 32x176 panoramas, a quarter of the channels, batch 8",
        "method": {"ground_hw": [32, 176], "aerial_size": 64, "width": 0.25,
                   "num_bottleneck": 2},
        "train": {"batch_size": 8},
    },
}
"""Named recipes of ``cde`` (method and train sections)."""


@register_method("cde", presets=PRESETS)
class CDE(Method):
    """CDE: polar tile -> G (synthesis, G_E features) and street -> R_E; SAFA on both."""

    config_class = CDEConfig
    config: CDEConfig

    def __init__(self, config: CDEConfig) -> None:
        super().__init__(config)
        _validate(config)
        if config.retrieval:
            require_pretrained(config, "resnet34")
        h, w = config.ground_hw
        self.generator = CDEGenerator(
            config.width, config.num_bottleneck, config.attention_pool, decoder=config.synthesis
        )
        self.discriminator = (
            CDEDiscriminator(config.width, config.attention_pool)
            if config.synthesis and config.gan
            else None
        )
        self.street_encoder: StreetEncoder | None = None
        self.safa_street: SpatialAwareAggregation | None = None
        self.safa_sat: SpatialAwareAggregation | None = None
        positions = (h // 8) * (w // 8)  # G_E and R_E both have stride 8
        if config.retrieval:
            self.street_encoder = StreetEncoder(config.width)
        if config.retrieval and config.matching == "descriptor":
            self.safa_street = SpatialAwareAggregation(positions, config.safa_masks, reduce="max")
            self.safa_sat = SpatialAwareAggregation(positions, config.safa_masks, reduce="max")
        self.hard_ratio = 1.0
        init_pretrained(self)

    def pretrained_slots(self) -> list[PretrainedSlot]:
        """R_E takes torchvision's ResNet34 ImageNet weights (conv1 to layer3)."""
        if self.street_encoder is None:
            return []
        return [PretrainedSlot("street_encoder", "resnet34", self.street_encoder)]

    # --- contract -----------------------------------------------------------------------------
    @property
    def input_spec(self) -> InputSpec:
        """112x616 street band (CVUSA-like, 90 degrees vertical) and polar-transformed tiles."""
        return InputSpec(
            ground_hw=(self.config.ground_hw[0], self.config.ground_hw[1]),
            aerial_size=self.config.aerial_size,
            ground_vfov_deg=self.config.ground_vfov_deg,
            polar=True,
            mean=UNIT_MEAN,  # App. B: intensities in [-1, 1]
            std=UNIT_STD,
        )

    @property
    def descriptor_dim(self) -> int:
        """``k * C`` with ``C`` the channels of G_E / R_E (``matching=dsm``: ``C*h*W``)."""
        if self.can_match:
            c, h, w = self.match_shape
            return c * h * w
        return self.config.safa_masks * self.generator.latent_channels

    def polar(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> polar tiles ``(B, 3, H, W)`` in [-1, 1]."""
        check_shape(aerial, (None, 3, None, None), "aerial")
        h, w = self.config.ground_hw
        k = self.config.polar_supersample
        polar = polar_transform(aerial, h * k, w * k)
        if k > 1:  # CDE's CVUSA recipe: 224x1232 polar map resized bicubically to 112x616
            polar = F.interpolate(polar, size=(h, w), mode="bicubic", align_corners=False)
            polar = polar.clamp(0.0, 1.0)
        return polar * 2.0 - 1.0

    def _ground(self, ground: Tensor) -> Tensor:
        check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        return ground * 2.0 - 1.0  # App. B: intensities in [-1, 1]

    def encode_ground(self, ground: Tensor) -> Tensor:
        """Street panoramas ``(B, 3, H, W)`` in [0, 1] -> SAFA descriptors ``(B, k*C)``."""
        if self.can_match:
            features, valid = self.ground_features(ground)
            return flatten_normalized(features * valid)
        encoder, safa, _ = self._retrieval_modules()
        return safa(encoder(self._ground(ground)))

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> SAFA descriptors of G_E ``(B, k*C)``."""
        if self.can_match:
            return flatten_normalized(self.aerial_features(aerial))
        _, _, safa = self._retrieval_modules()
        return safa(self._satellite_features(self.polar(aerial)))

    # --- DSM matching (matching="dsm") --------------------------------------------------------
    @property
    def can_match(self) -> bool:
        """Whether this model compares feature maps (``matching=dsm`` with a retrieval branch)."""
        return self.config.matching == "dsm" and bool(self.config.retrieval)

    @property
    def match_shape(self) -> tuple[int, int, int]:
        """``(C, h, W)`` of R_E's and G_E's maps (stride 8)."""
        h, w = self.config.ground_hw
        return (self.generator.latent_channels, h // 8, w // 8)

    def ground_features(self, ground: Tensor) -> GroundMap:
        """Street images -> R_E maps ``(B, C, h, W)``, zero where the query saw nothing."""
        if self.street_encoder is None:
            self._retrieval_modules()  # raises: no retrieval branch
        assert self.street_encoder is not None
        return self._street_map(self.street_encoder(self._ground(ground)), ground)

    def _street_map(self, features: Tensor, ground: Tensor) -> GroundMap:
        valid = feature_validity(unseen_mask(ground, self.input_spec.pad_rgb),
                                 (features.shape[-2], features.shape[-1])).to(features.dtype)
        return GroundMap(features * valid, valid)

    def aerial_features(self, aerial: Tensor) -> Tensor:
        """North-up tiles -> polar-aligned satellite maps ``(B, C, h, W)`` (G_E; ablation iii)."""
        return self._satellite_features(self.polar(aerial))

    @property
    def can_synthesize(self) -> bool:
        """Whether this model has a generator decoder (``False`` for ablation (i))."""
        return bool(self.config.synthesis)

    @property
    def can_retrieve(self) -> bool:
        """Whether this model has the retrieval branch R (``False`` for Table 4 "w/o R")."""
        return bool(self.config.retrieval)

    def synthesize(self, aerial: Tensor) -> Tensor:
        """Tiles ``(B, 3, S, S)`` in [0, 1] -> street panoramas ``(B, 3, H, W)`` in [0, 1]."""
        if not self.config.synthesis:
            raise CrossviewError("this cde model was trained without a decoder (synthesis=false)")
        fake, _ = self.generator(self.polar(aerial))
        return (fake + 1.0) * 0.5

    # --- training -----------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """``D``, ``R``, ``G`` (``update_order: code``) or ``D``, ``G``, ``R`` (``text``).

        Ablations drop phases.
        """
        cfg = self.config
        if not cfg.synthesis:
            return [Phase("R", "retrieval")]
        phases = [Phase("D", "discriminator")] if cfg.gan else []
        later = [Phase("G", "generator")]
        if cfg.retrieval:
            r = Phase("R", "retrieval")
            later = [r, *later] if cfg.update_order == "code" else [*later, r]
        return phases + later

    def optimizers(self) -> dict[str, OptimizerSpec]:
        """Adam(0.5, 0.999), lr 1e-4 for each network (App. B)."""
        groups: dict[str, list[nn.Parameter]] = {}
        if self.discriminator is not None:
            groups["discriminator"] = list(self.discriminator.parameters())
        retrieval = [p for m in self._r_modules() for p in m.parameters()]
        if self.config.synthesis:
            groups["generator"] = list(self.generator.parameters())
            if retrieval:
                groups["retrieval"] = retrieval
        else:  # ablation (i): G_E has no other task, so it trains in the retrieval phase
            groups["retrieval"] = list(self.generator.parameters()) + retrieval
        return {
            name: OptimizerSpec(params, kind="adam", lr=self.config.lr, betas=self.config.betas)
            for name, params in groups.items()
        }

    def set_epoch(self, epoch: int) -> None:
        """Hard-mining ratio of ``epoch`` (1.0 until epoch 20, then 0.1, 0.05, 0.01)."""
        self.hard_ratio = cde_hard_ratio(epoch) if self.config.hard_mining else 1.0

    def training_step(
        self, batch: dict[str, Any], step: int, phase: str = "G"
    ) -> dict[str, Tensor]:
        """Named losses of ``phase`` (``D``, ``G`` or ``R``); ``total`` is what it minimises."""
        valid = [p.name for p in self.phases()]
        if phase not in valid:
            raise ConfigError(f"cde: unknown training phase {phase!r}; this model has {valid}")
        polar = self.polar(batch["aerial"])
        ground = self._ground(batch["ground"])
        if phase == "D":
            return self._d_step(polar, ground)
        if phase == "G":
            return self._g_step(polar, ground, batch)
        return self._r_step(polar, ground, batch)

    def _d_step(self, polar: Tensor, ground: Tensor) -> dict[str, Tensor]:
        assert self.discriminator is not None
        with torch.no_grad():
            fake, _ = self.generator(polar)
        loss = discriminator_loss(
            self.discriminator(polar, ground), self.discriminator(polar, fake), self.config.gan_loss
        )
        # pix2pix halves D's objective so that D learns at half G's rate.
        d_gan = 0.5 * loss
        return {"total": self.config.lambda_gan * d_gan, "d_gan": d_gan.detach()}

    def _g_step(self, polar: Tensor, ground: Tensor, batch: dict[str, Any]) -> dict[str, Tensor]:
        cfg = self.config
        fake, latent = self.generator(polar)
        out: dict[str, Tensor] = {"l1": (fake - ground).abs().mean()}
        total = cfg.lambda_l1 * out["l1"]
        if self.discriminator is not None:
            with frozen(self.discriminator):
                out["g_gan"] = generator_loss(self.discriminator(polar, fake), cfg.gan_loss)
            total = total + cfg.lambda_gan * out["g_gan"]
        if cfg.retrieval and self.can_match:
            assert self.street_encoder is not None
            with frozen(self.street_encoder):
                sat_maps = latent if cfg.retrieval_features == "latent" else (
                    self.street_encoder(fake))
                with torch.no_grad():
                    gmap = self._street_map(self.street_encoder(ground), batch["ground"])
            out["ret"] = self._dsm_ranking(gmap, sat_maps, batch)
            total = total + cfg.lambda_ret * out["ret"]
        elif cfg.retrieval:
            encoder, safa_street, safa_sat = self._retrieval_modules()
            with frozen(encoder, safa_sat, safa_street):
                sat_maps = latent if cfg.retrieval_features == "latent" else encoder(fake)
                sat = safa_sat(sat_maps)
                with torch.no_grad():
                    grd = safa_street(encoder(ground))
            out["ret"] = self._ranking(sat, grd, batch)
            total = total + cfg.lambda_ret * out["ret"]
        return {"total": total, **{k: v.detach() for k, v in out.items()}}

    def _r_step(self, polar: Tensor, ground: Tensor, batch: dict[str, Any]) -> dict[str, Tensor]:
        if self.can_match:
            with torch.set_grad_enabled(not self.config.synthesis):
                sat_maps = self._satellite_features(polar) if (
                    self.config.retrieval_features == "latent") else None
            if sat_maps is None:  # ablation (iii): R_E sees G(I_ps), G not trained here
                assert self.street_encoder is not None
                with torch.no_grad():
                    fake, _ = self.generator(polar)
                sat_maps = self.street_encoder(fake)
            assert self.street_encoder is not None
            gmap = self._street_map(self.street_encoder(ground), batch["ground"])
            ret = self._dsm_ranking(gmap, sat_maps, batch)
            return {"total": self.config.lambda_ret * ret, "ret": ret.detach()}
        encoder, safa_street, safa_sat = self._retrieval_modules()
        if self.config.retrieval_features == "synthesized":  # ablation (iii): R_E sees G(I_ps)
            with torch.no_grad():
                fake, _ = self.generator(polar)
            features = encoder(fake)
        else:  # with a decoder G trains in its own phase; in ablation (i) G_E trains here
            with torch.set_grad_enabled(not self.config.synthesis):
                features, _ = self.generator.encode(polar)
        sat = safa_sat(features)
        grd = safa_street(encoder(ground))
        ret = self._ranking(sat, grd, batch)
        return {"total": self.config.lambda_ret * ret, "ret": ret.detach()}

    def _negative_mask(self, batch: dict[str, Any], device: torch.device) -> Tensor | None:
        if self.config.negative_radius_m <= 0:
            return None
        if "utm" not in batch:
            raise ConfigError("cde: negative_radius_m > 0 needs batch['utm'] (B, 2) positions")
        utm = torch.as_tensor(batch["utm"])[:, :2]
        return utm_negative_mask(utm, self.config.negative_radius_m).to(device)

    def _ranking(self, sat: Tensor, grd: Tensor, batch: dict[str, Any]) -> Tensor:
        return weighted_soft_margin_loss(
            sat, grd, alpha=self.config.alpha, hard_ratio=self.hard_ratio,
            negative_mask=self._negative_mask(batch, sat.device)
        )

    def _dsm_ranking(self, gmap: GroundMap, sat_maps: Tensor, batch: dict[str, Any]) -> Tensor:
        """The ranking loss on DSM distances ``2 - 2 max_shift score`` (sat i vs ground j)."""
        best = polar_correlation(gmap, sat_maps).amax(dim=-1)  # (B ground, B sat)
        return soft_margin_from_distances(
            2.0 - 2.0 * best.transpose(0, 1), alpha=self.config.alpha,
            hard_ratio=self.hard_ratio, negative_mask=self._negative_mask(batch, best.device))

    def _satellite_features(self, polar: Tensor) -> Tensor:
        """Local satellite features: G_E(I_ps), or R_E(G(I_ps)) for ablation (iii)."""
        if self.config.retrieval_features == "latent":
            latent, _ = self.generator.encode(polar)
            return latent
        if self.street_encoder is None:
            self._retrieval_modules()  # raises: no retrieval branch
        assert self.street_encoder is not None
        fake, _ = self.generator(polar)
        return self.street_encoder(fake)

    def _r_modules(self) -> list[nn.Module]:
        return [m for m in (self.street_encoder, self.safa_street, self.safa_sat) if m is not None]

    def _retrieval_modules(
        self,
    ) -> tuple[StreetEncoder, SpatialAwareAggregation, SpatialAwareAggregation]:
        if self.street_encoder is None or self.safa_street is None or self.safa_sat is None:
            raise CrossviewError(
                "this cde model was trained without retrieval branch R "
                "(retrieval=false); it can only synthesize"
            )
        return self.street_encoder, self.safa_street, self.safa_sat

    # --- evaluation hook ----------------------------------------------------------------------
    @torch.no_grad()
    def visualize(self, batch: dict[str, Any], max_items: int = 4) -> dict[str, Tensor]:
        """Sample grid for the trainer's evaluation hook: ``{"samples": (3, Hgrid, W)}`` in [0, 1].

        Rows per sample: tile (resized, left-aligned), polar tile, synthesized, real street view.
        """
        from crossview.reports.samples import sample_grid

        aerial = batch["aerial"][:max_items]
        polar = (self.polar(aerial) + 1.0) * 0.5
        fake = self.synthesize(aerial) if self.config.synthesis else None
        return {"samples": sample_grid([aerial, polar, fake, batch["ground"][:max_items]])}



def _validate(config: CDEConfig) -> None:
    h, w = config.ground_hw
    if h % 8 or w % 8:
        raise ConfigError(
            f"cde: ground_hw {config.ground_hw} must be divisible by 8 (stride of G_E)"
        )
    if h < 16 or w < 32:
        raise ConfigError(f"cde: ground_hw {config.ground_hw} too small for D (need >= 16x32)")
    if config.polar_supersample < 1:
        raise ConfigError(f"cde: polar_supersample must be >= 1, got {config.polar_supersample}")
    if config.width <= 0:
        raise ConfigError(f"cde: width must be > 0, got {config.width}")
    if not config.synthesis and not config.retrieval:
        raise ConfigError("cde: synthesis=false and retrieval=false leaves nothing to train")
    if config.retrieval_features == "synthesized" and not config.synthesis:
        raise ConfigError(
            "cde: retrieval_features='synthesized' (ablation iii) needs synthesis=true"
        )
