"""The one input path: an image file (or a decoded array) -> the tensor a method is fed.

Every command reads images through this module: training (before augmentation), evaluation,
``embed``, ``index build``, ``locate`` and ``synthesize``. One image therefore reaches a model as
the same pixels whatever the command (``tests/data/test_inputs.py`` checks it bit for bit).

What happens to an image comes from the method's :class:`InputSpec` (STYLE.md §2), never from
the user:

- **Ground view.** A panorama whose vertical span exceeds ``spec.ground_vfov_deg`` keeps the rows
  around the horizon (CVACT 180 -> 90 degrees keeps the middle half, SPECS.md §1). It is resized
  to ``spec.ground_hw`` with ``spec.ground_filter`` (``area``: PIL ``BOX`` when shrinking, as
  SAFA's ``INTER_AREA``; bilinear when enlarging). A view covering only ``fov_deg < 360`` degrees
  (a limited-FOV query) is resized to ``int(fov / 360 * W)`` columns and placed, centred on
  column ``W/2`` (north, DESIGN.md), in a full-width panorama filled with ``spec.pad_rgb``: the
  method's normalisation mean, so the unseen part is zero once normalised.
- **Photos** (``camera="pinhole"``). An ordinary photo with horizontal field of view ``fov_deg``,
  taken at ``pitch_deg`` above the horizon, is mapped onto the part of the method's panorama band
  it covers (:func:`pinhole_panorama`: the inverse of the perspective crop,
  :func:`crossview.geometry.panorama.equirect_from_perspective`), centred on column ``W/2`` like
  a limited-FOV view, the rest filled with ``spec.pad_rgb``. Files are turned upright by their
  EXIF orientation first (:mod:`crossview.data.photos`, which also reads the FOV from EXIF).
  Training renders its pinhole queries through the same function
  (:mod:`crossview.data.queries`), so a photo reaches the model as in training.
- **Unseen pixels.** The pad colour marks what a query did not see: :func:`unseen_mask` finds it
  again (pixels decoded from 8 bits never equal a mean such as 0.485 exactly), so a method that
  matches feature maps (DSM) can ignore those positions without another argument.
- **Photos at the model's angular resolution.** A method whose ``spec.photo_fov_deg`` is set
  (CrossLocate) works on pinhole photos, not panoramas: its ``ground_hw`` canvas spans
  ``photo_fov_deg`` horizontally, and a photo of horizontal FOV ``f`` is resized so that its
  content has the canvas's angular resolution (:func:`photo_content_width`: equal focal lengths
  by default), centred on the canvas and surrounded by ``spec.pad_rgb`` (cropped where larger).
  A photo of unknown FOV fills the canvas width.
- **Aerial view.** A north-up tile resized to ``spec.aerial_size`` with ``spec.aerial_filter``
  (``bilinear``: PIL's antialiased triangle filter). A :class:`ChannelStack` (three
  single-channel files, e.g. CrossLocate's segmentation / silhouettes / depth) is read as the
  three channels of one image first.
- **Values.** ``uint8`` pixels, ``3 x H x W``, are converted once to float32 in ``[0, 1]``
  (DESIGN.md "Tensors"); the method applies its own normalisation (``spec.mean`` / ``spec.std``).
- **Precision.** :func:`crossview.device.inference_autocast` is the one autocast policy of every
  forward pass outside training (bf16/fp16 on CUDA, full precision on CPU); training uses the
  same dtype.

``fast_decode=True`` (off by default everywhere) decodes JPEGs of at least twice the target size
at a reduced DCT scale (:func:`crossview.io.read_image`): pixels then differ slightly from the
full decode, so it is an explicit opt-in of the embedding paths.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from crossview.errors import ConfigError, InputFileError, unknown_name_error
from crossview.geometry.panorama import fov_crop_width
from crossview.io import read_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UNIT_MEAN = (0.5, 0.5, 0.5)
"""Mean of methods that map ``[0, 1]`` to ``[-1, 1]`` (GAN generators such as CDE)."""
UNIT_STD = (0.5, 0.5, 0.5)

Filter = Literal["area", "bilinear", "bicubic"]
View = Literal["ground", "aerial"]
Camera = Literal["panorama", "pinhole"]
PhotoScaling = Literal["focal", "degrees", "fit"]


@dataclasses.dataclass(frozen=True)
class ChannelStack:
    """Three single-channel image files read as the R, G, B channels of one image.

    CrossLocate's multi-modality database views (segmentation, silhouettes, depth; each
    modality takes one input channel). A greyscale file contributes its values; a palette
    (class-id) file contributes ``id * 255 // (palette_levels - 1)``, so ``palette_levels``
    classes spread over the 8-bit range.
    """

    paths: tuple[Path, Path, Path]
    palette_levels: int = 5
    """Number of classes of palette files (crossview's DEM segmentation has 5)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(Path(p) for p in self.paths))
        if len(self.paths) != 3 or self.palette_levels < 2:
            raise ConfigError(f"ChannelStack: expected 3 files and palette_levels >= 2, got "
                              f"{len(self.paths)} / {self.palette_levels}")


ImageSource = str | Path | np.ndarray | Image.Image | ChannelStack


EXTRAS: dict[str, tuple[View, str]] = {
    "sky": ("ground", "sky"),
    "depth": ("ground", "depth"),
    "aerial_semantics": ("aerial", "semantics"),
}
"""Auxiliary per-sample maps a method may ask for (``InputSpec.extras``): name -> (the view they
align with, the key of ``Pair.extras`` / ``Reference.extras`` holding their file).

- ``sky``: ``(1, Hg, Wg)`` float32 in {0, 1}, 1 = sky (a PNG or JPEG, grey or RGB: white,
  i.e. above 127, is sky; a mask holding only 0 and 1 uses 1 = sky).
- ``depth``: ``(1, Hg, Wg)`` float32 metres (a ``.npy``; the world writes 0 where nothing is hit).
- ``aerial_semantics``: ``(3, S, S)`` float32 colour map in [0, 1] (an RGB PNG, or a class-index
  PNG coloured with the table's ``extras["semantic_colours"]`` palette).

Maps are read like their view (band crop, FOV) but resized by nearest neighbour, and get the
same flips, rotations and crops in augmentation (:func:`crossview.data.augment.augment_views`).
"""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a method expects from the data pipeline (STYLE.md §2)."""

    ground_hw: tuple[int, int]
    """Ground panorama (or photo) size ``(H, W)`` the pipeline resizes to."""
    aerial_size: int
    """Side ``S`` of the square north-up aerial tile the pipeline resizes to."""
    ground_vfov_deg: float = 90.0
    """Vertical field of view of the ground band the method works on (CVUSA-like: +-45)."""
    polar: bool = False
    """Whether ``encode_aerial`` polar-transforms tiles itself (the pipeline never does)."""
    mean: tuple[float, float, float] = IMAGENET_MEAN
    """Per-channel mean of the normalisation the method applies to ``[0, 1]`` inputs."""
    std: tuple[float, float, float] = IMAGENET_STD
    """Per-channel std of that normalisation."""
    ground_filter: Filter = "area"
    """Resize filter of ground images (``area`` = box filter when shrinking)."""
    aerial_filter: Filter = "bilinear"
    """Resize filter of aerial tiles (antialiased)."""
    extras: tuple[str, ...] = ()
    """Auxiliary maps the method's training batches need, by name (see :data:`EXTRAS`)."""
    photo_fov_deg: float | None = None
    """Photo methods (CrossLocate): ground images are pinhole photos and the ``ground_hw``
    canvas spans this horizontal FOV (the database views' 60 deg); each photo is scaled by its
    own FOV to the canvas's angular resolution (module docstring). ``None``: panoramas."""
    photo_scaling: PhotoScaling = "focal"
    """How a photo of FOV ``f`` is sized on the canvas (:func:`photo_content_width`):
    ``focal`` (equal focal lengths: the same scene point, the same pixel size), ``degrees``
    (equal pixels per degree across the width) or ``fit`` (FOV ignored, the paper's no-FOV)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ground_hw", (int(self.ground_hw[0]), int(self.ground_hw[1])))
        unknown = [e for e in self.extras if e not in EXTRAS]
        if unknown:
            raise unknown_name_error("InputSpec extra", unknown[0], list(EXTRAS))
        if min(self.ground_hw) < 1 or self.aerial_size < 1:
            raise ConfigError(f"InputSpec: sizes must be positive, got ground_hw="
                              f"{self.ground_hw}, aerial_size={self.aerial_size}")
        if not 0.0 < self.ground_vfov_deg <= 180.0:
            raise ConfigError(f"InputSpec.ground_vfov_deg must be in (0, 180], got "
                              f"{self.ground_vfov_deg}")
        if self.photo_fov_deg is not None and not 0.0 < self.photo_fov_deg < 180.0:
            raise ConfigError(f"InputSpec.photo_fov_deg must be in (0, 180), got "
                              f"{self.photo_fov_deg}")
        if self.photo_scaling not in ("focal", "degrees", "fit"):
            raise unknown_name_error("InputSpec.photo_scaling", self.photo_scaling,
                                     ["focal", "degrees", "fit"])

    @property
    def pad_rgb(self) -> tuple[float, float, float]:
        """Fill of the unseen part of limited-FOV views: the mean (zero once normalised)."""
        return self.mean


_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def _resize(img: Image.Image, width: int, height: int, method: Filter) -> Image.Image:
    if img.size == (width, height):
        return img
    if method == "area":
        shrinking = width <= img.width and height <= img.height
        resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    else:
        resample = _RESAMPLE[method]
    return img.resize((width, height), resample=resample)


def crop_vfov_rows(
    img: Image.Image, source_vfov_deg: float | None, target_vfov_deg: float
) -> Image.Image:
    """Keep the rows of an equirectangular panorama within ``+-target/2`` of the horizon.

    ``source_vfov_deg`` is the panorama's vertical span (centred on the horizon); nothing is done
    when it is unknown or not larger than the target.
    """
    if source_vfov_deg is None or source_vfov_deg <= target_vfov_deg:
        return img
    keep = round(img.height * target_vfov_deg / source_vfov_deg)
    top = (img.height - keep) // 2
    return img.crop((0, top, img.width, top + keep))


def _stack_channels(stack: ChannelStack) -> Image.Image:
    """The three files of ``stack`` as the R, G, B channels of one image."""
    channels = []
    for path in stack.paths:
        try:
            with Image.open(path) as probe:
                palette = probe.mode == "P"
        except (OSError, ValueError):
            palette = False  # read_image below names the file and the problem
        if palette:
            ids = np.asarray(read_image(path, mode="P")).astype(np.int64)
            if ids.max(initial=0) >= stack.palette_levels:
                raise InputFileError(path, f"class id {int(ids.max())} >= the "
                                           f"{stack.palette_levels} classes expected")
            channels.append((ids * 255 // (stack.palette_levels - 1)).astype(np.uint8))
        else:
            channels.append(np.asarray(read_image(path, mode="L")))
    shapes = {c.shape for c in channels}
    if len(shapes) != 1:
        raise InputFileError(stack.paths[0], f"channel files differ in size: "
                                             f"{[c.shape for c in channels]}")
    return Image.fromarray(np.stack(channels, axis=2))


def reference_source(reference: Any) -> ImageSource:
    """What the input path reads for a table reference: its file, or its channel stack.

    A reference whose ``extras["channels"]`` lists three files (the ``crosslocate`` layout's
    ``modality=multi``) is read as a :class:`ChannelStack` of them.
    """
    channels = reference.extras.get("channels")
    if channels:
        return ChannelStack(tuple(channels), int(reference.extras.get("channel_levels", 5)))
    return reference.path


def _as_image(source: ImageSource, min_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode a file or channel stack, or wrap an ``H x W x 3`` uint8 array / PIL image, as RGB."""
    if isinstance(source, ChannelStack):
        return _stack_channels(source)
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise ConfigError(f"image array: expected H x W x 3 uint8, got {source.dtype} "
                              f"{source.shape}")
        return Image.fromarray(source)
    return read_image(source, min_size=min_size)


def ground_pixels(
    source: ImageSource,
    spec: InputSpec,
    *,
    source_vfov_deg: float | None = None,
    fov_deg: float | None = None,
    band_crop: bool = True,
    fast_decode: bool = False,
) -> np.ndarray:
    """A ground image as ``3 x H x w`` uint8 at the model's size.

    A photo method's spec (``spec.photo_fov_deg`` set) gives the photo canvas of
    :func:`photo_canvas` instead: ``fov_deg`` is then the photo's own FOV (``None``: unknown),
    and the band and panorama arguments do not apply.

    Args:
        source: Image file, ``H x W x 3`` uint8 array or PIL image.
        spec: The method's input spec.
        source_vfov_deg: Vertical span of a panorama (cropped to ``spec.ground_vfov_deg``).
        fov_deg: Horizontal FOV of a limited view: ``w = int(fov / 360 * W)``
            (:func:`~crossview.geometry.panorama.fov_crop_width`); ``None`` or 360: ``w = W``.
        band_crop: Crop panoramas to the method's band (``False`` for photos).
        fast_decode: Reduced-scale JPEG decoding (module docstring).

    """
    height, width = spec.ground_hw
    if spec.photo_fov_deg is not None:
        return _chw(photo_canvas(_as_image(source), spec, fov_deg))
    if fov_deg is not None:
        width = fov_crop_width(fov_deg, width)
    min_size = None
    if fast_decode:
        # The band crop follows the decode: ask for enough rows that the band keeps ``height``.
        ratio = 1.0
        if band_crop and source_vfov_deg is not None and source_vfov_deg > spec.ground_vfov_deg:
            ratio = source_vfov_deg / spec.ground_vfov_deg
        min_size = (width, math.ceil(height * ratio))
    img = _as_image(source, min_size)
    if band_crop:
        img = crop_vfov_rows(img, source_vfov_deg, spec.ground_vfov_deg)
    return _chw(np.asarray(_resize(img, width, height, spec.ground_filter)))


def photo_content_width(fov_deg: float | None, spec: InputSpec) -> float:
    """Width in canvas pixels that a photo of horizontal FOV ``fov_deg`` covers.

    The canvas is ``W = spec.ground_hw[1]`` pixels wide and spans ``F = spec.photo_fov_deg``:
    ``focal``: ``W tan(f/2) / tan(F/2)`` (the photo's focal length in pixels becomes the
    canvas's, so both project the scene alike); ``degrees``: ``W f / F``; ``fit`` or an unknown
    FOV: ``W``. E.g. 500 px for 60 deg: a 30 deg photo covers 232 px (``focal``) or 250 px.
    """
    if spec.photo_fov_deg is None:
        raise ConfigError("photo_content_width: the input spec has no photo_fov_deg")
    width = float(spec.ground_hw[1])
    if fov_deg is None or spec.photo_scaling == "fit":
        return width
    if not 0.0 < fov_deg < 180.0:
        raise ConfigError(f"photo FOV must be in (0, 180) degrees, got {fov_deg}")
    if spec.photo_scaling == "degrees":
        return width * fov_deg / spec.photo_fov_deg
    return width * math.tan(math.radians(fov_deg) / 2) / math.tan(
        math.radians(spec.photo_fov_deg) / 2)


def photo_canvas(image: Image.Image, spec: InputSpec, fov_deg: float | None) -> np.ndarray:
    """A photo on the method's canvas: ``H x W x 3`` uint8 at ``spec.ground_hw``.

    The photo is resized (``spec.ground_filter``, aspect ratio kept) to
    :func:`photo_content_width` columns, centred, and the canvas around it filled with
    ``spec.pad_rgb`` (the normalisation mean, ~0 once normalised); content beyond the canvas
    (a photo wider than ``photo_fov_deg``, a tall portrait) is cropped.
    """
    height, width = spec.ground_hw
    cols = max(1, round(photo_content_width(fov_deg, spec)))
    rows = max(1, round(cols * image.height / image.width))
    content = _resize(image.convert("RGB"), cols, rows, spec.ground_filter)
    fill = tuple(int(round(255 * v)) for v in spec.pad_rgb)
    canvas = Image.new("RGB", (width, height), fill)  # type: ignore[arg-type]
    canvas.paste(content, ((width - cols) // 2, (height - rows) // 2))
    return np.asarray(canvas)


def aerial_pixels(source: ImageSource, spec: InputSpec, *, fast_decode: bool = False) -> np.ndarray:
    """A north-up tile as ``3 x S x S`` uint8 at ``spec.aerial_size``.

    Raises:
        InputFileError: the tile is not square.

    """
    size = spec.aerial_size
    # A draft at >= twice the size leaves the last 2x to the resize filter (~1/255 off, max
    # 15/255); a draft at the target size would replace it by the DCT's box-like one.
    draft = (2 * size, 2 * size) if fast_decode and not isinstance(source, ChannelStack) else None
    img = _as_image(source, draft)
    if img.width != img.height:
        where = (source if isinstance(source, (str, Path)) else
                 source.paths[0] if isinstance(source, ChannelStack) else "aerial image")
        raise InputFileError(where, f"aerial tile must be square, got {img.width}x{img.height} px")
    return _chw(np.asarray(_resize(img, size, size, spec.aerial_filter)))


def _chw(pixels: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 (PIL's layout) -> contiguous ``3 x H x W`` (the tensors' layout)."""
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def pixels_to_tensor(pixels: np.ndarray) -> Tensor:
    """``3 x H x W`` uint8 -> float32 ``(3, H, W)`` in ``[0, 1]``."""
    return pixels_to_batch([pixels])[0]


def pixels_to_batch(pixels: Sequence[np.ndarray]) -> Tensor:
    """Stack ``3 x H x W`` uint8 images into a float32 ``(B, 3, H, W)`` batch in ``[0, 1]``.

    One conversion for the batch: embedding small cached images is otherwise bound by per-image
    conversions and the collate copy.
    """
    stacked = np.stack(pixels)
    if stacked.dtype != np.uint8 or stacked.ndim != 4 or stacked.shape[1] != 3:
        raise ConfigError(f"pixels_to_batch: expected uint8 3 x H x W images, got "
                          f"{stacked.dtype} {tuple(stacked.shape[1:])}")
    return torch.div(torch.from_numpy(stacked), 255.0)


def pad_to_panorama(view: Tensor, width: int, pad_rgb: Sequence[float]) -> Tensor:
    """Place limited-FOV views ``(..., 3, H, w)`` centred on column ``width/2`` of a panorama.

    The other columns hold ``pad_rgb``; ``w == width`` returns ``view`` unchanged.
    """
    cols = view.shape[-1]
    if cols == width:
        return view
    if cols > width:
        raise ConfigError(f"pad_to_panorama: view has {cols} columns, more than {width}")
    shape = (*view.shape[:-1], width)
    fill = torch.tensor(list(pad_rgb), dtype=view.dtype, device=view.device).view(3, 1, 1)
    canvas = fill.expand(shape).clone()
    start = width // 2 - cols // 2
    canvas[..., start:start + cols] = view
    return canvas


def unseen_mask(images: Tensor, pad_rgb: Sequence[float]) -> Tensor:
    """Pixels of ``(B, 3, H, W)`` images that hold exactly the pad colour: ``(B, 1, H, W)`` bool.

    The one input path fills what a limited-FOV view or a photo does not cover with
    ``spec.pad_rgb``; this finds those pixels again (module docstring).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ConfigError(f"unseen_mask: expected (B, 3, H, W) images, got {tuple(images.shape)}")
    fill = torch.tensor(list(pad_rgb), dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images == fill).all(dim=1, keepdim=True)


def pinhole_panorama(image: Tensor, spec: InputSpec, fov_deg: float,
                     pitch_deg: float = 0.0) -> Tensor:
    """Map a pinhole photo ``(3, h, w)`` in [0, 1] onto the method's panorama band.

    The photo's optical axis is placed at column ``W/2`` (bearing 0, as limited-FOV views are
    centred) and ``pitch_deg`` above the horizon; the band spans ``spec.ground_vfov_deg`` around
    the horizon at ``spec.ground_hw``. Panorama pixels the photo does not cover hold
    ``spec.pad_rgb``. A photo much larger than the part of the band it covers is first shrunk by
    area averaging to twice that width, so the bilinear mapping does not alias.

    Returns:
        ``(3, H, W)`` float32 in [0, 1].

    """
    from crossview.geometry.panorama import equirect_from_perspective

    if image.ndim != 3 or image.shape[0] != 3:
        raise ConfigError(f"pinhole_panorama: expected a (3, h, w) photo, got {tuple(image.shape)}")
    fov = _check_pinhole(fov_deg, pitch_deg)
    height, width = spec.ground_hw
    target_w = _pinhole_width(fov, width)
    if image.shape[-1] > target_w:
        target_h = max(2, round(image.shape[-2] * target_w / image.shape[-1]))
        image = F.interpolate(image[None].float(), size=(target_h, target_w), mode="area")[0]
    pano, valid = equirect_from_perspective(image[None].float(), 0.0, float(pitch_deg), fov,
                                            (height, width), spec.ground_vfov_deg)
    fill = torch.tensor(list(spec.pad_rgb), dtype=pano.dtype).view(3, 1, 1)
    return torch.where(valid[0], pano[0], fill).clamp(0.0, 1.0)


def _pinhole_width(fov_deg: float, pano_width: int) -> int:
    """Width a photo is shrunk to before mapping: twice the panorama columns it covers."""
    return max(4, math.ceil(2.0 * fov_deg / 360.0 * pano_width))


def _check_pinhole(fov_deg: float | None, pitch_deg: float) -> float:
    if fov_deg is None:
        raise ConfigError("a pinhole photo needs its horizontal field of view (fov_deg / --fov)")
    fov = float(fov_deg)
    if not 0.0 < fov < 180.0:
        raise ConfigError(f"fov_deg: a pinhole photo's field of view must be in (0, 180), got "
                          f"{fov_deg}")
    if not (math.isfinite(pitch_deg) and -90.0 < pitch_deg < 90.0):
        raise ConfigError(f"pitch_deg: expected degrees in (-90, 90), got {pitch_deg}")
    return fov


def photo_tensor(source: ImageSource, spec: InputSpec, fov_deg: float) -> Tensor:
    """A photo file / array as an upright ``(3, h, w)`` float32 tensor, pre-shrunk for mapping.

    Files come upright from the decoder (:func:`crossview.io.read_image` applies the EXIF
    orientation); the shrink (PIL box filter, only when the photo is wider than twice the panorama
    columns it will cover) keeps large photos cheap.
    """
    img = _as_image(source)
    target_w = _pinhole_width(fov_deg, spec.ground_hw[1])
    if img.width > target_w:
        target_h = max(2, round(img.height * target_w / img.width))
        img = img.resize((target_w, target_h), resample=Image.Resampling.BOX)
    return pixels_to_tensor(_chw(np.asarray(img)))


def model_input(
    source: ImageSource,
    spec: InputSpec,
    view: View,
    *,
    source_vfov_deg: float | None = None,
    fov_deg: float | None = None,
    band_crop: bool = True,
    fast_decode: bool = False,
    camera: Camera = "panorama",
    pitch_deg: float = 0.0,
) -> Tensor:
    """The tensor a method is fed for one image: float32 ``(3, H, W)`` in ``[0, 1]``.

    ``view="ground"``: :func:`ground_pixels`, then limited-FOV views are padded to the full
    panorama width (:func:`pad_to_panorama`); with ``camera="pinhole"`` the image is a photo of
    horizontal field of view ``fov_deg`` (required) taken at ``pitch_deg``, mapped onto the band
    by :func:`pinhole_panorama`. ``view="aerial"``: :func:`aerial_pixels`.
    """
    if view == "aerial":
        return pixels_to_tensor(aerial_pixels(source, spec, fast_decode=fast_decode))
    if view != "ground":
        raise ConfigError(f"view: expected 'ground' or 'aerial', got {view!r}")
    if camera == "pinhole":
        fov = _check_pinhole(fov_deg, pitch_deg)
        return pinhole_panorama(photo_tensor(source, spec, fov), spec, fov, pitch_deg)
    if camera != "panorama":
        raise ConfigError(f"camera: expected 'panorama' or 'pinhole', got {camera!r}")
    image = pixels_to_tensor(ground_pixels(source, spec, source_vfov_deg=source_vfov_deg,
                                           fov_deg=fov_deg, band_crop=band_crop,
                                           fast_decode=fast_decode))
    return pad_to_panorama(image, spec.ground_hw[1], spec.pad_rgb)


def _read_map(source: str | Path) -> np.ndarray:
    """A label/value map file as an ``H x W`` or ``H x W x 3`` array (PNG/JPEG or ``.npy``)."""
    path = Path(source)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise InputFileError(path, "file not found")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise InputFileError(path, f"cannot read .npy ({err})") from None
        if arr.ndim != 2 or not np.isfinite(arr).all():
            raise InputFileError(path, f"expected a finite H x W map, got shape {arr.shape}")
        return arr.astype(np.float32)
    try:
        with Image.open(path) as probe:
            single = probe.mode in ("L", "1", "I", "I;16")  # a palette PNG shows colours
    except (OSError, ValueError):
        single = False  # read_image below names the file and the problem
    return np.asarray(read_image(path, mode="L" if single else "RGB"))


def _nearest(arr: np.ndarray, height: int, width: int) -> Tensor:
    """``H x W [x C]`` -> float32 ``(C, height, width)`` by nearest neighbour (pixel centres)."""
    t = torch.from_numpy(np.array(arr, dtype=np.float32))  # a copy: PIL buffers are read-only
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    if tuple(t.shape[-2:]) == (height, width):
        return t
    return torch.nn.functional.interpolate(t[None], size=(height, width),
                                           mode="nearest-exact")[0]


def ground_map(source: str | Path, name: str, spec: InputSpec, *,
               source_vfov_deg: float | None = None, band_crop: bool = True) -> Tensor:
    """Extra ``name`` of a ground image (``sky`` or ``depth``) as ``(1, Hg, Wg)`` float32.

    Cropped to the method's band like the panorama, resized by nearest neighbour.
    """
    arr = _read_map(source)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if band_crop and source_vfov_deg is not None and source_vfov_deg > spec.ground_vfov_deg:
        keep = round(arr.shape[0] * spec.ground_vfov_deg / source_vfov_deg)
        top = (arr.shape[0] - keep) // 2
        arr = arr[top:top + keep]
    if name == "sky":  # white = sky; > 127 so that JPEG noise in black stays ground
        arr = arr > (127 if arr.max() > 1 else 0)
    return _nearest(arr, *spec.ground_hw)


def aerial_map(source: str | Path, spec: InputSpec,
               palette: Sequence[Sequence[int]] | None = None) -> Tensor:
    """An aerial colour map (``aerial_semantics``) as ``(3, S, S)`` float32 in [0, 1].

    A class-index image is coloured with ``palette`` (one RGB triple per class).
    """
    arr = _read_map(source)
    if arr.ndim == 2:
        if palette is None:
            raise InputFileError(source, "class-index map without a colour palette "
                                         "(table extras 'semantic_colours')")
        colours = np.asarray(palette, dtype=np.uint8)
        if arr.max() >= len(colours):
            raise InputFileError(source, f"class {int(arr.max())} has no colour in the palette "
                                         f"of {len(colours)} classes")
        arr = colours[arr.astype(np.int64)]
    return _nearest(arr, spec.aerial_size, spec.aerial_size) / 255.0
