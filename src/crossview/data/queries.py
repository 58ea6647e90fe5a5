"""Query conditions in training: limited field of view, unknown heading, pinhole photos.

A model trained only on north-aligned 360-degree panoramas is asked at ``locate`` time about a
person's photo: 50-90 degrees wide, taken with a pinhole camera, heading unknown. The ``query``
section of the training config (:class:`QueryConfig`, ``TrainConfig.query``) turns each training
panorama into such a query, *after* the synchronised augmentation (rotation, flip, colour):

1. Heading: a limited view looks at a random bearing (whole columns of the panorama, or the yaw
   of the pinhole camera). ``unknown``: the view is centred on column ``W/2`` as ``locate``
   receives a query whose heading it does not know (a 360-degree query is rolled to that
   bearing): methods that match feature maps (DSM) learn to find it. ``known``: the view stays
   where it belongs in the north-aligned panorama, as ``locate`` places a query once its heading
   is given or hypothesised: global-descriptor methods, which search headings by rolling the
   query, learn partial views at every bearing.
2. Field of view: with probability ``full_prob`` the whole panorama; otherwise a horizontal FOV
   drawn uniformly in ``fov_deg``. Below 180 degrees, with probability ``pinhole_prob`` the query
   is a pinhole photo (horizontal FOV, aspect ``pinhole_aspect``, pitch drawn in ``pitch_deg``)
   rendered from the panorama (:func:`crossview.geometry.panorama.perspective_from_equirect`)
   and mapped back onto the band with the one input path's
   :func:`~crossview.data.inputs.pinhole_panorama` at pitch 0 (``locate`` does not know a photo's
   pitch either); otherwise it is the DSM crop (SPECS §1) of that many columns.
3. The view is centred on column ``W/2`` and padded with the method's pad colour, as every
   limited view is (:func:`~crossview.data.inputs.pad_to_panorama`).

``rotation_negatives`` adds to every sample a *twin*: the same place turned by another multiple
of 90 degrees (tile rotated, panorama rolled, DESIGN.md "Rotation augmentation pairs") under the
same query draw. The trainer puts twins in the batch beside their originals
(:func:`crossview.training.batches.merge_twins`), so a panorama and the same tile at a wrong
heading are negatives of each other: descriptors must then tell headings apart, which the
heading search of global-descriptor methods relies on.

Every draw comes from the sample's generator, seeded by ``(seed, epoch, index)``: a sample is the
same whatever the worker layout.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch
from torch import Tensor

from crossview.config import Config
from crossview.data.inputs import InputSpec, pad_to_panorama, pinhole_panorama
from crossview.errors import ConfigError
from crossview.geometry.panorama import crop_fov, fov_crop_width, perspective_from_equirect


@dataclasses.dataclass
class QueryConfig(Config):
    """How training panoramas are turned into queries (module docstring); defaults: unchanged."""

    fov_deg: tuple[float, float] = (360.0, 360.0)
    """Range ``[low, high]`` of the horizontal field of view drawn per sample (degrees)."""
    full_prob: float = 0.0
    """Probability of keeping the whole 360-degree panorama instead of drawing a FOV."""
    heading: Literal["known", "unknown"] = "known"
    """``unknown``: queries centred on column ``W/2`` whatever their bearing; ``known``: placed at
    their bearing in the north-aligned panorama (module docstring)."""
    pinhole_prob: float = 0.0
    """Probability that a query below 180 degrees is a pinhole photo rather than a DSM crop."""
    pitch_deg: tuple[float, float] = (0.0, 0.0)
    """Range of the pinhole camera's pitch (degrees above the horizon)."""
    pinhole_aspect: float = 1.5
    """Width / height of the pinhole photos (3:2 landscape)."""
    rotation_negatives: bool = False
    """Add a twin turned by another multiple of 90 degrees as an in-batch negative."""

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.fov_deg)
        if not 0.0 < lo <= hi <= 360.0:
            raise ConfigError(f"query.fov_deg: expected 0 < low <= high <= 360, got {self.fov_deg}")
        self.fov_deg = (lo, hi)
        p_lo, p_hi = (float(v) for v in self.pitch_deg)
        if not -60.0 <= p_lo <= p_hi <= 60.0:
            raise ConfigError(f"query.pitch_deg: expected -60 <= low <= high <= 60, got "
                              f"{self.pitch_deg}")
        self.pitch_deg = (p_lo, p_hi)
        for name in ("full_prob", "pinhole_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"query.{name}: must be in [0, 1], got {getattr(self, name)}")
        if self.heading not in ("known", "unknown"):
            raise ConfigError(f"query.heading: expected 'known' or 'unknown', got {self.heading!r}")
        if not 0.2 <= self.pinhole_aspect <= 5.0:
            raise ConfigError(f"query.pinhole_aspect: expected 0.2-5, got {self.pinhole_aspect}")

    @property
    def active(self) -> bool:
        """Whether the config changes queries at all."""
        return (self.heading == "unknown" or self.fov_deg[0] < 360.0
                or self.rotation_negatives)


@dataclasses.dataclass(frozen=True)
class QueryDraw:
    """One sample's query: what was drawn (recorded in the training sample)."""

    fov_deg: float
    """Horizontal field of view (360: the whole panorama)."""
    heading_deg: float
    """Bearing of the query's centre (clockwise from north)."""
    pinhole: bool
    """A pinhole photo (else a DSM crop or the whole panorama)."""
    pitch_deg: float
    """Pitch of the pinhole camera (0 otherwise)."""
    aspect: float = 1.5
    """Width / height of a pinhole photo."""
    aligned: bool = False
    """Placed at its bearing in the north-aligned panorama (heading ``known``)."""


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator))


def draw_query(config: QueryConfig, width: int, generator: torch.Generator) -> QueryDraw:
    """Draw one query's FOV, heading (whole columns of a ``width``-column panorama) and camera."""
    full = config.full_prob > 0 and float(torch.rand(1, generator=generator)) < config.full_prob
    fov = 360.0 if full else _uniform(*config.fov_deg, generator)
    aligned = config.heading == "known"
    heading = 0.0
    if not (aligned and fov >= 360.0):  # an aligned full panorama has nothing to turn
        heading = 360.0 * int(torch.randint(0, width, (1,), generator=generator)) / width
    pinhole = (fov < 180.0 and config.pinhole_prob > 0
               and float(torch.rand(1, generator=generator)) < config.pinhole_prob)
    pitch = _uniform(*config.pitch_deg, generator) if pinhole else 0.0
    return QueryDraw(fov, heading, pinhole, pitch, config.pinhole_aspect, aligned)


def apply_query(pano: Tensor, draw: QueryDraw, spec: InputSpec) -> Tensor:
    """The query ``(3, H, W)`` ``draw`` makes of a north-aligned band panorama ``(3, H, W)``."""
    centred = _centred_query(pano, draw, spec)
    if not draw.aligned:
        return centred
    # Back to the north-aligned frame: the view's centre goes to its bearing's column.
    return torch.roll(centred, round(draw.heading_deg * pano.shape[-1] / 360.0), dims=-1)


def _centred_query(pano: Tensor, draw: QueryDraw, spec: InputSpec) -> Tensor:
    """The query as a camera at ``draw.heading_deg`` records it: its centre at column ``W/2``."""
    width = pano.shape[-1]
    if draw.pinhole:
        cols = 2 * fov_crop_width(draw.fov_deg, width)  # twice the columns the photo covers
        out_hw = (max(2, round(cols / draw.aspect)), cols)
        view = perspective_from_equirect(pano[None], draw.heading_deg, draw.pitch_deg,
                                         draw.fov_deg, out_hw, spec.ground_vfov_deg)[0]
        return pinhole_panorama(view.clamp(0.0, 1.0), spec, draw.fov_deg, 0.0)
    shift_cols = round(draw.heading_deg * width / 360.0)  # the heading is whole columns
    if draw.fov_deg >= 360.0:
        return torch.roll(pano, -shift_cols, dims=-1)  # column W/2 now looks at the heading
    cols = fov_crop_width(draw.fov_deg, width)
    # crop[j] = pano[(j - shift) mod W]; centre the crop's middle column on the heading's column.
    shift = cols // 2 - width // 2 - shift_cols
    crop, _ = crop_fov(pano[None], draw.fov_deg, shift=shift)
    return pad_to_panorama(crop[0], width, spec.pad_rgb)


def query_record(draw: QueryDraw) -> dict[str, Any]:
    """Sample keys describing the query (``query_fov_deg``, ``query_heading_deg``, ...)."""
    return {"query_fov_deg": draw.fov_deg, "query_heading_deg": draw.heading_deg,
            "query_pinhole": int(draw.pinhole), "query_pitch_deg": draw.pitch_deg,
            "query_aligned": int(draw.aligned)}


def twin_rotation(generator: torch.Generator) -> int:
    """The twin's extra rotation: 1, 2 or 3 quarter turns."""
    return int(torch.randint(1, 4, (1,), generator=generator))
