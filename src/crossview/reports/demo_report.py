"""The demo's ``report.html``: metrics, learning curve, example queries, error histogram, map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crossview._version import __version__
from crossview.reports.maps import draw_tiles, local_metres
from crossview.reports.render import figure_data_uri, png_data_uri, render_template, thumbnail_uri


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested metric dicts -> ``[("ground_to_aerial/R@1", "12.50"), ...]`` (scalars only)."""
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten_metrics(value, name + "/")
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            rows.append((name, str(value)))
        elif isinstance(value, (int, float)):
            rows.append((name, f"{value:.4g}"))
    return rows


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def error_histogram(errors_m: np.ndarray, threshold_m: float = 25.0) -> Any:
    """Figure: histogram of top-1 localization errors in metres, with the threshold marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(errors_m, bins=min(30, max(5, len(errors_m) // 3)), color="#4477aa")
    ax.axvline(threshold_m, color="#cc3311", ls="--", label=f"{threshold_m:g} m")
    ax.set_xlabel("top-1 localization error (m)")
    ax.set_ylabel("queries")
    ax.legend()
    return fig


def _near(items: list[Any], origin: tuple[float, float], latlon: Any, radius_m: float) -> list[Any]:
    if not items:
        return items
    lats, lons = zip(*[latlon(i) for i in items], strict=True)
    xy = local_metres(lats, lons, origin)
    return [i for i, d in zip(items, np.hypot(xy[:, 0], xy[:, 1]), strict=False) if d <= radius_m]


def predictions_map(
    docs: list[dict[str, Any]], tiles: list[dict[str, Any]], radius_m: float = 3000.0
) -> Any:
    """Figure: the tiles around the first query (drawn from their images), truth -> top-1 lines.

    Predictions outside ``radius_m`` of the first query's truth are left out of the map (the
    histogram counts them).
    """
    plt = _plt()
    # A world may hold several cities far apart: map the one around the first query.
    origin = (docs[0]["truth"]["lat"], docs[0]["truth"]["lon"])
    docs = _near(docs, origin, lambda d: (d["truth"]["lat"], d["truth"]["lon"]), radius_m)
    tiles = _near(tiles, origin, lambda t: (t["lat"], t["lon"]), radius_m)
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    draw_tiles(ax, tiles, origin, alpha=0.75)
    truth = local_metres(
        [d["truth"]["lat"] for d in docs], [d["truth"]["lon"] for d in docs], origin
    )
    pred = local_metres(
        [d["candidates"][0]["lat"] for d in docs], [d["candidates"][0]["lon"] for d in docs], origin
    )
    pred = np.where((np.hypot(pred[:, 0], pred[:, 1]) <= radius_m)[:, None], pred, np.nan)
    for (tx, ty), (px, py) in zip(truth, pred, strict=False):
        ax.plot([tx, px], [ty, py], color="white", lw=0.8, alpha=0.8, zorder=2)
    ax.scatter(truth[:, 0], truth[:, 1], s=18, c="#ee3377", label="truth", zorder=3)
    ax.scatter(
        pred[:, 0], pred[:, 1], s=18, c="#33bbee", marker="s", label="top-1 prediction", zorder=3
    )
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    ax.set_aspect("equal")
    ax.autoscale()
    ax.legend(loc="upper right")
    return fig


def learning_curve_uri(run: Path) -> str | None:
    """Return the run's ``learning_curve.png`` as a data URI, if the trainer wrote one."""
    path = Path(run) / "learning_curve.png"
    if not path.is_file():
        return None
    from crossview.io import read_image

    return png_data_uri(read_image(path))


def example_queries(docs: list[dict[str, Any]], n: int = 6) -> list[dict[str, Any]]:
    """Template context of the first ``n`` queries with their top-K tiles (truth marked)."""
    out = []
    for doc in docs[:n]:
        cands = [
            {**c, "uri": thumbnail_uri(c["path"], 128), "hit": c["tile"] == doc["truth"]["tile"]}
            for c in doc["candidates"]
        ]
        out.append(
            {
                "query": doc["query"],
                "query_uri": thumbnail_uri(doc["query"], 512),
                "error_m": doc["error_m"],
                "candidates": cands,
            }
        )
    return out


def localization_rows(stats: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Columns and rows of the localization table: one row per heading condition.

    ``stats`` holds the known-heading statistics at the top level and, optionally, those of the
    unknown-heading run under ``unknown_heading`` (:func:`crossview.pipelines.demo.run_demo`).
    """
    known = {k: v for k, v in stats.items() if not isinstance(v, dict)}
    rows = [("heading known", known)]
    if isinstance(stats.get("unknown_heading"), dict):
        rows.append(("heading unknown (searched)", stats["unknown_heading"]))
    columns = list(known)

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)

    return columns, [(name, [cell(row.get(c, "")) for c in columns]) for name, row in rows]


def demo_html(
    metrics: dict[str, Any],
    stats: dict[str, Any],
    docs: list[dict[str, Any]],
    run: Path,
    table: Any,
    method: str,
    training: dict[str, Any] | None = None,
) -> str:
    """Render the whole report as one self-contained HTML string.

    ``training`` (``stopped``, ``step``, ``minutes`` of the demo's training run) is summarised
    above the tables, with the chance level of top-1 retrieval among the region's tiles.
    """
    tiles = [
        {
            "path": str(r.path),
            "lat": r.lat,
            "lon": r.lon,
            "ground_resolution_m": r.ground_resolution_m,
        }
        for r in table.references
    ]
    errors = np.array([d["error_m"] for d in docs])
    return render_template(
        "demo.html",
        method=method,
        version=__version__,
        metrics=flatten_metrics(metrics),
        stats=localization_rows(stats),
        curve_uri=learning_curve_uri(run),
        examples=example_queries(docs),
        hist_uri=figure_data_uri(error_histogram(errors)),
        map_uri=figure_data_uri(predictions_map(docs, tiles)),
        num_tiles=len(tiles),
        num_pairs=len(table),
        training=training or {},
        chance_pct=100.0 / max(1, len(tiles)),
    )
