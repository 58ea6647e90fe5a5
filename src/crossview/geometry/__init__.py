"""Geometry: polar transform, panorama utilities, rays and geodesy (batched torch, NCHW)."""

from crossview.geometry.polar import polar_sampling_coords, polar_transform
from crossview.geometry.rays import (
    column_bearing_deg,
    equirect_ray_directions,
    pinhole_ray_directions,
    row_elevation_deg,
)

__all__ = [
    "column_bearing_deg",
    "equirect_ray_directions",
    "pinhole_ray_directions",
    "polar_sampling_coords",
    "polar_transform",
    "row_elevation_deg",
]
