"""The index benchmark's descriptor generator (benchmarks/_descriptors.py), without a model."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "_descriptors.py"
_SPEC = importlib.util.spec_from_file_location("_bench_descriptors", _PATH)
desc = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = desc  # dataclasses look their module up while the file executes
_SPEC.loader.exec_module(desc)

D = 24


def test_knn_matches_brute_force_with_and_without_self():
    x = desc.random_unit(500, D, np.random.default_rng(0))
    q = x[:40]
    sims = q @ x.T
    for block in (64, 10_000):  # a running top-k over blocks of the base, and one block
        ids, got = desc.knn(x, q, 5, chunk=16, block=block)
        np.testing.assert_array_equal(ids, np.argsort(-sims, axis=1)[:, :5])
        np.testing.assert_allclose(got, np.sort(sims, axis=1)[:, ::-1][:, :5], atol=1e-6)
        ids, _ = desc.knn(x, q, 5, exclude_self=True, chunk=16, block=block)
        np.testing.assert_array_equal(ids, np.argsort(-sims, axis=1)[:, 1:6])


def test_ks_distance_known_answers():
    a = np.arange(10.0)
    assert desc.ks_distance(a, a) == 0.0
    assert desc.ks_distance(a, a + 100) == 1.0
    assert desc.ks_distance(a, a + 5) == pytest.approx(0.5)


def _all_rows_in(a, b):
    """Whether every unit row of ``a`` is (to float precision) a row of ``b``."""
    return bool(np.all((a @ b.T).max(axis=1) > 1 - 1e-5))


def _circle(n, rng):
    """Unit vectors on one great circle (a 1-D manifold) of a random plane in R^D."""
    basis = np.linalg.qr(rng.standard_normal((D, 2)))[0]
    t = rng.uniform(0, 2 * math.pi, n)
    return (np.stack([np.cos(t), np.sin(t)], 1) @ basis.T).astype(np.float32), basis


def test_samples_stay_in_the_local_span_of_the_real_descriptors():
    rng = np.random.default_rng(1)
    real, basis = _circle(400, rng)
    mixture = desc.LocalMixture.fit(real, k=6, scale=0.75)
    fake = mixture.sample(300, rng)
    np.testing.assert_allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    # Offsets to neighbours lie in the circle's plane, so every sample does too (renormalising
    # only rescales); isotropic copies leave it.
    off_plane = fake - (fake @ basis) @ basis.T
    assert np.abs(off_plane).max() < 1e-5
    copies = desc.isotropic_copies(real, 300, rng)
    assert np.linalg.norm(copies - (copies @ basis) @ basis.T, axis=1).mean() > 1e-3
    mixture.scale = 0.0
    assert _all_rows_in(mixture.sample(50, rng), real)


def test_lid_separates_a_curve_from_the_full_sphere():
    rng = np.random.default_rng(2)
    curve = desc.neighbourhood_stats(_circle(3000, rng)[0], rng, sample=300)
    sphere = desc.neighbourhood_stats(desc.random_unit(3000, D, rng), rng, sample=300)
    assert 0.5 < curve["lid_median"] < 2.0  # a 1-D manifold
    assert sphere["lid_median"] > 10


def test_grown_set_keeps_the_real_rows_and_matches_nn_distances_better_than_copies():
    rng = np.random.default_rng(3)
    real = desc.clustered_mixture(3000, D, rng, clusters=10, local_dim=4)
    mixture, report = desc.calibrate_scale(real, rng, k=8, scales=(0.5, 0.75, 1.0))
    assert report["scale"] in (0.5, 0.75, 1.0)
    grown = desc.grow(mixture, 5000, rng)
    assert grown.shape == (5000, D)
    np.testing.assert_array_equal(grown[:3000], real)
    subset = desc.grow(mixture, 1000, rng)
    assert subset.shape == (1000, D) and _all_rows_in(subset, real)
    check = desc.generator_check(mixture, report, rng)["at_real_size"]
    # The claim of the module docstring, checked on a set with known structure.
    assert check["local_mixture"]["ks_vs_real"] < check["isotropic_copies"]["ks_vs_real"]
    assert check["random"]["ks_vs_real"] == 1.0
