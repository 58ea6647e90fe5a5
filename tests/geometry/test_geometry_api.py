"""The public names of ``crossview.geometry`` (a test fails if one disappears, STYLE §12)."""

from __future__ import annotations

import crossview.geometry as geometry

PUBLIC = {
    "polar_transform", "polar_sampling_coords", "polar_to_overhead", "polar_valid_mask",
    "overhead_sampling_coords", "PolarTransform", "PolarToOverhead",
    "bearing_to_column", "column_to_bearing", "roll_panorama", "crop_fov", "fov_crop_width",
    "flip_panorama",
    "perspective_from_equirect", "equirect_from_perspective",
    "column_bearing_deg", "row_elevation_deg", "equirect_ray_directions", "pinhole_ray_directions",
    "pinhole_camera_rays", "camera_to_enu", "direction_bearing_elevation_deg",
    "utm_zone_for", "latlon_to_utm", "utm_to_latlon", "latlon_to_enu", "enu_to_latlon",
    "geodesic_distance_m", "metres_to_pixels", "pixels_to_metres", "LatLon", "BoundingBox",
    "UtmZone",
}


def test_public_names_exported():
    missing = PUBLIC - set(geometry.__all__)
    assert not missing, f"public names disappeared from crossview.geometry: {sorted(missing)}"
    assert all(callable(getattr(geometry, name)) for name in PUBLIC)
