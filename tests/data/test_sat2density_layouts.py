"""Sat2Density's released arrangements of CVACT and CVUSA (its dataset/INSTALL.md): pairs, splits,
sky masks as ``Pair.extras["sky"]``, PNG and JPEG, ``data check`` counts, refusal without masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from crossview.cli import app
from crossview.data.datasets import PairDataset
from crossview.data.inputs import InputSpec, ground_map
from crossview.data.layouts import LayoutError, check_layout, load_layout
from crossview.data.layouts.cvact import read_mat
from crossview.errors import ConfigError
from crossview.methods import create_method
from tests.data.fixtures import make_cvusa_fixture, make_sat2density_cvact_fixture

SPEC = InputSpec(ground_hw=(32, 64), aerial_size=32, ground_vfov_deg=180.0, extras=("sky",))


def _mask(path: Path) -> np.ndarray:
    """The fixture's mask read independently: white (255) = sky."""
    return np.asarray(Image.open(path).convert("L")) == 255


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_cvact_sat2density_arrangement_pairs_and_sky(tmp_path: Path, suffix: str) -> None:
    root = make_sat2density_cvact_fixture(tmp_path / "CVACT", n_train=4, n_val=2,
                                          n_unreleased=3, suffix=suffix)
    table = load_layout("cvact", root)
    mat = read_mat(root / "ACT_data.mat")
    assert table.split_counts() == {"train": 4, "val": 2}
    assert table.extras["unreleased"] == 3 and table.extras["arrangement"] == "sat2density"
    ids = mat["panoIds"]
    assert [p.id for p in table.pairs] == [ids[i] for i in range(6)]  # .mat order, train first
    for pair in table.pairs:
        assert pair.ground == root / "streetview" / f"{pair.id}_grdView{suffix}"
        ref = table.references[pair.positive]
        assert ref.path == root / "satview_correct" / f"{pair.id}_satView_polish{suffix}"
        assert pair.extras["sky"] == root / "pano_sky_mask" / f"{pair.id}_grdView.png"
        assert pair.lat is not None and abs(pair.lat + 35.3) < 1.0  # Canberra (UTM 55S)
    sample = PairDataset(table, SPEC)[0]
    expected = _mask(table.pairs[0].extras["sky"])
    assert sample["sky"].shape == (1, 32, 64)
    np.testing.assert_array_equal(sample["sky"][0].numpy() == 1.0, expected)


def test_cvact_arrangement_option_and_half_pairs(tmp_path: Path) -> None:
    root = make_sat2density_cvact_fixture(tmp_path, n_train=3, n_val=1, n_unreleased=0)
    with pytest.raises(LayoutError, match="ANU_data_small"):
        load_layout("cvact", root, arrangement="official")
    table = load_layout("cvact", root, arrangement="sat2density")
    victim = table.pairs[1].id
    (root / "satview_correct" / f"{victim}_satView_polish.png").unlink()
    with pytest.raises(LayoutError, match=f"1 files missing: satview_correct/{victim}"):
        load_layout("cvact", root)


def test_cvact_without_any_released_image_is_an_error(tmp_path: Path) -> None:
    root = make_sat2density_cvact_fixture(tmp_path, n_train=1, n_val=1, n_unreleased=0)
    for folder in ("streetview", "satview_correct"):
        for f in (root / folder).iterdir():
            f.unlink()
    with pytest.raises(LayoutError, match="no image of the 2 train/val ids"):
        load_layout("cvact", root)


def test_data_check_reports_masks_and_unreleased_ids(tmp_path: Path) -> None:
    root = make_sat2density_cvact_fixture(tmp_path, n_train=3, n_val=2, n_unreleased=4)
    report = check_layout("cvact", root)
    assert report.ok and report.maps == {"sky": 5}
    assert any("4 ids" in n for n in report.notes)
    out = CliRunner().invoke(app, ["data", "check", f"cvact:{root}", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["maps"] == {"sky": 5} and data["splits"] == {"train": 3, "val": 2}
    text = CliRunner().invoke(app, ["data", "check", f"cvact:{root}"]).output
    assert "sky masks" in text and "5 of 5" in text and "no released images" in text


def test_cvusa_sky_mask_folder(tmp_path: Path) -> None:
    root = make_cvusa_fixture(tmp_path, n_train=3, n_val=2, pano_hw=(16, 64), sky_masks=True)
    table = load_layout("cvusa", root)
    assert all(p.extras["sky"] == root / "sky_mask" / f"{p.id}.png" for p in table.pairs)
    assert check_layout("cvusa", root).maps == {"sky": 5}
    spec = InputSpec(ground_hw=(16, 64), aerial_size=32, extras=("sky",))
    sky = PairDataset(table, spec)[2]["sky"][0].numpy() == 1.0
    np.testing.assert_array_equal(sky, _mask(table.pairs[2].extras["sky"]))
    # A mask missing for one pair while the others have theirs: named, not silently dropped.
    table.pairs[0].extras["sky"].unlink()
    with pytest.raises(ConfigError, match=f"pair {table.pairs[0].id} has no 'sky'"):
        PairDataset(load_layout("cvusa", root), spec)


def test_jpeg_masks_threshold_at_half_range(tmp_path: Path) -> None:
    arr = np.zeros((8, 16), np.uint8)
    arr[:3] = 250
    arr[3:, :4] = 9  # JPEG-like noise in the black part stays ground
    Image.fromarray(arr).save(tmp_path / "m.png")
    spec = InputSpec(ground_hw=(8, 16), aerial_size=8)
    sky = ground_map(tmp_path / "m.png", "sky", spec)[0].numpy()
    np.testing.assert_array_equal(sky, (arr > 127).astype(np.float32))
    Image.fromarray((arr > 127).astype(np.uint8)).save(tmp_path / "binary.png")  # 0/1 masks
    np.testing.assert_array_equal(ground_map(tmp_path / "binary.png", "sky", spec)[0].numpy(),
                                  (arr > 127).astype(np.float32))


@pytest.mark.parametrize("layout", ["cvact", "cvusa"])
def test_sat2density_refuses_data_without_masks_saying_where_they_go(tmp_path: Path,
                                                                      layout: str) -> None:
    if layout == "cvact":
        root = make_sat2density_cvact_fixture(tmp_path, n_train=2, n_val=1, sky_masks=False)
        where = "pano_sky_mask/<id>_grdView.png"
    else:
        root = make_cvusa_fixture(tmp_path, n_train=2, n_val=1)
        where = "sky_mask/<id>.png"
    method = create_method("sat2density", "tiny")
    with pytest.raises(ConfigError, match="no sky masks") as err:
        method.check_training_data(load_layout(layout, root))
    assert where in str(err.value) and "\n" not in str(err.value)
    create_method("sat2density", "tiny", opacity_loss=False,
                  illumination=False).check_training_data(load_layout(layout, root))
