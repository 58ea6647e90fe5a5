"""The ``locate --html`` page of a DEM view index: query photo, matched renders, hillshade map.

Pure functions of their inputs: the rendered candidate views come in as arrays (the index
re-renders them, :func:`crossview.index.terrain.terrain_locate_page`), the map is drawn from
the DEM's heights. Every string from the input (file names, view ids) is escaped by the
template engine (autoescaping).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from crossview._version import __version__
from crossview.reports.render import figure_data_uri, png_data_uri, render_template, thumbnail_uri


def hillshade(height: np.ndarray, cell_m: float, azimuth_deg: float = 315.0,
              altitude_deg: float = 45.0) -> np.ndarray:
    """Shaded relief in ``[0, 1]`` of a height grid (row 0 north; NaN where heights are NaN).

    Lambertian shading of the surface normal under a sun at ``azimuth_deg`` (clockwise from
    north; 315 = north-west, the cartographic convention) and ``altitude_deg`` above the horizon.
    """
    h = np.asarray(height, dtype=np.float64)
    if h.ndim != 2 or min(h.shape) < 2:
        raise ValueError(f"height: expected an H x W grid (H, W >= 2), got {h.shape}")
    if not cell_m > 0:
        raise ValueError(f"cell_m must be > 0, got {cell_m}")
    dz_dy_rows, dz_dx = np.gradient(h, cell_m)  # rows run south: north-ward slope is -d/drow
    dz_dy = -dz_dy_rows
    az, alt = np.radians(azimuth_deg), np.radians(altitude_deg)
    sun = np.array([np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)])
    norm = np.sqrt(dz_dx**2 + dz_dy**2 + 1.0)
    shade = (-dz_dx * sun[0] - dz_dy * sun[1] + sun[2]) / norm
    return np.clip(shade, 0.0, 1.0)


def dem_candidates_map(height: np.ndarray, bounds_m: tuple[float, float, float, float],
                       cell_m: float, points: Sequence[dict[str, Any]],
                       truth: tuple[float, float] | None = None) -> Any:
    """Figure: the DEM's hillshade (km of its local frame) with ranked candidates and yaws.

    Args:
        height: ``(H, W)`` heights, row 0 north.
        bounds_m: ``(x_min, y_min, x_max, y_max)`` of the grid's outer edges, local metres.
        cell_m: Cell size (m).
        points: Candidates as ``{"rank", "x_m", "y_m", "yaw_deg"}`` (local metres).
        truth: Local ``(x_m, y_m)`` of the true position, if known.

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    x0, y0, x1, y1 = (v / 1000.0 for v in bounds_m)
    ax.imshow(hillshade(height, cell_m), cmap="gray", extent=(x0, x1, y0, y1), vmin=0, vmax=1,
              interpolation="bilinear")
    arrow = 0.04 * max(x1 - x0, y1 - y0)
    for p in sorted(points, key=lambda p: -p["rank"]):  # rank 1 drawn last, on top
        x, y = p["x_m"] / 1000.0, p["y_m"] / 1000.0
        colour = "red" if p["rank"] == 1 else "orange"
        yaw = np.radians(p["yaw_deg"])
        ax.annotate("", xy=(x + arrow * np.sin(yaw), y + arrow * np.cos(yaw)), xytext=(x, y),
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5})
        ax.plot(x, y, "o", color=colour, ms=6, mec="black")
        ax.annotate(str(p["rank"]), (x, y), xytext=(4, 4), textcoords="offset points",
                    color=colour, fontsize=9, weight="bold")
    if truth is not None:
        ax.plot(truth[0] / 1000.0, truth[1] / 1000.0, "*", color="cyan", ms=14, mec="black",
                label="truth")
        ax.legend(loc="upper right")
    ax.set_xlabel("east (km, local frame)")
    ax.set_ylabel("north (km)")
    ax.set_title("candidates (arrows: view yaw)")
    fig.tight_layout()
    return fig


def terrain_query_section(result: dict[str, Any], views: Sequence[np.ndarray],
                          map_figure: Any) -> dict[str, Any]:
    """Template context of one query: its photo, the rendered views of its candidates, the map."""
    cands = result["candidates"]
    return {
        "query": result["query"],
        "query_uri": thumbnail_uri(result["query"], max_side=512),
        "fov": result.get("fov_deg"),
        "candidates": [{**c, "uri": png_data_uri(v)} for c, v in zip(cands, views, strict=True)],
        "map_uri": figure_data_uri(map_figure) if map_figure is not None else None,
    }


def terrain_locate_html(sections: Sequence[dict[str, Any]], index_uri: str, method: str,
                        modality: str, dem: str) -> str:
    """The whole page (images as data URIs: one self-contained file)."""
    return render_template("terrain_locate.html", sections=sections, index_uri=index_uri,
                           method=method, modality=modality, dem=dem, version=__version__)
