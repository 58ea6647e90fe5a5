"""Panorama utilities: bearings, rolls, limited field-of-view crops and perspective views.

Convention: :mod:`crossview.conventions` ("Panorama"): equirectangular, row 0 at the top, column
``W/2`` looks north and ``bearing(j) = 180 + 360 j / W`` (column ``j`` sits at coordinate ``j``,
no half-pixel offset, matching the polar transform). Row ``i`` is centred at elevation
``vfov/2 - vfov (i + 0.5) / H`` (see :func:`crossview.geometry.rays.row_elevation_deg`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError
from crossview.geometry._checks import (
    check_finite,
    check_image_batch,
    check_positive_int,
    sampling_dtype,
)
from crossview.geometry.rays import (
    camera_to_enu,
    direction_bearing_elevation_deg,
    equirect_ray_directions,
    pinhole_camera_rays,
)

ArrayT = TypeVar("ArrayT")
Angle = float | Sequence[float] | Tensor


def bearing_to_column(bearing_deg: ArrayT, width: int) -> ArrayT:
    """Fractional panorama column in ``[0, W)`` that looks at ``bearing_deg``.

    Inverse of :func:`column_to_bearing`: ``j = ((bearing - 180) mod 360) * W / 360``. Works on
    Python floats, NumPy arrays and torch tensors.
    """
    width = check_positive_int(width, "width")
    bearing: Any = bearing_deg  # float, ndarray or Tensor: all support these operators
    col = ((bearing - 180.0) % 360.0) * (width / 360.0)
    return col % width  # a bearing of 180 - 1e-15 would otherwise round to column W


def column_to_bearing(col: ArrayT, width: int) -> ArrayT:
    """Bearing in ``[0, 360)`` (deg clockwise from north) of panorama column ``col``.

    ``bearing(j) = 180 + 360 j / W`` (mod 360): column 0 looks south, ``W/2`` north, ``W/4``
    west and ``3W/4`` east.
    """
    width = check_positive_int(width, "width")
    column: Any = col  # float, ndarray or Tensor: all support these operators
    return (180.0 + 360.0 * column / width) % 360.0


def _per_sample(value: Angle, n: int, name: str, device: torch.device) -> Tensor:
    """Broadcast a scalar or a length-``N`` sequence/tensor to a float64 ``(N,)`` tensor."""
    t = torch.as_tensor(value, dtype=torch.float64, device=device).flatten()
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ConfigError(
            f"{name}: expected a number or {n} values (one per image), got {t.numel()}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{name}: expected finite values, got {value!r}")
    return t


def roll_panorama(pano: Tensor, yaw_deg: Angle) -> Tensor:
    """Rotate the viewing direction of panoramas ``(N, C, H, W)`` clockwise by ``yaw_deg``.

    Output column ``j`` shows what the input showed at bearing ``bearing(j) + yaw``, i.e.
    ``out[..., j] = pano[..., j + yaw * W / 360]`` (content moves left for positive yaw), so
    ``roll_panorama(p, 90)`` equals ``torch.roll(p, -W // 4, dims=-1)`` and pairs with
    ``numpy.rot90(tile, 1)`` (conventions, "Rotation augmentation pairs"). To north-align a
    panorama whose centre column looks at bearing ``b``, call ``roll_panorama(p, -b)``.

    Fractional shifts use linear interpolation between neighbouring columns with wrap-around
    (integer shifts are exact). ``yaw_deg`` is a number or one value per image.
    """
    check_image_batch(pano, "pano")
    n, _, height, width = pano.shape
    shift = _per_sample(yaw_deg, n, "yaw_deg", pano.device) * (width / 360.0)
    whole = torch.floor(shift)
    frac = (shift - whole).to(pano.dtype).view(n, 1, 1, 1)
    base = torch.arange(width, device=pano.device).view(1, -1) + whole.long().view(-1, 1)
    idx0 = torch.remainder(base, width).view(n, 1, 1, width).expand_as(pano)
    rolled = pano.gather(-1, idx0)
    if bool((frac == 0).all()):
        return rolled
    nxt = pano.gather(-1, torch.remainder(idx0 + 1, width))
    return rolled * (1.0 - frac) + nxt * frac


def flip_panorama(pano: Tensor) -> Tensor:
    """Mirror panoramas ``(N, C, H, W)`` about the north-south axis: ``out[j] = pano[(W-j) mod W]``.

    Bearing ``b`` becomes ``360 - b``: columns 0 (south) and ``W/2`` (north) stay in place, east
    and west swap. This is the partner of a left-right flip of the tile (``torch.flip(tile, [-1])``,
    conventions "Rotation augmentation pairs"); a plain ``torch.flip`` of the panorama would also
    shift it by one column.
    """
    check_image_batch(pano, "pano")
    return torch.roll(torch.flip(pano, dims=[-1]), 1, dims=-1)


def fov_crop_width(fov_deg: float, width: int) -> int:
    """Return the number of columns :func:`crop_fov` keeps: ``int(fov / 360 * W)``, at least 1."""
    fov_deg = check_finite(fov_deg, "fov_deg", 0.0, 360.0, low_open=True)
    width = check_positive_int(width, "width")
    # The small epsilon keeps exact fractions (90/360*512 = 128) from flooring to one less.
    cols = int(math.floor(fov_deg / 360.0 * width + 1e-9))
    if cols < 1:
        raise ConfigError(f"fov_deg: {fov_deg} deg of a {width}-column panorama is zero columns")
    return cols


def crop_fov(pano: Tensor, fov_deg: float, shift: int | Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Limited field-of-view crop of panoramas ``(N, C, H, W)`` with an unknown orientation.

    SPECS §1 (DSM protocol): output column ``j`` is input column ``(j - shift) mod W`` for the
    first ``int(fov/360 * W)`` columns. ``shift`` is an int (all images), an ``(N,)`` integer
    tensor (per image), or ``None`` for a uniform random shift in ``[0, W)`` per image drawn with
    ``generator``.

    Returns:
        ``(crop, shift)``: the ``(N, C, H, int(fov/360 W))`` crop and the ``(N,)`` int64 shifts.

    """
    check_image_batch(pano, "pano")
    n, _, _, width = pano.shape
    cols = fov_crop_width(fov_deg, width)
    if shift is None:
        shift_t = torch.randint(0, width, (n,), generator=generator).to(pano.device)
    else:
        shift_t = torch.as_tensor(shift, device=pano.device).flatten()
        if shift_t.is_floating_point() or shift_t.is_complex():
            raise ConfigError(f"shift: expected integer column shifts, got dtype {shift_t.dtype}")
        shift_t = shift_t.long().expand(n) if shift_t.numel() == 1 else shift_t.long()
        if shift_t.numel() != n:
            raise ConfigError(f"shift: expected an int or {n} values (one per image), "
                              f"got {shift_t.numel()}")
    j = torch.arange(cols, device=pano.device).view(1, -1)
    idx = torch.remainder(j - shift_t.view(-1, 1), width)  # (N, cols)
    idx = idx.view(n, 1, 1, cols).expand(-1, pano.shape[1], pano.shape[2], -1)
    return pano.gather(-1, idx), shift_t


def _sample_equirect(pano: Tensor, bearing: Tensor, elevation: Tensor, vfov_deg: float) -> Tensor:
    """Bilinearly sample panoramas at ``(N, h, w)`` bearings/elevations (deg), wrapping around.

    Directions outside the vertical band (by more than half a row) give 0; within half a row of
    the band's edge they take the edge row.
    """
    n, _, height, width = pano.shape
    col = bearing_to_column(bearing, width)  # [0, W)
    row = (vfov_deg / 2.0 - elevation) * (height / vfov_deg) - 0.5
    inside = (row >= -0.5) & (row <= height - 0.5)
    row = row.clamp(0.0, height - 1.0)
    padded = torch.cat([pano, pano[..., :1]], dim=-1)  # column W == column 0: wrap-around
    x = col * (2.0 / width) - 1.0
    y = row * (2.0 / (height - 1)) - 1.0 if height > 1 else torch.zeros_like(row)
    dtype = sampling_dtype(pano.dtype)
    grid = torch.stack([x, y], dim=-1).to(dtype)
    out = F.grid_sample(padded.to(dtype), grid, mode="bilinear", padding_mode="border",
                        align_corners=True)
    return (out * inside.unsqueeze(1).to(dtype)).to(pano.dtype)


def _check_view(vfov_deg: float, fov_deg: float) -> tuple[float, float]:
    vfov_deg = check_finite(vfov_deg, "vfov_deg", 0.0, 180.0, low_open=True)
    fov_deg = check_finite(fov_deg, "fov_deg", 0.0, 180.0, low_open=True)
    if fov_deg >= 180.0:
        raise ConfigError(f"fov_deg: a pinhole view needs a field of view below 180, got {fov_deg}")
    return vfov_deg, fov_deg


def perspective_from_equirect(pano: Tensor, yaw_deg: Angle, pitch_deg: Angle, fov_deg: float,
                              out_hw: tuple[int, int], vfov_deg: float = 180.0) -> Tensor:
    """Pinhole views ``(N, C, h, w)`` rendered from equirectangular panoramas ``(N, C, H, W)``.

    Args:
        pano: Panoramas spanning ``vfov_deg`` vertically around the horizon.
        yaw_deg: Bearing of the optical axis (deg clockwise from north); a number or one per image.
        pitch_deg: Elevation of the optical axis (deg); a number or one per image.
        fov_deg: Horizontal field of view of the pinhole camera, in ``(0, 180)``.
        out_hw: Output ``(h, w)``; square pixels.
        vfov_deg: Vertical field of view of the panorama; rays outside it give 0.

    """
    check_image_batch(pano, "pano")
    vfov_deg, fov_deg = _check_view(vfov_deg, fov_deg)
    out_h, out_w = _check_hw(out_hw, "out_hw")
    n, dev = pano.shape[0], pano.device
    cam = pinhole_camera_rays(out_h, out_w, fov_deg, torch.float64, dev)  # (h, w, 3)
    rot = camera_to_enu(_per_sample(yaw_deg, n, "yaw_deg", dev),
                        _per_sample(pitch_deg, n, "pitch_deg", dev), torch.float64, dev)
    dirs = torch.einsum("nij,hwj->nhwi", rot, cam)  # (N, h, w, 3) in ENU
    bearing, elevation = direction_bearing_elevation_deg(dirs)
    return _sample_equirect(pano, bearing, elevation, vfov_deg)


def equirect_from_perspective(image: Tensor, yaw_deg: Angle, pitch_deg: Angle, fov_deg: float,
                              pano_hw: tuple[int, int],
                              vfov_deg: float = 180.0) -> tuple[Tensor, Tensor]:
    """Project pinhole images ``(N, C, h, w)`` back onto equirectangular panoramas.

    Inverse of :func:`perspective_from_equirect` on the area the pinhole camera sees.

    Returns:
        ``(pano, valid)``: ``(N, C, H, W)`` panoramas (0 where the camera does not see) and the
        ``(N, 1, H, W)`` boolean mask of covered panorama pixels.

    """
    check_image_batch(image, "image")
    vfov_deg, fov_deg = _check_view(vfov_deg, fov_deg)
    height, width = _check_hw(pano_hw, "pano_hw")
    n, _, img_h, img_w = image.shape
    dev = image.device
    dirs = equirect_ray_directions(height, width, vfov_deg, torch.float64, dev)  # (H, W, 3)
    rot = camera_to_enu(_per_sample(yaw_deg, n, "yaw_deg", dev),
                        _per_sample(pitch_deg, n, "pitch_deg", dev), torch.float64, dev)
    cam = torch.einsum("nji,hwj->nhwi", rot, dirs)  # rot^T d: (right, up, forward) per pixel
    focal = (img_w / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    ahead = cam[..., 2] > 1e-9
    depth = torch.where(ahead, cam[..., 2], torch.ones_like(cam[..., 2]))
    u = focal * cam[..., 0] / depth + img_w / 2.0 - 0.5  # pixel index (centre of pixel k is k)
    v = -focal * cam[..., 1] / depth + img_h / 2.0 - 0.5
    valid = ahead & (u >= -0.5) & (u <= img_w - 0.5) & (v >= -0.5) & (v <= img_h - 0.5)
    x = u.clamp(0, img_w - 1) * (2.0 / max(img_w - 1, 1)) - 1.0
    y = v.clamp(0, img_h - 1) * (2.0 / max(img_h - 1, 1)) - 1.0
    dtype = sampling_dtype(image.dtype)
    grid = torch.stack([x, y], dim=-1).to(dtype)
    out = F.grid_sample(image.to(dtype), grid, mode="bilinear", padding_mode="border",
                        align_corners=True)
    valid = valid.unsqueeze(1)
    return (out * valid.to(dtype)).to(image.dtype), valid


def _check_hw(hw: tuple[int, int] | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(hw, (str, bytes)) or not isinstance(hw, Sequence) or len(hw) != 2:
        raise ConfigError(f"{name}: expected (height, width), got {hw!r}")
    return check_positive_int(hw[0], f"{name} height"), check_positive_int(hw[1], f"{name} width")
