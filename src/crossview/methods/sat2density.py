"""Sat2Density (Qian et al., ICCV 2023): satellite tile -> density field -> street panorama.

DensityNet turns the north-up tile into densities over the tile (``density_slices - 1`` slices
above a solid ground slice); :mod:`crossview.geometry.volume` renders the panorama's initial
colour (the tile's colour copied along the rays), depth and opacity from a camera 2 m above the
tile centre; RenderNet turns them (colour, + depth in the paper's final model) into the
panorama, its last three up-sampling blocks modulated by an illumination feature computed from
the sky histogram of the real panorama (paper §3.2, App. A). Losses (§3.3, SPECS §6): L1 1,
L2 10, KL 0.1, feature matching 10, perceptual 10, non-sky opacity 1, non-saturating GAN 1;
Adam(0, 0.999), lr 5e-5 for generator and discriminators.

Phases, in order per iteration: ``D`` (optimizer ``discriminator``: the three discriminators on
real and detached synthesized panoramas) then ``G`` (optimizer ``generator``: DensityNet,
RenderNet, style encoder and MLP; the discriminators are frozen). Batches need ``aerial``
``(B, 3, S, S)``, ``ground`` ``(B, 3, H, W)`` and, with the opacity loss or the illumination,
``sky`` ``(B, 1, H, W)`` in {0, 1} (1 = sky).

Ablations (Table 1): ``opacity_loss``, ``illumination``, ``depth_to_render``; Base is all three
false, Sat2Density all three true. The method has no descriptors (``can_retrieve`` false): the
trainer evaluates it by synthesis and keeps the best checkpoint by PSNR.

Inference API: :meth:`Sat2Density.render` returns the panorama with the rendered colour, depth,
opacity and densities; :meth:`Sat2Density.synthesize` only the panorama. Both take
``illumination``: ``None`` or ``"mean"`` (the prior's mean code, zero), ``"random"`` (a code drawn
from the prior), a ``(B, 270)`` / ``(1, 270)`` sky histogram (:func:`sky_histogram` of a real
panorama and its sky mask: the paper's "Sat2Density" rows use the real panorama's own), or the
pair ``(panorama, sky)`` it is computed from (``(B|1, 3, h, w)``, ``(B|1, 1, h, w)``), plus
``camera_height_m`` and ``camera_offset_m`` (east, north metres from the tile centre) to render
from any point of the tile (trajectories, Fig. 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from crossview.data.inputs import InputSpec
from crossview.errors import ConfigError, CrossviewError
from crossview.geometry.volume import (
    PanoramaRenderer,
    VolumeRender,
    add_ground_slice,
    render_satellite_depth,
)
from crossview.losses.feature_matching import feature_matching_loss
from crossview.losses.gan import discriminator_loss, generator_loss
from crossview.losses.kl import gaussian_kl
from crossview.losses.opacity import non_sky_opacity_loss
from crossview.losses.reconstruction import l1_loss, l2_loss
from crossview.methods.base import (
    Method,
    MethodConfig,
    OptimizerSpec,
    Phase,
    check_shape,
    frozen,
)
from crossview.methods.registry import register_method
from crossview.methods.sat2density_disc import Sat2DensityDiscriminator
from crossview.methods.sat2density_nets import DensityActivation, DensityNet, RenderNet
from crossview.methods.sat2density_style import StyleEncoder, StyleMLP, sky_histogram
from crossview.reports.depth import colour_depth
from crossview.reports.samples import sample_grid

Illumination = Literal["mean", "random"] | Tensor | tuple[Tensor, Tensor] | None

SKY_MASK_PLACES = {
    "cvact": "<root>/pano_sky_mask/<id>_grdView.png (Sat2Density's arrangement: streetview/, "
             "satview_correct/, pano_sky_mask/, ACT_data.mat)",
    "cvusa": "<root>/sky_mask/<id>.png (Sat2Density's arrangement of CVUSA)",
}
"""Where a layout's sky masks go, for the refusal message of a table without them."""


@dataclasses.dataclass
class Sat2DensityConfig(MethodConfig):
    """Sat2Density hyper-parameters; defaults are the paper's CVACT (Aligned) setting."""

    ground_hw: tuple[int, int] = (128, 512)
    """Panorama size ``(H, W)`` (paper: 128x512)."""
    aerial_size: int = 256
    """Tile side ``S``; the density grid has the same ``S x S`` cells (paper: 256)."""
    ground_vfov_deg: float = 180.0
    """Vertical field of view of the panoramas (CVACT 180, CVUSA 90)."""
    tile_size_m: float = 30.0
    """Side of the tile's ground square (CVACT 30, CVUSA 55)."""
    max_height_m: float = 8.0
    """Height of the density volume."""
    camera_height_m: float = 2.0
    """Camera height above the ground."""
    density_slices: int = 65
    """Height slices including the solid ground slice (paper: 65)."""
    ground_density: float = 1e3
    """Density of the ground slice, per metre."""
    samples: int = 100
    """Samples per ray."""
    extend_ground: bool = True
    """Below the ground, keep the ground's density (no ray slips through the ground)."""
    density_filters: int = 32
    """DensityNet stem channels (code: 32)."""
    density_res_blocks: int = 6
    """DensityNet residual blocks (App. A: 6)."""
    density_activation: DensityActivation = "tanh"
    """``tanh``: ``max_density * (1 + tanh) / 2`` (paper's Tanh); ``relu``: the code's ReLU."""
    max_density: float = 100.0
    """Density at ``tanh = 1``, per metre."""
    initial_density: float = 0.03
    """Density per metre the untrained DensityNet starts near (sets its output bias; ``tanh``)."""
    render_filters: int = 64
    """RenderNet stem channels (code: 64)."""
    render_res_blocks: int = 9
    """RenderNet residual blocks (code: 9)."""
    downsamples: int = 4
    """Stride-2 layers of both generators (code: 4)."""
    spectral_norm: bool = True
    """Spectral normalisation of generator and discriminator convolutions (code)."""
    histogram_bins: int = 90
    """Sky-histogram bins per channel (paper: 90)."""
    style_dims: int = 128
    """Style code size."""
    style_hidden: int = 256
    """Hidden width of the style encoder and MLP."""
    style_feature_dims: int = 256
    """Size of the illumination feature fed to RenderNet."""
    opacity_loss: bool = True
    """Non-sky opacity supervision (Table 1 "Opa")."""
    illumination: bool = True
    """Illumination injection from the sky histogram (Table 1 "Illu")."""
    depth_to_render: bool = True
    """Concatenate the rendered depth to RenderNet's input (Table 1 last row)."""
    opacity_to_render: bool = False
    """Also concatenate the rendered opacity (the authors' code does; the paper does not)."""
    disc_filters: int = 64
    """First-layer channels of each discriminator."""
    disc_layers: int = 3
    """Layers after the first in each discriminator."""
    crop_sizes: tuple[int, int] = (64, 32)
    """Sides of the perspective crops of D2 and D3."""
    crop_fov_deg: float = 100.0
    """Horizontal FOV of the perspective crops."""
    crop_pitch_deg: float = 40.0
    """Crops look up to this far above or below the horizon (code)."""
    lambda_l1: float = 1.0
    lambda_l2: float = 10.0
    lambda_kl: float = 0.1
    lambda_fm: float = 10.0
    lambda_perceptual: float = 10.0
    """Perceptual loss weight; its VGG19 weights come from ``pretrained`` (random if unset)."""
    lambda_opacity: float = 1.0
    lambda_gan: float = 1.0
    lr: float = 5e-5
    """Adam learning rate of generator and discriminators."""
    betas: tuple[float, float] = (0.0, 0.999)
    """Adam betas."""


SMOKE = {"ground_hw": [64, 256], "aerial_size": 64, "crop_sizes": [32, 16],
         "density_filters": 8, "render_filters": 8, "style_dims": 32, "style_hidden": 64,
         "style_feature_dims": 64, "disc_filters": 16}
"""CPU smoke runs of the paper presets: their modules, losses and options at small sizes."""

_RECIPE = {"augment": "none", "grad_clip_norm": 0.0, "sampler": "random", "eval_conventions": {}}
"""Recipe fields the paper states by omission: no augmentation, clipping or hard negatives."""

PRESETS = {
    "paper": {
        "doc": "Sat2Density (ICCV 2023) on CVACT (Aligned): 256 px tiles over 30 m, 65 slices, "
               "128x512 panoramas spanning 180 deg, batch 16",
        "method": {"lr": 5e-5},
        "train": {"batch_size": 16, "epochs": 30, **_RECIPE},
        "smoke": SMOKE,
    },
    "paper_cvusa": {
        "doc": "Sat2Density on CVUSA: tiles over 55 m, 128x512 panoramas spanning 90 deg",
        "method": {"tile_size_m": 55.0, "ground_vfov_deg": 90.0, "lr": 5e-5},
        "train": {"batch_size": 16, "epochs": 30, **_RECIPE},
        "smoke": SMOKE,
    },
    # CPU minutes: 32x128 panoramas, 64 px tiles, 17 slices (0.5 m apart), a quarter or less of
    # the channels, 2 residual blocks, 3 down-samplings, 8/4 px crops, no perceptual loss (VGG19
    # on random weights is no perceptual metric and dominates CPU time). Loss weights, Adam and
    # learning rate are the paper's.
    "tiny": {
        "doc": "CPU minutes: 32x128 panoramas, 64 px tiles, 17 slices, narrow nets, batch 8",
        "method": {"ground_hw": [32, 128], "aerial_size": 64, "density_slices": 17,
                   "samples": 32, "density_filters": 8, "density_res_blocks": 2,
                   "render_filters": 8, "render_res_blocks": 2, "downsamples": 3,
                   "style_dims": 32, "style_hidden": 64, "style_feature_dims": 64,
                   "disc_filters": 16, "disc_layers": 2, "crop_sizes": [16, 8],
                   "lambda_perceptual": 0.0},
        "train": {"batch_size": 8},
    },
}
"""Named recipes of ``sat2density`` (method and train sections)."""


class Sat2DensityOutput(NamedTuple):
    """What :meth:`Sat2Density.render` returns (all in the panorama's layout unless noted)."""

    panorama: Tensor
    """``(B, 3, H, W)`` synthesized panorama in [0, 1]."""
    colour: Tensor
    """``(B, 3, H, W)`` rendered (initial) colour."""
    depth: Tensor
    """``(B, 1, H, W)`` rendered depth, metres along the ray."""
    opacity: Tensor
    """``(B, 1, H, W)`` rendered opacity."""
    density: Tensor
    """``(B, N, S, S)`` densities per metre, ground slice included."""
    mu: Tensor | None
    """``(B, style_dims)`` style mean (training with a histogram), else ``None``."""
    logvar: Tensor | None
    """``(B, style_dims)`` style log variance, or ``None``."""


@register_method("sat2density", presets=PRESETS)
class Sat2Density(Method):
    """Sat2Density: DensityNet, volume rendering, RenderNet with illumination, three D's."""

    config_class = Sat2DensityConfig
    config: Sat2DensityConfig

    def __init__(self, config: Sat2DensityConfig) -> None:
        super().__init__(config)
        _validate(config)
        cfg = config
        self.density_net = DensityNet(cfg.density_slices - 1, cfg.tile_size_m,
                                      cfg.density_filters, cfg.downsamples,
                                      cfg.density_res_blocks, cfg.density_activation,
                                      cfg.max_density, cfg.initial_density,
                                      cfg.spectral_norm)
        self.renderer = PanoramaRenderer(cfg.tile_size_m, cfg.ground_hw, cfg.ground_vfov_deg,
                                         cfg.max_height_m, cfg.camera_height_m, cfg.samples,
                                         cfg.extend_ground)
        self.style_encoder: StyleEncoder | None = None
        self.style_mlp: StyleMLP | None = None
        if cfg.illumination:
            self.style_encoder = StyleEncoder(3 * cfg.histogram_bins, cfg.style_hidden,
                                              cfg.style_dims)
            self.style_mlp = StyleMLP(cfg.style_dims, cfg.style_hidden, cfg.style_feature_dims)
        in_ch = 3 + int(cfg.depth_to_render) + int(cfg.opacity_to_render)
        self.render_net = RenderNet(in_ch, cfg.render_filters, cfg.downsamples,
                                    cfg.render_res_blocks,
                                    cfg.style_feature_dims if cfg.illumination else 0, 3,
                                    cfg.spectral_norm)
        self.discriminator = Sat2DensityDiscriminator(
            cfg.ground_hw, cfg.ground_vfov_deg, cfg.crop_sizes, cfg.crop_fov_deg,
            cfg.crop_pitch_deg, cfg.disc_filters, cfg.disc_layers, cfg.spectral_norm)
        self._perceptual: list[nn.Module] = []  # built on first use, kept out of the state dict

    # --- contract -----------------------------------------------------------------------------
    @property
    def input_spec(self) -> InputSpec:
        """Panoramas spanning ``ground_vfov_deg`` at ``ground_hw``; tiles; values in [0, 1].

        Training batches carry sky masks (``sky``) when the opacity loss or the illumination
        needs them.
        """
        needs_sky = self.config.opacity_loss or self.config.illumination
        return InputSpec(ground_hw=self.config.ground_hw, aerial_size=self.config.aerial_size,
                         ground_vfov_deg=self.config.ground_vfov_deg, mean=(0.0, 0.0, 0.0),
                         std=(1.0, 1.0, 1.0), extras=("sky",) if needs_sky else ())

    @property
    def can_retrieve(self) -> bool:
        """No descriptors: Sat2Density only synthesizes."""
        return False

    @property
    def descriptor_dim(self) -> int:
        """Not defined (no descriptors)."""
        raise CrossviewError("sat2density has no descriptors; it synthesizes panoramas")

    def encode_ground(self, ground: Tensor) -> Tensor:
        """Not defined (no descriptors)."""
        raise CrossviewError("sat2density has no descriptors; it synthesizes panoramas")

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """Not defined (no descriptors)."""
        raise CrossviewError("sat2density has no descriptors; it synthesizes panoramas")

    # --- inference ----------------------------------------------------------------------------
    def densities(self, aerial: Tensor) -> Tensor:
        """Tiles ``(B, 3, S, S)`` in [0, 1] -> densities ``(B, N, S, S)`` with the ground slice."""
        check_shape(aerial, (None, 3, self.config.aerial_size, self.config.aerial_size), "aerial")
        return add_ground_slice(self.density_net(aerial), self.config.ground_density)

    def illumination_feature(self, illumination: Illumination, batch: int,
                             device: torch.device) -> tuple[Tensor | None, Tensor | None,
                                                            Tensor | None]:
        """``(feature, mu, logvar)`` for RenderNet from a histogram, ``"mean"`` or ``"random"``."""
        if self.style_encoder is None or self.style_mlp is None:
            if isinstance(illumination, (Tensor, tuple)):
                raise ConfigError("illumination: this sat2density model was trained without "
                                  "illumination injection (illumination=false)")
            return None, None, None
        mu = logvar = None
        if illumination is None or (isinstance(illumination, str) and illumination == "mean"):
            z = torch.zeros(batch, self.config.style_dims, device=device)
        elif isinstance(illumination, str) and illumination == "random":
            z = torch.randn(batch, self.config.style_dims, device=device)
        elif isinstance(illumination, Tensor) or isinstance(illumination, tuple):
            if isinstance(illumination, tuple):
                if len(illumination) != 2:
                    raise ConfigError("illumination: expected (panorama, sky mask), got "
                                      f"{len(illumination)} tensors")
                illumination = sky_histogram(illumination[0].to(device),
                                             illumination[1].to(device),
                                             self.config.histogram_bins)
            hist = illumination.to(device=device, dtype=torch.float32)
            if hist.ndim == 2 and hist.shape[0] == 1 and batch > 1:
                hist = hist.expand(batch, -1)
            if hist.ndim != 2 or hist.shape[0] != batch:
                raise ConfigError(f"illumination: expected a (B, {3 * self.config.histogram_bins})"
                                  f" or (1, ...) sky histogram, got {tuple(illumination.shape)}")
            mu, logvar, z = self.style_encoder(hist)
        else:
            raise ConfigError(f"illumination: expected None, 'mean', 'random', a sky "
                              f"histogram or (panorama, sky mask), got {illumination!r}")
        return self.style_mlp(z), mu, logvar

    def render(self, aerial: Tensor, illumination: Illumination = None,
               camera_height_m: float | Tensor | None = None,
               camera_offset_m: Sequence[float] | Tensor | None = None) -> Sat2DensityOutput:
        """Densities, rendered colour/depth/opacity and the synthesized panorama of tiles.

        Args:
            aerial: North-up tiles ``(B, 3, S, S)`` in [0, 1].
            illumination: ``None``/``"mean"``, ``"random"`` or a sky histogram (module doc).
            camera_height_m: Camera height; ``None`` is the config's (2 m).
            camera_offset_m: Camera ``(east, north)`` from the tile centre, ``(2,)`` or ``(B, 2)``.

        """
        density = self.densities(aerial)
        view = self.renderer(density, aerial, camera_height_m, camera_offset_m)
        style, mu, logvar = self.illumination_feature(illumination, aerial.shape[0],
                                                      aerial.device)
        pano = self._render_net(view, style, aerial.dtype)
        assert view.colour is not None
        return Sat2DensityOutput(pano, view.colour, view.depth, view.opacity, density, mu, logvar)

    def _render_net(self, view: VolumeRender, style: Tensor | None, dtype: torch.dtype) -> Tensor:
        """RenderNet on a rendered view (colour, + depth, + opacity as configured)."""
        assert view.colour is not None
        inputs = [view.colour]
        if self.config.depth_to_render:  # the code's depth unit: half the tile
            inputs.append(view.depth / (self.config.tile_size_m / 2.0))
        if self.config.opacity_to_render:
            inputs.append(view.opacity)
        return self.render_net(torch.cat(inputs, dim=1).to(dtype), style)

    def synthesize(self, aerial: Tensor, illumination: Illumination = None,
                   camera_height_m: float | Tensor | None = None,
                   camera_offset_m: Sequence[float] | Tensor | None = None) -> Tensor:
        """Tiles ``(B, 3, S, S)`` in [0, 1] -> panoramas ``(B, 3, H, W)`` in [0, 1] (see render)."""
        return self.render(aerial, illumination, camera_height_m, camera_offset_m).panorama

    @property
    def depth_range_m(self) -> float:
        """Longest in-volume ray from the default camera: the depth colour map's far end."""
        cfg = self.config
        half = cfg.tile_size_m / 2.0
        up = max(cfg.camera_height_m, cfg.max_height_m - cfg.camera_height_m)
        return float((2 * half**2 + up**2) ** 0.5)

    def synthesize_outputs(self, aerial: Tensor, illumination: Illumination = None,
                           camera_height_m: float | None = None,
                           camera_offset_m: Sequence[float] | Tensor | None = None
                           ) -> dict[str, Tensor]:
        """The panorama and its geometry, for ``crossview synthesize`` (names -> files).

        ``""`` the panorama; ``depth`` its depth colour-mapped (0 to :attr:`depth_range_m`,
        faded to black by the opacity) and ``depth.npy`` in metres along the ray; ``opacity``;
        ``satellite_depth`` the top-down depth (Fig. 6b, 0 to ``max_height_m`` below the
        volume's top) and ``satellite_depth.npy`` in metres.
        """
        cfg = self.config
        out = self.render(aerial, illumination, camera_height_m, camera_offset_m)
        top = render_satellite_depth(out.density, cfg.tile_size_m, cfg.max_height_m,
                                     cfg.samples, cfg.extend_ground)
        return {"": out.panorama,
                "depth": colour_depth(out.depth, self.depth_range_m, out.opacity),
                "depth.npy": out.depth.float(),
                "opacity": out.opacity.float(),
                "satellite_depth": colour_depth(top.depth, cfg.max_height_m),
                "satellite_depth.npy": top.depth.float()}

    def render_path(self, aerial: Tensor, offsets_m: Tensor, illumination: Illumination = None,
                    camera_height_m: float | None = None, chunk: int = 8
                    ) -> Iterator[Sat2DensityOutput]:
        """Render one tile ``(1, 3, S, S)`` from each camera ``offsets_m`` ``(T, 2)`` (east, north).

        The densities and the illumination feature are computed once (a ``"random"`` light is
        one draw for the whole path); yields outputs of up to ``chunk`` consecutive views.
        """
        check_shape(aerial, (1, 3, self.config.aerial_size, self.config.aerial_size), "aerial")
        if offsets_m.ndim != 2 or offsets_m.shape[1] != 2 or len(offsets_m) < 1:
            raise ConfigError(f"offsets_m: expected (T, 2) camera positions, got "
                              f"{tuple(offsets_m.shape)}")
        density = self.densities(aerial)
        style, _, _ = self.illumination_feature(illumination, 1, aerial.device)
        for start in range(0, len(offsets_m), max(1, chunk)):
            part = offsets_m[start:start + max(1, chunk)]
            n = len(part)
            dens, tile = density.expand(n, -1, -1, -1), aerial.expand(n, -1, -1, -1)
            view = self.renderer(dens, tile, camera_height_m, part)
            st = None if style is None else style.expand(n, -1)
            assert view.colour is not None
            yield Sat2DensityOutput(self._render_net(view, st, aerial.dtype), view.colour,
                                    view.depth, view.opacity, dens, None, None)

    def render_geometry(self, aerial: Tensor, flat_ground: bool = False) -> tuple[Tensor, Tensor]:
        """Depth (metres along the ray) and opacity ``(B, 1, H, W)`` of the default panorama.

        ``flat_ground``: the baseline whose density is only the ground slice (a flat world).
        """
        density = self.densities(aerial)
        if flat_ground:
            density = torch.cat([density[:, :1], torch.zeros_like(density[:, 1:])], dim=1)
        view = self.renderer(density, None)
        return view.depth, view.opacity

    # --- training -----------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """``D`` then ``G``."""
        return [Phase("D", "discriminator"), Phase("G", "generator")]

    def optimizers(self) -> dict[str, OptimizerSpec]:
        """Adam(0, 0.999), lr 5e-5 for the discriminators and for everything else."""
        disc = list(self.discriminator.parameters())
        ids = {id(p) for p in disc}
        gen = [p for p in self.parameters() if id(p) not in ids]
        return {name: OptimizerSpec(params, kind="adam", lr=self.config.lr,
                                    betas=self.config.betas)
                for name, params in (("discriminator", disc), ("generator", gen))}

    def training_step(self, batch: dict[str, Any], step: int,
                      phase: str = "G") -> dict[str, Tensor]:
        """Named losses of ``phase`` (``D`` or ``G``); ``total`` is what it minimises."""
        if phase not in ("D", "G"):
            raise ConfigError(f"sat2density: unknown training phase {phase!r}; this model has "
                              "['D', 'G']")
        aerial, ground = batch["aerial"], batch["ground"]
        check_shape(ground, (aerial.shape[0], 3, *self.config.ground_hw), "ground")
        sky = self._sky(batch)
        hist = None
        if self.config.illumination:
            assert sky is not None
            hist = sky_histogram(ground, sky, self.config.histogram_bins)
        views = self.discriminator.draw_views(aerial.shape[0]).to(aerial.device)
        if phase == "D":
            with torch.no_grad():
                fake = self.render(aerial, hist).panorama
            real_out = self.discriminator(ground, views)
            fake_out = self.discriminator(fake.detach(), views)
            d_gan = torch.stack([discriminator_loss(r[0], f[0]) for r, f in
                                 zip(real_out, fake_out, strict=True)]).mean()
            return {"total": self.config.lambda_gan * d_gan, "d_gan": d_gan.detach()}
        return self._g_step(aerial, ground, sky, hist, views)

    def check_training_data(self, table: Any) -> None:
        """Refuse, before any work, a training table without sky masks when they are needed.

        The opacity loss and the illumination need ``batch["sky"]``; a ``PairTable`` whose pairs
        carry no ``sky`` mask cannot supply it. Other datasets (``table`` None) are checked per
        batch.
        """
        from crossview.data.datasets import available_extras

        if table is None or not (self.config.opacity_loss or self.config.illumination):
            return
        if "sky" not in available_extras(table, ["sky"]):
            where = SKY_MASK_PLACES.get(table.layout, "the synthetic world's crossview_gt/sky/"
                                        "<sample id>.png")
            raise ConfigError(f"sat2density: the training data {table.layout} {table.root} has "
                              "no sky masks, which the opacity loss and the illumination need; "
                              f"put them (white = sky, the panorama's size) in {where} or train "
                              "with opacity_loss=false illumination=false (Table 1 'Base')")

    def _sky(self, batch: dict[str, Any]) -> Tensor | None:
        if not (self.config.opacity_loss or self.config.illumination):
            return None
        if "sky" not in batch:
            raise ConfigError("sat2density: the batch needs 'sky' (B, 1, H, W) sky masks "
                              "(1 = sky) for the opacity loss and the illumination")
        sky = batch["sky"]
        check_shape(sky, (batch["ground"].shape[0], 1, *self.config.ground_hw), "sky")
        return sky.to(batch["ground"].dtype)

    def _g_step(self, aerial: Tensor, ground: Tensor, sky: Tensor | None, hist: Tensor | None,
                views: Tensor) -> dict[str, Tensor]:
        cfg = self.config
        out = self.render(aerial, hist)
        fake = out.panorama
        terms: dict[str, Tensor] = {"l1": l1_loss(fake, ground), "l2": l2_loss(fake, ground)}
        with frozen(self.discriminator):
            fake_out = self.discriminator(fake, views)
            with torch.no_grad():
                real_out = self.discriminator(ground, views)
        terms["g_gan"] = torch.stack([generator_loss(f[0]) for f in fake_out]).mean()
        terms["fm"] = feature_matching_loss([f[1] for f in fake_out], [r[1] for r in real_out])
        if out.mu is not None and out.logvar is not None:
            terms["kl"] = gaussian_kl(out.mu, out.logvar)
        if cfg.opacity_loss:
            assert sky is not None
            terms["opacity"] = non_sky_opacity_loss(out.opacity, sky)
        if cfg.lambda_perceptual > 0:
            terms["perceptual"] = self._perceptual_loss()(fake, ground)
        weights = {"l1": cfg.lambda_l1, "l2": cfg.lambda_l2, "g_gan": cfg.lambda_gan,
                   "fm": cfg.lambda_fm, "kl": cfg.lambda_kl, "opacity": cfg.lambda_opacity,
                   "perceptual": cfg.lambda_perceptual}
        total = sum((weights[k] * v for k, v in terms.items()), fake.new_zeros(()))
        return {"total": total, **{k: v.detach() for k, v in terms.items()}}

    def _perceptual_loss(self) -> nn.Module:
        """VGG19 perceptual loss, built once (weights from ``config.pretrained``)."""
        if not self._perceptual:
            from crossview.losses.perceptual import VGGPerceptualLoss

            self._perceptual.append(VGGPerceptualLoss(self.config.pretrained))
        device = next(self.render_net.parameters()).device
        self._perceptual[0].to(device)
        return self._perceptual[0]

    # --- evaluation hook ----------------------------------------------------------------------
    @torch.no_grad()
    def visualize(self, batch: dict[str, Any], max_items: int = 4) -> dict[str, Tensor]:
        """Sample grid ``{"samples": (3, Hgrid, W)}`` for the trainer's evaluation hook.

        Rows per pair: tile, rendered colour, depth, opacity, synthesis, real panorama
        (illumination from ``batch["sky"]`` when given, else the mean code).
        """
        aerial, ground = batch["aerial"][:max_items], batch["ground"][:max_items]
        hist = None
        if self.config.illumination and "sky" in batch:
            hist = sky_histogram(ground, batch["sky"][:max_items], self.config.histogram_bins)
        out = self.render(aerial, hist)
        longest = (2 * (self.config.tile_size_m / 2) ** 2 + self.config.max_height_m**2) ** 0.5
        rows = [aerial, out.colour, out.depth / longest, out.opacity, out.panorama, ground]
        return {"samples": sample_grid(rows)}



def _validate(cfg: Sat2DensityConfig) -> None:
    step = 2**cfg.downsamples
    h, w = cfg.ground_hw
    if h % step or w % step or cfg.aerial_size % step:
        raise ConfigError(f"sat2density: ground_hw {cfg.ground_hw} and aerial_size "
                          f"{cfg.aerial_size} must be multiples of 2^downsamples = {step}")
    if cfg.density_slices < 3:
        raise ConfigError(f"sat2density: density_slices must be >= 3 (ground + 2), got "
                          f"{cfg.density_slices}")
    need = 2 ** (cfg.disc_layers + 1)  # each discriminator halves its input disc_layers times
    if min(h // 2, w // 2, *cfg.crop_sizes) < need:
        raise ConfigError(f"sat2density: half the panorama {cfg.ground_hw} and the crops "
                          f"{cfg.crop_sizes} must be at least {need} px for disc_layers="
                          f"{cfg.disc_layers}")
    if cfg.tile_size_m <= 0 or cfg.max_height_m <= 0 or cfg.camera_height_m < 0:
        raise ConfigError("sat2density: tile_size_m and max_height_m must be > 0 and "
                          "camera_height_m >= 0")
