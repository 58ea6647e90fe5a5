"""Reduced-scale JPEG decoding (``read_image(min_size=...)``, ``fast_decode``) and file errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crossview.data.datasets import GroundDataset, PairDataset, ReferenceDataset
from crossview.data.inputs import InputSpec
from crossview.data.layouts import load_layout
from crossview.errors import ConfigError, InputFileError
from crossview.inference import _as_dataset
from crossview.io import read_image
from tests.data.fixtures import make_cvact_fixture, make_cvusa_fixture

# Measured on the textured image below (see crossview.io.read_image): after resizing to the
# target, draft decoding differs from full decode + BOX resize by ~3/255 on average, <= 35/255.
MEAN_TOL, MAX_TOL = 6.0, 48.0


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth waves + 8x8 colour blocks + noise: JPEG-unfriendly, like rendered panoramas."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    waves = np.stack([128 + 100 * np.sin(x / 9.0 + c) * np.cos(y / 7.0 - c) for c in range(3)], -1)
    blocks = rng.integers(0, 256, size=(-(-h // 8), -(-w // 8), 3)).repeat(8, 0).repeat(8, 1)
    blocks = blocks[:h, :w]
    noise = rng.normal(0, 12, size=(h, w, 3))
    return np.clip(0.6 * waves + 0.4 * blocks + noise, 0, 255).astype(np.uint8)


def _jpeg(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=95)
    return path


def _full_then_box(path: Path, width: int, height: int) -> np.ndarray:
    """The reference path, with PIL only: full decode, then area resize."""
    with Image.open(path) as img:
        full = img.convert("RGB")
    return np.asarray(full.resize((width, height), Image.Resampling.BOX), dtype=np.int16)


@pytest.mark.parametrize(
    ("min_size", "expected"),
    [
        ((128, 32), (128, 32)),  # 1/4 exactly
        ((64, 16), (64, 16)),  # 1/8
        ((100, 20), (128, 32)),  # 512 // 100 = 5, 128 // 20 = 6 -> 1/4 (128 x 32 >= 100 x 20)
        ((150, 20), (256, 64)),  # 512 // 150 = 3 -> 1/4 would be too narrow: 1/2
        ((300, 40), (512, 128)),  # under half the width: full decode
        ((512, 128), (512, 128)),
    ],
)
def test_draft_picks_the_smallest_scale_at_least_min_size(tmp_path, min_size, expected):
    path = _jpeg(tmp_path / "pano.jpg", _textured(128, 512))
    img = read_image(path, min_size=min_size)
    assert img.size == expected and img.mode == "RGB"
    assert img.width >= min_size[0] and img.height >= min_size[1]


def test_draft_of_odd_sizes_rounds_up(tmp_path):
    path = _jpeg(tmp_path / "odd.jpg", _textured(70, 250))
    img = read_image(path, min_size=(60, 16))  # 250 // 60 = 4, 70 // 16 = 4 -> 1/4, rounded up
    assert img.size == (math.ceil(250 / 4), math.ceil(70 / 4)) == (63, 18)


@pytest.mark.parametrize(("hw", "target_hw"), [((128, 512), (32, 128)), ((128, 512), (64, 256)),
                                               ((256, 256), (64, 64)), ((256, 256), (32, 32))])
def test_draft_stays_within_tolerance_of_full_decode(tmp_path, hw, target_hw):
    path = _jpeg(tmp_path / "img.jpg", _textured(*hw))
    th, tw = target_hw
    draft = read_image(path, min_size=(tw, th))
    assert draft.size == (tw, th)  # power-of-two ratios: the draft is the target, no resize left
    diff = np.abs(np.asarray(draft, dtype=np.int16) - _full_then_box(path, tw, th))
    assert diff.mean() <= MEAN_TOL and diff.max() <= MAX_TOL
    assert diff.max() > 0  # it is a different decode, not the full one


def test_png_ignores_min_size(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(_textured(64, 256)).save(path)
    assert np.array_equal(np.asarray(read_image(path, min_size=(32, 8))), _textured(64, 256))


def test_datasets_fast_decode_defaults_and_values(tmp_path):
    root = make_cvusa_fixture(tmp_path / "cvusa", n_train=2, n_val=1, tile_px=128,
                              pano_hw=(64, 256))
    table = load_layout("cvusa", root)
    for pair in table.pairs:  # textured content instead of the fixture's smooth noise
        _jpeg(pair.ground, _textured(64, 256, seed=len(pair.id)))
    spec = InputSpec(ground_hw=(16, 64), aerial_size=32)
    fast, exact = GroundDataset(table, spec, fast_decode=True), GroundDataset(table, spec)
    train = PairDataset(table, spec)
    assert not exact.fast_decode and not ReferenceDataset(table, spec).fast_decode
    assert not train.fast_decode and not train.without_augmentation().fast_decode
    for i in range(len(table)):
        want = _full_then_box(table[i].ground, 64, 16)
        # Training and the default (fast_decode=False): exactly the full decode + BOX resize.
        assert torch.equal(train[i]["ground"], torch.from_numpy(want).permute(2, 0, 1) / 255.0)
        assert torch.equal(exact[i]["image"], train[i]["ground"])
        got = (fast[i]["image"] * 255).round().permute(1, 2, 0).numpy().astype(np.int16)
        diff = np.abs(got - want)
        assert got.shape == (16, 64, 3) and diff.mean() <= MEAN_TOL and diff.max() <= MAX_TOL
        assert diff.max() > 0
    tiles = ReferenceDataset(table, spec, fast_decode=True)
    for i, ref in enumerate(table.references):
        got = (tiles[i]["image"] * 255).round().permute(1, 2, 0).numpy().astype(np.int16)
        with Image.open(ref.path) as img:
            want = np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR),
                              dtype=np.int16)
        # Drafted to >= 2x (64 px, 1/2), then the bilinear filter: ~2/255 on these noisy tiles
        # (a draft straight to 32 px, without the bilinear filter, measured 11.5/255).
        diff = np.abs(got - want)
        assert got.shape == (32, 32, 3) and diff.mean() <= 4.0 and diff.max() <= MAX_TOL


def test_inference_tables_decode_as_in_training_unless_told(tmp_path):
    table = load_layout("cvusa", make_cvusa_fixture(tmp_path, n_train=1, n_val=1))

    class _Spec:  # only input_spec is read when wrapping a table
        input_spec = InputSpec(ground_hw=(8, 32), aerial_size=16)

    assert not _as_dataset(_Spec(), table, "ground").fast_decode  # type: ignore[arg-type]
    assert not _as_dataset(_Spec(), table, "aerial").fast_decode  # type: ignore[arg-type]
    assert _as_dataset(_Spec(), table, "aerial", fast_decode=True).fast_decode  # type: ignore[arg-type]


def test_fast_decode_keeps_the_band_crop_rows(tmp_path):
    """A 180-degree panorama cropped to 90: the draft must keep enough rows for the band."""
    make_cvact_fixture(tmp_path, n_train=1, n_val=1, n_test_extra=0)
    table = load_layout("cvact", tmp_path)
    pano = np.zeros((128, 512, 3), np.uint8)
    pano[:32, :, 0] = 255  # top quarter red (above +45 deg)
    pano[32:96, :, 1] = 255  # middle half green: the band
    pano[96:, :, 2] = 255  # bottom quarter blue
    _jpeg(table[0].ground, pano)
    spec = InputSpec((16, 64), 8, ground_vfov_deg=90.0)
    # min_size asks for 32 rows (16 x 180/90): a 1/4 draft (128 x 32) whose middle 16 rows are
    # exactly the 16 target rows; a draft that ignored the crop (1/8, 64 x 16) would keep 8.
    band = GroundDataset(table, spec, fast_decode=True)[0]["image"]
    exact = GroundDataset(table, spec)[0]["image"]
    assert band.shape == (3, 16, 64)
    assert float(band[1].min()) > 0.9 and float(band[0].max() + band[2].max()) < 0.2
    assert float((band - exact).abs().max()) <= MAX_TOL / 255


def test_bad_files_give_one_line_input_file_errors(tmp_path):
    good = _jpeg(tmp_path / "good.jpg", _textured(64, 256))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all" * 10)
    (tmp_path / "folder.jpg").mkdir()
    cases = {
        tmp_path / "missing.jpg": "file not found",
        tmp_path / "folder.jpg": "not a regular file",
        truncated: "cannot decode image",
        garbage: "cannot decode image",
    }
    for path, problem in cases.items():
        for min_size in (None, (64, 16)):
            with pytest.raises(InputFileError) as info:
                read_image(path, min_size=min_size)
            message = str(info.value)
            assert message.startswith(f"{path}: {problem}") and "\n" not in message
    for bad in ((0, 16), (64,)):
        with pytest.raises(ConfigError, match="good.jpg: min_size"):
            read_image(good, min_size=bad)  # type: ignore[arg-type]


def test_dataset_names_the_corrupt_file_with_fast_decode(tmp_path):
    table = load_layout("cvusa", make_cvusa_fixture(tmp_path, n_train=1, n_val=1))
    table[0].ground.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputFileError, match=r"streetview/panos/.*\.jpg: cannot decode image"):
        GroundDataset(table, InputSpec((8, 32), 16), fast_decode=True)[0]
