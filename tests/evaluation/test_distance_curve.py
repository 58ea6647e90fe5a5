"""Recall-vs-distance curves and the chance baseline of the CrossLocate protocol."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from crossview.data.table import Pair, PairTable, Reference
from crossview.evaluation import evaluate_protocol
from crossview.evaluation.distance import (
    chance_recall,
    distance_recall,
    nearest_retrieved_distance,
    radius_grid,
    recall_curve,
)


def _random_case(seed: int, q: int = 40, m: int = 120):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(q, 8)).astype(np.float32)
    a = rng.normal(size=(m, 8)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    qp = rng.uniform(0, 5000, (q, 2))
    rp = rng.uniform(0, 5000, (m, 2))
    return g, a, qp, rp


@pytest.mark.parametrize("seed", [0, 1])
def test_curve_equals_distance_recall_at_every_radius(seed: int) -> None:
    g, a, qp, rp = _random_case(seed)
    radii = [0.0, 150.0, 400.0, 999.5, 2500.0]
    nearest = nearest_retrieved_distance(g, a, qp, rp, (1, 5, 20), "utm")
    curve = recall_curve(nearest, np.array(radii))
    grid = distance_recall(g, a, qp, rp, radii, (1, 5, 20), metric="utm").recall
    for t, radius in enumerate(radii):
        for n in (1, 5, 20):
            assert curve["recall"][str(n)][t] == pytest.approx(grid[radius][n])


def test_nearest_retrieved_distance_by_hand_with_ties() -> None:
    # Query 0 scores references 0.9, 0.5, 0.5, 0.1: its top-2 holds reference 0 and, tied at
    # the second score, both 1 and 2 (ties do not hurt), so the nearest of them counts.
    g = np.array([[1.0, 0.0]], dtype=np.float32)
    a = np.array([[0.9, np.sqrt(1 - 0.81)], [0.5, np.sqrt(0.75)], [0.5, -np.sqrt(0.75)],
                  [0.1, np.sqrt(0.99)]], dtype=np.float32)
    qp = np.array([[0.0, 0.0]])
    rp = np.array([[900.0, 0.0], [0.0, 700.0], [30.0, 40.0], [1.0, 0.0]])
    out = nearest_retrieved_distance(g, a, qp, rp, (1, 2, 4), "utm")
    assert out[1][0] == pytest.approx(900.0)
    assert out[2][0] == pytest.approx(50.0)  # reference 2, tied with 1 for the second place
    assert out[4][0] == pytest.approx(1.0)


def _chance_brute_force(qp: np.ndarray, rp: np.ndarray, radius: float, n: int) -> float:
    """Average over queries of the share of all N-subsets holding a reference within radius."""
    found = []
    for q in qp:
        near = np.hypot(*(rp - q).T) <= radius
        subsets = list(itertools.combinations(range(len(rp)), n))
        found.append(np.mean([near[list(s)].any() for s in subsets]))
    return 100.0 * float(np.mean(found))


def test_chance_recall_is_the_exact_expectation() -> None:
    rng = np.random.default_rng(3)
    qp, rp = rng.uniform(0, 100, (5, 2)), rng.uniform(0, 100, (7, 2))
    radii = [10.0, 30.0, 60.0]
    out = chance_recall(qp, rp, radii, (1, 2, 3), "utm")
    for n in (1, 2, 3):
        for t, radius in enumerate(radii):
            assert out[n][t] == pytest.approx(_chance_brute_force(qp, rp, radius, n))
    assert chance_recall(qp, rp, [1e6], (1,), "utm")[1][0] == pytest.approx(100.0)


def test_radius_grid_and_bad_values() -> None:
    grid = radius_grid(10_000, 201)
    assert grid[0] == 0 and grid[-1] == 10_000 and np.allclose(np.diff(grid), 50)
    from crossview.errors import ConfigError

    with pytest.raises(ConfigError, match="points >= 2"):
        radius_grid(100, 1)


def _crosslocate_table(qp_latlon: np.ndarray, rp_latlon: np.ndarray) -> PairTable:
    refs = [Reference(id=f"r{i}", path=Path(f"r{i}.png"), lat=float(la), lon=float(lo),
                      split="test", extras={"yaw_deg": 0.0}) for i, (la, lo) in
            enumerate(rp_latlon)]
    pairs = [Pair(id=f"q{i}", ground=Path(f"q{i}.jpg"), split="test", references=(i,),
                  lat=float(la), lon=float(lo), yaw_deg=0.0, fov_deg=45.0)
             for i, (la, lo) in enumerate(qp_latlon)]
    return PairTable("crosslocate", Path("."), pairs, refs)


def test_crosslocate_protocol_reports_headline_curve_and_chance() -> None:
    rng = np.random.default_rng(0)
    n = 30
    rp = np.stack([40.3 + rng.uniform(0, 0.05, n), -105.6 + rng.uniform(0, 0.05, n)], 1)
    table = _crosslocate_table(rp + 1e-5, rp)  # each query ~1 m from its reference
    g = np.eye(n, 32, dtype=np.float32)
    out = evaluate_protocol(g, g.copy(), table, curve_points=11)
    assert out["headline_radius_m"] == 1000.0
    assert out["R@1"] == 100.0 == out["position"]["by_radius_m"]["1000"]["R@1"]
    curve = out["curve"]
    assert len(curve["radii_m"]) == 11 and curve["radii_m"][-1] == 10_000.0
    assert curve["recall"]["1"][0] == 0.0 and curve["recall"]["1"][1] == 100.0
    chance = out["chance"]
    assert chance["by_radius_m"]["20"]["R@1"] == pytest.approx(100.0 / n)
    assert chance["curve"]["recall"]["1"][-1] == pytest.approx(100.0)  # all within 7 km
