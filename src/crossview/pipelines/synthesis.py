"""``crossview synthesize``: synthesized views and by-products, light transfer, videos, a page.

The chain behind the command, over the step functions of :mod:`crossview.inference`:
:func:`~crossview.inference.synthesize_files` per illumination source,
:func:`~crossview.inference.synthesize_trajectory` per tile, and the page of
:mod:`crossview.reports.synthesis_report`.

Illumination sources (methods that take ``illumination``, i.e. Sat2Density): ``mean`` (the
prior's mean light), ``random`` (a light drawn from the prior: the paper's Sat2Density-sin) or a
street panorama whose sky histogram lights the synthesis (Fig. 5). A panorama's sky mask is the
one given for it or, when none is, the one found where the datasets keep masks
(:func:`crossview.data.sky.find_sky_mask`); crossview does not guess a mask from the image, since
a wrong mask silently changes the light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from crossview.errors import ConfigError, InputFileError
from crossview.methods.base import Method

KEYWORDS = ("mean", "random")


@dataclasses.dataclass
class SynthesisRequest:
    """What ``crossview synthesize`` was asked for (beyond the inputs and the model)."""

    illumination: list[str] = dataclasses.field(default_factory=list)
    """Sources: ``mean``, ``random`` or panorama files; the first lights the files."""
    sky_masks: list[Path] = dataclasses.field(default_factory=list)
    """Masks of the panorama sources, in order (the rest are looked up)."""
    height_m: float | None = None
    """Camera height above the ground (methods that render from a camera)."""
    trajectory: str | None = None
    """A camera path (``diagonal``, ``circle``, waypoints) to render videos along."""
    units: str = "m"
    """Units of the waypoints: ``m`` or ``px``."""
    frames: int = 48
    """Frames of each video."""
    fps: float = 12.0
    """Frames per second of the videos."""
    html: bool = False
    """Write ``index.html`` (samples, illumination grid, videos)."""


def illumination_source(source: str, method: Method, sky_mask: Path | None = None) -> Any:
    """``"mean"``/``"random"``, or ``(panorama, sky)`` tensors ``(1, 3, H, W)``, ``(1, 1, H, W)``.

    The panorama and its mask are read whole (no band crop: the histogram only counts sky
    colours) at the method's ground size through the one input path.

    Raises:
        InputFileError: The panorama is unreadable, or no sky mask is given nor found.

    """
    from crossview.data.inputs import ground_map, model_input
    from crossview.data.sky import WHERE, find_sky_mask

    if source in KEYWORDS:
        return source
    pano = Path(source)
    if not pano.is_file():
        raise InputFileError(pano, f"illumination source not found (expected {KEYWORDS[0]}, "
                                   f"{KEYWORDS[1]} or a street panorama file)")
    mask = sky_mask or find_sky_mask(pano)
    if mask is None:
        raise InputFileError(pano, f"no sky mask for this illumination panorama: give one with "
                                   f"--sky-mask (white = sky) or put it where the datasets keep "
                                   f"them ({WHERE})")
    spec = method.input_spec
    image = model_input(pano, spec, "ground", band_crop=False)
    sky = ground_map(mask, "sky", spec, band_crop=False)
    if float(sky.sum()) == 0:
        raise InputFileError(mask, "the sky mask marks no sky (white = sky)")
    return image[None], sky[None]


def _sources(request: SynthesisRequest, method: Method) -> list[tuple[str, Any, Path | None]]:
    """``(label, illumination option, panorama or None)`` per source, masks matched in order."""
    panoramas = [s for s in request.illumination if s not in KEYWORDS]
    if len(request.sky_masks) > len(panoramas):
        raise ConfigError(f"--sky-mask: {len(request.sky_masks)} masks for {len(panoramas)} "
                          "illumination panoramas")
    masks = dict(zip(panoramas, request.sky_masks, strict=False))
    out = []
    for source in request.illumination:
        value = illumination_source(source, method, masks.get(source))
        out.append((source if source in KEYWORDS else Path(source).name, value,
                    None if source in KEYWORDS else Path(source)))
    return out


def _takes(method: Method, option: str) -> bool:
    import inspect

    return option in inspect.signature(method.synthesize_outputs).parameters


def run_synthesize(method: Method, tiles: Sequence[Path], out: Path, request: SynthesisRequest,
                   batch_size: int = 8, device: str | torch.device | None = None,
                   source_vfov_deg: float | None = None, run: str = "") -> dict[str, Any]:
    """Write the synthesized views (and by-products), videos and page; returns what was written.

    Returns:
        ``{"files": [...], "videos": [...], "grid": [...], "page": path or None}``.

    """
    from crossview.inference import synthesize_files, synthesize_trajectory
    from crossview.io import write_text_atomic

    tiles = [Path(t) for t in tiles]
    out = Path(out)
    sources = _sources(request, method)
    options: dict[str, Any] = {}
    if sources:
        options["illumination"] = sources[0][1]
    if request.height_m is not None:
        options["camera_height_m"] = request.height_m
    files = synthesize_files(method, tiles, out, batch_size, device, source_vfov_deg, **options)
    videos = []
    if request.trajectory is not None:
        for tile in tiles:
            mp4, gif, path = synthesize_trajectory(method, tile, out, request.trajectory,
                                                   request.frames, request.fps, request.units,
                                                   device, **options)
            videos.append({"stem": tile.stem, "mp4": mp4, "gif": gif, "path": path})
    grid = None
    grid_files: list[Path] = []
    if request.html and _takes(method, "illumination"):
        labels = [s[0] for s in sources]
        grid_sources = sources + [(k, k, None) for k in KEYWORDS if k not in labels]
        rows: dict[str, list[Path]] = {t.stem: [] for t in tiles}
        for k, (_, value, _) in enumerate(grid_sources):
            folder = out / "illumination" / f"{k:02d}"
            grid_files += synthesize_files(method, tiles, folder, batch_size, device,
                                           source_vfov_deg, **{**options, "illumination": value})
            for tile in tiles:
                rows[tile.stem].append(folder / f"{tile.stem}.png")
        grid = {"sources": [(label, pano) for label, _, pano in grid_sources], "rows": rows}
    page = None
    if request.html:
        from crossview.reports.synthesis_report import synthesis_html

        described = ", ".join(f"{k}={_describe(v)}" for k, v in options.items())
        html = synthesis_html(out, run, method.name, tiles, files, grid, videos, described)
        page = write_text_atomic(out / "index.html", html)
    return {"files": files, "videos": videos, "grid": grid_files, "page": page}


def _describe(value: Any) -> str:
    if isinstance(value, tuple):
        return "a panorama's sky"
    return str(value)
