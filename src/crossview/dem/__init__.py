"""Terrain (DEM) area: load elevation models, render views and panoramas, make datasets.

Functional core in small modules: :mod:`~crossview.dem.model` (the :class:`Dem` in its local UTM
frame, GeoTIFF / ``.npz`` loading, RGB textures), :mod:`~crossview.dem.camera` (poses and rays),
:mod:`~crossview.dem.render` (depth, silhouettes, segmentation), :mod:`~crossview.dem.photo`
(simulated query photos), :mod:`~crossview.dem.encoding` (image files) and
:mod:`~crossview.dem.make` (CrossLocate-style datasets). Ray casting is the hierarchical
max-mipmap marcher of :mod:`crossview.geometry.heightfield`. See ``docs/terrain.md``.
"""

from crossview.dem.camera import Camera, camera_position, panorama_rays, solar_position, view_rays
from crossview.dem.make import DemDatasetConfig, build_dem_dataset, make_dem_dataset
from crossview.dem.model import Dem, Texture, load_dem, load_texture
from crossview.dem.photo import PhotoStyle
from crossview.dem.render import (
    CLASSES,
    MODALITIES,
    RenderConfig,
    cast_depth,
    classify_rgb,
    render_panorama,
    render_rays,
    render_views,
    silhouettes,
)

__all__ = [
    "CLASSES",
    "MODALITIES",
    "Camera",
    "Dem",
    "DemDatasetConfig",
    "PhotoStyle",
    "RenderConfig",
    "Texture",
    "build_dem_dataset",
    "camera_position",
    "cast_depth",
    "classify_rgb",
    "load_dem",
    "load_texture",
    "make_dem_dataset",
    "panorama_rays",
    "render_panorama",
    "render_rays",
    "render_views",
    "silhouettes",
    "solar_position",
    "view_rays",
]
