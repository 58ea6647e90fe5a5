"""CLI commands of the demo area (registered on import by :mod:`crossview.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output folder."),
    method: str = typer.Option("sample4geo", "--method", help="Method to train (tiny preset)."),
    minutes: float = typer.Option(5.0, "--minutes", help="Training time budget in minutes."),
    seed: int = typer.Option(0, "--seed", help="World and training seed."),
    pairs: int = typer.Option(400, "--pairs", help="Panoramas in the synthetic region."),
    smoke: bool = typer.Option(False, "--smoke", help="Tiny sizes (tests, about half a minute)."),
) -> None:
    """World -> train -> eval -> index -> locate -> report.html (each step resumes)."""
    from crossview.index.demo import DemoConfig, run_demo

    conf = (
        DemoConfig.smoke(out, method, seed)
        if smoke
        else DemoConfig(out=out, method=method, minutes=minutes, seed=seed, pairs=pairs)
    )
    report = run_demo(conf)
    typer.echo(f"report: {report.resolve()}")
