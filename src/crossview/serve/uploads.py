"""Checks of an uploaded image and the form fields of ``POST /locate``, before any decoding.

Every refusal is an :class:`UploadError` with an HTTP status and one line naming the field
(or the file) and what is wrong. The image is decoded by :func:`crossview.io.decode_image`,
the one decoder of every command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from PIL import Image

from crossview.errors import CrossviewError
from crossview.index.locate import LocateQuery, parse_heading
from crossview.io import ImageTooLargeError, decode_image, image_header

SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("JPEG", b"\xff\xd8\xff", 0),
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("WEBP", b"WEBP", 8),  # RIFF....WEBP
)
"""Accepted image types, recognised from their first bytes (the declared type is ignored)."""


class UploadError(CrossviewError):
    """A refused request: HTTP ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(reason)


def sniff(data: bytes, name: str) -> str:
    """The image type of ``data`` from its magic bytes.

    Raises:
        UploadError: 400 for an empty file, 415 for anything not JPEG, PNG or WebP.

    """
    if not data:
        raise UploadError(400, f"{name}: empty file")
    for kind, magic, offset in SIGNATURES:
        if data[offset:offset + len(magic)] == magic and (kind != "WEBP" or data[:4] == b"RIFF"):
            return kind
    raise UploadError(415, f"{name}: not a JPEG, PNG or WebP image (starts with {data[:8]!r})")


def decode_upload(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Sniff, check the pixel count from the header, then decode (RGB).

    Raises:
        UploadError: 400 corrupt/truncated, 413 too many pixels, 415 not an image.

    """
    kind = sniff(data, name)
    try:
        fmt, width, height = image_header(data)
    except CrossviewError as err:
        status = 413 if isinstance(err, ImageTooLargeError) else 400
        raise UploadError(status, f"{name}: {getattr(err, 'problem', err)}") from None
    if fmt.upper() != kind:
        raise UploadError(415, f"{name}: starts like {kind} but decodes as {fmt}")
    if width * height > max_pixels:
        raise UploadError(413, f"{name}: image is {width}x{height} = {width * height:,} pixels, "
                               f"above the limit of {max_pixels:,}")
    try:
        return decode_image(data, name, max_pixels=max_pixels)
    except CrossviewError as err:
        raise UploadError(413 if isinstance(err, ImageTooLargeError) else 400, str(err)) from None


def _float(fields: Mapping[str, Any], key: str) -> float | None:
    raw = fields.get(key)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise UploadError(400, f"field {key!r}: expected a number, got {str(raw)[:40]!r}") from None
    if not math.isfinite(value):
        raise UploadError(400, f"field {key!r}: expected a finite number, got {str(raw)[:40]!r}")
    return value


def parse_query(image: Image.Image, name: str, fields: Mapping[str, Any],
                max_top: int) -> LocateQuery:
    """Build the :class:`LocateQuery` of one request from its form fields.

    Fields (all optional): ``heading`` (``unknown`` or degrees), ``fov`` (degrees), ``vfov``,
    ``near`` (``LAT,LON``), ``radius`` (metres; with ``near``), ``top`` (1 .. ``max_top``).

    Raises:
        UploadError: 400 naming the field.

    """
    unknown = sorted(set(fields) - {"heading", "fov", "vfov", "near", "radius", "top"})
    if unknown:
        raise UploadError(400, f"unknown field {unknown[0]!r}; fields are heading, fov, vfov, "
                               "near, radius, top")
    raw_heading = str(fields.get("heading") or "unknown")
    try:
        heading = parse_heading(raw_heading)
    except CrossviewError:
        raise UploadError(400, "field 'heading': expected 'unknown' or degrees clockwise from "
                               f"north, got {raw_heading[:40]!r}") from None
    top = _float(fields, "top")
    if top is not None and (top != int(top) or not 1 <= top <= max_top):
        raise UploadError(400, f"field 'top': expected an integer in [1, {max_top}], got {top:g}")
    fov = _float(fields, "fov")
    if fov is not None and not 0 < fov <= 360:
        raise UploadError(400, f"field 'fov': expected degrees in (0, 360], got {fov:g}")
    vfov = _float(fields, "vfov")
    if vfov is not None and not 0 < vfov <= 180:
        raise UploadError(400, f"field 'vfov': expected degrees in (0, 180], got {vfov:g}")
    near, radius = _near(fields), _float(fields, "radius")
    if (near is None) != (radius is None):
        raise UploadError(400, "fields 'near' (LAT,LON) and 'radius' (m) go together")
    if radius is not None and radius <= 0:
        raise UploadError(400, f"field 'radius': expected metres > 0, got {radius:g}")
    return LocateQuery(image=image, name=name, top_k=int(top or 5), fov_deg=fov,
                       heading=heading, near=near, radius_m=radius, vfov_deg=vfov)


def _near(fields: Mapping[str, Any]) -> tuple[float, float] | None:
    raw = fields.get("near")
    if raw is None or str(raw).strip() == "":
        return None
    try:
        lat, lon = (float(v) for v in str(raw).split(","))
    except ValueError:
        raise UploadError(400, f"field 'near': expected LAT,LON, got {str(raw)[:40]!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UploadError(400, f"field 'near': ({lat}, {lon}) is not a WGS84 latitude/longitude")
    return lat, lon
