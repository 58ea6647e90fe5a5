"""``locate``: ground images in, ranked coordinates out.

Cameras (``camera``). A query is a **panorama** (equirectangular, full 360 degrees, or a
limited-FOV crop of one covering ``fov_deg``) or a **pinhole** photo. With ``camera="auto"`` an
image at least twice as wide as high is a panorama (``fov_deg`` default 360), anything else a
photo whose horizontal field of view is ``fov_deg`` or, when not given, read from its EXIF data
(:mod:`crossview.data.photos`; no usable EXIF: a one-line error asks for ``--fov``). Each result
says which camera and FOV were used and where the FOV came from (``camera``, ``fov_deg``,
``fov_source``). Every query reaches the model through the one input path
(:func:`crossview.data.inputs.model_input`): limited-FOV crops and photos are placed, centred on
column ``W/2``, in a panorama filled with the method's pad colour (a photo through
:func:`~crossview.data.inputs.pinhole_panorama`, the inverse of the perspective crop; its pitch is
``pitch_deg``, 0 when unknown), exactly as training makes them (:mod:`crossview.data.queries`).

Orientation (docs/locate.md "Orientation"). With a known heading the query is turned so north
sits at column ``W/2``. With an unknown heading:

- **Methods that match feature maps** (``Method.can_match``: DSM, e.g. ``safa`` with
  ``matching=dsm``): the index holds each tile's polar feature map flattened; the query's map is
  shifted to every feature column and searched (the dot product with a stored map is the
  correlation at that shift, normalised by the whole map), then the ``rerank`` best tiles are
  re-scored exactly (:func:`crossview.methods.matching.match_maps`: normalised by the part of the
  map the query overlaps, heading refined between columns) from their tile images.
- **Global descriptors**: ``search="rolls"`` embeds the query at ``num_headings`` headings and
  every tile keeps its best score (the union of the per-roll top-k holds the exact top-k of that
  score); ``coarse_fine`` searches ``coarse_headings`` headings, then re-scores the ``rerank``
  best tiles on the ``num_headings`` grid from their tile images; ``north`` assumes heading 0.
  :mod:`crossview.index.orientation` holds these rules; ``search="auto"`` picks the one measured
  best (docs/locate.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from crossview.data.inputs import ImageSource, aerial_pixels, model_input, pixels_to_batch
from crossview.errors import ConfigError, CrossviewError
from crossview.index.geoindex import DEFAULT_NPROBES, DEFAULT_REFINE_FACTOR, Candidate, GeoIndex
from crossview.index.orientation import STRATEGIES, best_heading, rolled_queries, uniform_headings
from crossview.inference import encode_images, eval_mode

logger = logging.getLogger(__name__)

CameraChoice = Literal["auto", "panorama", "pinhole"]
QueryImage = str | Path | np.ndarray | Image.Image
"""A query: image file, decoded ``H x W x 3`` uint8 array or PIL image (no aerial channel stack)."""
DEFAULT_GLOBAL_SEARCH = "rolls"
"""Heading search of global-descriptor methods under ``search="auto"`` (docs/locate.md)."""
DEFAULT_NUM_HEADINGS = 32
"""Headings tried by the ``rolls`` search when the heading is unknown (CLI, serve, Python)."""


@dataclasses.dataclass
class QueryResult:
    """Candidates of one query image."""

    query: str
    candidates: list[Candidate]
    heading_deg: float | None
    """The given heading, or ``None`` when it was unknown (see per-candidate estimates)."""
    candidate_headings: list[float | None]
    """Per candidate, the heading (deg clockwise from north) of the best roll."""
    fov_deg: float
    camera: str = "panorama"
    """``panorama`` (full or an equirectangular crop) or ``pinhole`` (a photo)."""
    fov_source: str = "argument"
    """Where ``fov_deg`` came from: ``argument``, ``panorama`` (default 360) or the EXIF tags."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the result (``locate --json``).

        Keys: ``query``, ``heading_deg``, ``fov_deg``, ``camera``, ``fov_source``, ``candidates``.
        """
        cands = []
        for cand, heading in zip(self.candidates, self.candidate_headings, strict=False):
            d = cand.to_dict()
            d["heading_deg"] = heading
            cands.append(d)
        return {
            "query": self.query,
            "heading_deg": self.heading_deg,
            "fov_deg": self.fov_deg,
            "camera": self.camera,
            "fov_source": self.fov_source,
            "candidates": cands,
        }


@dataclasses.dataclass(frozen=True)
class QueryCamera:
    """How one query image is read."""

    camera: Literal["panorama", "pinhole"]
    fov_deg: float
    """Horizontal field of view (degrees)."""
    source: str
    """Where the FOV came from (``argument``, ``panorama``, ``exif ...``)."""


def resolve_camera(path: QueryImage, camera: CameraChoice = "auto",
                   fov_deg: float | None = None) -> QueryCamera:
    """Decide how ``path`` is read: camera model and horizontal FOV (module docstring).

    Raises:
        ConfigError: a photo without ``fov_deg`` and without usable EXIF data, or a bad value.
        InputFileError: the file is missing or not an image.

    """
    from crossview.data.photos import read_photo_camera

    if camera not in ("auto", "panorama", "pinhole"):
        raise ConfigError(f"--camera: expected auto, panorama or pinhole, got {camera!r}")
    if fov_deg is not None and not 0.0 < float(fov_deg) <= 360.0:
        raise ConfigError(f"--fov: expected degrees in (0, 360], got {fov_deg}")
    header = read_photo_camera(path)
    kind = camera if camera != "auto" else ("panorama" if header.is_panorama else "pinhole")
    if kind == "panorama":
        if fov_deg is None:
            return QueryCamera("panorama", 360.0, "panorama")
        return QueryCamera("panorama", float(fov_deg), "argument")
    if fov_deg is not None:
        if float(fov_deg) >= 180.0:
            raise ConfigError(f"--fov {fov_deg}: a pinhole photo covers less than 180 degrees "
                              "(use --camera panorama for panoramas)")
        return QueryCamera("pinhole", float(fov_deg), "argument")
    if header.fov_deg is None:
        raise ConfigError(f"{path}: no EXIF focal length to get the field of view from; pass "
                          "--fov DEG (the photo's horizontal field of view)")
    return QueryCamera("pinhole", float(header.fov_deg), str(header.fov_source))


def query_input(path: ImageSource, spec: Any, cam: QueryCamera, vfov_deg: float | None = None,
                pitch_deg: float = 0.0) -> Tensor:
    """The model input of one query (the one input path; see :func:`resolve_camera`)."""
    if cam.camera == "pinhole":
        return model_input(path, spec, "ground", camera="pinhole", fov_deg=cam.fov_deg,
                           pitch_deg=pitch_deg)
    full = cam.fov_deg >= 360.0
    return model_input(path, spec, "ground", source_vfov_deg=vfov_deg if full else None,
                       fov_deg=None if full else cam.fov_deg, band_crop=full)


def parse_heading(value: str | float | None) -> float | None:
    """``"unknown"``/``None`` -> ``None``; a number (deg clockwise from north) -> float."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "unknown"):
        return None
    try:
        heading = float(value)
    except ValueError:
        raise ConfigError(f"--heading: expected 'unknown' or degrees, got {value!r}") from None
    if not np.isfinite(heading):
        raise ConfigError(f"--heading: expected a finite angle, got {value!r}")
    return heading % 360.0


def heading_grid(heading: float | None, num_headings: int) -> list[float]:
    """Headings to try: the given one, or ``num_headings`` evenly spaced ones from 0 deg."""
    if heading is not None:
        return [heading]
    return uniform_headings(num_headings)


def resolve_search(method: Any, search: str) -> str:
    """The heading search a method uses: ``auto`` -> ``match`` (DSM) or the measured default."""
    can_match = bool(getattr(method, "can_match", False))
    if search == "auto":
        return "match" if can_match else DEFAULT_GLOBAL_SEARCH
    if search not in STRATEGIES:
        raise ConfigError(f"--search: expected auto or one of {list(STRATEGIES)}, got {search!r}")
    if search == "match" and not can_match:
        raise ConfigError(f"--search match: method {getattr(method, 'name', '?')!r} does not "
                          "match feature maps (use rolls, coarse_fine or north)")
    if search != "match" and can_match:
        raise ConfigError(f"--search {search}: method {getattr(method, 'name', '?')!r} matches "
                          "feature maps; its search is 'match'")
    return search


def locate(
    images: Sequence[QueryImage],
    index: GeoIndex,
    method: Any,
    checkpoint_sha256: str,
    top_k: int = 5,
    fov_deg: float | None = None,
    heading: str | float | None = "unknown",
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
    num_headings: int = DEFAULT_NUM_HEADINGS,
    vfov_deg: float | None = None,
    exact: bool = True,
    nprobes: int = DEFAULT_NPROBES,
    refine_factor: int | None = DEFAULT_REFINE_FACTOR,
    device: torch.device | None = None,
    camera: CameraChoice = "auto",
    pitch_deg: float = 0.0,
    search: str = "auto",
    rerank: int = 50,
    coarse_headings: int = 4,
    tile_cache: dict[tuple[str, str], Tensor] | None = None,
    ef: int | None = None,
    names: Sequence[str] | None = None,
) -> list[QueryResult]:
    """Localize ground images against ``index`` (see the module docstring for cameras/headings).

    Args:
        images: Query image files (panoramas, limited-FOV crops of panoramas, or photos).
        index: The GeoIndex, built with ``method`` and ``checkpoint_sha256`` (checked).
        method: The loaded :class:`~crossview.methods.base.Method`.
        checkpoint_sha256: Checksum of the method's checkpoint.
        top_k: Candidates per query.
        fov_deg: Horizontal field of view of the queries (``None``: 360 for panoramas, EXIF for
            photos).
        heading: ``"unknown"`` or the bearing (deg clockwise from north) of the image centre.
        near: ``(lat, lon)`` prior; with ``radius_m`` the search is restricted to that circle.
        radius_m: Prior radius in metres.
        num_headings: Headings tried by ``rolls`` (and the fine grid of ``coarse_fine``).
        vfov_deg: Vertical span of full-panorama queries (e.g. 180 for VIGOR); they are cropped
            to the method's ``ground_vfov_deg`` band as in training. ``None`` = already cropped.
        exact: Exact search (``True``) or the ANN index.
        nprobes: IVF partitions probed (ANN only).
        refine_factor: Re-rank ``top_k * refine_factor`` quantised hits with the stored vectors
            (ANN with a quantised index type only; ``None`` keeps the approximate scores).
        device: Torch device (default :func:`crossview.device.get_device`).
        camera: ``auto``, ``panorama`` or ``pinhole`` (module docstring).
        pitch_deg: Pitch of pinhole photos above the horizon (0 when unknown).
        search: Heading search when the heading is unknown: ``auto``, ``match`` (methods that
            match feature maps), ``rolls``, ``coarse_fine`` or ``north``.
        rerank: Candidates re-scored exactly from their tile images (``match``, ``coarse_fine``;
            0: keep the index scores). Tile files must be readable at the indexed paths.
        coarse_headings: Headings of the first stage of ``coarse_fine``.
        tile_cache: Tile tensors by ``(tile_id, kind)``, kept between calls (``Localizer``).
        ef: HNSW search list (ANN on an ``IVF_HNSW_*`` index; ``None``: LanceDB's default).
        names: Query names in the results (default: the file paths; decoded images need them).

    Returns:
        One :class:`QueryResult` per image, in order.

    """
    from crossview.device import get_device

    index.check_compatible(method.name, checkpoint_sha256)
    if len(index) == 0:
        raise CrossviewError(f"index {index.uri} is empty; build it with `crossview index build`")
    if not images:
        raise ConfigError("no query images given")
    if top_k < 1 or rerank < 0:
        raise ConfigError(f"top_k >= 1 and rerank >= 0 expected, got {top_k} / {rerank}")
    known = parse_heading(heading)
    strategy = resolve_search(method, search)
    device = device or get_device()
    method = method.to(device)
    spec = method.input_spec
    # Read every query before embedding any: a missing or corrupt file among many fails at once,
    # not after minutes of work on the ones before it. Only the model-sized panorama is kept.
    cams = [resolve_camera(p, camera, fov_deg) for p in images]
    panos = [query_input(p, spec, cam, vfov_deg, pitch_deg) for p, cam in zip(images, cams,
                                                                            strict=True)]
    search_kw = {"near": near, "radius_m": radius_m, "exact": exact, "nprobes": nprobes,
                 "refine_factor": refine_factor, "ef": ef}
    ctx = _Context(index, method, device, search_kw, tile_cache if tile_cache is not None else {})
    labels = list(names) if names is not None else [str(p) for p in images]
    if len(labels) != len(images):
        raise ConfigError(f"names: expected {len(images)}, got {len(labels)}")
    results = []
    for path, cam, pano in zip(labels, cams, panos, strict=True):
        # File names need not be UTF-8: log them with undecodable bytes escaped.
        shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
        logger.info("%s: %s, FOV %.1f deg (%s)", shown, cam.camera, cam.fov_deg, cam.source)
        if strategy == "match":
            cands, heads = _locate_match(ctx, pano, known, top_k, rerank, str(path))
        else:
            cands, heads = _locate_global(ctx, pano, known, top_k, strategy, num_headings,
                                          coarse_headings, rerank, str(path))
        results.append(QueryResult(str(path), cands, known, heads, cam.fov_deg, cam.camera,
                                   cam.source))
    return results


@dataclasses.dataclass
class _Context:
    index: GeoIndex
    method: Any
    device: torch.device
    search_kw: dict[str, Any]
    cache: dict[tuple[str, str], Tensor]

    def search(self, desc: np.ndarray, k: int) -> list[list[Candidate]]:
        return self.index.search(desc, k=k, **self.search_kw)

    def tiles(self, cands: Sequence[Candidate], kind: Literal["descriptor", "features"]
              ) -> Tensor:
        """Tile descriptors ``(K, D)`` or feature maps ``(K, C, h, W)`` of ``cands`` (cached)."""
        todo = [c for c in cands if (c.tile_id, kind) not in self.cache]
        if todo:
            spec = self.method.input_spec
            images = pixels_to_batch([aerial_pixels(c.path, spec) for c in todo])
            out = _forward(self.method, kind, images, self.device)
            for cand, row in zip(todo, out, strict=True):
                self.cache[(cand.tile_id, kind)] = row
        return torch.stack([self.cache[(c.tile_id, kind)] for c in cands])


def _forward(method: Any, kind: str, images: Tensor, device: torch.device) -> Tensor:
    """``encode_aerial`` (``descriptor``) or ``aerial_features`` of tiles, on the CPU, float32."""
    from crossview.device import inference_autocast

    with eval_mode(method), torch.inference_mode(), inference_autocast(device):
        images = images.to(device)
        out = method.encode_aerial(images) if kind == "descriptor" else (
            method.aerial_features(images))
    out = out.float().cpu()
    if not torch.isfinite(out).all():
        raise CrossviewError(f"aerial {kind}s contain NaN/inf (a broken checkpoint?)")
    return out


def _embed(ctx: _Context, images: Tensor, name: str) -> np.ndarray:
    with eval_mode(ctx.method), torch.inference_mode():
        return encode_images(ctx.method, "ground", images, ctx.device, [name])


def _roll_headings(known: float | None, strategy: str, num_headings: int) -> list[float]:
    """Headings the query is rolled to: the known one, north, or the uniform grid."""
    if known is not None:
        return [known]
    return [0.0] if strategy == "north" else uniform_headings(num_headings)


def _locate_global(ctx: _Context, pano: Tensor, known: float | None, top_k: int, strategy: str,
                   num_headings: int, coarse_headings: int, rerank: int, name: str
                   ) -> tuple[list[Candidate], list[float | None]]:
    """Global descriptors: roll the query to heading hypotheses (module docstring)."""
    if known is not None or strategy in ("north", "rolls"):
        headings = _roll_headings(known, strategy, num_headings)
        desc = _embed(ctx, rolled_queries(pano, headings), name)
        best = _best_over_rolls(ctx.search(desc, top_k), headings)
        return _ranked(best, top_k)
    # coarse_fine: few headings over the whole index, then a fine grid on the best tiles.
    coarse = uniform_headings(coarse_headings)
    desc = _embed(ctx, rolled_queries(pano, coarse), name)
    if rerank == 0:
        return _ranked(_best_over_rolls(ctx.search(desc, top_k), coarse), top_k)
    keep = max(top_k, rerank)
    cands = [c for c, _ in _ranked_pairs(_best_over_rolls(ctx.search(desc, keep), coarse))][:keep]
    fine = uniform_headings(num_headings)
    query = torch.from_numpy(_embed(ctx, rolled_queries(pano, fine), name))
    tiles = ctx.tiles(cands, "descriptor")
    score, head = best_heading(tiles @ query.T, fine)  # (K,)
    return _ranked({c.tile_id: (dataclasses.replace(c, score=float(s)), float(h))
                    for c, s, h in zip(cands, score, head, strict=True)}, top_k)


def _locate_match(ctx: _Context, pano: Tensor, known: float | None, top_k: int, rerank: int,
                  name: str) -> tuple[list[Candidate], list[float | None]]:
    """Feature-map matching: every azimuth shift in one search, exact re-scoring of the best."""
    from crossview.device import inference_autocast
    from crossview.methods.matching import (
        GroundMap,
        flatten_normalized,
        match_maps,
        scores_at_heading,
    )

    with eval_mode(ctx.method), torch.inference_mode(), inference_autocast(ctx.device):
        gmap = ctx.method.ground_features(pano[None].to(ctx.device))
    gmap = GroundMap(gmap.features.float().cpu(), gmap.valid.float().cpu())
    width = gmap.features.shape[-1]
    if known is None:
        shifts = list(range(width))
    else:
        shifts = [round(known * width / 360.0) % width]
    # out[i] = g[i - s]: its dot product with a stored map is the correlation at shift s.
    vectors = torch.cat([flatten_normalized(torch.roll(gmap.features, s, dims=-1))
                         for s in shifts]).numpy()
    headings = [360.0 * s / width for s in shifts]
    keep = max(top_k, rerank)
    best = _best_over_rolls(ctx.search(vectors, keep), headings)
    if rerank == 0:
        return _ranked(best, top_k)
    cands = [c for c, _ in _ranked_pairs(best)][:keep]
    maps = ctx.tiles(cands, "features")
    if known is None:
        score, head = match_maps(gmap, maps)
        score, head = score[0], head[0]
    else:
        score = scores_at_heading(gmap, maps, known)[0]
        head = torch.full_like(score, known)
    return _ranked({c.tile_id: (dataclasses.replace(c, score=float(s)), float(h))
                    for c, s, h in zip(cands, score, head, strict=True)}, top_k)


class Localizer:
    """A trained model and its GeoIndex, loaded once; :meth:`locate` answers many queries.

    The one way in for ``crossview locate``, ``crossview serve`` and the demo:
    ``Localizer.from_index("region.index").locate(["photo.jpg"], top_k=5)``.
    """

    def __init__(self, index: GeoIndex, model: Any, device: torch.device | None = None) -> None:
        from crossview.device import get_device

        index.check_compatible(model.method_name, model.checkpoint_sha256)
        if len(index) == 0:
            raise CrossviewError(f"index {index.uri} is empty; build it with "
                                 "`crossview index build`")
        self.index = index
        self.model = model
        self.device = device or get_device()
        self._tiles: dict[tuple[str, str], Tensor] = {}  # re-ranked tiles, kept between queries

    @classmethod
    def from_index(cls, index: str | GeoIndex, run: str | Path | None = None,
                   which: str = "best", device: str | torch.device | None = None) -> Localizer:
        """Open ``index`` and load its model: ``run`` if given, else the checkpoint it records.

        Raises:
            ConfigError: the index is empty, records no checkpoint and no ``run`` was given, or
                the model is not the one the index was built with.

        """
        from crossview.device import get_device
        from crossview.training.checkpoint import load_run

        idx = index if isinstance(index, GeoIndex) else GeoIndex.open(index)
        if len(idx) == 0:
            raise ConfigError(f"index {idx.uri} is empty; build it with `crossview index build`")
        if run is None and not idx.info.checkpoint_path:
            raise ConfigError(f"index {idx.uri} records no checkpoint; pass --run RUN")
        model = load_run(run if run is not None else idx.info.checkpoint_path, which)
        return cls(idx, model, get_device(device))

    @property
    def method_name(self) -> str:
        """Registry name of the loaded method."""
        return str(self.model.method_name)

    def locate(self, images: Sequence[QueryImage], top_k: int = 5, **options: Any
               ) -> list[QueryResult]:
        """Localize ``images``: see :func:`locate` for ``options`` (fov_deg, heading, near, ...).

        A DEM view index (``crossview dem index``) is searched by
        :func:`crossview.index.terrain.locate_views` instead (photos, no heading rolls).
        """
        if self.is_dem_index:
            return _locate_dem_views(self, images, top_k, options)
        options.setdefault("tile_cache", self._tiles)
        return locate(images, self.index, self.model.method, self.model.checkpoint_sha256,
                      top_k=top_k, device=self.device, **options)

    def locate_batch(self, queries: Sequence[LocateQuery],
                     num_headings: int = DEFAULT_NUM_HEADINGS,
                     exact: bool = True, nprobes: int = DEFAULT_NPROBES,
                     refine_factor: int | None = DEFAULT_REFINE_FACTOR) -> list[QueryResult]:
        """Localize several queries, each with its own options (``crossview serve``).

        Queries answered by the roll search (a known heading, or the ``rolls`` / ``north``
        search of global descriptors) share one forward pass for all their rolls; the others
        (feature-map matching, ``coarse_fine``, DEM-view indexes) run one by one through
        :meth:`locate`. Results equal :meth:`locate` on each query alone, up to float rounding
        of batched kernels.
        """
        if not queries:
            return []
        method = self.model.method.to(self.device)
        strategy = resolve_search(method, "auto")
        ctx = _Context(self.index, method, self.device,
                       {"exact": exact, "nprobes": nprobes, "refine_factor": refine_factor},
                       self._tiles)
        results: dict[int, QueryResult] = {}
        batched: list[tuple[int, QueryCamera, float | None, list[float]]] = []
        inputs = []
        for i, q in enumerate(queries):
            known = parse_heading(q.heading)
            rolls = strategy in ("north", "rolls") or (known is not None and strategy != "match")
            if self.is_dem_index or not rolls:
                [results[i]] = self.locate([q.image], top_k=q.top_k, fov_deg=q.fov_deg,
                                           heading=q.heading, near=q.near, radius_m=q.radius_m,
                                           vfov_deg=q.vfov_deg, exact=exact, nprobes=nprobes,
                                           refine_factor=refine_factor,
                                           num_headings=num_headings, names=[q.name])
                continue
            cam = resolve_camera(q.image, "auto", q.fov_deg)
            pano = query_input(q.image, method.input_spec, cam, q.vfov_deg)
            headings = _roll_headings(known, strategy, num_headings)
            inputs.append(rolled_queries(pano, headings))
            batched.append((i, cam, known, headings))
        if batched:
            desc = _embed(ctx, torch.cat(inputs), "serve batch")
            start = 0
            for i, cam, known, headings in batched:
                q = queries[i]
                hits = self.index.search(desc[start:start + len(headings)], k=q.top_k,
                                         near=q.near, radius_m=q.radius_m, exact=exact,
                                         nprobes=nprobes, refine_factor=refine_factor)
                start += len(headings)
                cands, heads = _ranked(_best_over_rolls(hits, headings), q.top_k)
                results[i] = QueryResult(q.name, cands, known, heads, cam.fov_deg, cam.camera,
                                         cam.source)
        return [results[i] for i in range(len(queries))]

    @property
    def is_dem_index(self) -> bool:
        """Whether the index holds rendered DEM views (:mod:`crossview.index.terrain`)."""
        from crossview.index.terrain import is_dem_index

        return is_dem_index(self.index)


@dataclasses.dataclass(frozen=True)
class LocateQuery:
    """One query of :meth:`Localizer.locate_batch`: an image and its own options."""

    image: QueryImage
    """Image file, decoded ``H x W x 3`` uint8 array or PIL image."""
    name: str
    """Reported as ``query`` in the results."""
    top_k: int = 5
    fov_deg: float | None = None
    """Horizontal field of view (``None``: a panorama, or a photo's EXIF)."""
    heading: str | float | None = "unknown"
    near: tuple[float, float] | None = None
    radius_m: float | None = None
    vfov_deg: float | None = None
    """Vertical span of a full panorama (cropped to the method's band)."""


def _locate_dem_views(localizer: Localizer, images: Sequence[QueryImage], top_k: int,
                      options: dict[str, Any]) -> list[QueryResult]:
    """The DEM-view branch of :meth:`Localizer.locate` (kept apart from the panorama search)."""
    from crossview.index.terrain import locate_views

    return list(locate_views(images, localizer.index, localizer.model.method,
                             localizer.model.checkpoint_sha256, top_k=top_k,
                             device=localizer.device, **options))


def _best_over_rolls(hits: list[list[Candidate]], headings: Sequence[float]
                     ) -> dict[str, tuple[Candidate, float]]:
    """Per tile, the best-scoring roll and its heading."""
    best: dict[str, tuple[Candidate, float]] = {}
    for roll_hits, heading in zip(hits, headings, strict=False):
        for cand in roll_hits:
            if cand.tile_id not in best or cand.score > best[cand.tile_id][0].score:
                best[cand.tile_id] = (cand, float(heading))
    return best


def _ranked_pairs(best: dict[str, tuple[Candidate, float]]) -> list[tuple[Candidate, float]]:
    return sorted(best.values(), key=lambda ch: -ch[0].score)


def _ranked(best: dict[str, tuple[Candidate, float]], top_k: int
            ) -> tuple[list[Candidate], list[float | None]]:
    """The top ``top_k`` tiles re-ranked from 1, and their headings."""
    ranked = _ranked_pairs(best)[:top_k]
    cands = [dataclasses.replace(c, rank=i + 1) for i, (c, _) in enumerate(ranked)]
    return cands, [h for _, h in ranked]


def results_to_json(results: Sequence[QueryResult]) -> list[dict[str, Any]]:
    """Build the ``locate --json`` document: one object per query."""
    return [r.to_dict() for r in results]


def results_to_geojson(results: Sequence[QueryResult]) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection with one Point (lon, lat) per candidate."""
    features = []
    for result in results:
        for cand in result.to_dict()["candidates"]:
            props = {k: v for k, v in cand.items() if k not in ("lat", "lon")}
            props["query"] = result.query
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [cand["lon"], cand["lat"]]},
                    "properties": props,
                }
            )
    return {"type": "FeatureCollection", "features": features}
