import numpy as np
import pytest
from pyproj import Geod

from crossview.errors import ConfigError, CrossviewError
from crossview.index.geoindex import COLUMNS, GeoIndex

DIM = 16


def _unit(rng, n, d=DIM):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _rows(n, lat0=40.0, lon0=-105.0, spread=0.02, seed=0):
    rng = np.random.default_rng(seed)
    lat = lat0 + rng.uniform(-spread, spread, n)
    lon = lon0 + rng.uniform(-spread, spread, n)
    return {
        "tile_id": [f"t{i:05d}" for i in range(n)],
        "path": [f"/tiles/t{i:05d}.png" for i in range(n)],
        "lat": lat.tolist(),
        "lon": lon.tolist(),
        "utm_e": (500000 + rng.uniform(0, 1000, n)).tolist(),
        "utm_n": (4400000 + rng.uniform(0, 1000, n)).tolist(),
        "utm_zone": ["13N"] * n,
        "ground_resolution_m": [0.5] * n,
    }


@pytest.fixture
def filled(tmp_path):
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 600)
    index = GeoIndex.create(str(tmp_path / "idx"), "safa", "a" * 64, DIM)
    rows = _rows(600)
    index.add(rows, vecs)
    return index, vecs, rows


def test_exact_search_matches_numpy_topk(filled):
    index, vecs, rows = filled
    queries = _unit(np.random.default_rng(2), 5)
    result = index.search(queries, k=7)
    sims = queries @ vecs.T
    for q, cands in enumerate(result):
        expected = np.argsort(-sims[q])[:7]
        assert [c.tile_id for c in cands] == [rows["tile_id"][i] for i in expected]
        np.testing.assert_allclose([c.score for c in cands], sims[q, expected], atol=1e-5)
        assert [c.rank for c in cands] == list(range(1, 8))
        # Every metadata column comes back as it was added, for the tile it was added with.
        for c, i in zip(cands, expected, strict=True):
            assert {col: getattr(c, col) for col in COLUMNS} == {
                col: rows[col][i] for col in COLUMNS
            }


def test_reopen_keeps_header_and_rows(filled, tmp_path):
    index, _, _ = filled
    again = GeoIndex.open(str(tmp_path / "idx"))
    assert again.info.method == "safa" and again.info.dim == DIM and len(again) == 600
    assert again.tile_ids() == {f"t{i:05d}" for i in range(600)}


def test_wrong_method_or_checkpoint_refused(filled):
    index, _, _ = filled
    with pytest.raises(CrossviewError, match="'sample4geo'.*not comparable"):
        index.check_compatible("sample4geo", "a" * 64)
    with pytest.raises(CrossviewError, match="bbbbbbbbbbbb"):
        index.check_compatible("safa", "b" * 64)
    index.check_compatible("safa", "a" * 64)


def test_prior_filter_returns_only_tiles_within_radius(filled):
    index, vecs, rows = filled
    near, radius = (40.0, -105.0), 900.0
    queries = _unit(np.random.default_rng(3), 3)
    result = index.search(queries, k=10, near=near, radius_m=radius)
    geod = Geod(ellps="WGS84")
    lat, lon = np.array(rows["lat"]), np.array(rows["lon"])
    dist = geod.inv(np.full(600, near[1]), np.full(600, near[0]), lon, lat)[2]
    inside = np.flatnonzero(dist <= radius)
    assert 10 < len(inside) < 300  # the prior must actually exclude tiles
    for q, cands in enumerate(result):
        expected = inside[np.argsort(-(vecs[inside] @ queries[q]))][:10]
        assert [c.tile_id for c in cands] == [rows["tile_id"][i] for i in expected]
        for c in cands:
            assert c.distance_m <= radius
            d = geod.inv(near[1], near[0], c.lon, c.lat)[2]
            assert c.distance_m == pytest.approx(d, abs=1e-6)


def test_ann_recall_on_clustered_data(tmp_path):
    rng = np.random.default_rng(4)
    centres = _unit(rng, 20)
    labels = rng.integers(0, 20, 3000)
    vecs = centres[labels] + 0.35 * rng.standard_normal((3000, DIM)).astype(np.float32) / np.sqrt(
        DIM
    )
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = GeoIndex.create(str(tmp_path / "ann"), "safa", "a" * 64, DIM)
    index.add(_rows(3000), vecs.astype(np.float32))
    with pytest.raises(CrossviewError, match="no ANN index"):
        index.search(vecs[:1], k=10, exact=False)
    index.create_ann(num_partitions=16, num_sub_vectors=4, index_type="IVF_PQ")
    assert index.has_ann
    with pytest.raises(ConfigError, match="nprobes"):
        index.search(vecs[:1], k=10, exact=False, nprobes=0)
    queries = vecs[rng.choice(3000, 30, replace=False)]
    exact = index.search(queries, k=10)
    approx = index.search(queries, k=10, exact=False, nprobes=4, refine_factor=20)
    pairs = zip(approx, exact, strict=True)
    recall = np.mean([len({c.tile_id for c in a} & {c.tile_id for c in e}) / 10 for a, e in pairs])
    assert recall >= 0.9


def test_bad_inputs(tmp_path):
    with pytest.raises(CrossviewError, match="no crossview index"):
        GeoIndex.open(str(tmp_path / "nothing"))
    index = GeoIndex.create(str(tmp_path / "e"), "safa", "a" * 64, DIM)
    with pytest.raises(CrossviewError, match="empty"):
        index.search(np.ones(DIM, np.float32) / 4, k=3)
    with pytest.raises(CrossviewError, match="already exists"):
        GeoIndex.create(str(tmp_path / "e"), "safa", "a" * 64, DIM)
    with pytest.raises(CrossviewError, match="not comparable"):
        GeoIndex.create(str(tmp_path / "e"), "clnet", "a" * 64, DIM, exist_ok=True)
    with pytest.raises(CrossviewError, match=r"\(N, 16\)"):
        index.add(_rows(2), np.ones((2, 8), np.float32))
    with pytest.raises(CrossviewError, match="NaN"):
        index.add(_rows(2), np.full((2, DIM), np.nan, np.float32))
    rows = _rows(2)
    del rows["lat"]
    with pytest.raises(CrossviewError, match="lat"):
        index.add(rows, np.ones((2, DIM), np.float32))
