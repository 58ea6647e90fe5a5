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

# Geometry core (polar inverse, panorama utilities, camera rays, geodesy).
from crossview.geometry.geodesy import (  # noqa: E402
    BoundingBox,
    LatLon,
    UtmZone,
    enu_to_latlon,
    geodesic_distance_m,
    latlon_to_enu,
    latlon_to_utm,
    metres_to_pixels,
    pixels_to_metres,
    utm_to_latlon,
    utm_zone_for,
)
from crossview.geometry.panorama import (  # noqa: E402
    bearing_to_column,
    column_to_bearing,
    crop_fov,
    equirect_from_perspective,
    flip_panorama,
    fov_crop_width,
    perspective_from_equirect,
    roll_panorama,
)
from crossview.geometry.polar import (  # noqa: E402
    PolarToOverhead,
    PolarTransform,
    overhead_sampling_coords,
    polar_to_overhead,
    polar_valid_mask,
)
from crossview.geometry.rays import (  # noqa: E402
    camera_to_enu,
    direction_bearing_elevation_deg,
    pinhole_camera_rays,
)

__all__ += [
    "BoundingBox",
    "LatLon",
    "PolarToOverhead",
    "PolarTransform",
    "UtmZone",
    "bearing_to_column",
    "camera_to_enu",
    "column_to_bearing",
    "crop_fov",
    "direction_bearing_elevation_deg",
    "enu_to_latlon",
    "equirect_from_perspective",
    "flip_panorama",
    "fov_crop_width",
    "geodesic_distance_m",
    "latlon_to_enu",
    "latlon_to_utm",
    "metres_to_pixels",
    "overhead_sampling_coords",
    "perspective_from_equirect",
    "pinhole_camera_rays",
    "pixels_to_metres",
    "polar_to_overhead",
    "polar_valid_mask",
    "roll_panorama",
    "utm_to_latlon",
    "utm_zone_for",
]
