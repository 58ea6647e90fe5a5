"""CLI commands of the synth area (registered on import by :mod:`crossview.cli`).

``crossview synthesize --run RUN TILE... --out DIR`` writes one synthesized street panorama per
north-up tile (``<tile stem>.png``), with a trained synthesis method such as ``cde``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app


@app.command()
def synthesize(
    tiles: list[Path] = typer.Argument(
        ..., metavar="TILE", help="North-up aerial tiles (png/jpg), camera at the centre."
    ),
    run: Path = typer.Option(
        ..., "--run", help="Run directory (or checkpoint .pt) of a synthesis method."
    ),
    out: Path = typer.Option(..., "--out", help="Output directory for the synthesized panoramas."),
    which: str = typer.Option("best", "--which", help="Checkpoint of the run: best or last."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Tiles per forward pass."),
) -> None:
    """Synthesize street-view panoramas from satellite tiles with a trained model."""
    from crossview.device import get_device
    from crossview.errors import ConfigError
    from crossview.inference import synthesize_files
    from crossview.training.checkpoint import load_run

    loaded = load_run(run, which=which)
    if not loaded.method.can_synthesize:
        raise ConfigError(f"{run}: method {loaded.method_name!r} does not synthesize views")
    written = synthesize_files(loaded.method, tiles, out, batch_size, get_device())
    typer.echo(f"wrote {len(written)} panoramas to {out}")
