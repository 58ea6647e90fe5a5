"""Photos from ordinary (pinhole) cameras: field of view and orientation from EXIF.

``locate photo.jpg`` needs the photo's horizontal field of view to map it onto the panorama band
it covers (:func:`crossview.data.inputs.pinhole_panorama`). Without ``--fov`` it is read from the
EXIF data, in this order:

1. ``FocalLengthIn35mmFilm`` (tag 0xA405): the focal length a 36 x 24 mm frame would need for the
   same *diagonal* field of view (the usual reading of the crop factor). The diagonal angle is
   ``2 atan(21.63 / f35)`` (21.63 mm = half the 43.27 mm diagonal), split over the upright image's
   width and height: ``hfov = 2 atan(tan(dfov / 2) W / sqrt(W^2 + H^2))``.
2. ``FocalLength`` (0x920A) with ``FocalPlaneXResolution`` / ``FocalPlaneYResolution`` /
   ``FocalPlaneResolutionUnit`` (0xA20E / 0xA20F / 0xA210): the sensor size in millimetres is the
   pixel count (``PixelXDimension`` / ``PixelYDimension``, else the stored image size) divided by
   the resolution; ``hfov = 2 atan(sensor_width / (2 f))`` along the upright image's horizontal.
3. Nothing usable: the field of view is unknown and the caller must give it.

``Orientation`` (0x0112) says how the stored pixels must be turned to be upright; photos are
turned before use (by :func:`crossview.io.read_image`, the one decoder), and the horizontal
field of view is that of the upright image.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from crossview.errors import InputFileError
from crossview.io import image_header

EXIF_IFD = 0x8769
ORIENTATION = 0x0112
FOCAL_LENGTH = 0x920A
FOCAL_35MM = 0xA405
FOCAL_PLANE_X_RES = 0xA20E
FOCAL_PLANE_Y_RES = 0xA20F
FOCAL_PLANE_UNIT = 0xA210
PIXEL_X = 0xA002
PIXEL_Y = 0xA003
HALF_DIAGONAL_35MM = 0.5 * math.hypot(36.0, 24.0)
"""Half the diagonal of a 36 x 24 mm frame, in millimetres."""
UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
"""``FocalPlaneResolutionUnit`` -> millimetres (2 inch, 3 cm; 4 mm and 5 um: common extensions)."""


@dataclasses.dataclass(frozen=True)
class PhotoCamera:
    """What a photo's header says about its camera."""

    width: int
    """Width of the upright image in pixels."""
    height: int
    """Height of the upright image in pixels."""
    orientation: int = 1
    """EXIF orientation (1 = stored upright)."""
    fov_deg: float | None = None
    """Horizontal field of view of the upright image, when the EXIF data give it."""
    fov_source: str | None = None
    """Which tags gave ``fov_deg`` (e.g. ``exif FocalLengthIn35mmFilm=26``)."""

    @property
    def is_panorama(self) -> bool:
        """An equirectangular panorama (or a crop of one) is at least twice as wide as high."""
        return self.width >= 2 * self.height


def _number(value: object) -> float | None:
    """An EXIF rational / int as a positive finite float, else ``None``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def hfov_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Horizontal FOV (deg) of an upright ``width x height`` image from its 35 mm equivalent."""
    half_diag = math.atan(HALF_DIAGONAL_35MM / focal_35mm)
    share = width / math.hypot(width, height)
    return math.degrees(2.0 * math.atan(math.tan(half_diag) * share))


def hfov_from_sensor(focal_mm: float, sensor_width_mm: float) -> float:
    """Horizontal FOV (deg) of a pinhole camera: ``2 atan(sensor_width / (2 f))``."""
    return math.degrees(2.0 * math.atan(sensor_width_mm / (2.0 * focal_mm)))


def read_photo_camera(path: str | Path | Image.Image | np.ndarray) -> PhotoCamera:
    """Read size, orientation and (if the EXIF data allow) the horizontal FOV of an image.

    Only the header of a file is read; a decoded PIL image gives its own EXIF (if it kept it),
    an ``H x W x 3`` array only its size. See the module docstring for the tags and formulas.

    Raises:
        InputFileError: the file is missing or not an image.

    """
    if isinstance(path, np.ndarray):
        return PhotoCamera(int(path.shape[1]), int(path.shape[0]), 1, None, None)
    if isinstance(path, Image.Image):
        stored_w, stored_h = path.size
        exif = path.getexif()
        sub = exif.get_ifd(EXIF_IFD)
        return _camera_from_exif(stored_w, stored_h, exif, sub)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found" if not path.exists() else "not a regular file")
    image_header(path)  # corrupt files and decompression bombs: one line, before PIL opens it
    try:
        with Image.open(path) as img:
            stored_w, stored_h = img.size
            exif = img.getexif()
            sub = exif.get_ifd(EXIF_IFD)
    except (OSError, SyntaxError, ValueError) as err:
        raise InputFileError(path, f"cannot decode image ({err})") from None
    return _camera_from_exif(stored_w, stored_h, exif, sub)


def _camera_from_exif(stored_w: int, stored_h: int, exif: Any, sub: Any) -> PhotoCamera:
    """:class:`PhotoCamera` from an image's stored size and its EXIF tags."""
    orientation = int(exif.get(ORIENTATION, 1) or 1)
    if orientation not in range(1, 9):
        orientation = 1
    turned = orientation in (5, 6, 7, 8)
    width, height = (stored_h, stored_w) if turned else (stored_w, stored_h)
    fov, source = None, None
    f35 = _number(sub.get(FOCAL_35MM))
    focal = _number(sub.get(FOCAL_LENGTH))
    if f35 is not None:
        fov, source = hfov_from_35mm(f35, width, height), f"exif FocalLengthIn35mmFilm={f35:g}"
    elif focal is not None:
        sensor = _sensor_mm(sub, stored_w, stored_h)
        if sensor is not None:
            horizontal = sensor[1] if turned else sensor[0]
            fov = hfov_from_sensor(focal, horizontal)
            source = f"exif FocalLength={focal:g} mm + FocalPlaneResolution"
    return PhotoCamera(width, height, orientation, fov, source)


def _sensor_mm(sub: dict, stored_w: int, stored_h: int) -> tuple[float, float] | None:
    """Sensor width and height (mm, stored orientation) from the focal-plane resolution tags."""
    x_res = _number(sub.get(FOCAL_PLANE_X_RES))
    y_res = _number(sub.get(FOCAL_PLANE_Y_RES)) or x_res
    unit = UNIT_MM.get(int(sub.get(FOCAL_PLANE_UNIT, 2) or 2))
    if x_res is None or y_res is None or unit is None:
        return None
    px_w = _number(sub.get(PIXEL_X)) or float(stored_w)
    px_h = _number(sub.get(PIXEL_Y)) or float(stored_h)
    return px_w / x_res * unit, px_h / y_res * unit

