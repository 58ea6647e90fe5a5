"""Data pieces of the paper recipes: augmentation presets, photometric ops, Sample4Geo sampling,
CVUSA coordinates, University-1652 task counts, the disk image cache."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from crossview.data import photometric as ph
from crossview.data.augment import AugmentConfig, augment_views
from crossview.data.augment_presets import AUGMENT_PRESETS, augment_preset
from crossview.data.datasets import PairDataset
from crossview.data.inputs import InputSpec
from crossview.data.layouts import load_layout
from crossview.data.pixel_cache import DiskPixelCache
from crossview.data.samplers import GPSNeighbourSampler, UniqueKeySampler
from crossview.errors import ConfigError
from crossview.training.batches import augment_config
from tests.data.fixtures import make_cvusa_fixture, make_university_fixture
from tests.data.recipe_fixtures import write_cvusa_locations


# --- augmentation ---------------------------------------------------------------------------
def test_every_preset_is_a_valid_config_and_names_resolve() -> None:
    for name in AUGMENT_PRESETS:
        augment_config(name)  # AugmentConfig.from_dict checks every field
    assert augment_config("none") is None and augment_config(False) is None
    assert augment_config(True) == AugmentConfig(rot90_prob=0.5, flip_prob=0.5)
    s4g = augment_config("sample4geo")
    assert (s4g.flip_prob, s4g.rot90_prob, s4g.jitter_prob, s4g.jitter_hue) == (0.5, 0.75, 0.5,
                                                                               0.15)
    assert (s4g.blur_sharpen_prob, s4g.dropout_prob) == (0.3, 0.3)
    assert (s4g.ground_grid_ratio, s4g.aerial_grid_ratio) == (0.5, 0.4)
    assert augment_config("cde") == AugmentConfig(flip_prob=0.5)
    assert augment_config({"preset": "sample4geo", "rot90_prob": 0.0}).rot90_prob == 0.0
    with pytest.raises(ConfigError, match="Did you mean 'sample4geo'"):
        augment_preset("sample4gep")


def test_grid_dropout_pattern() -> None:
    image = torch.ones(3, 40, 80)
    out = ph.grid_dropout(image, 0.5)
    # Cells of 4 x 8 px (a tenth of each side), holes of 2 x 4 px in each cell's corner.
    assert out[0, 0, 0] == 0 and out[0, 1, 3] == 0 and out[0, 2, 0] == 1 and out[0, 0, 4] == 1
    assert float((out == 0).float().mean()) == pytest.approx(0.25)


def test_coarse_dropout_holes() -> None:
    gen = torch.Generator().manual_seed(0)
    out = ph.coarse_dropout(torch.ones(3, 100, 100), gen, holes=(1, 1), size=(0.1, 0.1))
    zeros = (out[0] == 0).nonzero()
    assert len(zeros) == 100  # one 10 x 10 hole
    assert zeros[:, 0].max() - zeros[:, 0].min() == 9


def test_blur_and_sharpen_against_direct_convolution() -> None:
    image = torch.rand(3, 12, 16, dtype=torch.float64)
    blurred = ph.gaussian_blur(image, (0.7, 0.4), 5)
    x = torch.arange(-2, 3, dtype=torch.float64)
    kx = torch.exp(-0.5 * (x / 0.7) ** 2)
    ky = torch.exp(-0.5 * (x / 0.4) ** 2)
    kernel = torch.outer(ky / ky.sum(), kx / kx.sum())
    padded = torch.nn.functional.pad(image[None], (2, 2, 2, 2), mode="reflect")
    direct = torch.nn.functional.conv2d(padded, kernel.expand(3, 1, 5, 5), groups=3)[0]
    torch.testing.assert_close(blurred, direct)
    assert blurred.mean() == pytest.approx(float(image.mean()), abs=0.02)
    flat = torch.full((3, 8, 8), 0.5, dtype=torch.float64)
    # (1 - alpha) * identity + alpha * [[-1]*3, [-1, 8 + l, -1], [-1]*3] sums to
    # 1 - alpha + alpha * l: a constant image is scaled by it (albumentations' Sharpen does too).
    out = ph.sharpen(flat, 0.4, 0.5)
    torch.testing.assert_close(out, (0.5 * (1 - 0.4 + 0.4 * 0.5)) * torch.ones_like(flat))


def test_photometric_ops_are_per_view_and_leave_geometry_and_maps() -> None:
    config = augment_config({"preset": "sample4geo", "flip_prob": 0.0, "rot90_prob": 0.0,
                             "jitter_prob": 1.0, "blur_sharpen_prob": 1.0, "dropout_prob": 1.0})
    tile, pano = torch.rand(3, 32, 32), torch.rand(3, 16, 64)
    sky = (torch.rand(1, 16, 64) > 0.5).float()
    gen = torch.Generator().manual_seed(3)
    t2, p2, _, maps, applied = augment_views(tile, pano, config, gen, (), (sky,))
    assert applied == {"rot90_k": 0, "flipped": 0}
    assert not torch.equal(t2, tile) and not torch.equal(p2, pano)
    assert torch.equal(maps[0], sky)  # maps never get photometric changes
    assert t2.min() >= 0 and t2.max() <= 1 and p2.min() >= 0 and p2.max() <= 1


def test_aerial_only_rotation_keeps_the_panorama() -> None:
    config = augment_config("sample4geo_university")
    assert config.rot90_prob == 0 and config.aerial_rot90_prob == 1.0
    plain = AugmentConfig(aerial_rot90_prob=1.0)
    tile = torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(3, 8, 8)
    pano = torch.rand(3, 8, 8)
    ks = set()
    for seed in range(20):
        t2, p2, _, _, applied = augment_views(tile, pano, plain,
                                              torch.Generator().manual_seed(seed))
        k = applied["aerial_rot90_k"]
        ks.add(k)
        assert torch.equal(t2, torch.rot90(tile, k, dims=(-2, -1))) and torch.equal(p2, pano)
    assert ks == {0, 1, 2, 3}  # albumentations RandomRotate90: k uniform in 0..3


# --- samplers --------------------------------------------------------------------------------
def test_unique_key_sampler_never_repeats_a_key() -> None:
    keys = [i // 5 for i in range(60)]  # 12 buildings, 5 drone images each
    sampler = UniqueKeySampler(60, 8, seed=1, keys=keys)
    seen = []
    for batch in sampler:
        assert len({keys[i] for i in batch}) == len(batch)
        seen += batch
    assert sorted(seen) == list(range(60))


def test_sample_range_takes_nearest_half_and_random_far_half() -> None:
    # Points on a line: the neighbours of point 0 in order are 1, 2, 3, ...
    xy = np.stack([np.arange(300, dtype=float), np.zeros(300)], axis=1)
    sampler = GPSNeighbourSampler(xy, batch_size=9, neighbours=8, seed=0, sample_range=20)
    firsts = []
    for epoch in range(6):
        batches = sampler.batches(epoch)
        batch = next(b for b in batches if b[0] not in (0, 299) and b[0] > 25 and b[0] < 275)
        anchor = batch[0]
        dist = sorted(abs(i - anchor) for i in batch[1:])
        # 4 nearest (distances 1, 1, 2, 2), then 4 drawn from ranks 5-20 (distances 3..10).
        assert dist[:4] == [1, 1, 2, 2], dist
        assert all(3 <= d <= 10 for d in dist[4:]), dist
        firsts.append(tuple(sorted(batch[1:])))
    assert len(set(firsts)) > 1  # the far half is drawn anew
    with pytest.raises(ConfigError, match="sample_range 4 is smaller than neighbours 8"):
        GPSNeighbourSampler(xy, 9, 8, sample_range=4)


# --- CVUSA coordinates ------------------------------------------------------------------------
def test_cvusa_reads_split_locations(tmp_path: Path) -> None:
    root = make_cvusa_fixture(tmp_path / "c", n_train=6, n_val=3)
    rows = write_cvusa_locations(root, 9)
    table = load_layout("cvusa", root)
    for pair in table.pairs:
        i = int(pair.id)
        assert (pair.lat, pair.lon) == pytest.approx(rows[i][2:4])
        ref = table.references[pair.positive]
        assert (ref.lat, ref.lon) == pytest.approx(rows[i][:2])
    assert "coordinates_hint" not in table.extras
    GPSNeighbourSampler.from_table(table.select("train"), 4, 2)  # works with coordinates


def test_cvusa_without_locations_fails_the_gps_sampler_at_start(tmp_path: Path) -> None:
    from crossview.training.batches import make_batch_sampler
    from crossview.training.config import TrainConfig

    root = make_cvusa_fixture(tmp_path / "c", n_train=6, n_val=3)
    table = load_layout("cvusa", root).select("train")
    cfg = TrainConfig(batch_size=4, sampler="gps_then_similarity")
    with pytest.raises(ConfigError) as err:
        make_batch_sampler(cfg, table, len(table), similarity=False)
    message = str(err.value)
    assert "split_locations/all.csv" in message and str(root) in message and "\n" not in message


def test_cvusa_locations_malformed_row_is_a_layout_problem(tmp_path: Path) -> None:
    from crossview.data.layouts import LayoutError

    root = make_cvusa_fixture(tmp_path / "c", n_train=2, n_val=1)
    (root / "split_locations").mkdir()
    (root / "split_locations" / "all.csv").write_text("1,2,3,4\n1,x,3,4\n1,2,3,4\n")
    with pytest.raises(LayoutError, match=r"1 malformed: split_locations/all\.csv:2 \(expected "
                                          r"sat_lat,sat_lon,ground_lat,ground_lon\)"):
        load_layout("cvusa", root)


# --- University-1652 per-task counts ----------------------------------------------------------
def test_data_check_university_counts_per_task(tmp_path: Path) -> None:
    from crossview.cli import app

    root = make_university_fixture(tmp_path / "u", n_classes=3, n_distractors=2,
                                   drone_per_class=4)
    result = CliRunner().invoke(app, ["data", "check", f"university1652:{root}", "--json"])
    assert result.exit_code == 0, result.output
    import json

    tasks = json.loads(result.output)["details"]["tasks"]
    # drone2sat: 3 buildings x 4 drone queries; 3 + 2 distractor satellite images.
    assert tasks["drone2sat"] == {"queries": 12, "queries_buildings": 3, "gallery": 5,
                                  "gallery_buildings": 5}
    assert tasks["sat2drone"] == {"queries": 3, "queries_buildings": 3, "gallery": 20,
                                  "gallery_buildings": 5}
    assert tasks["street2sat"]["queries"] == 6
    table = CliRunner().invoke(app, ["data", "check", f"university1652:{root}"])
    assert "test sat2drone" in table.output


# --- disk image cache --------------------------------------------------------------------------
def _read_in_child(dataset: PairDataset, index: int, queue: mp.Queue) -> None:
    queue.put(dataset[index]["ground"].numpy())


def test_disk_cache_gives_the_input_path_pixels_and_is_shared(tmp_path: Path) -> None:
    root = make_cvusa_fixture(tmp_path / "c", n_train=4, n_val=2, tile_px=40, pano_hw=(20, 80))
    table = load_layout("cvusa", root)
    spec = InputSpec(ground_hw=(16, 64), aerial_size=32)
    plain = PairDataset(table, spec)
    cached = PairDataset(table, spec)
    cached.cache_images("disk", str(tmp_path / "cache"))
    cache = cached._pixels
    assert isinstance(cache, DiskPixelCache) and cache.filled("ground") == 0
    # A forked reader fills the file; this process then reads it without decoding.
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(cached, 2, queue))
    child.start()
    from_child = queue.get(timeout=60)
    child.join(60)
    assert cache.filled("ground") == 1
    assert np.array_equal(from_child, plain[2]["ground"].numpy())
    for i in range(len(table)):
        for key in ("ground", "aerial"):
            assert torch.equal(cached[i][key], plain[i][key])
    assert cache.filled("ground") == len(table) and cache.filled("tile") == len(table)
    # The same table and spec find the same cache; another spec gets its own.
    again = PairDataset(table, spec)
    again.cache_images("disk", str(tmp_path / "cache"))
    assert again._pixels.directory == cache.directory and again._pixels.filled("tile") == 6
    other = PairDataset(table, InputSpec(ground_hw=(16, 32), aerial_size=32))
    other.cache_images("disk", str(tmp_path / "cache"))
    assert other._pixels.directory != cache.directory
