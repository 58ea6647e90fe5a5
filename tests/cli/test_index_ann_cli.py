"""`crossview index ann` options and `index info`'s report of the approximate index."""


import numpy as np

from crossview.index.geoindex import COLUMNS, GeoIndex


def _index(path, n=300, dim=16):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = {c: [0.0] * n for c in COLUMNS}
    rows.update(tile_id=[f"t{i}" for i in range(n)], path=["x.png"] * n, utm_zone=["13T"] * n)
    index = GeoIndex.create(str(path), "safa", "a" * 64, dim)
    index.add(rows, vecs)
    return index


def test_index_ann_types_and_info(tmp_path, run_cli):
    uri = tmp_path / "idx"
    _index(uri)
    code, out, _ = run_cli("index", "ann", uri, "--partitions", "1")
    assert code == 0 and "IVF_SQ built (metric l2, num_partitions 1)" in out
    code, out, _ = run_cli("index", "info", uri)
    assert code == 0 and "ann: IVF_SQ" in out
    code, out, _ = run_cli("index", "ann", uri, "--type", "ivf_pq",
                       "--partitions", "1", "--sub-vectors", "4")
    assert code == 0 and "IVF_PQ built (metric l2, num_partitions 1, num_sub_vectors 4)" in out
    assert GeoIndex.open(str(uri)).ann_type == "IVF_PQ"


def test_index_ann_bad_options_exit_2(tmp_path, run_cli):
    uri = tmp_path / "idx"
    _index(uri)
    code, _, err = run_cli("index", "ann", uri, "--type", "HNSW")
    assert code == 2 and "'HNSW' is not one of IVF_FLAT" in err and "Traceback" not in err
    code, _, err = run_cli("index", "ann", uri, "--sub-vectors", "4")
    assert code == 2 and "num_sub_vectors applies to *_PQ" in err
