"""CLI commands of the terrain area: ``crossview dem info``, ``dem render`` and ``dem make``."""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app

dem_app = typer.Typer(help="Terrain (DEM): inspect elevation models, render views, make datasets.",
                      no_args_is_help=True)
app.add_typer(dem_app, name="dem")


def _hw(text: str, option: str) -> tuple[int, int]:
    from crossview.errors import ConfigError

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"{option}: expected HxW such as 500x500, got {text!r}") from None
    if h < 1 or w < 1:
        raise ConfigError(f"{option}: sizes must be positive, got {text!r}")
    return h, w


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


@dem_app.command("info")
def info(
    dem: Path = typer.Argument(..., help="Elevation raster (GeoTIFF, any CRS) or .npz."),
    cell_m: float = typer.Option(None, "--cell-m", help="Resample to this cell size (m)."),
    z_units: str = typer.Option("auto", "--z-units", help="auto, m, ft or us-ft."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
) -> None:
    """Print a DEM's extent, resolution, CRS and elevation range (in its local UTM frame)."""
    import json

    from crossview.dem import load_dem

    facts = load_dem(dem, cell_m, z_units).describe()
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    box = facts["bounds_latlon"]
    lines = [
        f"source        {facts['source']}",
        f"frame         {facts['crs']}, origin E {facts['origin_utm_m'][0]:.0f} "
        f"N {facts['origin_utm_m'][1]:.0f}",
        f"grid          {facts['grid'][0]} rows x {facts['grid'][1]} cols, "
        f"cell {facts['cell_m']} m",
        f"extent        {facts['extent_m'][0] / 1000:.2f} km E-W x "
        f"{facts['extent_m'][1] / 1000:.2f} km N-S",
        f"lat/lon       {box['south']:.5f}..{box['north']:.5f} N, "
        f"{box['west']:.5f}..{box['east']:.5f} E",
        f"elevation     {facts['elevation_m'][0]} .. {facts['elevation_m'][1]} m",
        f"valid         {facts['valid_fraction'] * 100:.1f} % of samples",
    ]
    typer.echo("\n".join(lines))


@dem_app.command("render")
def render(
    dem: Path = typer.Option(..., "--dem", help="Elevation raster or .npz."),
    out: Path = typer.Option(..., "--out", help="Output folder (photo.png, depth.npy, ...)."),
    rgb: Path = typer.Option(None, "--rgb", help="Co-registered 8-bit RGB raster (texture)."),
    lat: float = typer.Option(None, "--lat", help="Camera latitude (default: DEM centre)."),
    lon: float = typer.Option(None, "--lon", help="Camera longitude (default: DEM centre)."),
    yaw: float = typer.Option(0.0, "--yaw", help="Bearing of the view (deg from north)."),
    pitch: float = typer.Option(0.0, "--pitch", help="Pitch (deg, pinhole only)."),
    roll: float = typer.Option(0.0, "--roll", help="Roll (deg, pinhole only)."),
    fov: float = typer.Option(60.0, "--fov", help="Horizontal field of view (deg, pinhole)."),
    height_m: float = typer.Option(1.7, "--height-m", help="Camera height above ground (m)."),
    altitude_m: float = typer.Option(None, "--altitude-m", help="Absolute altitude instead."),
    size: str = typer.Option("500x500", "--size", help="Image HxW."),
    panorama: bool = typer.Option(False, "--panorama", help="Equirectangular panorama."),
    vfov: float = typer.Option(180.0, "--vfov", help="Panorama vertical field of view (deg)."),
    modalities: str = typer.Option("photo,depth,silhouettes,segmentation", "--modalities",
                                   help="Comma-separated outputs."),
    sun_azimuth: float = typer.Option(135.0, "--sun-azimuth", help="Photo: sun bearing (deg)."),
    sun_elevation: float = typer.Option(35.0, "--sun-elevation", help="Photo: sun elevation."),
    visibility_m: float = typer.Option(60000.0, "--visibility-m", help="Photo: haze visibility."),
    exposure_ev: float = typer.Option(0.0, "--exposure-ev", help="Photo: exposure (stops)."),
    noise_std: float = typer.Option(0.01, "--noise-std", help="Photo: noise std on [0, 1]."),
    seed: int = typer.Option(0, "--seed", help="Photo noise seed."),
    refraction: float = typer.Option(0.13, "--refraction", help="Refraction coefficient k."),
    sheet_path: Path = typer.Option(None, "--sheet",
                                    help="Also write the outputs side by side to this PNG."),
) -> None:
    """Render one pinhole view or panorama of a DEM: PNGs plus depth in metres (.npy)."""
    import numpy as np

    from crossview.dem import Camera, PhotoStyle, RenderConfig, load_dem, load_texture
    from crossview.dem.encoding import modality_images, sheet
    from crossview.dem.render import render_panorama, render_views
    from crossview.device import get_device
    from crossview.io import save_image, write_bytes_atomic

    h, w = _hw(size, "--size")
    terrain = load_dem(dem)
    texture = load_texture(rgb, terrain) if rgb else None
    if lat is None or lon is None:
        lat, lon = (float(v) for v in terrain.to_latlon(0.0, 0.0))
    cam = Camera(lat, lon, yaw, pitch, roll, fov, height_m, altitude_m)
    style = PhotoStyle(sun_azimuth, sun_elevation, visibility_m, exposure_ev, noise_std)
    cfg = RenderConfig(refraction=refraction)
    wanted, device = _names(modalities), get_device()
    if panorama:
        res = render_panorama(terrain, cam, h, w, vfov, wanted, texture, cfg, style, seed, device)
    else:
        res = render_views(terrain, [cam], h, w, wanted, texture, cfg, [style], [seed], device)
    out.mkdir(parents=True, exist_ok=True)
    pictures = modality_images(res)
    for name, picture in pictures.items():
        save_image(picture, out / f"{name}.png")
    if "depth" in res:
        import io

        buf = io.BytesIO()
        np.save(buf, res["depth"][0].cpu().numpy().astype(np.float32))
        write_bytes_atomic(out / "depth.npy", buf.getvalue())
    if sheet_path is not None:
        save_image(sheet(list(pictures.values())), sheet_path)
    typer.echo(str(out))


@dem_app.command("make")
def make(
    dem: Path = typer.Option(..., "--dem", help="Elevation raster (GeoTIFF, any CRS) or .npz."),
    out: Path = typer.Option(..., "--out", help="Dataset root (created; existing files kept)."),
    rgb: Path = typer.Option(None, "--rgb", help="Co-registered 8-bit RGB raster."),
    grid_m: float = typer.Option(500.0, "--grid-m", help="Uniform database grid step (m)."),
    queries: int = typer.Option(100, "--queries", help="Number of query photos."),
    seed: int = typer.Option(0, "--seed", help="Seed of everything (same seed, same bytes)."),
    view_px: int = typer.Option(500, "--view-px", help="Database view side (px)."),
    query_hw: str = typer.Option("375x500", "--query-hw", help="Query photo HxW."),
    variants: str = typer.Option("uniform,sparse", "--variants", help="uniform and/or sparse."),
    modalities: str = typer.Option("depth,silhouettes,segmentation", "--modalities",
                                   help="Database modalities."),
    margin_m: float = typer.Option(1000.0, "--margin-m",
                                   help="Min. distance of positions from no-data / the edge."),
    val_fraction: float = typer.Option(0.15, "--val-fraction", help="Width share of val."),
    test_fraction: float = typer.Option(0.25, "--test-fraction", help="Width share of test."),
    option: list[str] = typer.Option([], "--set", help="Any DemDatasetConfig field as key=value."),
    workers: int = typer.Option(0, "--workers",
                                help="Rendering processes (0 = usable cores, capped at 8); "
                                     "the output bytes do not depend on it."),
) -> None:
    """Render a CrossLocate-format dataset (uniform / sparse databases, query photos)."""
    from crossview.config import parse_overrides
    from crossview.dem import DemDatasetConfig, build_dem_dataset
    from crossview.device import get_device
    from crossview.errors import ConfigError

    if workers < 0:
        raise ConfigError(f"--workers: expected 0 (automatic) or a positive count, got {workers}")
    fields: dict = {
        "dem": str(dem), "rgb": str(rgb) if rgb else None, "grid_m": grid_m,
        "queries": queries, "seed": seed, "view_px": view_px,
        "query_hw": _hw(query_hw, "--query-hw"), "variants": _names(variants),
        "modalities": _names(modalities), "margin_m": margin_m,
        "val_fraction": val_fraction, "test_fraction": test_fraction,
        "device": str(get_device()),
    }
    if workers:
        fields["workers"] = workers
    fields.update(parse_overrides(option))
    typer.echo(str(build_dem_dataset(DemDatasetConfig.from_dict(fields), out)))


@dem_app.command("index")
def index(
    run: Path = typer.Option(..., "--run", help="Training run directory or checkpoint .pt."),
    dem: Path = typer.Option(..., "--dem", help="Elevation raster (GeoTIFF, any CRS) or .npz."),
    out: str = typer.Option(..., "--out", help="Index location (folder or LanceDB URI)."),
    grid_m: float = typer.Option(500.0, "--grid-m", help="Grid step of the view positions (m)."),
    views: int = typer.Option(None, "--views",
                              help="Views per position (default: the run's dataset's, or 12)."),
    rgb: Path = typer.Option(None, "--rgb", help="RGB raster (segmentation classes)."),
    view_px: int = typer.Option(None, "--view-px",
                                help="Render size before the model's resize (default: the "
                                     "run's dataset's, or 500)."),
    fov: float = typer.Option(None, "--fov", help="View FOV (default: the dataset's, or 60)."),
    margin_m: float = typer.Option(None, "--margin-m",
                                   help="Min. distance from no-data / the edge (default 1000)."),
    which: str = typer.Option("best", "--which", help="Checkpoint of the run: best or last."),
    positions_per_batch: int = typer.Option(4, "--positions-per-batch",
                                            help="Positions rendered per batch / commit."),
) -> None:
    """Render a DEM's database views on a grid, embed them, store them in a GeoIndex.

    Rows carry position and yaw; resumes; under torchrun (``torchrun ... -m crossview -- dem
    index ...``) each rank renders its share and rank 0 merges. Render settings default to those
    of the run's own ``dem make`` dataset (docs/terrain.md).
    """
    import os

    from crossview.index.terrain import build_dem_index

    idx = build_dem_index(run, dem, out, which, positions_per_batch, grid_m=grid_m,
                          views_per_position=views, rgb=str(rgb) if rgb else None,
                          view_px=view_px, db_fov_deg=fov, margin_m=margin_m)
    if int(os.environ.get("RANK", "0")) == 0:
        typer.echo(f"{out}: {len(idx)} DEM views indexed with {idx.info.method} "
                   f"({idx.info.checkpoint_sha256[:12]})")
