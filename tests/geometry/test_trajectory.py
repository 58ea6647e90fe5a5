"""Camera paths inside a tile: presets, waypoints in metres and pixels, arc-length resampling."""

from __future__ import annotations

import numpy as np
import pytest

from crossview.errors import ConfigError
from crossview.geometry.trajectory import (
    camera_path,
    metres_to_pixels,
    parse_waypoints,
    pixels_to_metres,
    resample_polyline,
)


def test_presets_stay_inside_with_their_shape():
    diag = camera_path("diagonal", 30.0, 5, margin=0.2)
    np.testing.assert_allclose(diag, [[-12, -12], [-6, -6], [0, 0], [6, 6], [12, 12]])
    circle = camera_path("circle", 30.0, 8, margin=0.2)
    np.testing.assert_allclose(np.hypot(circle[:, 0], circle[:, 1]), 12.0)
    np.testing.assert_allclose(circle[0], [0, 12], atol=1e-12)  # starts north
    np.testing.assert_allclose(circle[2], [12, 0], atol=1e-12)  # then east: clockwise


def test_pixel_waypoints_known_answers():
    # 100 px tile over 30 m: the top-left corner is (-15, 15) m, the centre (0, 0), x right = east.
    m = pixels_to_metres(np.array([[0, 0], [50, 50], [100, 25]]), (100, 100), 30.0)
    np.testing.assert_allclose(m, [[-15, 15], [0, 0], [15, 7.5]])
    np.testing.assert_allclose(metres_to_pixels(m, (100, 100), 30.0), [[0, 0], [50, 50], [100, 25]])
    path = camera_path("25,50;75,50", 30.0, 3, units="px", tile_hw=(100, 100))
    np.testing.assert_allclose(path, [[-7.5, 0], [0, 0], [7.5, 0]])


def test_resampling_is_even_along_the_length():
    pts = resample_polyline(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]]), 5)
    steps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    np.testing.assert_allclose(steps, 1.0)  # total length 4, five points
    np.testing.assert_allclose(pts[-1], [3.0, 1.0])
    np.testing.assert_allclose(resample_polyline(np.array([[1.0, 2.0]]), 3), [[1, 2]] * 3)


def test_bad_paths_are_one_line_errors():
    with pytest.raises(ConfigError, match="waypoint 2 is outside the tile"):
        camera_path("0,0;20,0", 30.0, 4)
    with pytest.raises(ConfigError, match="expected waypoints"):
        parse_waypoints("1,2,3")
    with pytest.raises(ConfigError, match="preset"):
        parse_waypoints(";")
    with pytest.raises(ConfigError, match="tile's size"):
        camera_path("1,1", 30.0, 2, units="px")
