"""``locate``: ground images in, ranked coordinates out.

Orientation. Global descriptors (SAFA, Sample4Geo, CLNet, ...) are not rotation-invariant: a
panorama rolled by some yaw embeds differently. With a known heading the query is rolled so that
north sits at column W/2 (the panorama convention) before embedding. With an unknown heading
the query is rolled to ``num_headings`` candidate headings (every 360/n degrees), every roll is
embedded and searched, and each tile keeps its best score over the rolls; the roll that gave it
is reported as the estimated heading. The union of the per-roll top-k holds the exact top-k of
this max-over-rolls score (a tile in the global top-k is in the top-k of its best roll).

Limited field of view (DSM protocol, SPECS §1). A query covering ``fov_deg`` < 360 is resized to
``fov/360 * W`` columns and placed in a full-width panorama filled with the method's pad value
(its normalisation mean, zero once normalised, so the missing view adds as little signal as
possible), centred on its heading, then handled as above. Both steps are the one input path
(:func:`crossview.data.inputs.model_input`), so a query reaches the model as the same pixels as in
training and ``embed``. DSM's shift search slides the query
over a *polar aerial feature map*; it needs methods whose aerial representation is a spatial
map aligned with panorama columns. The methods here pool to a global descriptor, so the shift
search is done on the query side instead (documented in docs/locate.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossview.data.inputs import ImageSource, model_input
from crossview.errors import ConfigError, CrossviewError
from crossview.geometry.panorama import roll_panorama
from crossview.index.geoindex import Candidate, GeoIndex
from crossview.inference import encode_images, eval_mode

logger = logging.getLogger(__name__)

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: ``{"query", "heading_deg", "fov_deg", "candidates": [...]}``."""
        cands = []
        for cand, heading in zip(self.candidates, self.candidate_headings, strict=False):
            d = cand.to_dict()
            d["heading_deg"] = heading
            cands.append(d)
        return {
            "query": self.query,
            "heading_deg": self.heading_deg,
            "fov_deg": self.fov_deg,
            "candidates": cands,
        }


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
    if num_headings < 1:
        raise ConfigError(f"num_headings must be >= 1, got {num_headings}")
    return [360.0 * i / num_headings for i in range(num_headings)]


def locate(
    images: Sequence[str | Path],
    index: GeoIndex,
    method: Any,
    checkpoint_sha256: str,
    top_k: int = 5,
    fov_deg: float | None = None,
    heading: str | float | None = "unknown",
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
    num_headings: int = 16,
    vfov_deg: float | None = None,
    exact: bool = True,
    nprobes: int = 20,
    refine_factor: int | None = 10,
    device: torch.device | None = None,
) -> list[QueryResult]:
    """Localize ground images against ``index`` (see the module docstring for orientation/FOV).

    Args:
        images: Query image files (equirectangular panoramas, or limited-FOV views).
        index: The GeoIndex, built with ``method`` and ``checkpoint_sha256`` (checked).
        method: The loaded :class:`~crossview.methods.base.Method`.
        checkpoint_sha256: Checksum of the method's checkpoint.
        top_k: Candidates per query.
        fov_deg: Horizontal field of view of the queries (``None`` = 360).
        heading: ``"unknown"`` or the bearing (deg clockwise from north) of the image centre.
        near: ``(lat, lon)`` prior; with ``radius_m`` the search is restricted to that circle.
        radius_m: Prior radius in metres.
        num_headings: Rolls tried when the heading is unknown.
        vfov_deg: Vertical span of full-panorama queries (e.g. 180 for VIGOR); they are cropped
            to the method's ``ground_vfov_deg`` band as in training. ``None`` = already cropped.
        exact: Exact search (``True``) or the ANN index.
        nprobes: IVF partitions probed (ANN only).
        refine_factor: Re-rank ``top_k * refine_factor`` PQ hits with the stored vectors (ANN
            only; ``None`` keeps the PQ-approximate scores).
        device: Torch device (default :func:`crossview.device.get_device`).

    Returns:
        One :class:`QueryResult` per image, in order.

    """
    from crossview.device import get_device

    index.check_compatible(method.name, checkpoint_sha256)
    if len(index) == 0:
        raise CrossviewError(f"index {index.uri} is empty; build it with `crossview index build`")
    if not images:
        raise ConfigError("no query images given")
    fov = 360.0 if fov_deg is None else float(fov_deg)
    if not 0.0 < fov <= 360.0:
        raise ConfigError(f"--fov: expected degrees in (0, 360], got {fov_deg}")
    known = parse_heading(heading)
    headings = heading_grid(known, num_headings)
    device = device or get_device()
    method = method.to(device)
    spec = method.input_spec
    # Read every query before embedding any: a missing or corrupt file among many fails at once,
    # not after minutes of work on the ones before it. Only the model-sized panorama is kept.
    panorama = fov >= 360.0
    panos = [model_input(p, spec, "ground", source_vfov_deg=vfov_deg if panorama else None,
                         fov_deg=None if panorama else fov, band_crop=panorama) for p in images]
    results = []
    for path, pano in zip(images, panos, strict=True):
        # Roll so that the chosen heading's view sits at north (column W/2): roll by -heading.
        rolls = roll_panorama(
            pano[None].expand(len(headings), -1, -1, -1), torch.tensor([-h for h in headings])
        )
        with eval_mode(method), torch.inference_mode():
            desc = encode_images(method, "ground", rolls, device, [str(path)])
        hits = index.search(
            desc,
            k=top_k,
            near=near,
            radius_m=radius_m,
            exact=exact,
            nprobes=nprobes,
            refine_factor=refine_factor,
        )
        cands, cand_headings = _best_over_rolls(hits, headings, top_k)
        results.append(QueryResult(str(path), cands, known, cand_headings, fov))
    return results


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

    def locate(self, images: Sequence[str | Path], top_k: int = 5, **options: Any
               ) -> list[QueryResult]:
        """Localize ``images``: see :func:`locate` for ``options`` (fov_deg, heading, near, ...)."""
        return locate(images, self.index, self.model.method, self.model.checkpoint_sha256,
                      top_k=top_k, device=self.device, **options)


    def locate_batch(self, queries: Sequence[LocateQuery], num_headings: int = 16,
                     exact: bool = True, nprobes: int = 20, refine_factor: int | None = 10
                     ) -> list[QueryResult]:
        """Localize several queries with one forward pass for all their rolls (``serve``).

        Each query carries its own options; the results are those of :func:`locate` called on
        each query alone (same rolls, same search), up to float rounding of batched kernels.
        """
        if not queries:
            return []
        method = self.model.method.to(self.device)
        spec = method.input_spec
        inputs, grids, fovs, knowns = [], [], [], []
        for q in queries:
            fov = 360.0 if q.fov_deg is None else float(q.fov_deg)
            if not 0.0 < fov <= 360.0:
                raise ConfigError(f"fov: expected degrees in (0, 360], got {q.fov_deg}")
            known = parse_heading(q.heading)
            panorama = fov >= 360.0
            pano = model_input(q.image, spec, "ground",
                               source_vfov_deg=q.vfov_deg if panorama else None,
                               fov_deg=None if panorama else fov, band_crop=panorama)
            headings = heading_grid(known, num_headings)
            inputs.append(roll_panorama(pano[None].expand(len(headings), -1, -1, -1),
                                        torch.tensor([-h for h in headings])))
            grids.append(headings)
            fovs.append(fov)
            knowns.append(known)
        with eval_mode(method), torch.inference_mode():
            desc = encode_images(method, "ground", torch.cat(inputs), self.device,
                                 [q.name for q in queries])
        results, start = [], 0
        for q, headings, fov, known in zip(queries, grids, fovs, knowns, strict=True):
            hits = self.index.search(desc[start:start + len(headings)], k=q.top_k, near=q.near,
                                     radius_m=q.radius_m, exact=exact, nprobes=nprobes,
                                     refine_factor=refine_factor)
            start += len(headings)
            cands, cand_headings = _best_over_rolls(hits, headings, q.top_k)
            results.append(QueryResult(q.name, cands, known, cand_headings, fov))
        return results


@dataclasses.dataclass(frozen=True)
class LocateQuery:
    """One query of :meth:`Localizer.locate_batch`: an image and its own options."""

    image: ImageSource
    """Image file, decoded ``H x W x 3`` uint8 array or PIL image."""
    name: str
    """Reported as ``query`` in the results."""
    top_k: int = 5
    fov_deg: float | None = None
    """Horizontal field of view (``None`` = 360)."""
    heading: str | float | None = "unknown"
    near: tuple[float, float] | None = None
    radius_m: float | None = None
    vfov_deg: float | None = None
    """Vertical span of a full panorama (cropped to the method's band)."""


def _best_over_rolls(
    hits: list[list[Candidate]], headings: list[float], top_k: int
) -> tuple[list[Candidate], list[float | None]]:
    """Per tile, the best-scoring roll; the top ``top_k`` tiles re-ranked from 1."""
    best: dict[str, tuple[Candidate, float]] = {}
    for roll_hits, heading in zip(hits, headings, strict=False):
        for cand in roll_hits:
            if cand.tile_id not in best or cand.score > best[cand.tile_id][0].score:
                best[cand.tile_id] = (cand, heading)
    ranked = sorted(best.values(), key=lambda ch: -ch[0].score)[:top_k]
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
