"""CLI commands of the data area: ``crossview data check`` and ``crossview data layouts``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from crossview.cli import app

if TYPE_CHECKING:
    from crossview.data.layouts import DataSpec, LayoutReport

data_app = typer.Typer(
    help="Datasets: validate official layouts and user folders.", no_args_is_help=True
)
app.add_typer(data_app, name="data")

DATA_OPT_HELP = (
    "Layout option key=value, repeatable (e.g. area=cross, cities=NewYork,Seattle, "
    "task=street2sat); `crossview data layouts` lists them."
)


@data_app.command("check")
def check(
    data: str = typer.Argument(
        ...,
        help="LAYOUT:ROOT (as --data takes it), a folder with coords.csv, or a layout name "
        "followed by ROOT.",
    ),
    root: Path | None = typer.Argument(None, help="Dataset root folder when DATA is a name."),
    data_opt: list[str] = typer.Option([], "--data-opt", "--option", "-o", help=DATA_OPT_HELP),
    deep: bool = typer.Option(
        False, "--deep", help="Also open and verify every image header (slow)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print {layout, root, options, splits, gallery, ...} as JSON."
    ),
) -> None:
    """Validate a dataset and print its queries and gallery size per split.

    Exits 2 with one line naming the first missing or malformed files when the layout is broken.
    """
    import json

    from crossview.data.layouts import LayoutError

    spec = data_spec_from_cli(data, data_opt, root)
    report = spec.check(deep=deep)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_table(spec, report)
    if not report.ok:
        raise LayoutError(spec.layout, spec.root, "; ".join(report.summary))


def data_spec_from_cli(data: str, options: list[str], root: Path | None = None) -> DataSpec:
    """The :class:`~crossview.data.layouts.DataSpec` of ``--data`` and its ``--data-opt`` items.

    ``root`` is the older two-argument form (``LAYOUT ROOT``).
    """
    from crossview.data.layouts import DataSpec

    if root is not None:
        return DataSpec.from_parts(data, root, options)
    return DataSpec.parse(data, options)


def _print_table(spec: DataSpec, report: LayoutReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(spec))
    table.add_column("split")
    table.add_column("queries", justify="right")
    table.add_column("gallery", justify="right")
    for split, count in report.splits.items():
        table.add_row(split, str(count), str(report.gallery.get(split, "")))
    table.add_row("references", "", str(report.references))
    for task, counts in report.details.get("tasks", {}).items():
        table.add_row(f"test {task}", f"{counts['queries']} ({counts['queries_buildings']} b.)",
                      f"{counts['gallery']} ({counts['gallery_buildings']} b.)")
    total = sum(report.splits.values())
    for key, count in report.maps.items():
        table.add_row(f"{MAP_NAMES.get(key, key)}", f"{count} of {total}", "")
    console = Console()
    console.print(table)
    for note in report.notes:
        console.print(note, markup=False, highlight=False)


MAP_NAMES = {"sky": "sky masks", "depth": "depth maps", "semantics": "semantic maps",
             "polar": "polar maps"}
"""Row labels of the per-pair files ``data check`` counts."""


@data_app.command("layouts")
def layouts() -> None:
    """List the dataset layouts: options (defaults), default protocol, world writer, aliases."""
    import dataclasses

    from crossview.data.layouts import get_layout, list_layouts

    for name in list_layouts():
        layout = get_layout(name)
        opts = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(layout.options_class))
        parts = [f"options: {opts or 'none'}", f"protocol: {layout.protocol}"]
        if layout.writer is not None:
            parts.append("world: yes")
        if layout.aliases:
            parts.append("aliases: " + ", ".join(
                f"{a} ({', '.join(f'{k}={v}' for k, v in fixed.items()) or 'the same'})"
                for a, fixed in layout.aliases.items()))
        typer.echo(f"{name:<15} {layout.summary}\n{'':<15} " + "; ".join(parts))
