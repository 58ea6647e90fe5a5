"""Torch datasets: decoding, resizing per InputSpec, band crops, FOV crops, determinism, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crossview.data.augment import AugmentConfig
from crossview.data.datasets import GroundDataset, PairDataset, ReferenceDataset
from crossview.data.inputs import InputSpec
from crossview.data.layouts import load_layout
from crossview.errors import ConfigError, InputFileError
from tests.data.fixtures import make_cvact_fixture, make_cvusa_fixture, make_folder_fixture


def test_pair_dataset_sample_contract(tmp_path: Path) -> None:
    make_cvact_fixture(tmp_path, n_train=2, n_val=1, n_test_extra=1)
    table = load_layout("cvact", tmp_path)
    ds = PairDataset(table, InputSpec(ground_hw=(8, 32), aerial_size=16))
    s = ds[1]
    assert s["ground"].shape == (3, 8, 32) and s["ground"].dtype == torch.float32
    assert (
        s["aerial"].shape == (3, 16, 16)
        and 0.0 <= float(s["aerial"].min()) <= float(s["aerial"].max()) <= 1.0
    )
    assert s["latlon"].dtype == torch.float64 and s["latlon"].tolist() == [
        table[1].lat,
        table[1].lon,
    ]
    assert s["utm"].tolist() == [table[1].utm_e, table[1].utm_n]
    assert (s["index"], s["id"], s["ref_index"], s["yaw_deg"]) == (1, table[1].id, 1, 0.0)
    assert (
        "fov_shift" not in s
        and len(ds) == 5
        and "samples=5 (train: 2, val: 1, test: 2)" in repr(ds)
    )
    ref = ReferenceDataset(table, InputSpec((8, 32), 16))[3]
    assert ref["image"].shape == (3, 16, 16) and ref["id"] == table.references[3].id


def test_cvact_band_keeps_middle_half_rows(tmp_path: Path) -> None:
    make_cvact_fixture(tmp_path, n_train=1, n_val=1, n_test_extra=0)
    table = load_layout("cvact", tmp_path)
    pano = np.zeros((64, 64, 3), np.uint8)
    pano[:16, :, 0] = 255  # top quarter red (above +45 deg)
    pano[16:48, :, 1] = 255  # middle half green
    pano[48:, :, 2] = 255  # bottom quarter blue
    Image.fromarray(pano).save(table[0].ground, format="PNG")  # content matters, not the suffix
    band = PairDataset(table, InputSpec((8, 16), 8, ground_vfov_deg=90.0))[0]["ground"]
    assert (
        torch.allclose(band[1], torch.ones(8, 16)) and float(band[0].max() + band[2].max()) == 0.0
    )
    full = PairDataset(table, InputSpec((8, 16), 8, ground_vfov_deg=180.0))[0]["ground"]
    assert torch.allclose(full[0, :2], torch.ones(2, 16)) and torch.allclose(
        full[2, -2:], torch.ones(2, 16)
    )


def test_downsizing_uses_area_interpolation(tmp_path: Path) -> None:
    make_folder_fixture(tmp_path, n=1, with_aerial=True)
    table = load_layout("folder", tmp_path)
    stripes = np.zeros((32, 128, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: area averaging gives 0.5, point sampling 0 or 1
    Image.fromarray(stripes).save(table[0].ground, format="PNG")
    ground = GroundDataset(table, InputSpec((16, 64), 8))[0]["image"]
    assert torch.allclose(ground, torch.full_like(ground, 0.5), atol=1 / 255)


def test_augmentation_is_deterministic_per_seed_epoch_index(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=2, n_val=1)
    table = load_layout("cvusa", tmp_path)
    aug = AugmentConfig(
        rot90_prob=1.0, flip_prob=0.5, ground_jitter=0.3, aerial_jitter=0.3, fov_deg=90
    )
    ds = PairDataset(table, InputSpec((8, 32), 16), augment=aug, seed=3)
    a, b = ds[0], ds[0]
    assert torch.equal(a["ground"], b["ground"]) and a["fov_shift"] == b["fov_shift"]
    # The 90-degree crop (8 of 32 columns) is padded back to the full width, centred.
    assert a["ground"].shape == (3, 8, 32) and a["rot90_k"] in (1, 2, 3)
    pad = torch.tensor(InputSpec((8, 32), 16).pad_rgb).view(3, 1, 1).expand(3, 8, 12)
    assert torch.equal(a["ground"][..., :12], pad) and torch.equal(a["ground"][..., 20:], pad)
    draws = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        s = ds[0]
        draws.add((s["rot90_k"], s["flipped"], s["fov_shift"]))
    assert len(draws) > 1


def test_ground_dataset_fov_crop_matches_roll(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=2, n_val=1)
    table = load_layout("cvusa", tmp_path)
    spec = InputSpec((8, 32), 16, mean=(0.25, 0.5, 0.75))
    full = GroundDataset(table, spec)[2]["image"]
    fixed = GroundDataset(table, spec, fov_deg=90, shift=5)[2]
    # Columns (j - 5) mod 32 for the first 8, placed at columns 12-19 of a padded panorama.
    assert fixed["fov_shift"] == 5 and fixed["image"].shape == (3, 8, 32)
    assert torch.equal(fixed["image"][..., 12:20], torch.roll(full, 5, dims=-1)[..., :8])
    pad = torch.tensor(spec.pad_rgb).view(3, 1, 1)
    assert torch.equal(fixed["image"][..., :12], pad.expand(3, 8, 12))
    assert torch.equal(fixed["image"][..., 20:], pad.expand(3, 8, 12))
    rand = GroundDataset(table, spec, fov_deg=180, seed=1)
    shifts = [rand[i]["fov_shift"] for i in range(3)]
    assert shifts == [rand[i]["fov_shift"] for i in range(3)]  # reproducible evaluation shifts
    assert torch.equal(rand[2]["image"][..., 8:24], torch.roll(full, shifts[2], dims=-1)[..., :16])
    with pytest.raises(ConfigError, match="fov_deg"):
        GroundDataset(table, spec, fov_deg=0)


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=1, n_val=1)
    table = load_layout("cvusa", tmp_path)
    table[0].ground.write_bytes(b"not a jpeg")
    with pytest.raises(InputFileError, match=f"{table[0].ground}: cannot decode image"):
        PairDataset(table, InputSpec((8, 32), 16))[0]
    make_folder_fixture(tmp_path / "q", n=2)
    with pytest.raises(ConfigError, match="query-only"):
        PairDataset(load_layout("folder", tmp_path / "q"), InputSpec((8, 32), 16))
    with pytest.raises(ConfigError, match="rot90_prob"):
        AugmentConfig(rot90_prob=1.5)
    assert AugmentConfig.from_dict({"fov_shift": "7"}).fov_shift == 7
    assert AugmentConfig.from_dict({"fov_shift": "random"}).fov_shift == "random"


def test_dataloader_with_gps_batch_sampler(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from crossview.data.samplers import GPSNeighbourSampler
    from tests.data.fixtures import make_vigor_fixture

    make_vigor_fixture(tmp_path, panos_per_city=4, tiles_per_city=4)
    table = load_layout("vigor", tmp_path).select("train")
    sampler = GPSNeighbourSampler.from_table(table, batch_size=4, neighbours=3, keys=table.truth())
    assert sampler.n == 8  # four cities in three UTM zones -> lat/lon neighbours
    loader = DataLoader(PairDataset(table, InputSpec((8, 16), 8)), batch_sampler=sampler)
    batches = list(loader)
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(8))
    assert all(len(set(b["ref_index"].tolist())) == len(b["index"]) for b in batches)
    assert (
        batches[0]["ground"].shape[1:] == (3, 8, 16) and batches[0]["latlon"].dtype == torch.float64
    )


@pytest.mark.parametrize("cached", [False, True])
def test_read_batch_equals_default_collate_of_samples(tmp_path: Path, cached: bool) -> None:
    from torch.utils.data import default_collate

    make_cvact_fixture(tmp_path, n_train=3, n_val=2)  # CVACT: the band crop is part of the path
    table = load_layout("cvact", tmp_path)
    spec = InputSpec((8, 32), 16)
    for dataset in (GroundDataset(table, spec), ReferenceDataset(table, spec),
                    GroundDataset(table, spec, fov_deg=90, seed=3)):
        if cached:
            dataset.cache_images()
        indices = [4, 0, 2]
        batch = dataset.read_batch(indices)
        expected = default_collate([dataset[i] for i in indices])
        assert sorted(batch) == sorted(expected)
        assert batch["image"].dtype == torch.float32 and batch["image"].is_contiguous()
        assert torch.equal(batch["image"], expected["image"])  # bit for bit
        assert torch.equal(batch["index"], expected["index"]) and batch["id"] == expected["id"]


def test_pixels_to_batch_converts_like_image_to_tensor_and_rejects_other_arrays() -> None:
    from crossview.data.inputs import pixels_to_batch
    from crossview.io import image_to_tensor

    rng = np.random.default_rng(0)
    hwc = [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(3)]
    chw = [np.ascontiguousarray(p.transpose(2, 0, 1)) for p in hwc]
    batch = pixels_to_batch(chw)
    assert batch.shape == (3, 3, 5, 7) and batch.dtype == torch.float32 and batch.is_contiguous()
    assert torch.equal(batch, torch.stack([image_to_tensor(p) for p in hwc]))
    assert float(batch[1, 2, 4, 6]) == np.float32(hwc[1][4, 6, 2]) / np.float32(255.0)
    assert np.array_equal(chw[0], hwc[0].transpose(2, 0, 1)), "the inputs are left as they were"
    with pytest.raises(ConfigError, match="uint8 3 x H x W"):
        pixels_to_batch([np.zeros((5, 7), np.uint8)])
    with pytest.raises(ConfigError, match="uint8 3 x H x W"):
        pixels_to_batch([hwc[0]])  # H x W x 3: PIL's layout, not the tensors'
    with pytest.raises(ConfigError, match="uint8 3 x H x W"):
        pixels_to_batch([np.zeros((3, 5, 7), np.float32)])
