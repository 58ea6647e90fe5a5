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


def _parse_runs(runs: list[str]) -> list[tuple[str | None, str]]:
    """``--run [LABEL=]RUN`` options -> ``(label or None, run)`` pairs."""
    from crossview.errors import ConfigError

    if not runs:
        raise ConfigError("eval-conditions: give at least one --run [LABEL=]RUN_DIR")
    out: list[tuple[str | None, str]] = []
    for item in runs:
        label, sep, path = item.partition("=")
        out.append((label, path) if sep and label and path else (None, item))
    return out


def print_conditions_table(label: str, result: dict[str, Any]) -> None:
    """One row per query condition: R@1, R@1%, median metres, heading error (stderr)."""
    from rich.console import Console
    from rich.table import Table

    from crossview.index.conditions import condition_table

    table = Table(title=f"{label}: {result['method']} ({result['num_queries']} queries, "
                        f"{result['num_references']} tiles, search {result['default_search']})")
    for column in ("condition", "search", "R@1", "R@1%", "median m", "heading err"):
        table.add_column(column, justify="left" if column in ("condition", "search") else "right")
    for row in condition_table(result):
        head, metres = row["heading_err_deg"], row["median_m"]
        table.add_row(row["condition"], row["search"], f"{row['R@1']:.1f}", f"{row['R@1%']:.1f}",
                      "-" if metres is None else f"{metres:.0f}",
                      "-" if head is None else f"{head:.1f}")
    Console(stderr=True).print(table)


@app.command("eval-conditions")
def eval_conditions(
    run: list[str] = typer.Option(..., "--run", help="[LABEL=]RUN_DIR (repeatable)."),
    data: str | None = typer.Option(None, "--data", help="LAYOUT:ROOT (default: each run's)."),
    split: str = typer.Option("val", "--split", help="Split whose panoramas are the queries."),
    conditions: str = typer.Option(
        "known,unknown,fov180,fov90,fov70,pinhole", "--conditions", help="Comma-separated."
    ),
    searches: str | None = typer.Option(
        None, "--searches", help="Heading searches, e.g. north,rolls:16,coarse_fine:4:16."
    ),
    max_queries: int | None = typer.Option(None, "--max-queries", help="First N panoramas."),
    seed: int = typer.Option(0, "--seed", help="Seed of bearings, FOVs and pitches."),
    which: str = typer.Option("last", "--which", help="Checkpoint of each run: last or best."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results as JSON."),
) -> None:
    """Localization under query conditions: known / unknown heading, FOV 180/90/70, photos.

    Example: crossview eval-conditions --run s4g=runs/s4g --run safa=runs/safa --json c.json
    """
    from crossview.index.conditions import evaluate_conditions
    from crossview.io import write_json_atomic

    names = [c for c in conditions.split(",") if c]
    chosen = [s for s in searches.split(",") if s] if searches else None
    results = {}
    for label, path in _parse_runs(run):
        result = evaluate_conditions(path, data, split, names, chosen, max_queries, seed, which)
        key = label or result["method"]
        results[key] = result
        print_conditions_table(key, result)
    if json_out is not None:
        write_json_atomic(json_out, results)
