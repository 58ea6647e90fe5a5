"""Hard-negative batch samplers: coverage, uniqueness, neighbours, determinism, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossview.data.samplers import GPSNeighbourSampler, SimilarityNeighbourSampler
from crossview.errors import ConfigError


def _grid(n_side: int = 6, step_m: float = 10.0) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(n_side) * step_m, np.arange(n_side) * step_m)
    return np.stack([xs.ravel() + 500000.0, ys.ravel() + 4000000.0], axis=1)


def _check_epoch(batches: list[list[int]], n: int, batch_size: int, keys: list[int]) -> None:
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))  # every sample exactly once
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert all(len({keys[i] for i in b}) == len(b) for b in batches)  # no key twice


def test_gps_batches_are_anchor_plus_nearest_neighbours() -> None:
    utm = _grid()
    sampler = GPSNeighbourSampler(utm, batch_size=5, neighbours=4, seed=1)
    batches = list(sampler)
    _check_epoch(batches, 36, 5, list(range(36)))
    first = batches[0]
    dist = np.linalg.norm(utm - utm[first[0]], axis=1)
    dist[first[0]] = np.inf
    # the first anchor's neighbours are all unused, so they are its 4 nearest (ties at equal range)
    assert max(dist[first[1:]]) <= np.sort(dist)[3] + 1e-9


def test_gps_latlon_uses_great_circle_order() -> None:
    rng = np.random.default_rng(0)
    latlon = np.stack([rng.uniform(40, 60, 30), rng.uniform(-170, 170, 30)], axis=1)
    sampler = GPSNeighbourSampler(latlon, batch_size=4, neighbours=3, latlon=True)
    lat, lon = np.radians(latlon[:, 0]), np.radians(latlon[:, 1])
    for i in range(30):  # haversine, computed independently
        h = (
            np.sin((lat - lat[i]) / 2) ** 2
            + np.cos(lat) * np.cos(lat[i]) * np.sin((lon - lon[i]) / 2) ** 2
        )
        h[i] = np.inf
        assert set(sampler._neighbours[i][:3]) == set(np.argsort(h)[:3])


def test_keys_never_repeat_and_deferred_samples_still_come() -> None:
    keys = [i // 3 for i in range(30)]  # groups of three share a key (e.g. a VIGOR tile)
    utm = np.repeat(_grid(4)[:10], 3, axis=0)  # and share a position
    sampler = GPSNeighbourSampler(utm, batch_size=6, neighbours=5, keys=keys)
    _check_epoch(list(sampler), 30, 6, keys)


def test_deterministic_per_seed_and_epoch_and_exact_resume() -> None:
    utm = _grid()
    a = GPSNeighbourSampler(utm, batch_size=6, neighbours=5, seed=7)
    b = GPSNeighbourSampler(utm, batch_size=6, neighbours=5, seed=7)
    assert list(a) == list(b)
    a.set_epoch(1)
    epoch1 = list(a)
    assert epoch1 != list(b) and sorted(sum(epoch1, [])) == list(range(36))
    it = iter(a)
    seen = [next(it), next(it)]
    state = a.state_dict()
    assert state["position"] == 2 and state["epoch"] == 1
    c = GPSNeighbourSampler(utm, batch_size=6, neighbours=5, seed=7)
    c.load_state_dict(state)
    c.set_epoch(1)  # the trainer's usual call must not rewind a restored epoch
    assert seen + list(c) == epoch1
    with pytest.raises(ConfigError, match="batch_size"):
        GPSNeighbourSampler(utm, batch_size=4, seed=7).load_state_dict(state)


def test_gps_rejects_missing_coordinates() -> None:
    utm = _grid(3)
    utm[4] = np.nan
    with pytest.raises(ConfigError, match="first at index 4"):
        GPSNeighbourSampler(utm, batch_size=4)


def test_similarity_neighbours_match_full_matrix_blockwise() -> None:
    g = torch.nn.functional.normalize(torch.randn(23, 8), dim=1)
    a = torch.nn.functional.normalize(g + 0.3 * torch.randn(23, 8), dim=1)
    sampler = SimilarityNeighbourSampler(23, batch_size=4, neighbours=3, block_size=5)
    assert not sampler.ready
    _check_epoch(list(sampler), 23, 4, list(range(23)))  # plain shuffle before update
    sampler.update(g, a)
    full = g @ a.T
    full.fill_diagonal_(-float("inf"))
    expected = full.topk(6, dim=1).indices.numpy()
    assert np.array_equal(sampler._neighbours, expected)
    batches = list(sampler)
    _check_epoch(batches, 23, 4, list(range(23)))
    anchor = batches[0][0]
    assert batches[0][1:] == expected[anchor][:3].tolist()
    state = sampler.state_dict(consumed=1)
    fresh = SimilarityNeighbourSampler(23, batch_size=4, neighbours=3)
    fresh.load_state_dict(state)
    assert list(fresh) == batches[1:]
    with pytest.raises(ConfigError, match="NaN"):
        sampler.update(g * float("nan"), a)
