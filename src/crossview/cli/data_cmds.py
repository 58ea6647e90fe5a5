"""CLI commands of the data area: ``crossview data check`` and ``crossview data layouts``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from crossview.cli import app

if TYPE_CHECKING:
    from crossview.data.layouts import LayoutReport

data_app = typer.Typer(
    help="Datasets: validate official layouts and user folders.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@data_app.command("check")
def check(
    layout: str = typer.Argument(
        ...,
        help="Layout name (cvusa, cvact, vigor, vigor-cross, university1652, crosslocate, folder).",
    ),
    root: Path = typer.Argument(..., help="Dataset root folder, as distributed."),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Layout option key=value, e.g. area=cross."
    ),
    deep: bool = typer.Option(
        False, "--deep", help="Also open and verify every image header (slow)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print {layout, splits, problems} as JSON."),
) -> None:
    """Validate a dataset layout and print the number of pairs per split.

    Exits 2 with one line naming the first missing or malformed files when the layout is broken.
    """
    import json

    from crossview.config import parse_overrides
    from crossview.data.layouts import LayoutError, check_layout

    report = check_layout(layout, root, deep=deep, **parse_overrides(option))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_table(report)
    if not report.ok:
        raise LayoutError(layout, root, "; ".join(report.summary))


def _print_table(report: LayoutReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.layout}: {report.root}")
    table.add_column("split")
    table.add_column("pairs", justify="right")
    for split, count in report.splits.items():
        table.add_row(split, str(count))
    table.add_row("references", str(report.references))
    Console().print(table)


@data_app.command("layouts")
def layouts() -> None:
    """List the supported dataset layouts."""
    from crossview.data.layouts import list_layouts

    for name in list_layouts():
        typer.echo(name)
