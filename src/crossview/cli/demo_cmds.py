"""CLI commands of the demo area (registered on import by :mod:`crossview.cli`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from crossview.cli import app


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output folder."),
    method: str | None = typer.Option(
        None, "--method", help="Method to train (tiny preset) [default: sample4geo]."
    ),
    minutes: float | None = typer.Option(
        None, "--minutes", help="Training time budget in minutes [default: 7.5]."
    ),
    seed: int | None = typer.Option(None, "--seed", help="World and training seed [default: 0]."),
    pairs: int | None = typer.Option(
        None, "--pairs", help="Panoramas in the synthetic region [default: 2000]."
    ),
    smoke: bool = typer.Option(False, "--smoke", help="Tiny sizes (tests, about half a minute)."),
) -> None:
    """World -> train -> eval -> index -> locate -> report.html (each step resumes)."""
    from crossview.pipelines.demo import DemoConfig, run_demo

    # Unset options keep DemoConfig's defaults (one place defines them).
    given = {"method": method, "minutes": minutes, "seed": seed, "pairs": pairs}
    changes = {k: v for k, v in given.items() if v is not None}
    if smoke:
        conf = dataclasses.replace(DemoConfig.smoke(out), **changes)  # type: ignore[arg-type]
    else:
        conf = DemoConfig(out=out, **changes)  # type: ignore[arg-type]
    report = run_demo(conf)
    typer.echo(f"report: {report.resolve()}")
