"""Terrain report pieces: hillshade known answers, the recall-distance plot, escaped HTML."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from crossview.reports.curves import plot_recall_distance
from crossview.reports.terrain_report import (
    dem_candidates_map,
    hillshade,
    terrain_locate_html,
    terrain_query_section,
)


def test_hillshade_of_planes_by_hand() -> None:
    flat = hillshade(np.zeros((5, 6)), 30.0, azimuth_deg=123.0, altitude_deg=40.0)
    assert np.allclose(flat, math.sin(math.radians(40.0)))
    # z = a x rises to the east: a sun in the east at 45 deg lights it by (-a c + s) / sqrt(1+a^2)
    # with c = cos 45, s = sin 45 (normal (-a, 0, 1)); a sun in the west by (a c + s) / ...
    a, cell = 0.5, 10.0
    x = np.arange(8) * cell
    ramp = np.tile(a * x, (6, 1))
    c = s = math.sqrt(0.5)
    east = hillshade(ramp, cell, azimuth_deg=90.0, altitude_deg=45.0)
    west = hillshade(ramp, cell, azimuth_deg=270.0, altitude_deg=45.0)
    assert np.allclose(east, (-a * c + s) / math.sqrt(1 + a * a))
    assert np.allclose(west, (a * c + s) / math.sqrt(1 + a * a))
    # Rows run south: heights growing with the row index fall to the north, lit from the north.
    north_facing = np.tile((a * x)[:6, None], (1, 5))
    lit = hillshade(north_facing, cell, azimuth_deg=0.0, altitude_deg=45.0)
    assert np.allclose(lit, (a * c + s) / math.sqrt(1 + a * a))
    with pytest.raises(ValueError, match="H x W"):
        hillshade(np.zeros(5), 1.0)


def test_recall_distance_plot_draws_every_model_and_n() -> None:
    radii = [0.0, 5000.0, 10000.0]
    curves = {"trained": {"radii_m": radii, "recall": {"1": [0, 40, 60], "100": [0, 80, 95]}},
              "chance": {"radii_m": radii, "recall": {"1": [0, 2, 5], "100": [0, 30, 60]}}}
    fig = plot_recall_distance(curves, "t")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    assert list(lines[0].get_xdata()) == [0.0, 5.0, 10.0]  # km
    assert list(lines[1].get_ydata()) == [0, 80, 95]
    assert len(plot_recall_distance(curves, ns=("1",)).axes[0].get_lines()) == 2


def test_terrain_page_escapes_names_and_embeds_images(tmp_path: Path, page_checker) -> None:
    from crossview.io import save_image

    rng = np.random.default_rng(0)
    query = tmp_path / "q<b>one</b>.png"
    save_image(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), query)
    cands = [{"rank": i + 1, "tile": f"u_r0_c{i}_y030<script>", "score": 0.9 - 0.1 * i,
              "lat": 40.0 + 0.01 * i, "lon": -105.6, "yaw_deg": 30.0 * i} for i in range(2)]
    result = {"query": str(query), "fov_deg": 45.0, "candidates": cands}
    views = [rng.integers(0, 255, (24, 24, 3), dtype=np.uint8) for _ in cands]
    height = rng.normal(3000, 100, (20, 16))
    points = [{"rank": c["rank"], "x_m": 100.0 * i, "y_m": -50.0 * i, "yaw_deg": c["yaw_deg"]}
              for i, c in enumerate(cands)]
    fig = dem_candidates_map(height, (-800.0, -1000.0, 800.0, 1000.0), 100.0, points,
                             truth=(0.0, 0.0))
    section = terrain_query_section(result, views, fig)
    html = terrain_locate_html([section], "idx<x>", "crosslocate", "depth", "dem.tif")
    assert "u_r0_c0_y030<script>" not in html and "<b>one" not in html
    assert "u_r0_c0_y030&lt;script&gt;" in html and "q&lt;b&gt;one&lt;/b&gt;.png" in html
    assert "idx&lt;x&gt;" in html and "yaw 30&deg;" in html
    page = tmp_path / "page.html"
    page.write_text(html, encoding="utf-8")
    _, assert_page_ok = page_checker
    assert_page_ok(page, tmp_path, min_images=4)  # query, map, two renders
