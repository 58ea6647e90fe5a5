import json

import pytest

from crossview.errors import ConfigError, CrossviewError, InputFileError
from crossview.geometry.panorama import roll_panorama
from crossview.index.locate import locate, results_to_geojson, results_to_json
from crossview.io import load_image_tensor, save_image

SHA = "c" * 64


def _query(tmp_path, pano_path, heading, name="q.png"):
    """The panorama a camera at the same spot sees with its centre column at ``heading``."""
    pano = load_image_tensor(pano_path)[None]
    out = tmp_path / name
    save_image(roll_panorama(pano, heading)[0], out)
    return out


@pytest.mark.parametrize("heading", [67.5, 225.0])
def test_unknown_heading_recovered_by_roll_search(pano_index, tmp_path, heading):
    index, method, paths = pano_index
    query = _query(tmp_path, paths[11], heading)
    [result] = locate([query], index, method, SHA, top_k=5, heading="unknown", num_headings=16)
    top = result.candidates[0]
    assert top.tile_id == "p11" and top.score == pytest.approx(1.0, abs=1e-5)
    assert result.candidate_headings[0] == pytest.approx(heading)
    assert result.heading_deg is None
    # Without the roll search (heading wrongly assumed north) the match is clearly worse.
    [north] = locate([query], index, method, SHA, top_k=40, heading=0.0)
    wrong = {c.tile_id: c.score for c in north.candidates}["p11"]
    assert wrong < 0.9


def test_known_heading_and_limited_fov(pano_index, tmp_path):
    index, method, paths = pano_index
    query = _query(tmp_path, paths[5], 90.0)
    [known] = locate([query], index, method, SHA, top_k=3, heading=90)
    assert known.candidates[0].tile_id == "p05" and known.candidates[0].score == pytest.approx(
        1, abs=1e-5
    )
    # A 180-degree view: the centre half of the rolled panorama.
    half = tmp_path / "half.png"
    save_image(load_image_tensor(query)[:, :, 16:48], half)
    [res] = locate([half], index, method, SHA, top_k=3, fov_deg=180, heading="unknown")
    assert res.candidates[0].tile_id == "p05"
    assert res.candidate_headings[0] == pytest.approx(90.0)


def test_json_and_geojson_schema(pano_index, tmp_path):
    index, method, paths = pano_index
    queries = [_query(tmp_path, paths[i], 45.0, f"q{i}.png") for i in (1, 2)]
    results = locate(queries, index, method, SHA, top_k=4, near=(40.001, -104.999), radius_m=500)
    doc = json.loads(json.dumps(results_to_json(results)))
    assert [d["query"] for d in doc] == [str(q) for q in queries]
    for d in doc:
        assert len(d["candidates"]) == 4
        for rank, c in enumerate(d["candidates"], start=1):
            assert {
                "rank",
                "lat",
                "lon",
                "score",
                "tile",
                "path",
                "heading_deg",
                "distance_m",
            } <= set(c)
            assert c["rank"] == rank and c["distance_m"] <= 500
        assert d["candidates"][0]["score"] >= d["candidates"][-1]["score"]
    assert doc[0]["candidates"][0]["tile"] == "p01"
    geo = results_to_geojson(results)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 8
    feat = geo["features"][0]
    assert feat["geometry"]["coordinates"] == [
        doc[0]["candidates"][0]["lon"],
        doc[0]["candidates"][0]["lat"],
    ]
    assert feat["properties"]["query"] == str(queries[0]) and feat["properties"]["rank"] == 1


def test_bad_inputs(pano_index, tmp_path):
    index, method, paths = pano_index
    with pytest.raises(InputFileError, match="missing.png: file not found"):
        locate([tmp_path / "missing.png"], index, method, SHA)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG broken")
    with pytest.raises(InputFileError, match="corrupt.png: cannot decode"):
        locate([corrupt], index, method, SHA)
    with pytest.raises(CrossviewError, match="not comparable"):
        locate([paths[0]], index, method, "d" * 64)
    with pytest.raises(ConfigError, match="heading"):
        locate([paths[0]], index, method, SHA, heading="east")


def test_missing_query_fails_before_any_embedding(pano_index, tmp_path):
    index, method, paths = pano_index
    calls = []
    original = method.encode_ground
    method.encode_ground = lambda x: calls.append(len(x)) or original(x)
    with pytest.raises(InputFileError, match="gone.png: file not found"):
        locate([paths[0], paths[1], tmp_path / "gone.png"], index, method, SHA, heading=0.0)
    assert calls == []


def test_ann_locate_reranks_with_exact_scores(pano_index):
    import numpy as np

    index, method, paths = pano_index
    rng = np.random.default_rng(9)
    extra = rng.standard_normal((260, method.descriptor_dim)).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    index.add(
        {
            "tile_id": [f"r{i}" for i in range(260)],
            "path": ["none.png"] * 260,
            "lat": [41.0] * 260,
            "lon": [-105.0] * 260,
            "utm_e": [0.0] * 260,
            "utm_n": [0.0] * 260,
            "utm_zone": ["13N"] * 260,
            "ground_resolution_m": [1.0] * 260,
        },
        extra,
    )
    index.create_ann(num_partitions=2, num_sub_vectors=12, index_type="IVF_PQ")
    [exact] = locate([paths[3]], index, method, SHA, top_k=5, heading=0.0)
    [approx] = locate([paths[3]], index, method, SHA, top_k=5, heading=0.0, exact=False, nprobes=2)
    # All partitions probed and the PQ hits re-ranked with stored vectors: the exact answer.
    assert [c.tile_id for c in approx.candidates] == [c.tile_id for c in exact.candidates]
    assert [c.score for c in approx.candidates] == pytest.approx(
        [c.score for c in exact.candidates], abs=1e-5
    )
    assert approx.candidates[0].tile_id == "p03"
