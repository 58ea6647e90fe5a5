"""Distance-threshold recall against a slow top-N scan (ties broken in favour of in-radius refs)."""

import numpy as np
import pytest
from pyproj import Geod

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation import distance_recall
from crossview.evaluation.distance import neighbours_within, yaw_difference_deg


def data(q=31, m=47, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.integers(-2, 3, size=(q, 5)).astype(np.float32)
    ref = rng.integers(-2, 3, size=(m, 5)).astype(np.float32)
    ref[m // 2 :] = ref[: m - m // 2]  # duplicates: ties
    qpos = rng.integers(0, 40, size=(q, 2)).astype(float)  # integer grid: exact boundary cases
    rpos = rng.integers(0, 40, size=(m, 2)).astype(float)
    return query, ref, qpos, rpos


def slow_found(query, ref, dist_ok, n):
    """Sort by score, in-radius first among equal scores; found if any of the first n is in."""
    full = query.astype(np.float64) @ ref.T.astype(np.float64)
    found = []
    for i in range(len(query)):
        order = sorted(range(ref.shape[0]), key=lambda j: (-full[i, j], not dist_ok[i, j]))
        found.append(any(dist_ok[i, j] for j in order[:n]))
    return 100 * np.mean(found)


@pytest.mark.parametrize("radius", [0.0, 5.0, 10.0])
def test_utm_distance_recall_matches_slow_reference(radius):
    query, ref, qpos, rpos = data()
    res = distance_recall(query, ref, qpos, rpos, radius, ks=[1, 3, 10], block_size=4)
    d = np.hypot(qpos[:, None, 0] - rpos[None, :, 0], qpos[:, None, 1] - rpos[None, :, 1])
    ok = d <= radius  # inclusive
    for n in (1, 3, 10):
        assert res.recall[radius][n] == pytest.approx(slow_found(query, ref, ok, n))
    out = res.to_dict()
    assert out["radius_m"] == radius and out["one_percent"]["k"] == 1
    assert out["R@1%"] == out["R@1"]


def test_radius_is_inclusive_at_exact_boundary():
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    ref = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    qpos = np.array([[0.0, 0.0]])
    rpos = np.array([[3.0, 4.0], [0.0, 0.0]])  # best-scoring reference exactly 5 m away
    assert distance_recall(query, ref, qpos, rpos, 5.0, ks=[1]).recall[5.0][1] == 100.0
    assert distance_recall(query, ref, qpos, rpos, 4.999, ks=[1, 2]).recall[4.999] == {
        1: 0.0,
        2: 100.0,
        -1: 0.0,
    }


def test_several_radii_with_yaw_condition():
    query, ref, qpos, rpos = data(seed=2)
    rng = np.random.default_rng(9)
    qy, ry = rng.uniform(0, 360, len(query)), rng.uniform(0, 360, len(ref))
    res = distance_recall(
        query,
        ref,
        qpos,
        rpos,
        [3.0, 12.0],
        ks=[1, 5],
        block_size=5,
        query_yaw_deg=qy,
        reference_yaw_deg=ry,
        max_yaw_deg=30.0,
    )
    d = np.hypot(qpos[:, None, 0] - rpos[None, :, 0], qpos[:, None, 1] - rpos[None, :, 1])
    dyaw = np.abs(qy[:, None] - ry[None, :]) % 360
    dyaw = np.minimum(dyaw, 360 - dyaw)
    for radius in (3.0, 12.0):
        ok = (d <= radius) & (dyaw <= 30.0)
        for n in (1, 5):
            assert res.recall[radius][n] == pytest.approx(slow_found(query, ref, ok, n))
    assert set(res.to_dict()["by_radius_m"]) == {"3", "12"}


def test_geodesic_neighbours_match_pyproj():
    rng = np.random.default_rng(3)
    q = np.column_stack([46.0 + rng.uniform(-0.01, 0.01, 20), 7.0 + rng.uniform(-0.01, 0.01, 20)])
    r = np.column_stack([46.0 + rng.uniform(-0.01, 0.01, 60), 7.0 + rng.uniform(-0.01, 0.01, 60)])
    idx, dist = neighbours_within(q, r, 400.0, metric="geodesic")
    geod = Geod(ellps="WGS84")
    for i in range(len(q)):
        _, _, d = geod.inv(np.full(60, q[i, 1]), np.full(60, q[i, 0]), r[:, 1], r[:, 0])
        np.testing.assert_array_equal(idx[i], np.flatnonzero(d <= 400.0))
        np.testing.assert_allclose(dist[i], d[d <= 400.0])


def test_yaw_difference_wraps():
    np.testing.assert_allclose(
        yaw_difference_deg(np.array([350.0, 10.0, 0.0]), np.array([10.0, 350.0, 180.0])),
        [20, 20, 180],
    )


def test_bad_positions():
    query, ref, qpos, rpos = data()
    with pytest.raises(CrossviewError, match="reference positions: expected shape"):
        distance_recall(query, ref, qpos, rpos[:-1], 5.0)
    qpos[2, 0] = np.nan
    with pytest.raises(CrossviewError, match="query positions: row 2"):
        distance_recall(query, ref, qpos, rpos, 5.0)
    with pytest.raises(ConfigError, match="radius"):
        distance_recall(query, ref, rpos[: len(query)], rpos, -1.0)
    with pytest.raises(ConfigError, match="yaw"):
        distance_recall(query, ref, rpos[: len(query)], rpos, 5.0, max_yaw_deg=30.0)
