"""CLI commands of the synth area (registered on import by :mod:`crossview.cli`).

``crossview synthesize --run RUN TILE... --out DIR`` writes one synthesized street panorama per
north-up tile (``<tile stem>.png``), with a trained synthesis method such as ``cde``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from crossview.cli import app

if TYPE_CHECKING:
    import torch

    from crossview.methods.base import Method


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
    from crossview.training.checkpoint import load_run

    loaded = load_run(run, which=which)
    if not loaded.method.can_synthesize:
        raise ConfigError(f"{run}: method {loaded.method_name!r} does not synthesize views")
    written = synthesize_files(loaded.method, tiles, out, batch_size, get_device())
    typer.echo(f"wrote {len(written)} panoramas to {out}")


def synthesize_files(
    method: Method,
    tiles: list[Path],
    out: Path,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> list[Path]:
    """Synthesize ``out/<stem>.png`` for every tile; every tile is decoded before any work.

    Tiles are resized (bilinear, antialiased) to ``method.input_spec.aerial_size``; non-square
    tiles and unreadable files raise :class:`~crossview.errors.InputFileError` naming the file.
    """
    import torch
    import torch.nn.functional as F

    from crossview.errors import InputFileError
    from crossview.io import load_image_tensor, save_image
    from crossview.progress import track

    size = method.input_spec.aerial_size
    stems = [t.stem for t in tiles]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InputFileError(tiles[stems.index(dup)], f"two tiles share the output name {dup}.png")
    images = []
    for path in tiles:
        image = load_image_tensor(path)
        if image.shape[1] != image.shape[2]:
            raise InputFileError(
                path, f"aerial tile must be square, got {image.shape[2]}x{image.shape[1]} px"
            )
        images.append(
            F.interpolate(
                image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
            ).clamp(0, 1)
        )
    method.eval().to(device)
    written = []
    starts = range(0, len(images), batch_size)
    with torch.no_grad():
        for start in track(starts, "synthesize"):
            batch = torch.cat(images[start : start + batch_size]).to(device)
            for k, panorama in enumerate(method.synthesize(batch).cpu()):
                written.append(save_image(panorama, out / f"{stems[start + k]}.png"))
    return written
