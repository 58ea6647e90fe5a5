"""GeoIndex rows with extra columns (DEM views' ``yaw_deg``); indexes without them stay readable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pytest
from tests.index.test_geoindex import DIM, _rows, _unit

from crossview.errors import CrossviewError
from crossview.index.build import index_tiles, merge_shards
from crossview.index.geoindex import META_KEY, TABLE, GeoIndex, IndexInfo, _schema
from crossview.index.tiles import TileLocation


def test_extra_columns_round_trip_and_are_required(tmp_path) -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 20)
    index = GeoIndex.create(str(tmp_path / "v"), "crosslocate", "b" * 64, DIM,
                            extra_columns=("yaw_deg",), source={"kind": "dem_views", "dem": "d"})
    rows = _rows(20)
    with pytest.raises(CrossviewError, match="lack columns \\['yaw_deg'\\]"):
        index.add(rows, vecs)
    yaws = [30.0 * (i % 12) for i in range(20)]
    index.add({**rows, "yaw_deg": yaws}, vecs)
    reopened = GeoIndex.open(str(tmp_path / "v"))
    assert reopened.info.extra_columns == ("yaw_deg",)
    assert reopened.info.source == {"kind": "dem_views", "dem": "d"}
    (hits,) = reopened.search(vecs[7], k=3)
    assert hits[0].tile_id == "t00007" and hits[0].extras == {"yaw_deg": yaws[7]}
    assert hits[0].to_dict()["yaw_deg"] == yaws[7]
    with pytest.raises(CrossviewError, match="holds other rows"):
        GeoIndex.create(str(tmp_path / "v"), "crosslocate", "b" * 64, DIM, exist_ok=True)


def test_an_index_written_before_extra_columns_is_readable(tmp_path) -> None:
    # The header and schema of an index written before ``extra_columns`` / ``source`` existed.
    import lancedb

    info = IndexInfo("safa", "a" * 64, DIM)
    old = {k: v for k, v in dataclasses.asdict(info).items()
           if k not in ("extra_columns", "source")}
    schema = _schema(info).with_metadata({META_KEY: json.dumps(old).encode()})
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 10)
    data = {**_rows(10), "method": ["safa"] * 10, "checkpoint_sha256": ["a" * 64] * 10,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), DIM)}
    lancedb.connect(str(tmp_path / "old")).create_table(TABLE, pa.table(data, schema=schema))
    index = GeoIndex.open(str(tmp_path / "old"))
    assert index.info.extra_columns == () and index.info.source == {}
    (hits,) = index.search(vecs[3], k=1)
    assert hits[0].tile_id == "t00003" and hits[0].extras == {}
    assert "yaw_deg" not in hits[0].to_dict()


@dataclasses.dataclass(frozen=True)
class _View(TileLocation):
    yaw_deg: float


class _Encoder:
    """A stand-in method: an image of value ``v`` embeds as the unit vector at angle ``400 v``."""

    name = "stub"
    descriptor_dim = DIM
    input_spec = None

    def to(self, device):  # noqa: ANN001, ANN201
        return self

    def eval(self):  # noqa: ANN201
        return self

    def encode_aerial(self, images):  # noqa: ANN001, ANN201
        import torch

        angle = torch.deg2rad(images.mean(dim=(1, 2, 3)) * 400.0)
        return torch.nn.functional.pad(torch.stack([angle.cos(), angle.sin()], 1), (0, DIM - 2))


def test_shards_with_a_custom_loader_merge_with_their_extra_columns(tmp_path) -> None:
    import torch

    rows = _rows(9)
    views = [_View(**{k: rows[k][i] for k in rows}, yaw_deg=40.0 * i) for i in range(9)]

    def load(batch):  # noqa: ANN001, ANN202  (views rendered on the fly: a colour per view)
        return torch.stack([torch.full((3, 4, 4), v.yaw_deg / 400.0) for v in batch])

    out = str(tmp_path / "sharded")
    for rank in range(2):
        index_tiles(views, out, _Encoder(), "stub", "c" * 64, batch_size=2, rank=rank,
                    world_size=2, device=torch.device("cpu"), load=load,
                    extra_columns=("yaw_deg",), source={"kind": "test"})
    merged = merge_shards(out, 2)
    assert len(merged) == 9 and merged.info.extra_columns == ("yaw_deg",)
    query = _Encoder().encode_aerial(load([views[5]])).numpy()
    (hits,) = merged.search(query, k=1)
    assert hits[0].tile_id == views[5].tile_id and hits[0].extras["yaw_deg"] == 200.0
