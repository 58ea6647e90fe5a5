"""CLI commands of the synth area (registered on import by :mod:`crossview.cli`).

``crossview synthesize --run RUN IMAGE... --out DIR`` writes one synthesized view per input
(``<stem>.png``) in the method's direction: a street panorama per north-up tile for aerial ->
ground methods such as ``cde``, an aerial tile per panorama for ground -> aerial ones.
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
) -> None:
    """Synthesize the other view (street panorama <-> satellite tile) with a trained model."""
    from crossview.device import get_device
    from crossview.errors import ConfigError
    from crossview.inference import synthesize_files
    from crossview.training.checkpoint import load_run

    loaded = load_run(run, which=which)
    if not loaded.method.can_synthesize:
        raise ConfigError(f"{run}: method {loaded.method_name!r} does not synthesize views")
    written = synthesize_files(loaded.method, tiles, out, batch_size, get_device(), vfov)
    typer.echo(f"wrote {len(written)} images to {out}")
