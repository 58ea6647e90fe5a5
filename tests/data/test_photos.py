"""Photos: FOV and orientation from EXIF (JPEGs written with Pillow), the pinhole input path."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from crossview.data.inputs import (
    InputSpec,
    model_input,
    pinhole_panorama,
    unseen_mask,
)
from crossview.data.photos import read_photo_camera
from crossview.errors import ConfigError, InputFileError
from crossview.geometry.panorama import perspective_from_equirect, roll_panorama

SPEC = InputSpec(ground_hw=(32, 128), aerial_size=64, ground_vfov_deg=90.0)


def write_jpeg(path, size=(400, 300), orientation=None, f35=None, focal=None, plane_res=None,
               seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    if f35 is not None:
        sub[0xA405] = f35
    if focal is not None:
        sub[0x920A] = focal
    if plane_res is not None:  # (pixels per cm along x, along y)
        sub[0xA20E], sub[0xA20F], sub[0xA210] = plane_res[0], plane_res[1], 3
    img.save(path, exif=exif, quality=95)
    return arr


def test_fov_from_35mm_equivalent(tmp_path):
    path = tmp_path / "p.jpg"
    write_jpeg(path, (400, 300), f35=26)
    cam = read_photo_camera(path)
    # Diagonal of 36x24 mm is 43.27 mm; a 4:3 image's width is 4/5 of its diagonal.
    half_diag = math.atan(0.5 * math.sqrt(36**2 + 24**2) / 26)
    expected = 2 * math.degrees(math.atan(math.tan(half_diag) * 0.8))
    assert cam.fov_deg == pytest.approx(expected, abs=1e-6)
    assert 67.0 < cam.fov_deg < 68.0
    assert "FocalLengthIn35mmFilm=26" in cam.fov_source
    assert (cam.width, cam.height, cam.is_panorama) == (400, 300, False)


def test_fov_from_focal_length_and_sensor_and_orientation(tmp_path):
    path = tmp_path / "s.jpg"
    # 400 px at 100 px/cm = 4 cm = 40 mm wide sensor, 300 px at 100 px/cm = 30 mm high.
    write_jpeg(path, (400, 300), focal=20.0, plane_res=(100.0, 100.0))
    cam = read_photo_camera(path)
    assert cam.fov_deg == pytest.approx(2 * math.degrees(math.atan(20.0 / 20.0)), abs=1e-6)
    # Stored landscape, orientation 6 (turn 90 deg): the upright image is portrait and its
    # horizontal axis is the sensor's 30 mm side.
    rotated = tmp_path / "r.jpg"
    write_jpeg(rotated, (400, 300), orientation=6, focal=20.0, plane_res=(100.0, 100.0))
    cam = read_photo_camera(rotated)
    assert (cam.width, cam.height, cam.orientation) == (300, 400, 6)
    assert cam.fov_deg == pytest.approx(2 * math.degrees(math.atan(15.0 / 20.0)), abs=1e-6)


def test_no_exif_and_bad_files(tmp_path):
    path = tmp_path / "plain.jpg"
    write_jpeg(path)
    cam = read_photo_camera(path)
    assert cam.fov_deg is None and cam.fov_source is None
    with pytest.raises(InputFileError, match="missing.jpg: file not found"):
        read_photo_camera(tmp_path / "missing.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputFileError, match="bad.jpg: cannot decode"):
        read_photo_camera(bad)


def test_orientation_is_applied_before_mapping(tmp_path):
    upright = tmp_path / "up.jpg"
    yy, xx = np.mgrid[0:60, 0:90] / 60.0  # smooth and asymmetric: JPEG keeps it, turns show
    arr = (np.stack([xx, yy, np.sin(3 * xx) * yy], axis=-1).clip(0, 1) * 255).astype(np.uint8)
    Image.fromarray(arr).save(upright, quality=95)
    stored = tmp_path / "stored.jpg"
    # Orientation 6: the stored pixels are the picture turned a quarter counter-clockwise.
    Image.fromarray(np.rot90(arr, 1).copy()).save(stored, exif=_exif(6), quality=95)
    a = model_input(upright, SPEC, "ground", camera="pinhole", fov_deg=70.0)
    b = model_input(stored, SPEC, "ground", camera="pinhole", fov_deg=70.0)
    assert torch.allclose(a, b, atol=0.03)  # two JPEG encodings of the same picture
    wrong = model_input(Image.open(stored), SPEC, "ground", camera="pinhole", fov_deg=70.0)
    assert (wrong - a).abs().mean() > 3 * (b - a).abs().mean()


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def smooth_pano(seed=0, hw=(32, 128)):
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 16, generator=gen)
    wrapped = torch.cat([coarse, coarse[..., :1]], dim=-1)
    fine = torch.nn.functional.interpolate(wrapped, size=(hw[0], hw[1] + hw[1] // 16),
                                           mode="bilinear", align_corners=True)
    return fine[..., : hw[1]]


def test_pinhole_panorama_inverts_the_perspective_crop():
    pano = smooth_pano(1)
    photo = perspective_from_equirect(pano, 40.0, 5.0, 80.0, (60, 90), vfov_deg=90.0)[0]
    back = pinhole_panorama(photo, SPEC, 80.0, 5.0)
    seen = ~unseen_mask(back[None], SPEC.pad_rgb)[0, 0]
    # Centred on column W/2: the panorama a camera facing 40 deg sees, where the photo covers.
    truth = roll_panorama(pano, 40.0)[0]
    assert (back - truth).abs()[:, seen].mean() < 0.01
    # Horizon row: the covered columns span 80 degrees around the centre.
    cols = seen[16].nonzero().flatten()
    assert cols.min() >= 64 - 80 / 360 * 128 - 1 and cols.max() <= 64 + 80 / 360 * 128 + 1
    assert abs(len(cols) - 80 / 360 * 128) <= 2
    with pytest.raises(ConfigError, match="field of view"):
        pinhole_panorama(photo, SPEC, 200.0)


def test_unseen_mask_finds_the_pad_only():
    img = torch.rand(1, 3, 4, 8)
    img[..., :3] = torch.tensor(SPEC.pad_rgb).view(3, 1, 1)
    mask = unseen_mask(img, SPEC.pad_rgb)
    assert mask[..., :3].all() and not mask[..., 3:].any()
