"""CLI commands of the eval area (registered on import by :mod:`crossview.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from crossview.cli import app


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="retrieval (percent)")
    keys = [k for k in result if k.startswith("R@")]
    for k in keys:
        table.add_column(k, justify="right")
    table.add_row(*(f"{result[k]:.2f}" for k in keys))
    Console(stderr=True).print(table)


SYNTHESIS_COLUMNS = ("psnr", "ssim", "sd", "rmse", "lpips")
"""Metric columns of ``crossview eval --synthesis`` (``lpips`` only with weights)."""


def load_lpips_option(
    net: str, backbone: Path | None, linear: Path | None
) -> Any:
    """Load the LPIPS model of ``--lpips-net/-backbone/-linear`` (``None`` without files)."""
    from crossview.errors import ConfigError

    if (backbone is None) != (linear is None):
        raise ConfigError("LPIPS needs both --lpips-backbone and --lpips-linear (local files)")
    if backbone is None:
        return None
    from crossview.evaluation.synthesis import load_lpips

    return load_lpips(net, backbone, linear)  # type: ignore[arg-type]


def print_synthesis_table(result: dict[str, Any]) -> None:
    """One row per split and prediction (generator, polar baseline) of ``eval --synthesis``."""
    from rich.console import Console
    from rich.table import Table

    rows = [
        (split, name, metrics)
        for split, by_name in result["synthesis"].items()
        for name, metrics in by_name.items()
    ]
    keys = [k for k in SYNTHESIS_COLUMNS if any(k in m for _, _, m in rows)]
    table = Table(title=f"{result['method']} synthesis ({result['convention']} convention)")
    for column in ("split", "prediction", *keys, "count"):
        table.add_column(column, justify="left" if column in ("split", "prediction") else "right")

    def cell(value: Any) -> str:
        return "inf" if value is None else f"{value:.4f}"

    for split, name, metrics in rows:
        table.add_row(split, name, *(cell(metrics.get(k)) for k in keys), str(metrics["count"]))
    Console(stderr=True).print(table)
    if "geometry" in result:  # methods that render depth, on data with true depth (sat2density)
        geo = Table(title=f"{result['method']} geometry (depth within 50 m, opacity > 0.5)")
        columns = ("abs_rel_median", "ground_iou", "sky_iou", "miou")
        for column in ("split", "prediction", *columns, "count"):
            geo.add_column(column, justify="left" if column in ("split", "prediction") else "right")
        for split, by_name in result["geometry"].items():
            for name, metrics in by_name.items():
                geo.add_row(split, name, *(cell(metrics[k]) for k in columns),
                            str(metrics["count"]))
        Console(stderr=True).print(geo)


@app.command("eval-descriptors")
def eval_descriptors(
    query: Path = typer.Option(..., "--query", help="(Q, D) float .npy of query descriptors."),
    reference: Path = typer.Option(..., "--reference", help="(M, D) float .npy of references."),
    truth: Path | None = typer.Option(None, "--truth", help="(Q,) int .npy: true reference index."),
    query_utm: Path | None = typer.Option(
        None, "--query-utm", help="(Q, 2) easting/northing .npy."
    ),
    reference_utm: Path | None = typer.Option(None, "--reference-utm", help="(M, 2) .npy."),
    radius: float | None = typer.Option(
        None, "--radius", help="Metres; found if any top-k is within."
    ),
    ks: str = typer.Option("1,5,10", "--ks", help="Comma-separated k values."),
    one_percent: str = typer.Option("floor", "--one-percent", help="floor, floor+1 or ceil."),
    both: bool = typer.Option(
        False, "--both-directions", help="Also reference->query (needs a one-to-one --truth)."
    ),
    block_size: int = typer.Option(1024, "--block-size", help="Query rows per block."),
    json_out: Path = typer.Option(..., "--json", help="Where to write the JSON result."),
) -> None:
    """Evaluate saved descriptors of any model: recall@k and recall@1% (percent) to JSON.

    Example: crossview eval-descriptors --query g.npy --reference a.npy --truth t.npy --json r.json
    """
    from crossview.evaluation.files import evaluate_descriptor_files
    from crossview.io import write_json_atomic

    out = evaluate_descriptor_files(query, reference, truth, query_utm, reference_utm, radius,
                                    ks, one_percent, both, block_size)
    write_json_atomic(json_out, out)
    _print_table(out)
