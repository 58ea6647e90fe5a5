"""Approximate search: every LanceDB type, the former IVF-PQ default, and the geographic prior."""

import numpy as np
import pytest
from lancedb.index import IvfPq
from pyproj import Geod

from crossview.errors import ConfigError, CrossviewError
from crossview.index.geoindex import ANN_TYPES, DEFAULT_ANN_TYPE, GeoIndex

DIM = 16
N = 2000


def _clustered(rng, n, d=DIM, clusters=20, spread=0.35):
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, clusters, n)]
    x = x + spread * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _grid_rows(n, lat0=40.0, lon0=-105.0, step_deg=0.001):
    """Tiles on a square grid of ``step_deg`` (about 111 m north-south) around (lat0, lon0)."""
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    lat = lat0 + (i // side - side / 2) * step_deg
    lon = lon0 + (i % side - side / 2) * step_deg
    return {
        "tile_id": [f"t{j:05d}" for j in i],
        "path": [f"/tiles/t{j:05d}.png" for j in i],
        "lat": lat.tolist(),
        "lon": lon.tolist(),
        "utm_e": [0.0] * n,
        "utm_n": [0.0] * n,
        "utm_zone": ["13T"] * n,
        "ground_resolution_m": [0.5] * n,
    }


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return _clustered(rng, N), _grid_rows(N), _clustered(np.random.default_rng(12), 12)


def _index(tmp_path, data, name="idx"):
    vecs, rows, _ = data
    index = GeoIndex.create(str(tmp_path / name), "safa", "a" * 64, DIM)
    index.add(rows, vecs)
    return index


def _ids(result):
    return [[c.tile_id for c in hits] for hits in result]


def _recall(approx, exact):
    return np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)])


@pytest.mark.parametrize("index_type", ANN_TYPES)
def test_every_type_builds_and_probing_all_partitions_is_exact(tmp_path, data, index_type):
    index = _index(tmp_path, data)
    params = index.create_ann(num_partitions=4, index_type=index_type)
    assert params["index_type"] == index_type and params["num_partitions"] == 4
    assert params["metric"] == "l2"
    reopened = GeoIndex.open(index.uri)
    assert reopened.ann_type == index_type and reopened.has_ann and reopened.ann_metric == "l2"
    queries = data[2]
    exact = index.search(queries, k=10)
    # Every partition probed, quantised types re-ranked with stored vectors, HNSW with a wide
    # list: the approximate top-10 is the exact one (a brute-force reference).
    approx = reopened.search(queries, k=10, exact=False, nprobes=4, refine_factor=50, ef=400)
    assert _recall(_ids(approx), _ids(exact)) >= 0.98
    for hits in approx:
        scores = [c.score for c in hits]
        assert scores == sorted(scores, reverse=True)


def test_default_type_is_ivf_sq_reranked_to_exact_scores(tmp_path, data):
    index = _index(tmp_path, data)
    params = index.create_ann()
    n = len(index)
    parts = min(round(n**0.5), n // 256)
    assert params == {"index_type": DEFAULT_ANN_TYPE, "metric": "l2", "num_partitions": parts}
    assert index.ann_type == "IVF_SQ"
    vecs, rows, queries = data
    approx = index.search(queries, k=10, exact=False, nprobes=2)
    by_id = {t: i for i, t in enumerate(rows["tile_id"])}
    for q, hits in zip(queries, approx, strict=True):
        # Hits re-ranked with the stored float32 vectors (default refine): true dot products.
        want = [float(vecs[by_id[c.tile_id]] @ q) for c in hits]
        np.testing.assert_allclose([c.score for c in hits], want, atol=1e-5)


def test_index_built_with_the_former_ivf_pq_default_still_searches(tmp_path, data):
    index = _index(tmp_path, data)
    # Exactly what `crossview index ann` built before IVF_SQ became the default (LanceDB's own
    # call, not create_ann, so the test does not depend on the code it checks).
    config = IvfPq(distance_type="dot", num_partitions=4, num_sub_vectors=DIM // 8)
    index._table.create_index("vector", config=config, replace=True)
    old = GeoIndex.open(index.uri)
    assert old.ann_type == "IVF_PQ" and old.ann_metric == "dot"
    queries = data[2]
    exact = _ids(old.search(queries, k=10))
    approx = _ids(old.search(queries, k=10, exact=False, nprobes=4, refine_factor=50))
    assert _recall(approx, exact) >= 0.98


def test_ann_settings_are_checked(tmp_path, data):
    index = _index(tmp_path, data)
    with pytest.raises(ConfigError, match="IVF_BOGUS.*IVF_FLAT"):
        index.create_ann(index_type="IVF_BOGUS")
    with pytest.raises(ConfigError, match="metric 'cosine'"):
        index.create_ann(metric="cosine")
    with pytest.raises(ConfigError, match="num_sub_vectors applies to \\*_PQ"):
        index.create_ann(num_sub_vectors=4)
    with pytest.raises(ConfigError, match="divide"):
        index.create_ann(num_sub_vectors=5, index_type="IVF_PQ")
    with pytest.raises(ConfigError, match="num_partitions"):
        index.create_ann(num_partitions=0)
    with pytest.raises(ConfigError, match="m >= 2"):
        index.create_ann(index_type="IVF_HNSW_SQ", m=1)
    index.create_ann(num_partitions=4)
    with pytest.raises(ConfigError, match="ef"):
        index.search(data[2][:1], k=3, exact=False, ef=0)
    small = GeoIndex.create(str(tmp_path / "small"), "safa", "a" * 64, DIM)
    small.add(_grid_rows(100), data[0][:100])
    with pytest.raises(CrossviewError, match="too few"):
        small.create_ann()


def _inside(rows, near, radius_m):
    lat, lon = np.array(rows["lat"]), np.array(rows["lon"])
    dist = Geod(ellps="WGS84").inv(np.full_like(lon, near[1]), np.full_like(lat, near[0]),
                                   lon, lat)[2]
    return np.flatnonzero(dist <= radius_m), dist


@pytest.mark.parametrize("index_type", ["IVF_SQ", "IVF_FLAT", "IVF_PQ", "IVF_HNSW_SQ"])
def test_filtered_ann_respects_the_radius(tmp_path, data, index_type):
    vecs, rows, queries = data
    index = _index(tmp_path, data)
    index.create_ann(num_partitions=7, index_type=index_type)
    near, radius = (40.0, -105.0), 500.0
    inside, dist = _inside(rows, near, radius)
    assert 60 < len(inside) < N // 10  # a selective prior: most partitions hold few of its tiles
    # One probe: LanceDB still pre-filters and keeps probing until k tiles of the box are found.
    result = index.search(queries, k=10, near=near, radius_m=radius, exact=False, nprobes=1,
                          refine_factor=10)
    by_id = {t: i for i, t in enumerate(rows["tile_id"])}
    allowed = {rows["tile_id"][i] for i in inside}
    for hits in result:
        assert len(hits) == 10
        for c in hits:
            assert c.tile_id in allowed
            assert c.distance_m == pytest.approx(dist[by_id[c.tile_id]], abs=1e-6)
            assert c.distance_m <= radius


@pytest.mark.parametrize("index_type", ["IVF_SQ", "IVF_FLAT", "IVF_PQ", "IVF_HNSW_SQ"])
def test_filtered_ann_returns_the_exact_tiles_when_few_are_inside(tmp_path, data, index_type):
    vecs, rows, queries = data
    index = _index(tmp_path, data)
    index.create_ann(num_partitions=7, index_type=index_type)
    near, radius = (40.0, -105.0), 160.0  # the grid points next to it (111 m N-S, 85 m E-W)
    inside, _ = _inside(rows, near, radius)
    assert 1 < len(inside) < 10
    result = index.search(queries, k=10, near=near, radius_m=radius, exact=False, nprobes=1,
                          refine_factor=10)
    for q, hits in zip(queries, result, strict=True):
        # Fewer tiles than k inside the circle: all of them, ranked by their true score.
        expected = inside[np.argsort(-(vecs[inside] @ q))]
        assert [c.tile_id for c in hits] == [rows["tile_id"][i] for i in expected]


def test_create_ann_compacts_the_batches_of_index_build(tmp_path, data):
    vecs, rows, queries = data
    index = GeoIndex.create(str(tmp_path / "batches"), "safa", "a" * 64, DIM)
    for start in range(0, 600, 50):  # as `index build` commits: one fragment per batch
        index.add({c: v[start : start + 50] for c, v in rows.items()}, vecs[start : start + 50])
    assert index._table.stats()["fragment_stats"]["num_fragments"] == 12
    exact = _ids(index.search(queries, k=5))
    index.create_ann(num_partitions=2)
    assert index._table.stats()["fragment_stats"]["num_fragments"] == 1
    assert len(index) == 600 and _ids(index.search(queries, k=5)) == exact
    assert _recall(_ids(index.search(queries, k=5, exact=False, nprobes=2)), exact) == 1.0
