"""CLI commands of the synth area (registered on import by :mod:`crossview.cli`).

``crossview synthesize --run RUN IMAGE... --out DIR`` writes one synthesized view per input
(``<stem>.png``) in the method's direction: a street panorama per north-up tile for aerial ->
ground methods such as ``cde``, an aerial tile per panorama for ground -> aerial ones, plus the
by-products the method returns (``<stem>_<name>.png``; Sat2Density: depth, opacity, satellite
depth, and ``.npy`` depths in metres). Sat2Density also takes ``--illumination``, ``--height``
and ``--trajectory`` (docs/sat2density.md); ``--html`` writes ``DIR/index.html``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app


@app.command()
def synthesize(
    tiles: list[Path] = typer.Argument(
        ..., metavar="IMAGE", help="Inputs of the method's direction: north-up tiles (camera at "
        "the centre) or street panoramas (png/jpg)."
    ),
    run: Path = typer.Option(
        ..., "--run", help="Run directory (or checkpoint .pt) of a synthesis method."
    ),
    out: Path = typer.Option(..., "--out", help="Output directory for the synthesized panoramas."),
    which: str = typer.Option("best", "--which", help="Checkpoint of the run: best or last."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Inputs per forward pass."),
    vfov: float | None = typer.Option(None, "--vfov",
                                      help="Vertical span of input panoramas (deg)."),
    illumination: list[str] = typer.Option(
        [], "--illumination", help="Light of the synthesis (sat2density): mean, random (a light "
        "drawn from the prior) or a street panorama whose sky lights it. Repeatable: the first "
        "lights the files, all of them form the --html illumination grid."),
    sky_mask: list[Path] = typer.Option(
        [], "--sky-mask", help="Sky mask (white = sky) of each --illumination panorama, in "
        "order; default: the mask found beside the panorama (Sat2Density's pano_sky_mask/ or "
        "sky_mask/, <name>.sky.png, the synthetic world's ground truth)."),
    height: float | None = typer.Option(None, "--height",
                                        help="Camera height above the ground, metres."),
    trajectory: str | None = typer.Option(
        None, "--trajectory", help="Also render a video per tile along a camera path: diagonal, "
        "circle, or waypoints 'x,y;x,y;...' (see --units): <stem>_trajectory.mp4 and .gif, "
        "<stem>_path.png."),
    units: str = typer.Option("m", "--units", help="Waypoint units: m (east, north from the "
                              "tile centre) or px (column, row of the tile image)."),
    frames: int = typer.Option(48, "--frames", min=1, help="Frames of each video."),
    fps: float = typer.Option(12.0, "--fps", min=0.1, help="Frames per second of the videos."),
    html: bool = typer.Option(False, "--html", help="Also write DIR/index.html: samples, "
                              "depths, an illumination grid (tiles x sources) and the videos."),
) -> None:
    """Synthesize the other view (street panorama <-> satellite tile) with a trained model."""
    from crossview.device import get_device
    from crossview.errors import ConfigError
    from crossview.pipelines.synthesis import SynthesisRequest, run_synthesize
    from crossview.training.checkpoint import load_run

    if units not in ("m", "px"):
        raise ConfigError(f"--units: expected m or px, got {units!r}")
    loaded = load_run(run, which=which)
    if not loaded.method.can_synthesize:
        raise ConfigError(f"{run}: method {loaded.method_name!r} does not synthesize views")
    request = SynthesisRequest(list(illumination), list(sky_mask), height, trajectory, units,
                               frames, fps, html)
    result = run_synthesize(loaded.method, tiles, out, request, batch_size, get_device(), vfov,
                            str(run))
    typer.echo(f"wrote {len(result['files'])} images to {out}")
    for video in result["videos"]:
        typer.echo(f"wrote {video['mp4']} and {video['gif']}")
    if result["page"] is not None:
        typer.echo(f"wrote {result['page']}")
