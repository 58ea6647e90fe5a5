"""Dynamic similarity matching (DSM; Shi et al., CVPR 2020 "Where am I looking at?").

A method whose aerial features are *polar-aligned* (a feature map of the polar-transformed tile,
column ``j`` looking at bearing ``180 + 360 j / W`` as the panorama convention says) can compare a
ground feature map with it at every azimuth shift in one pass, which gives the similarity and the
heading together. This module is the functional core; methods expose it through the optional
matching contract of :class:`crossview.methods.base.Method` (``can_match``, ``ground_features``,
``aerial_features``, ``match``).

Definitions (``g`` a ground map ``(C, h, W)`` that is zero outside the part of the panorama the
query sees, ``v`` its validity ``(1, h, W)``, ``a`` an aerial map ``(C, h, W)``):

- correlation at shift ``s`` (feature columns): ``num(s) = sum_{c,i,j} g[c,i,j] a[c,i,(j+s) mod W]``
  (a circular cross-correlation along the width, computed for every ``s`` at once with an FFT);
- the aerial energy under the query's footprint: ``den(s)^2 = sum_{c,i,j} v[i,j] a[c,i,(j+s)]^2``;
- similarity ``score(s) = num(s) / (|g| den(s))``: the cosine between the query and the aerial
  crop it overlaps at that shift (DSM crops the aerial map at the best shift and L2-normalises the
  crop; here every shift is normalised, so the best shift is the best cosine). With a 360-degree
  query ``den(s) = |a|`` and ``score(0)`` is the dot product of the flattened, L2-normalised maps.

Heading: the query's centre column sits at ``W/2`` (the one input path centres limited views and
photos there), and a camera looking at bearing ``h`` matches at ``s = h W / 360``, so
``heading = 360 s / W``; the best integer shift is refined to a fraction of a column by a
parabola through its two neighbours.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.methods.base import check_shape


class GroundMap(NamedTuple):
    """A query's feature map and where it saw something."""

    features: Tensor
    """``(B, C, h, W)`` features, zero where ``valid`` is 0 (not normalised)."""
    valid: Tensor
    """``(B, 1, h, W)`` float in {0, 1}: feature positions that saw the scene."""


def feature_validity(unseen: Tensor, feature_hw: tuple[int, int]) -> Tensor:
    """Pixel mask of unseen pixels ``(B, 1, H, W)`` -> feature validity ``(B, 1, h, w)`` in {0, 1}.

    A feature position is valid when at least half of the pixels of its cell (the input
    downsampled to the feature grid by area) were seen.
    """
    seen = (~unseen.bool()).float()
    return (F.adaptive_avg_pool2d(seen, feature_hw) >= 0.5).float()


def _xcorr(ground: Tensor, aerial: Tensor) -> Tensor:
    """``out[q, n, s] = sum_{k, j} ground[q, k, j] aerial[n, k, (j + s) mod W]`` via the FFT.

    ``ground`` ``(Q, K, W)``, ``aerial`` ``(N, K, W)``, float32 or float64.
    """
    width = ground.shape[-1]
    g = torch.fft.rfft(ground, dim=-1)
    a = torch.fft.rfft(aerial, dim=-1)
    spec = torch.einsum("qkf,nkf->qnf", g.conj(), a)
    return torch.fft.irfft(spec, n=width, dim=-1)


def polar_correlation(ground: GroundMap, aerial: Tensor, eps: float = 1e-12) -> Tensor:
    """Cosine similarity of every query with every aerial map at every azimuth shift.

    Args:
        ground: Query maps ``(Q, C, h, W)`` (zero where unseen) and their validity.
        aerial: Polar-aligned aerial maps ``(N, C, h, W)`` (any scale: the score is invariant to
            it, so flattened L2-normalised index vectors can be used as they are).
        eps: Guard of the norms.

    Returns:
        ``(Q, N, W)`` float32 scores in ``[-1, 1]``; ``[q, n, s]`` is the shift ``s`` (module
        docstring). Computed in at least float32 with autocast off.

    """
    feats, valid = ground
    check_shape(feats, (None, None, None, None), "ground features")
    q, c, h, w = feats.shape
    check_shape(valid, (q, 1, h, w), "ground validity")
    check_shape(aerial, (None, c, h, w), "aerial features")
    dtype = torch.promote_types(feats.dtype, torch.float32)
    with torch.autocast(device_type=feats.device.type, enabled=False):
        g = (feats * valid).to(dtype)
        a = aerial.to(dtype)
        num = _xcorr(g.reshape(q, c * h, w), a.reshape(-1, c * h, w))
        energy = (a * a).sum(dim=1)  # (N, h, W)
        den2 = _xcorr(valid.to(dtype).reshape(q, h, w), energy)
        g_norm = g.flatten(1).norm(dim=1).view(q, 1, 1)
        return (num / (g_norm * den2.clamp_min(0.0).sqrt()).clamp_min(eps)).float()


def refine_peak(scores: Tensor) -> tuple[Tensor, Tensor]:
    """Best shift of circular score profiles ``(..., W)``: value and sub-column position.

    The integer argmax is refined by the vertex of the parabola through it and its two circular
    neighbours (clamped to half a column). Returns ``(best score (...), shift (...) in [0, W))``;
    the score is the integer maximum (the parabola only moves the position).
    """
    width = scores.shape[-1]
    best, idx = scores.max(dim=-1)
    if width < 3:
        return best, idx.float()
    left = scores.gather(-1, ((idx - 1) % width).unsqueeze(-1)).squeeze(-1)
    right = scores.gather(-1, ((idx + 1) % width).unsqueeze(-1)).squeeze(-1)
    curvature = left - 2.0 * best + right
    offset = torch.where(curvature < 0, 0.5 * (left - right) / curvature.clamp(max=-1e-12),
                         torch.zeros_like(best))
    return best, torch.remainder(idx.float() + offset.clamp(-0.5, 0.5), width)


def shift_to_heading(shift: Tensor | float, width: int) -> Tensor | float:
    """Feature-column shift -> heading of the query centre, degrees clockwise from north."""
    return (shift * (360.0 / width)) % 360.0


def heading_to_shift(heading_deg: Tensor | float, width: int) -> Tensor | float:
    """Inverse of :func:`shift_to_heading` (fractional columns in ``[0, W)``)."""
    return (heading_deg % 360.0) * (width / 360.0)


def match_maps(ground: GroundMap, aerial: Tensor) -> tuple[Tensor, Tensor]:
    """``(scores (Q, N), headings (Q, N) deg)``: best shift per pair (:func:`polar_correlation`)."""
    scores, shift = refine_peak(polar_correlation(ground, aerial))
    return scores, shift_to_heading(shift, ground.features.shape[-1])  # type: ignore[return-value]


def scores_at_heading(ground: GroundMap, aerial: Tensor, heading_deg: float) -> Tensor:
    """``(Q, N)`` scores at one known heading (linear interpolation between columns)."""
    corr = polar_correlation(ground, aerial)
    width = corr.shape[-1]
    pos = float(heading_to_shift(heading_deg, width))
    lo = int(math.floor(pos)) % width
    frac = pos - math.floor(pos)
    return corr[..., lo] * (1.0 - frac) + corr[..., (lo + 1) % width] * frac


def flatten_normalized(features: Tensor) -> Tensor:
    """``(B, C, h, W)`` -> L2-normalised ``(B, C*h*W)`` float32 (the descriptor of a map)."""
    flat = features.flatten(1).float()
    return F.normalize(flat, p=2.0, dim=1, eps=1e-12)
