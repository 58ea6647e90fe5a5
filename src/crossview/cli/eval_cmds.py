"""CLI commands of the eval area (registered on import by :mod:`crossview.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from crossview.cli import app


def _load_npy(path: Path, name: str) -> Any:
    import numpy as np

    from crossview.errors import InputFileError

    if not path.is_file():
        raise InputFileError(path, f"{name} file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputFileError(path, f"cannot read {name} as .npy ({err})") from None


def _descriptors(path: Path, name: str) -> Any:
    from crossview.errors import CrossviewError, InputFileError
    from crossview.evaluation.retrieval import as_descriptors

    try:
        return as_descriptors(_load_npy(path, name), name)
    except InputFileError:
        raise
    except CrossviewError as err:
        raise InputFileError(path, str(err)) from None


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
    import numpy as np

    from crossview.device import get_device
    from crossview.errors import ConfigError, CrossviewError, InputFileError
    from crossview.evaluation.distance import distance_recall
    from crossview.evaluation.retrieval import (
        check_pair,
        inverse_truth,
        one_percent_k,
        parse_ks,
        recall_at_k,
    )
    from crossview.io import write_json_atomic

    k_list = parse_ks(ks)
    one_percent_k(1, one_percent)
    by_truth = truth is not None
    by_radius = query_utm is not None or reference_utm is not None or radius is not None
    if by_truth == by_radius:
        raise ConfigError("give either --truth or all of --query-utm, --reference-utm, --radius")
    q = _descriptors(query, "query")
    r = _descriptors(reference, "reference")
    check_pair(q, r, str(query), str(reference))
    device = get_device()
    if by_truth:
        assert truth is not None
        t = _load_npy(truth, "truth")
        if t.shape != (q.shape[0],) or not np.issubdtype(t.dtype, np.integer):
            raise InputFileError(
                truth,
                f"expected ({q.shape[0]},) integers (one per query row), "
                f"got shape {t.shape} dtype {t.dtype}",
            )
        if len(t) and (t.min() < 0 or t.max() >= r.shape[0]):
            raise InputFileError(truth, f"indices must be in [0, {r.shape[0]})")
        out = recall_at_k(q, r, t, k_list, one_percent, block_size, device).to_dict()
        if both:
            inv = inverse_truth(t, r.shape[0])
            if inv is None:
                raise ConfigError("--both-directions needs a one-to-one --truth (a permutation)")
            out["aerial_to_ground"] = recall_at_k(
                r, q, inv, k_list, one_percent, block_size, device, "aerial_to_ground"
            ).to_dict()
    else:
        if query_utm is None or reference_utm is None or radius is None:
            raise ConfigError("--radius needs --query-utm and --reference-utm (and vice versa)")
        qp = _load_npy(query_utm, "query UTM")
        rp = _load_npy(reference_utm, "reference UTM")
        try:
            res = distance_recall(
                q,
                r,
                qp,
                rp,
                radius,
                k_list,
                one_percent,
                "utm",
                block_size=block_size,
                device=device,
            )
        except CrossviewError as err:
            raise ConfigError(f"--query-utm/--reference-utm: {err}") from None
        out = res.to_dict()
    out["query_file"], out["reference_file"] = str(query), str(reference)
    write_json_atomic(json_out, out)
    _print_table(out)
