"""CLI commands of the world area: ``crossview world make`` and ``crossview world preview``."""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app

world_app = typer.Typer(help="Synthetic cross-view world: render datasets in official layouts.",
                        no_args_is_help=True)
app.add_typer(world_app, name="world")


@world_app.command("make")
def make(
    out: Path = typer.Option(..., "--out",
                             help="Output folder (created; existing files are kept)."),
    layout: str = typer.Option("cvusa", "--layout",
                               help="cvusa, cvact or vigor (layouts with a world writer)."),
    pairs: int = typer.Option(100, "--pairs", help="Number of ground panoramas."),
    seed: int = typer.Option(0, "--seed", help="Seed of everything (same seed, same bytes)."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Fraction in the val split."),
    test_fraction: float = typer.Option(0.0, "--test-fraction", help="CVACT: fraction in test."),
    tile_px: int = typer.Option(256, "--tile-px", help="Aerial tile side in pixels."),
    tile_m: float = typer.Option(100.0, "--tile-m", help="Aerial tile footprint in metres."),
    pano_hw: str = typer.Option("", "--pano-hw",
                                help="Panorama HxW, e.g. 128x512 (layout default)."),
    region_m: float = typer.Option(2000.0, "--region-m", help="Region side in metres."),
    cities: str = typer.Option("", "--cities", help="VIGOR cities, comma separated."),
    option: list[str] = typer.Option([], "--set", help="Any WorldConfig field as key=value."),
    geotiff: bool = typer.Option(False, "--geotiff", help="Also export orthophoto + DSM GeoTIFFs."),
    workers: int = typer.Option(0, "--workers",
                                help="Rendering processes (0 = usable cores, capped at 8); "
                                     "the output bytes do not depend on it."),
) -> None:
    """Render a synthetic world and write it in an official on-disk layout."""
    from crossview.config import parse_overrides
    from crossview.errors import ConfigError
    from crossview.world import WorldConfig, build_world

    fields: dict = {"layout": layout, "pairs": pairs, "seed": seed, "val_fraction": val_fraction,
                    "test_fraction": test_fraction, "tile_px": tile_px, "tile_m": tile_m,
                    "region_m": region_m}
    if pano_hw:
        try:
            h, w = (int(v) for v in pano_hw.lower().split("x"))
        except ValueError:
            raise ConfigError(f"--pano-hw: expected HxW such as 128x512, got {pano_hw!r}") from None
        fields["pano_hw"] = (h, w)
    if cities:
        fields["cities"] = tuple(c.strip() for c in cities.split(",") if c.strip())
    if workers < 0:
        raise ConfigError(f"--workers: expected 0 (automatic) or a positive count, got {workers}")
    if workers:
        fields["workers"] = workers
    fields.update(parse_overrides(option))
    root = build_world(WorldConfig.from_dict(fields), out, geotiff=geotiff)
    typer.echo(str(root))


@world_app.command("preview")
def preview(
    root: Path = typer.Argument(..., help="A world written by `crossview world make`."),
    out: Path = typer.Option(Path("sheet.png"), "--out", help="Output PNG."),
    samples: int = typer.Option(4, "--samples", help="Number of samples (rows)."),
) -> None:
    """Write a contact sheet (tile, polar tile, panorama, depth, semantics) of a few samples."""
    from crossview.world.preview import contact_sheet

    typer.echo(str(contact_sheet(root, out, samples)))
