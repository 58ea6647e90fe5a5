"""Regmi & Shah (ICCV 2019), "Bridging the domain gap for ground-to-aerial image matching".

Four stages, declared as data (a phase schedule by epoch, ``*_epochs`` fields), in one run:

1. ``synthesis`` (phases ``D``, ``G``): X-Fork synthesizes the aerial image ``I_a'`` and its
   segmentation map from the panorama and its Canny edges (§3.1). D: ``0.5 * BCE`` (real label
   0.9); G: ``lambda_gan * GAN + lambda_l1 * L1(image) + lambda_seg * L1(segmentation)``.
2. ``two_stream`` (phase ``two_stream``): the baselines of the paper's table, two separately
   trained two-stream networks with their own weights: ``(I_g, I_a)`` and ``(I_a', I_a)``.
3. ``joint`` (phase ``joint``, §3.2): triads ``(I_g, I_a', I_a)``; ground encoder separate, one
   aerial encoder shared by ``I_a'`` and ``I_a`` (``aerial_sharing="fc"``: the code's own conv
   layers for ``I_a'`` and a shared FC). ``lambda_ga * L(I_g, I_a) + lambda_aa * L(I_a', I_a)``,
   weighted soft-margin, alpha 10. Initialised from the ``(I_g, I_a)`` two-stream weights.
4. ``fusion`` (phase ``fusion``, §3.3): joint network frozen; query ``FC(concat(f_g, f_a'))``,
   reference ``FC(f_a)``, both L2-normalised, same loss.

The generator is frozen (eval mode, no gradient) from stage 2 on; stage 4 freezes the joint
network too. Descriptor variants (``retrieval_variants``) give the table's rows:
``two_stream_aa``, ``two_stream_ga``, ``joint_aa``, ``joint_ga``, ``fusion``; the default is the
current stage's. ``*_aa`` and ``fusion`` queries need ``I_a'``, so ``encode_ground`` runs G.

Inputs: one ``InputSpec``. The pipeline delivers panoramas at ``ground_hw`` (the matching
encoder's size, 224x1232) and tiles at ``aerial_size`` (512, also X-Fork's output); X-Fork's input
(256x1024) is interpolated from the same panorama inside the method. The matching encoders see
BGR pixels on the 0-255 scale minus the ImageNet BGR mean (the TF code); X-Fork sees RGB in
[-1, 1] plus the edge map in {0, 1}.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.data.inputs import InputSpec
from crossview.errors import ConfigError
from crossview.losses.gan import discriminator_loss, generator_loss
from crossview.losses.ranking import weighted_soft_margin_loss
from crossview.methods.base import Method, OptimizerSpec, Phase, check_shape, frozen
from crossview.methods.registry import register_method
from crossview.methods.regmi_shah_config import BGR_MEAN, STAGES, RegmiShahConfig
from crossview.methods.regmi_shah_nets import (
    MatchEncoder,
    PatchDiscriminator,
    Stream,
    XForkGenerator,
    canny_edges,
    descriptor_fc,
    evaluating,
)

logger = logging.getLogger(__name__)

PRESETS = {
    # SPECS §9: X-Fork 256x1024 -> 512, matching 224x1232 / 512. Published epochs and batches per
    # stage: X-Fork 100 epochs at 16, two-stream 100 at 30, joint at 24 (epochs unpublished: 100
    # assumed), fusion 500 at 100. The trainer has one batch size, so a stage trains on the first
    # `*_batch` pairs of each 100-pair batch and stage epochs are scaled to the published number
    # of optimizer steps: epochs x 100 / batch (625, 334, 417, 500).
    "paper": {
        "doc": "Regmi-Shah (ICCV 2019) + authors' code: X-Fork 256x1024->512, 224x1232/512, "
               "stages 100/100/100/500 epochs at batch 16/30/24/100",
        "method": {
            "ground_hw": [224, 1232], "aerial_size": 512, "xfork_ground_hw": [256, 1024],
            "xfork_layout": "paper", "xfork_dropout_blocks": 3, "ngf": 64, "ndf": 64,
            "d_layers": 4,
            "canny_thresholds": [50.0, 100.0], "real_label": 0.9, "lambda_gan": 1.0,
            "lambda_l1": 100.0, "lambda_seg": 1.0, "gan_lr": 2.0e-4, "gan_betas": [0.5, 0.999],
            "match_channels": [64, 128, 256, 512, 512, 512, 512, 512], "match_aggregate": 3,
            "descriptor_dim": 1000, "aerial_sharing": "encoder", "alpha": 10.0,
            "lambda_ga": 10.0, "lambda_aa": 1.0, "match_lr": 1.0e-5, "fusion_lr": 1.0e-5,
            "synthesis_epochs": 625, "two_stream_epochs": 334, "joint_epochs": 417,
            "fusion_epochs": 500, "synthesis_batch": 16, "two_stream_batch": 30,
            "joint_batch": 24, "fusion_batch": 100,
        },
        # CPU smoke runs: every module, loss and stage of the paper layout, narrow and small.
        "smoke": {"ground_hw": [32, 128], "aerial_size": 64, "xfork_ground_hw": [32, 128],
                  "ngf": 8, "ndf": 8, "match_channels": [8, 8, 16, 16, 16, 16, 16, 16]},
        # The code rotates tiles by k * 90 degrees, k drawn from 0..4 (3 in 5 rotate); crossview
        # rolls the panorama with them, keeping pairs aligned (docs/regmi_shah.md).
        # No gradient clipping in the authors' code; their top-1% cutoff is int(0.01 N) + 1.
        "train": {"epochs": 1876, "batch_size": 100, "sampler": "random",
                  "augment": {"rot90_prob": 0.6}, "eval_every": 25, "eval_synthesis_pairs": 64,
                  "grad_clip_norm": 0.0,
                  "eval_conventions": {"recall": {"one_percent": "floor+1"}}},
    },
    # CPU minutes on the synthetic world (benchmarks/bench_regmi_shah.py, 2,000 training pairs:
    # 62 steps per epoch): the paper's layouts on 1/8-size inputs (X-Fork 32x128 -> 64 px with a
    # 1x4 -> 2x2 bottleneck, dropout in the first of its three shared decoder blocks as in half
    # of the paper's six; matching encoders of six narrow layers on 32x128 / 64 px, conv4-conv6
    # aggregated, 512-d), higher learning rates for the short stages, one batch size. Loss
    # weights, alpha, the GAN recipe and the stage structure are the paper's.
    "tiny": {
        "doc": "CPU minutes: 1/8-size inputs, narrow nets, short stages (bench_regmi_shah)",
        "method": {
            "ground_hw": [32, 128], "aerial_size": 64, "xfork_ground_hw": [32, 128],
            "xfork_dropout_blocks": 1, "ngf": 16, "ndf": 16, "d_layers": 3,
            "match_channels": [16, 32, 64, 64, 64, 64], "match_aggregate": 3,
            "descriptor_dim": 512, "match_lr": 3.0e-4, "fusion_lr": 1.0e-3,
            "synthesis_epochs": 8, "two_stream_epochs": 12, "joint_epochs": 12,
            "fusion_epochs": 4,
        },
        "train": {"epochs": 36, "batch_size": 32, "sampler": "random", "augment": True,
                  "cache_images": True, "eval_every": 6, "eval_synthesis_pairs": 64},
    },
}
"""Named recipes of ``regmi_shah`` (method and train sections)."""


@register_method("regmi_shah", presets=PRESETS)
class RegmiShah(Method):
    """X-Fork synthesis, two-stream baselines, joint feature learning and fusion in one model."""

    config_class = RegmiShahConfig
    config: RegmiShahConfig
    synthesis_source = "ground"
    stage_epoch: Tensor
    joint_initialized: Tensor
    bgr_mean: Tensor

    def __init__(self, config: RegmiShahConfig) -> None:
        super().__init__(config)
        cfg = config
        self.generator = XForkGenerator(cfg.xfork_ground_hw, cfg.aerial_size, cfg.ngf,
                                        cfg.xfork_layout, dropout_blocks=cfg.xfork_dropout_blocks)
        self.discriminator = PatchDiscriminator(cfg.ndf, cfg.d_layers)
        self.ts_ga: nn.ModuleDict | None = None
        self.ts_aa: nn.ModuleDict | None = None
        if cfg.two_stream_epochs > 0:
            self.ts_ga = nn.ModuleDict({"ground": self._stream("ground"),
                                        "aerial": self._stream("aerial")})
            self.ts_aa = nn.ModuleDict({"synth": self._stream("aerial"),
                                        "aerial": self._stream("aerial")})
        aerial = self._stream("aerial")
        self.joint = nn.ModuleDict({"ground": self._stream("ground"), "aerial": aerial})
        if cfg.aerial_sharing == "fc":  # the code: own conv layers, the aerial FC shared
            self.joint["synth"] = Stream(self._encoder(), aerial.fc)
        d = cfg.descriptor_dim
        self.fusion = nn.ModuleDict({
            "query": descriptor_fc(2 * d, d, cfg.fusion_bias_init),
            "reference": descriptor_fc(d, d, cfg.fusion_bias_init),
        })
        self.register_buffer("stage_epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("joint_initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("bgr_mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1),
                             persistent=False)

    def _encoder(self) -> MatchEncoder:
        cfg = self.config
        return MatchEncoder(cfg.match_channels, cfg.match_aggregate, cfg.match_dropout)

    def _stream(self, view: str) -> Stream:
        encoder = self._encoder()
        hw = self.config.ground_hw if view == "ground" else (self.config.aerial_size,) * 2
        positions = encoder.output_features(tuple(hw))  # type: ignore[arg-type]
        return Stream(encoder, descriptor_fc(positions, self.config.descriptor_dim, 0.1))

    # --- stages ------------------------------------------------------------------------------
    def stage_ranges(self) -> dict[str, tuple[int, int | None]]:
        """Epochs ``[first, last)`` of each stage with epochs; the last one runs to the end."""
        ranges: dict[str, tuple[int, int | None]] = {}
        first = 0
        for stage in STAGES:
            n = getattr(self.config, f"{stage}_epochs")
            if n > 0:
                ranges[stage] = (first, first + n)
                first += n
        last = list(ranges)[-1]
        ranges[last] = (ranges[last][0], None)
        return ranges

    @property
    def stage(self) -> str:
        """The stage of the current epoch (set by the trainer through :meth:`set_epoch`)."""
        # A shape-only (meta device) model has no stored epoch: it shows the first stage.
        epoch = 0 if self.stage_epoch.is_meta else int(self.stage_epoch)
        current = next(iter(self.stage_ranges()))
        for stage, (first, _) in self.stage_ranges().items():
            if epoch >= first:
                current = stage
        return current

    def phases(self) -> list[Phase]:
        """``D``, ``G`` (synthesis), then ``two_stream``, ``joint``, ``fusion``, by epoch."""
        out = []
        for stage, epochs in self.stage_ranges().items():
            if stage == "synthesis":
                out += [Phase("D", "discriminator", epochs), Phase("G", "generator", epochs)]
            else:
                out.append(Phase(stage, stage, epochs))
        return out

    def optimizers(self) -> dict[str, OptimizerSpec]:
        """Adam per network: G and D (2e-4, betas 0.5/0.999), matching and fusion (1e-5)."""
        cfg = self.config

        def adam(modules: list[nn.Module], lr: float, betas: tuple[float, float]) -> OptimizerSpec:
            params = list(dict.fromkeys(p for m in modules for p in m.parameters()))
            return OptimizerSpec(params, kind="adam", lr=lr, betas=betas)

        specs = {"discriminator": adam([self.discriminator], cfg.gan_lr, cfg.gan_betas),
                 "generator": adam([self.generator], cfg.gan_lr, cfg.gan_betas),
                 "joint": adam([self.joint], cfg.match_lr, (0.9, 0.999)),
                 "fusion": adam([self.fusion], cfg.fusion_lr, (0.9, 0.999))}
        if self.ts_ga is not None and self.ts_aa is not None:
            specs["two_stream"] = adam([self.ts_ga, self.ts_aa], cfg.match_lr, (0.9, 0.999))
        return specs

    def set_epoch(self, epoch: int) -> None:
        """Record the epoch (its stage picks the default descriptors); start the joint stage.

        At the first epoch of the joint (or fusion) stage the joint network is initialised from
        the ``(I_g, I_a)`` two-stream weights once (``joint_init``); a resumed run keeps its own.
        """
        self.stage_epoch.fill_(epoch)
        stage = self.stage
        if stage in ("joint", "fusion") and not bool(self.joint_initialized):
            if self.config.joint_init == "two_stream" and self.ts_ga is not None:
                with torch.no_grad():
                    for view in ("ground", "aerial"):
                        self.joint[view].load_state_dict(self.ts_ga[view].state_dict())
                logger.info("regmi_shah: joint network initialised from the two-stream weights")
            self.joint_initialized.fill_(True)

    def check_training_data(self, table: Any) -> None:
        """Say at start whether segmentation targets exist; without them ``lambda_seg`` is 0.

        Targets are the ``aerial_semantics`` extra of the input path
        (:data:`crossview.data.inputs.EXTRAS`): per reference ``Reference.extras["semantics"]``
        (the synthetic world's ``crossview_gt/tile_semantics``, recorded by the layouts, or a
        user's colour maps), reaching training batches as ``batch["aerial_semantics"]``
        ``(B, 3, S, S)`` colour maps in [0, 1], rotated and flipped with their tile.
        """
        from crossview.data.datasets import available_extras

        found = table is not None and bool(available_extras(table, ["aerial_semantics"]))
        if found:
            logger.info("regmi_shah: aerial segmentation targets found; segmentation L1 weight "
                        "%g", self.config.lambda_seg)
        else:
            logger.warning("regmi_shah: the training data has no aerial segmentation maps "
                           "(Reference.extras['semantics']); the segmentation head's weight "
                           "is 0")

    # --- inputs ------------------------------------------------------------------------------
    @property
    def input_spec(self) -> InputSpec:
        """Matching sizes; the mean / std of the code's BGR mean subtraction (0-255 scale)."""
        b, g, r = BGR_MEAN
        return InputSpec(ground_hw=self.config.ground_hw, aerial_size=self.config.aerial_size,
                         mean=(r / 255, g / 255, b / 255), std=(1 / 255, 1 / 255, 1 / 255),
                         extras=("aerial_semantics",))

    @property
    def descriptor_dim(self) -> int:
        """``D`` of every descriptor variant."""
        return self.config.descriptor_dim

    def _matching_input(self, images: Tensor) -> Tensor:
        """[0, 1] RGB -> BGR on the 0-255 scale minus the ImageNet BGR mean (TF code)."""
        return images.flip(1) * 255.0 - self.bgr_mean.to(images.dtype)

    def xfork_input(self, ground: Tensor) -> Tensor:
        """Panoramas ``(B, 3, Hg, Wg)`` in [0, 1] -> X-Fork input ``(B, 4, H, W)``.

        RGB in [-1, 1] at ``xfork_ground_hw`` (interpolated from ``ground_hw``), and the Canny
        edge map of that image in {0, 1}.
        """
        check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        hw = tuple(self.config.xfork_ground_hw)
        if tuple(ground.shape[-2:]) != hw:
            ground = F.interpolate(ground, size=hw, mode="bilinear", align_corners=False,
                                   antialias=True).clamp(0.0, 1.0)
        edges = canny_edges(ground, self.config.canny_thresholds).to(ground.dtype)
        return torch.cat([ground * 2.0 - 1.0, edges], dim=1)

    # --- synthesis ---------------------------------------------------------------------------
    def synthesize_with_segmentation(self, ground: Tensor) -> tuple[Tensor, Tensor]:
        """Panoramas -> (aerial images, segmentation colour maps), ``(B, 3, S, S)`` in [0, 1]."""
        image, seg = self.generator(self.xfork_input(ground))
        return (image + 1.0) * 0.5, (seg + 1.0) * 0.5

    def synthesize(self, ground: Tensor) -> Tensor:
        """Panoramas ``(B, 3, Hg, Wg)`` in [0, 1] -> aerial tiles ``(B, 3, S, S)`` in [0, 1]."""
        return self.synthesize_with_segmentation(ground)[0]

    def synthesize_outputs(self, ground: Tensor) -> dict[str, Tensor]:
        """The aerial tile (``""``) and its segmentation map (``"seg"``), one forward pass."""
        image, seg = self.synthesize_with_segmentation(ground)
        return {"": image, "seg": seg}

    def _frozen_synthesis(self, ground: Tensor) -> Tensor:
        """``I_a'`` from the frozen generator (eval mode, no gradient), normalised for matching."""
        with torch.no_grad(), evaluating(self.generator):
            return self._matching_input(self.synthesize(ground))

    # --- descriptors -------------------------------------------------------------------------
    def retrieval_variants(self) -> list[str]:
        """The table rows trained by the current stage and the ones before it."""
        done = list(self.stage_ranges())
        done = done[: done.index(self.stage) + 1]
        rows = {"two_stream": ["two_stream_aa", "two_stream_ga"],
                "joint": ["joint_aa", "joint_ga"], "fusion": ["fusion"]}
        return [r for stage in done for r in rows.get(stage, [])]

    def _row(self) -> str:
        if self.active_variant is not None:
            return self.active_variant
        defaults = {"two_stream": "two_stream_ga", "joint": "joint_ga", "fusion": "fusion"}
        return defaults.get(self.stage, "two_stream_ga" if self.ts_ga is not None else "joint_ga")

    def joint_streams(self) -> tuple[Stream, Stream, Stream]:
        """The joint network's ground, synthesized-aerial and aerial streams."""
        aerial = self.joint["aerial"]
        synth = aerial if self.config.aerial_sharing == "encoder" else self.joint["synth"]
        return self.joint["ground"], synth, aerial  # type: ignore[return-value]

    def _fused_query(self, ground: Tensor, synth: Tensor) -> Tensor:
        f_g, f_s, _ = self.joint_streams()
        with torch.no_grad(), evaluating(self.joint):  # frozen joint network (fusion stage)
            features = torch.cat([f_g(ground), f_s(synth)], dim=1)
        return F.normalize(self.fusion["query"](features), dim=1)

    def encode_ground(self, ground: Tensor) -> Tensor:
        """Panoramas ``(B, 3, Hg, Wg)`` in [0, 1] -> L2-normalised ``(B, D)`` of the row."""
        check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        row = self._row()
        x = self._matching_input(ground)
        if row == "two_stream_ga":
            return self._ts()[0]["ground"](x)
        if row == "joint_ga":
            return self.joint_streams()[0](x)
        synth = self._frozen_synthesis(ground)
        if row == "two_stream_aa":
            return self._ts()[1]["synth"](synth)
        if row == "joint_aa":
            return self.joint_streams()[1](synth)
        return self._fused_query(x, synth)

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> L2-normalised ``(B, D)`` of the row."""
        size = self.config.aerial_size
        check_shape(aerial, (None, 3, size, size), "aerial")
        row, x = self._row(), self._matching_input(aerial)
        if row.startswith("two_stream"):
            return self._ts()[row == "two_stream_aa"]["aerial"](x)
        f_a = self.joint_streams()[2]
        if row.startswith("joint"):
            return f_a(x)
        with torch.no_grad(), evaluating(self.joint):
            features = f_a(x)
        return F.normalize(self.fusion["reference"](features), dim=1)

    def _ts(self) -> tuple[nn.ModuleDict, nn.ModuleDict]:
        if self.ts_ga is None or self.ts_aa is None:
            raise ConfigError("regmi_shah: this model has no two-stream networks "
                              "(two_stream_epochs=0)")
        return self.ts_ga, self.ts_aa

    # --- training ----------------------------------------------------------------------------
    def training_step(
        self, batch: dict[str, Any], step: int, phase: str = "G"
    ) -> dict[str, Tensor]:
        """Named losses of ``phase``; ``total`` is what its optimizer minimises."""
        valid = [p.name for p in self.phases()]
        if phase not in valid:
            raise ConfigError(f"regmi_shah: unknown training phase {phase!r}; valid: {valid}")
        stage = "synthesis" if phase in ("D", "G") else phase
        batch = _first(batch, getattr(self.config, f"{stage}_batch"))
        if phase == "D":
            return self._d_step(batch)
        if phase == "G":
            return self._g_step(batch)
        ground = self._matching_input(batch["ground"])
        aerial = self._matching_input(batch["aerial"])
        synth = self._frozen_synthesis(batch["ground"])
        if phase == "two_stream":
            ga, aa = self._ts()
            l_ga = self._rank(ga["aerial"](aerial), ga["ground"](ground))
            l_aa = self._rank(aa["aerial"](aerial), aa["synth"](synth))
            return {"total": l_ga + l_aa, "rank_ga": l_ga.detach(), "rank_aa": l_aa.detach()}
        if phase == "joint":
            return self._joint_step(ground, synth, aerial)
        query = self._fused_query(ground, synth)
        f_a = self.joint_streams()[2]
        with torch.no_grad(), evaluating(self.joint):
            features = f_a(aerial)
        loss = self._rank(F.normalize(self.fusion["reference"](features), dim=1), query)
        return {"total": loss, "rank": loss.detach()}

    def _rank(self, sat: Tensor, grd: Tensor) -> Tensor:
        return weighted_soft_margin_loss(sat, grd, alpha=self.config.alpha)

    def _joint_step(self, ground: Tensor, synth: Tensor, aerial: Tensor) -> dict[str, Tensor]:
        cfg = self.config
        f_g, f_s, f_a = self.joint_streams()
        sat = f_a(aerial)
        l_ga = self._rank(sat, f_g(ground))
        l_aa = self._rank(sat, f_s(synth))
        total = cfg.lambda_ga * l_ga + cfg.lambda_aa * l_aa
        if cfg.joint_loss_mean:
            total = total / (cfg.lambda_ga + cfg.lambda_aa)
        return {"total": total, "rank_ga": l_ga.detach(), "rank_aa": l_aa.detach()}

    def _d_step(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        cfg = self.config
        with torch.no_grad():
            fake, _ = self.generator(self.xfork_input(batch["ground"]))
        real = batch["aerial"] * 2.0 - 1.0
        loss = 0.5 * discriminator_loss(self.discriminator(real), self.discriminator(fake),
                                        cfg.gan_loss, cfg.real_label)  # code: D loss halved
        return {"total": cfg.lambda_gan * loss, "d_gan": loss.detach()}

    def _g_step(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        cfg = self.config
        fake, seg = self.generator(self.xfork_input(batch["ground"]))
        out = {"l1": (fake - (batch["aerial"] * 2.0 - 1.0)).abs().mean()}
        with frozen(self.discriminator):  # D stays in the graph, gets no gradient
            out["g_gan"] = generator_loss(self.discriminator(fake), cfg.gan_loss, cfg.real_label)
        total = cfg.lambda_gan * out["g_gan"] + cfg.lambda_l1 * out["l1"]
        if "aerial_semantics" in batch:  # without targets the segmentation weight is 0
            target = batch["aerial_semantics"]
            check_shape(target, tuple(seg.shape), "batch['aerial_semantics']")
            out["l1_seg"] = (seg - (target * 2.0 - 1.0)).abs().mean()
            total = total + cfg.lambda_seg * out["l1_seg"]
        return {"total": total, **{k: v.detach() for k, v in out.items()}}

    # --- evaluation hook ---------------------------------------------------------------------
    @torch.no_grad()
    def visualize(self, batch: dict[str, Any], max_items: int = 4) -> dict[str, Tensor]:
        """Sample grid: panorama, edges, synthesized aerial, segmentation, real aerial (rows)."""
        from crossview.reports.samples import sample_grid

        ground = batch["ground"][:max_items]
        x = self.xfork_input(ground)
        image, seg = self.generator(x)
        rows = [ground, x[:, 3:], (image + 1) * 0.5, (seg + 1) * 0.5, batch["aerial"][:max_items]]
        if "aerial_semantics" in batch:
            rows.append(batch["aerial_semantics"][:max_items])
        return {"samples": sample_grid(rows)}


def _first(batch: dict[str, Any], n: int | None) -> dict[str, Any]:
    """The first ``n`` pairs of every tensor in ``batch`` (a stage's own batch size)."""
    if n is None:
        return batch
    return {k: v[:n] if isinstance(v, Tensor) and v.ndim > 0 else v for k, v in batch.items()}
