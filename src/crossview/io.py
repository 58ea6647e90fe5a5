"""File input and output: atomic writes and image decoding with clear errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from crossview import _faults
from crossview.errors import (
    ENVIRONMENT_ERRNOS,
    ConfigError,
    CrossviewError,
    InputFileError,
    OutputFileError,
)

if TYPE_CHECKING:  # torch is imported where tensors are made: reading files does not need it
    import torch



@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Readers never see a half-written file, and a failure leaves what was there before.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
        )
    except OSError as err:
        if err.errno in ENVIRONMENT_ERRNOS:
            raise OutputFileError(path, f"cannot write ({err.strerror or err})") from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _faults.point(f"io.write{path.suffix}")
        os.replace(tmp_path, path)
    except OSError as err:
        if err.errno in ENVIRONMENT_ERRNOS and not isinstance(err, CrossviewError):
            raise OutputFileError(path, f"cannot write ({err.strerror or err})") from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to python, non-finite floats to ``None``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (NaN is refused: it is not valid JSON)."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


MAX_IMAGE_PIXELS = 178_956_970
"""Largest image (width x height) any command decodes: PIL's own decompression-bomb error limit.

Above it a file is refused from its header, before any pixel is decoded (a 40 kB PNG can
claim 50,000 x 50,000 pixels and take 7.5 GB once decoded). The largest images the datasets
hold (VIGOR's 2048 x 1024 panoramas, 1 % of it) are far below.
"""

_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class ImageTooLargeError(InputFileError):
    """An image whose header claims more pixels than the limit (a decompression bomb)."""


def read_text(path: str | Path, missing: str = "file not found") -> str:
    """A UTF-8 text file; a missing or non-UTF-8 file raises one :class:`InputFileError`.

    Args:
        path: The file.
        missing: The reason given for a missing file (e.g. what the folder should come from).

    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, missing)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(path, f"not UTF-8 text (byte {err.object[err.start]:#04x} at "
                                   f"offset {err.start})") from None


def read_image(
    path: str | Path,
    mode: str = "RGB",
    min_size: tuple[int, int] | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Open and fully decode an image, raising one clear error for missing or corrupt files.

    PIL decodes lazily, so a truncated file would otherwise fail later, far from its name.
    This is the one decoder of every command (and of ``crossview serve`` uploads, through
    :func:`decode_image`); what it does to pixels:

    - **EXIF orientation** is applied (a phone photo stored sideways with an orientation tag
      comes out upright, as every viewer shows it). Files without the tag, such as all the
      datasets' images, are unchanged.
    - **16-bit greyscale** (PNG/TIFF ``I;16``) is scaled to 8 bits (``round(v / 257)``); PIL's
      own conversion would clip every value above 255 to white. 16-bit RGB is read by PIL at
      8 bits per channel already. 32-bit float images are refused (their range is unknown).
    - **Palette, greyscale, RGBA, CMYK** images are converted to ``mode`` by PIL (alpha dropped).
    - Images above ``max_pixels`` pixels are refused from their header (decompression bombs).

    Args:
        path: The image file.
        mode: PIL mode of the result (``"RGB"``, ``"L"``, ...).
        min_size: ``(width, height)`` the caller is about to shrink the image to. A JPEG at least
            twice that size in both dimensions is then decoded at a reduced DCT scale (1/2, 1/4 or
            1/8; PIL's ``Image.draft``), the smallest that keeps it at least ``min_size``, so the
            caller's resize remains a downscale. Entropy decoding still reads every byte, so the
            decode itself gets only 25-40 % faster, but the resize then works on the small image
            (a 512x128 panorama to 128x32: 1.0 -> 0.5 ms per image, 2 CPU cores). The scaled IDCT is
            not a box filter: after resizing to ``min_size``, pixels differ from a full decode
            followed by a ``BOX`` resize by 0.7-1.5/255 on average (max 20-52/255, at sharp
            edges) on the synthetic worlds' panoramas, about 3-4/255 (max 35/255) on noise-like
            textures. Other formats, and smaller JPEGs, are decoded in full. ``None`` (default)
            always decodes in full. ``min_size`` is of the upright image (after EXIF rotation).
        max_pixels: Refuse larger images (default :data:`MAX_IMAGE_PIXELS`).

    Raises:
        InputFileError: the file is missing, not a regular file, too large or cannot be decoded.

    """
    path = Path(path)
    if min_size is not None and (len(min_size) != 2 or min(min_size) < 1):
        raise ConfigError(f"{path}: min_size must be (width, height) >= 1, got {min_size}")
    if not path.is_file():
        raise InputFileError(path, "file not found" if not path.exists() else "not a regular file")
    return _decode(path, path, mode, min_size, max_pixels)


def decode_image(
    data: bytes, name: str, mode: str = "RGB", max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """Decode an image held in memory (an upload) exactly as :func:`read_image` decodes files.

    Raises:
        InputFileError: naming ``name``: empty, too large or undecodable data.

    """
    if not data:
        raise InputFileError(name, "empty file")
    return _decode(io.BytesIO(data), name, mode, None, max_pixels)


def image_header(source: str | Path | bytes) -> tuple[str, int, int]:
    """``(format, width, height)`` from an image's header, without decoding its pixels.

    Raises:
        InputFileError: the data is not an image PIL recognises.

    """
    name = "image" if isinstance(source, bytes) else str(source)
    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with _quiet_bomb_warning(), Image.open(fp) as img:
            return str(img.format), int(img.width), int(img.height)
    except _BOMB_ERRORS as err:
        raise ImageTooLargeError(name, f"image too large ({_reason(err)})") from None
    except _DECODE_ERRORS as err:
        raise InputFileError(name, f"cannot decode image ({_reason(err)})") from None


_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
                  struct.error, IndexError, TypeError)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@contextlib.contextmanager
def _quiet_bomb_warning() -> Iterator[None]:
    # PIL warns (and only warns) on images between its limit and twice it; crossview checks
    # the pixel count itself against ``max_pixels`` (whose default is PIL's error limit).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def _decode(fp: Any, name: str | Path, mode: str, min_size: tuple[int, int] | None,
            max_pixels: int) -> Image.Image:
    try:
        with _quiet_bomb_warning(), Image.open(fp) as img:
            pixels = img.width * img.height
            if pixels > max_pixels:
                raise ImageTooLargeError(name, f"image is {img.width}x{img.height} = {pixels:,} "
                                           f"pixels, above the limit of {max_pixels:,} "
                                           "(a decompression bomb?)")
            if img.mode == "F":
                raise InputFileError(name, "32-bit float image; save it with 8 or 16 bits "
                                           "per channel")
            orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
            if min_size is not None:
                size = (int(min_size[0]), int(min_size[1]))
                if orientation in _TRANSPOSED:
                    size = size[::-1]
                # Only the size: a mode request here would also change JPEG colour conversion.
                img.draft(None, size)
            img.load()
            out = ImageOps.exif_transpose(img) if orientation != 1 else img
            return _convert(out, mode)
    except InputFileError:
        raise
    except _BOMB_ERRORS as err:
        raise ImageTooLargeError(name, f"image too large ({_reason(err)})") from None
    except _DECODE_ERRORS as err:
        raise InputFileError(name, f"cannot decode image ({_reason(err)})") from None


def _convert(img: Image.Image, mode: str) -> Image.Image:
    """``img.convert(mode)``; 16/32-bit greyscale to RGB is scaled to 8 bits, not clipped.

    Only for ``RGB`` (photos): a single-channel read (``mode="L"``) of a class-index map keeps
    its values.
    """
    if img.mode.startswith("I") and mode == "RGB":
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max(initial=0)
        if img.mode.startswith("I;16") or 255 < peak <= 65535:
            arr = arr / 257.0
        elif peak > 65535:
            arr = arr / 16843009.0  # full 32-bit range
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    return img.convert(mode)


def image_to_tensor(img: Image.Image | np.ndarray) -> torch.Tensor:
    """Convert an RGB image (PIL or HxWx3 uint8/float array) to a float32 (3, H, W) in [0, 1]."""
    import torch

    # A copy: PIL exposes a read-only buffer, which torch.from_numpy warns about.
    arr = np.array(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    tensor = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    return tensor.float()


def load_image_tensor(path: str | Path) -> torch.Tensor:
    """Read an image file as a float32 (3, H, W) tensor in [0, 1]."""
    return image_to_tensor(read_image(path))


def tensor_to_uint8(image: torch.Tensor) -> np.ndarray:
    """Convert a (3, H, W) or (H, W) float tensor in [0, 1] to an HxWx3 (or HxW) uint8 array."""
    import torch

    arr = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return arr.transpose(1, 2, 0) if arr.ndim == 3 else arr


def save_image(image: torch.Tensor | np.ndarray, path: str | Path, quality: int = 95) -> Path:
    """Save a (3, H, W) float tensor in [0, 1] (or an HxWx3 uint8 array) atomically.

    The format follows the suffix (``.png``, ``.jpg``/``.jpeg``); ``.npy`` stores float32 HxWx3.
    """
    import torch

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else image
        if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
            arr = arr.transpose(1, 2, 0)
        buf = io.BytesIO()
        np.save(buf, np.asarray(arr, dtype=np.float32))
        return write_bytes_atomic(path, buf.getvalue())
    arr = tensor_to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix)
    if fmt is None:
        raise InputFileError(path, f"unsupported output format {suffix!r}; use .png, .jpg or .npy")
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": quality} if fmt == "JPEG" else {}
    Image.fromarray(arr).save(buf, format=fmt, **kwargs)
    return write_bytes_atomic(path, buf.getvalue())
