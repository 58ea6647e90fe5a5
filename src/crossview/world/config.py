"""Configuration of the synthetic world (scene, renderer, layout)."""

from __future__ import annotations

import dataclasses

from crossview.config import Config
from crossview.errors import ConfigError
from crossview.parallel import MAX_AUTO_WORKERS, usable_cores


@dataclasses.dataclass
class WorldConfig(Config):
    """Everything that defines a synthetic world; the same config and seed give identical bytes."""

    layout: str = "cvusa"
    """On-disk layout to write: a layout with a world writer (``cvusa``, ``cvact``, ``vigor``;
    ``crossview.data.layouts.list_layouts(world=True)``), checked by ``build_world``."""
    pairs: int = 100
    """Number of ground panoramas (each with its aerial tile(s))."""
    seed: int = 0
    """Seed of everything: scene, camera positions, appearance, noise."""
    val_fraction: float = 0.2
    """Fraction of pairs in the validation split (VIGOR same-area: the test file)."""
    test_fraction: float = 0.0
    """Fraction of pairs in a separate test split (CVACT: ``valSetAll`` / ``ANU_data_test``)."""
    region_m: float = 2000.0
    """Side of the square scene region in metres (one region per VIGOR city)."""
    cell_m: float = 0.5
    """Side of one scene grid cell in metres (finer = sharper, slower, more memory)."""
    relief_m: float = 6.0
    """Standard deviation of the terrain relief in metres."""
    building_density: float = 1.0
    """Multiplier of the number of buildings per block."""
    tree_density: float = 1.0
    """Multiplier of the number of trees."""
    transient_density: float = 1.0
    """Multiplier of the number of vehicles and people-sized clutter (differ between views)."""
    tile_px: int = 256
    """Aerial tile side in pixels."""
    tile_m: float = 100.0
    """Aerial tile ground footprint side in metres (ground resolution = tile_m / tile_px)."""
    pano_hw: tuple[int, int] | None = None
    """Panorama (height, width); ``None``: the layout's default (cvusa (128, 512), cvact and
    vigor (256, 512)), filled in by ``build_world``."""
    pano_vfov_deg: float | None = None
    """Panorama vertical field of view; ``None``: the layout's (cvusa 90, a +-45 deg band; else
    180)."""
    camera_height_m: float = 2.0
    """Height of the panorama camera above the ground."""
    max_range_m: float = 120.0
    """Horizontal ray-marching range; farther ground fades into haze."""
    min_spacing_m: float | None = None
    """Minimum distance between cameras; default a quarter of ``tile_m`` (relaxed if needed)."""
    origin_lat: float = 40.1125
    """Latitude of the region centre (cvusa / cvact)."""
    origin_lon: float = -88.2273
    """Longitude of the region centre (cvusa / cvact)."""
    cities: tuple[str, ...] = ("NewYork", "Seattle", "SanFrancisco", "Chicago")
    """VIGOR cities (each its own region at its real-looking origin, see
    ``crossview.data.layouts.vigor.CITY_ORIGINS``); fewer for small worlds."""
    jpeg_quality: int = 92
    """JPEG quality of tiles and panoramas."""
    workers: int | None = None
    """Rendering processes; ``None`` = the usable cores (at most :data:`MAX_AUTO_WORKERS`).

    An execution option, not part of the world: any value writes the same bytes, and it is
    left out of ``world.json``."""

    def __post_init__(self) -> None:
        checks = [
            ("pairs", self.pairs >= 1), ("tile_px", self.tile_px >= 8),
            ("tile_m", self.tile_m > 0), ("cell_m", self.cell_m > 0),
            ("region_m", self.region_m >= 4 * self.tile_m if self.tile_m > 0 else False),
            ("val_fraction", 0.0 <= self.val_fraction < 1.0),
            ("test_fraction", 0.0 <= self.test_fraction < 1.0 - self.val_fraction),
            ("camera_height_m", self.camera_height_m > 0), ("max_range_m", self.max_range_m > 1),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100),
            ("workers", self.workers is None or self.workers >= 1),
        ]
        for name, ok in checks:
            if not ok:
                hint = " (must be at least 4 x tile_m)" if name == "region_m" else ""
                value = getattr(self, name)
                raise ConfigError(f"WorldConfig.{name}: invalid value {value!r}{hint}")
        if self.pano_hw is not None and (self.pano_hw[0] < 4 or self.pano_hw[1] < 8):
            raise ConfigError(f"WorldConfig.pano_hw: too small {self.pano_hw!r}")

    @property
    def pano_shape(self) -> tuple[int, int]:
        """Panorama (height, width) once ``build_world`` filled in the layout's default."""
        if self.pano_hw is None:
            raise ConfigError("WorldConfig.pano_hw: unresolved (resolve_config fills it in)")
        return int(self.pano_hw[0]), int(self.pano_hw[1])

    @property
    def vfov_deg(self) -> float:
        """Vertical field of view once ``build_world`` filled in the layout's default."""
        if self.pano_vfov_deg is None:
            raise ConfigError("WorldConfig.pano_vfov_deg: unresolved (resolve_config fills it)")
        return float(self.pano_vfov_deg)

    @property
    def resolved_workers(self) -> int:
        """Number of rendering processes: ``workers``, or the usable cores (capped)."""
        if self.workers is not None:
            return int(self.workers)
        return usable_cores(MAX_AUTO_WORKERS)

    @property
    def ground_resolution_m(self) -> float:
        """Metres per aerial tile pixel."""
        return self.tile_m / self.tile_px

    @property
    def spacing_m(self) -> float:
        """Requested minimum camera spacing."""
        return self.min_spacing_m if self.min_spacing_m is not None else self.tile_m / 4
