import numpy as np
import torch

from crossview.index.build import index_tiles, merge_shards, read_tile_source, shard_uri
from crossview.index.geoindex import GeoIndex
from crossview.index.tiles import TileRecord, write_tiles_csv
from crossview.io import load_image_tensor, save_image


def _tiles(tmp_path, n=10):
    rng = np.random.default_rng(3)
    records = []
    for i in range(n):
        save_image(
            rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), tmp_path / "t" / f"tiles/{i}.png"
        )
        records.append(
            TileRecord(f"k{i}", f"tiles/{i}.png", 40 + i * 1e-3, -105.0, 5e5 + i, 4.4e6, "13T", 0.5)
        )
    write_tiles_csv(records, tmp_path / "t" / "tiles.csv")
    return read_tile_source(str(tmp_path / "t"))


def test_shards_merge_into_one_table_without_duplicates(tmp_path, pool_method):
    tiles = _tiles(tmp_path)
    method = pool_method
    out = str(tmp_path / "idx")
    for rank in range(3):
        index_tiles(tiles, out, method, "pool", "c" * 64, batch_size=2, rank=rank, world_size=3)
    assert [len(GeoIndex.open(shard_uri(out, r))) for r in range(3)] == [4, 3, 3]
    merged = merge_shards(out, 3)
    assert len(merged) == 10 and merged.tile_ids() == {t.tile_id for t in tiles}
    assert not (tmp_path / "idx" / "_shards").exists()
    # Rows carry the right descriptors: each tile is its own nearest neighbour with score 1.
    desc = method.encode_aerial(torch.stack([load_image_tensor(t.path) for t in tiles])).numpy()
    hits = merged.search(desc, k=1)
    assert [h[0].tile_id for h in hits] == [t.tile_id for t in tiles]
    np.testing.assert_allclose([h[0].score for h in hits], 1.0, atol=1e-5)


def test_resume_skips_present_tiles(tmp_path, pool_method):
    tiles = _tiles(tmp_path)
    out = str(tmp_path / "idx")
    first = index_tiles(tiles, out, pool_method, "pool", "c" * 64, batch_size=3, max_batches=2)
    assert len(first) == 6
    again = index_tiles(tiles, out, pool_method, "pool", "c" * 64, batch_size=3)
    assert len(again) == 10 and again.tile_ids() == {t.tile_id for t in tiles}
    again = index_tiles(tiles, out, pool_method, "pool", "c" * 64, batch_size=3)
    assert len(again) == 10


def test_sharded_rerun_after_merge_embeds_nothing_again(tmp_path, pool_method):
    tiles = _tiles(tmp_path)
    out = str(tmp_path / "idx")
    for rank in range(2):
        index_tiles(
            tiles, out, pool_method, "pool", "c" * 64, batch_size=4, rank=rank, world_size=2
        )
    assert len(merge_shards(out, 2)) == 10
    # The same torchrun command again: every tile is already in the final table.
    for rank in range(2):
        shard = index_tiles(
            tiles, out, pool_method, "pool", "c" * 64, batch_size=4, rank=rank, world_size=2
        )
        assert len(shard) == 0
    merged = merge_shards(out, 2)
    assert len(merged) == 10 and merged.tile_ids() == {t.tile_id for t in tiles}
