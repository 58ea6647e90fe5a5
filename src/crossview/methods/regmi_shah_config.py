"""Configuration of ``regmi_shah`` (:mod:`crossview.methods.regmi_shah`): fields and stages."""

from __future__ import annotations

import dataclasses
from typing import Literal

from crossview.errors import ConfigError
from crossview.losses.gan import GanKind
from crossview.methods.base import MethodConfig

STAGES = ("synthesis", "two_stream", "joint", "fusion")
"""Training stages, in order."""
ROWS = ("two_stream_aa", "two_stream_ga", "joint_aa", "joint_ga", "fusion")
"""Descriptor variants: the rows of the paper's table (``aa``: query ``I_a'``; ``ga``: ``I_g``)."""
BGR_MEAN = (103.939, 116.779, 123.68)
"""ImageNet mean (B, G, R) on the 0-255 scale, subtracted by the matching encoders (TF code)."""


@dataclasses.dataclass
class RegmiShahConfig(MethodConfig):
    """Regmi-Shah hyper-parameters; defaults are the paper / the authors' code (SPECS.md §9)."""

    ground_hw: tuple[int, int] = (224, 1232)
    """Panorama size of the matching encoders (the input spec; code: 224x1232)."""
    aerial_size: int = 512
    """Tile side of the matching encoders and of X-Fork's output (512)."""
    xfork_ground_hw: tuple[int, int] = (256, 1024)
    """X-Fork's panorama size, interpolated from the ``ground_hw`` input (256x1024)."""
    xfork_layout: Literal["paper", "code"] = "paper"
    """``paper``: 1x4 bottleneck reshaped to 2x2, 6 shared decoder blocks; ``code``: 2x8 to 4x4."""
    xfork_dropout_blocks: int = 3
    """Leading shared decoder blocks with dropout 0.5 (pix2pix and the code: 3)."""
    ngf: int = 64
    """Channels of the first generator conv."""
    ndf: int = 64
    """Channels of the first discriminator conv."""
    d_layers: int = 4
    """Stride-2 convs of the PatchGAN (code: 4, a 30x30 map at 512 px)."""
    canny_thresholds: tuple[float, float] = (50.0, 100.0)
    """Canny hysteresis thresholds on the 0-255 grey scale (code: OpenCV 50 / 100)."""
    gan_loss: GanKind = "vanilla"
    """Adversarial loss (code: BCE)."""
    real_label: float = 0.9
    """Target of real images for D and of fakes for G (code: one-sided smoothing, 0.9)."""
    lambda_gan: float = 1.0
    """Weight of G's adversarial loss."""
    lambda_l1: float = 100.0
    """Weight of the L1 loss on the synthesized image (code: 100)."""
    lambda_seg: float = 1.0
    """Weight of the L1 loss on the segmentation map (code: 1); 0 when the data has none."""
    gan_lr: float = 2e-4
    """Adam learning rate of G and D (code: 2e-4)."""
    gan_betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas of G and D."""
    match_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 512)
    """Output channels of the matching encoder's conv layers (conv1-conv8)."""
    match_aggregate: int = 3
    """Last conv layers aggregated into the descriptor (conv6, conv7, conv8)."""
    match_dropout: float = 0.5
    """Dropout after the aggregated layers during training (code: keep_prob 0.5)."""
    descriptor_dim: int = 1000
    """Descriptor length ``D`` (FC output, 1000)."""
    aerial_sharing: Literal["encoder", "fc"] = "encoder"
    """Joint network: ``I_a'`` and ``I_a`` share the whole aerial encoder (paper) or only the FC
    (code: separate conv layers)."""
    alpha: float = 10.0
    """Weight inside the soft-margin ranking loss."""
    lambda_ga: float = 10.0
    """Joint loss weight ``lambda_1`` of ``L(I_g, I_a)`` (code: 10)."""
    lambda_aa: float = 1.0
    """Joint loss weight ``lambda_2`` of ``L(I_a', I_a)`` (code: 1)."""
    joint_loss_mean: bool = False
    """Divide the joint loss by ``lambda_ga + lambda_aa`` (code) instead of eq. 4's plain sum."""
    joint_init: Literal["two_stream", "random"] = "two_stream"
    """Start the joint network from the ``(I_g, I_a)`` two-stream weights (code) or from scratch."""
    match_lr: float = 1e-5
    """Adam learning rate of the two-stream and joint networks (code: 1e-5)."""
    fusion_lr: float = 1e-5
    """Adam learning rate of the fusion FC layers (code: 1e-5)."""
    fusion_bias_init: float = 0.01
    """Constant init of the fusion FC biases (code: 0.01; the matching FCs use 0.1)."""
    synthesis_epochs: int = 100
    """Epochs of stage 1 (X-Fork)."""
    two_stream_epochs: int = 100
    """Epochs of stage 2 (two-stream baselines); 0 leaves them out (no such rows)."""
    joint_epochs: int = 100
    """Epochs of stage 3 (joint feature learning)."""
    fusion_epochs: int = 500
    """Epochs of stage 4 (feature fusion)."""
    synthesis_batch: int | None = None
    """Pairs per step of stage 1: the first ``n`` of each trainer batch (None: all of it)."""
    two_stream_batch: int | None = None
    """Pairs per step of stage 2 (None: the whole trainer batch)."""
    joint_batch: int | None = None
    """Pairs per step of stage 3 (None: the whole trainer batch)."""
    fusion_batch: int | None = None
    """Pairs per step of stage 4 (None: the whole trainer batch)."""

    def __post_init__(self) -> None:
        epochs = [getattr(self, f"{s}_epochs") for s in STAGES]
        if min(epochs) < 0 or sum(epochs) == 0:
            raise ConfigError(f"regmi_shah: stage epochs must be >= 0, not all 0; got {epochs}")
        for stage in STAGES:
            n = getattr(self, f"{stage}_batch")
            if n is not None and n < 2:
                raise ConfigError(f"regmi_shah: {stage}_batch must be >= 2 (in-batch negatives)")
        if self.descriptor_dim < 1 or self.alpha <= 0:
            raise ConfigError("regmi_shah: descriptor_dim >= 1 and alpha > 0 expected")
