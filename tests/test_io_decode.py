"""The one decoder (crossview.io.read_image / decode_image): EXIF, bit depths, bombs, uploads."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from crossview.errors import InputFileError
from crossview.io import ImageTooLargeError, decode_image, image_header, read_image


def _grad(h: int = 24, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 6, y * 10, (x + y) * 3], axis=2).astype(np.uint8)


def _save(img: Image.Image, path, fmt: str, **kw) -> None:
    img.save(path, format=fmt, **kw)


@pytest.mark.parametrize(("orientation", "transpose"), [
    (3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90),
    (8, Image.Transpose.ROTATE_270), (2, Image.Transpose.FLIP_LEFT_RIGHT)])
def test_exif_orientation_is_applied(tmp_path, orientation, transpose):
    upright = Image.fromarray(_grad())
    # A camera stores the pixels as the sensor saw them and says how to show them (6: "turn
    # 90 degrees clockwise"): a portrait stored as PIL's counter-clockwise ROTATE_90 of it.
    stored = upright.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    _save(stored, tmp_path / "p.png", "PNG", exif=exif.tobytes())
    out = read_image(tmp_path / "p.png")
    assert out.size == upright.size
    assert np.array_equal(np.asarray(out), np.asarray(upright))


def test_exif_orientation_with_draft_keeps_min_size(tmp_path):
    upright = Image.fromarray(np.repeat(np.repeat(_grad(), 8, 0), 8, 1))  # 192 x 320
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(upright.transpose(Image.Transpose.ROTATE_270), tmp_path / "p.jpg", "JPEG",
          exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "p.jpg", min_size=(80, 48))
    assert out.width >= 80 and out.height >= 48 and out.width > out.height


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    grey = _grad()[..., 0]
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    out = np.asarray(read_image(tmp_path / "g16.png"))
    assert np.array_equal(out, np.repeat(grey[..., None], 3, axis=2))
    # A class-index map read as one channel keeps its values (no scaling).
    Image.fromarray(np.arange(12, dtype=np.uint16).reshape(3, 4)).save(tmp_path / "ids.png")
    assert np.asarray(read_image(tmp_path / "ids.png", mode="L")).max() == 11


def test_palette_and_rgba_convert(tmp_path):
    rgb = Image.fromarray(_grad())
    rgb.convert("RGBA").save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(read_image(tmp_path / "a.png")), _grad())
    rgb.convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").mode == "RGB"


def _bomb(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0,
                                                              0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))


def test_bombs_are_refused_from_the_header(tmp_path):
    (tmp_path / "b.png").write_bytes(_bomb(12_000))  # 144 Mpx: under PIL's error limit
    with pytest.raises(ImageTooLargeError, match="b.png: image is 12000x12000"):
        read_image(tmp_path / "b.png", max_pixels=10_000_000)
    with pytest.raises(ImageTooLargeError, match="upload.png: image .*too large|upload.png"):
        decode_image(_bomb(40_000), "upload.png")  # 1.6 Gpx: above PIL's own error limit
    assert image_header(_bomb(12_000)) == ("PNG", 12_000, 12_000)


def test_decode_image_matches_read_image(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_grad()).save(buf, format="JPEG")
    (tmp_path / "x.jpg").write_bytes(buf.getvalue())
    assert np.array_equal(np.asarray(decode_image(buf.getvalue(), "x.jpg")),
                          np.asarray(read_image(tmp_path / "x.jpg")))
    with pytest.raises(InputFileError, match="up.jpg: empty file"):
        decode_image(b"", "up.jpg")
    with pytest.raises(InputFileError, match="up.jpg: cannot decode"):
        decode_image(buf.getvalue()[:100], "up.jpg")


def test_float_images_are_refused(tmp_path):
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputFileError, match="32-bit float"):
        read_image(tmp_path / "f.tif")
