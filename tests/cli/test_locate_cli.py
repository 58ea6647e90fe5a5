"""End-to-end CLI: tiles make -> index build (resumable) -> index info/ann -> locate, and errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from crossview.index.build import index_tiles, read_tile_source
from crossview.index.geoindex import GeoIndex
from crossview.methods.registry import create_method
from crossview.training.checkpoint import save_checkpoint

RGB = Path("/work/shared/data/dem/rmnp-rgb.tif")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    method = create_method("safa", "tiny")
    ckpt = root / "run" / "checkpoints" / "last.pt"
    sha = save_checkpoint(ckpt, method)
    return root, method, sha


def test_tiles_build_resume_locate(world, run_cli):
    root, method, sha = world
    code, out, err = run_cli(
        "tiles",
        "make",
        "--ortho",
        RGB,
        "--tile-size",
        64,
        "--stride",
        64,
        "--out",
        root / "tiles",
    )
    assert code == 0, err
    tiles = read_tile_source(str(root / "tiles"))
    assert len(tiles) == 36 and all(Path(t.path).is_absolute() for t in tiles)
    # Interrupted build: two batches of 8, then the CLI resumes without duplicates.
    partial = index_tiles(
        tiles,
        str(root / "idx"),
        method,
        "safa",
        sha,
        batch_size=8,
        max_batches=2,
        checkpoint_path=str(root / "run" / "checkpoints" / "last.pt"),
    )
    assert len(partial) == 16
    code, out, err = run_cli(
        "index",
        "build",
        "--run",
        root / "run",
        "--tiles",
        root / "tiles",
        "--out",
        root / "idx",
        "--batch-size",
        8,
    )
    assert code == 0, err
    index = GeoIndex.open(str(root / "idx"))
    assert len(index) == 36 and index.tile_ids() == {t.tile_id for t in tiles}
    code, out, _ = run_cli("index", "info", root / "idx")
    assert "method: safa" in out and "rows: 36" in out and sha in out and "ann: none" in out
    # A query: the panorama rendered from one tile by the method's own polar transform is not
    # needed for the schema checks; any ground image will do.
    query = root / "q.png"
    from crossview.io import save_image

    save_image(np.random.default_rng(0).integers(0, 255, (64, 256, 3), dtype=np.uint8), query)
    code, out, err = run_cli(
        "locate",
        query,
        "--index",
        root / "idx",
        "--top",
        3,
        "--json",
        root / "out.json",
        "--html",
        root / "out.html",
        "--near",
        f"{tiles[14].lat},{tiles[14].lon}",
        "--radius",
        300000,
    )
    assert code == 0, err
    doc = json.loads((root / "out.json").read_text())
    assert len(doc) == 1 and doc[0]["query"] == str(query) and len(doc[0]["candidates"]) == 3
    assert [c["rank"] for c in doc[0]["candidates"]] == [1, 2, 3]
    assert all(c["heading_deg"] is not None for c in doc[0]["candidates"])
    geo = json.loads((root / "out.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 3
    html = (root / "out.html").read_text()
    assert html.count("<img") == 1 + 3 + 1 and "data:image/png;base64," in html
    assert "#1" in out


def test_cli_errors_are_one_line(world, run_cli, tmp_path):
    root, method, sha = world
    empty = GeoIndex.create(
        str(tmp_path / "empty"),
        "safa",
        sha,
        method.descriptor_dim,
        checkpoint_path=str(root / "run" / "checkpoints" / "last.pt"),
    )
    assert len(empty) == 0
    corrupt = tmp_path / "bad.png"
    corrupt.write_bytes(b"garbage")
    other = GeoIndex.create(str(tmp_path / "other"), "clnet", "f" * 64, method.descriptor_dim)
    other.add(
        {
            c: [v]
            for c, v in zip(
                (
                    "tile_id",
                    "path",
                    "lat",
                    "lon",
                    "utm_e",
                    "utm_n",
                    "utm_zone",
                    "ground_resolution_m",
                ),
                ("a", str(corrupt), 40.0, -105.0, 5e5, 4.4e6, "13N", 1.0), strict=False,
            )
        },
        np.eye(1, method.descriptor_dim, dtype=np.float32),
    )
    cases = [
        (
            ["locate", tmp_path / "missing.png", "--index", root / "idx"],
            "missing.png: file not found",
        ),
        (["locate", corrupt, "--index", root / "idx"], "bad.png: cannot decode"),
        (["locate", corrupt, "--index", tmp_path / "empty"], "is empty"),
        (["locate", corrupt, "--index", tmp_path / "nowhere"], "no crossview index"),
        (
            ["locate", corrupt, "--index", tmp_path / "other", "--run", root / "run"],
            "not comparable",
        ),
        (
            ["tiles", "make", "--ortho", tmp_path / "none.tif", "--out", tmp_path / "t"],
            "none.tif: file not found",
        ),
    ]
    for args, message in cases:
        code, out, err = run_cli(*args)
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, err)
