"""``locate`` with photos (EXIF field of view), camera choice, and DSM matching methods."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from crossview.data.inputs import InputSpec, unseen_mask
from crossview.errors import ConfigError
from crossview.geometry.panorama import perspective_from_equirect, roll_panorama
from crossview.index.geoindex import GeoIndex
from crossview.index.locate import locate, resolve_camera
from crossview.io import load_image_tensor, save_image, tensor_to_uint8
from crossview.methods.matching import GroundMap, feature_validity, flatten_normalized

SHA = "c" * 64


def exif_jpeg(path, pixels, f35=None):
    exif = Image.Exif()
    if f35 is not None:
        exif.get_ifd(0x8769)[0xA405] = f35
    Image.fromarray(pixels).save(path, exif=exif, quality=98)
    return path


def photo_of(pano_path, yaw, fov, hw=(40, 60)):
    pano = load_image_tensor(pano_path)[None]
    view = perspective_from_equirect(pano, yaw, 0.0, fov, hw, vfov_deg=90.0)[0]
    return tensor_to_uint8(view.clamp(0, 1))


def test_photo_fov_from_exif_and_its_report(pano_index, tmp_path):
    index, method, paths = pano_index
    hfov = 2 * math.degrees(math.atan(math.tan(math.atan(21.6333 / 24)) * 60 / math.hypot(60, 40)))
    photo = exif_jpeg(tmp_path / "photo.jpg", photo_of(paths[7], 120.0, hfov), f35=24)
    [res] = locate([photo], index, method, SHA, top_k=5)
    assert res.camera == "pinhole" and res.fov_deg == pytest.approx(hfov, abs=0.01)
    assert "FocalLengthIn35mmFilm=24" in res.fov_source
    doc = res.to_dict()
    assert doc["camera"] == "pinhole" and doc["fov_source"] == res.fov_source
    assert "p07" in [c.tile_id for c in res.candidates]


def test_camera_choice_and_missing_exif(pano_index, tmp_path):
    _, _, paths = pano_index
    plain = exif_jpeg(tmp_path / "plain.jpg", photo_of(paths[3], 0.0, 70.0))
    with pytest.raises(ConfigError, match="plain.jpg: no EXIF focal length.*--fov DEG"):
        resolve_camera(plain)
    assert resolve_camera(plain, fov_deg=70).camera == "pinhole"
    assert resolve_camera(paths[3]) == resolve_camera(paths[3], "panorama")  # 64x16: W >= 2H
    assert resolve_camera(paths[3]).fov_deg == 360.0
    assert resolve_camera(plain, "panorama", 90.0).source == "argument"
    with pytest.raises(ConfigError, match="less than 180"):
        resolve_camera(plain, "pinhole", 200.0)


class MatchPool(torch.nn.Module):
    """A non-learned matching method: 3x2x16 average-pooled maps of panoramas.

    Its 16 px 'tiles' are the panoramas area-resized to 16x16, so a tile's 2x16 pooled map is the
    panorama's: the correlation of a query with its own tile is 1 at its heading.
    """

    name = "matchpool"
    can_match = True
    match_shape = (3, 2, 16)

    @property
    def input_spec(self):
        return InputSpec(ground_hw=(16, 64), aerial_size=16)

    @property
    def descriptor_dim(self):
        return 96

    def _centred(self, x):
        return x - torch.tensor(self.input_spec.pad_rgb).view(1, 3, 1, 1)

    def ground_features(self, ground):
        valid = feature_validity(unseen_mask(ground, self.input_spec.pad_rgb), (2, 16))
        return GroundMap(F.adaptive_avg_pool2d(self._centred(ground), (2, 16)) * valid, valid)

    def aerial_features(self, aerial):
        return F.adaptive_avg_pool2d(self._centred(aerial), (2, 16))

    def encode_ground(self, ground):
        features, valid = self.ground_features(ground)
        return flatten_normalized(features * valid)

    def encode_aerial(self, aerial):
        return flatten_normalized(self.aerial_features(aerial))


@pytest.fixture
def match_index(tmp_path):
    rng = np.random.default_rng(3)
    method = MatchPool()
    panos, tiles = [], []
    for i in range(30):
        coarse = torch.from_numpy(rng.uniform(0, 1, (1, 3, 4, 16)).astype(np.float32))
        wrapped = torch.cat([coarse, coarse[..., :1]], dim=-1)
        pano = F.interpolate(wrapped, size=(16, 68), mode="bilinear", align_corners=True)
        pano = pano[0, ..., :64]
        panos.append(save_image(pano, tmp_path / f"q{i:02d}.png"))
        tile = F.interpolate(pano[None], size=(16, 16), mode="area")[0]
        tiles.append(save_image(tile, tmp_path / "tiles" / f"t{i:02d}.png"))
    vectors = method.encode_aerial(torch.stack([load_image_tensor(t) for t in tiles])).numpy()
    index = GeoIndex.create(str(tmp_path / "idx"), "matchpool", SHA, 96)
    n = len(tiles)
    index.add({"tile_id": [t.stem for t in tiles], "path": [str(t) for t in tiles],
               "lat": list(40 + 0.001 * np.arange(n)), "lon": [-105.0] * n,
               "utm_e": [5e5] * n, "utm_n": list(4.4e6 + 100.0 * np.arange(n)),
               "utm_zone": ["13N"] * n, "ground_resolution_m": [1.0] * n}, vectors)
    return index, method, panos


@pytest.mark.parametrize("fov", [360.0, 90.0])
def test_matching_search_finds_place_and_heading(match_index, tmp_path, fov):
    index, method, panos = match_index
    turned = roll_panorama(load_image_tensor(panos[11])[None], 67.5)[0]
    cols = round(fov / 360 * 64)
    query = save_image(turned[..., 32 - cols // 2:32 + cols // 2], tmp_path / "view.png")
    [res] = locate([query], index, method, SHA, top_k=3, fov_deg=fov, camera="panorama")
    assert res.candidates[0].tile_id == "t11"
    assert res.candidates[0].score == pytest.approx(1.0, abs=0.02)
    assert abs(res.candidate_headings[0] - 67.5) < 6.0
    # Without re-ranking from the tile images, the index's scores alone still find it.
    [fast] = locate([query], index, method, SHA, top_k=3, fov_deg=fov, camera="panorama",
                    rerank=0)
    assert fast.candidates[0].tile_id == "t11"
    with pytest.raises(ConfigError, match="search rolls.*matches feature maps"):
        locate([query], index, method, SHA, fov_deg=fov, camera="panorama", search="rolls")


class GlobalPool(MatchPool):
    """The same pooled maps used as global descriptors (no matching): the heading is searched."""

    can_match = False


@pytest.mark.parametrize("search", ["rolls", "coarse_fine"])
def test_global_search_with_tile_rerank(match_index, tmp_path, search):
    index, _, panos = match_index
    method = GlobalPool()
    query = save_image(roll_panorama(load_image_tensor(panos[5])[None], 90.0)[0],
                       tmp_path / "q.png")
    [res] = locate([query], index, method, SHA, top_k=3, search=search, num_headings=16,
                   rerank=5)
    assert res.candidates[0].tile_id == "t05"
    assert res.candidate_headings[0] == pytest.approx(90.0, abs=0.5)
    assert res.candidates[0].score == pytest.approx(1.0, abs=0.01)
    [north] = locate([query], index, method, SHA, top_k=30, search="north")
    assert {c.tile_id: c.score for c in north.candidates}["t05"] < 0.9
    with pytest.raises(ConfigError, match="search match"):
        locate([query], index, method, SHA, search="match")


def test_locate_cli_photo_without_fov(tmp_path, run_cli):
    """``crossview locate photo.jpg`` with EXIF: no --fov needed; it says which FOV it used."""
    import json

    from crossview.index.build import index_tiles
    from crossview.index.tiles import TileRecord
    from crossview.methods.registry import create_method
    from crossview.training.checkpoint import save_checkpoint

    method = create_method("safa", "tiny_photo")
    run = tmp_path / "run" / "checkpoints" / "last.pt"
    sha = save_checkpoint(run, method)
    rng = np.random.default_rng(0)
    tiles = []
    for i in range(6):
        path = tmp_path / "tiles" / f"t{i}.png"
        save_image(torch.from_numpy(rng.uniform(0, 1, (3, 64, 64)).astype(np.float32)), path)
        tiles.append(TileRecord(f"t{i}", str(path), 40.0 + 0.001 * i, -105.0, 5e5, 4.4e6 + i,
                                "13N", 1.0))
    index_tiles(tiles, str(tmp_path / "idx"), method, "safa", sha, checkpoint_path=str(run))
    pixels = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    photo = exif_jpeg(tmp_path / "photo.jpg", pixels, f35=26)
    plain = exif_jpeg(tmp_path / "plain.jpg", pixels)

    out = tmp_path / "out.json"
    code, _, err = run_cli("locate", photo, "--index", tmp_path / "idx", "--top", 3, "--json", out)
    assert code == 0, err
    [doc] = json.loads(out.read_text())
    assert doc["camera"] == "pinhole" and doc["fov_deg"] == pytest.approx(67.30, abs=0.01)
    assert "FocalLengthIn35mmFilm=26" in doc["fov_source"] and len(doc["candidates"]) == 3
    assert "photo.jpg: pinhole, FOV 67.3 deg (exif FocalLengthIn35mmFilm=26)" in err
    code, _, err = run_cli("locate", plain, "--index", tmp_path / "idx")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert "plain.jpg: no EXIF focal length" in err and "--fov" in err
