"""The query-condition benchmark: how well a trained model localizes a person's own photo.

For every held-out panorama of a dataset (the synthetic world by default) the queries ``locate``
meets are made from the *source* panorama file, then scored against every reference tile with
the same rules ``locate`` applies (:mod:`crossview.index.orientation`, DSM matching):

================  =====================================================================
condition         query
================  =====================================================================
``known``         the north-aligned 360-degree panorama, heading given
``unknown``       the panorama turned to a random bearing (whole source columns)
``fov180/90/70``  DSM's limited FOV (SPECS §1): that many degrees around a random bearing
``pinhole``       a pinhole photo rendered from the panorama: FOV 60-90, pitch +-10, random
                  bearing, 320x213 px; mapped back at pitch 0 (``locate`` does not know it)
================  =====================================================================

Headings are unknown except in ``known``. Each global-descriptor method is scored with several
heading searches (``north`` = assume 0, the baseline; ``rolls:N``; ``coarse_fine:C:N``), each
matching method (``Method.can_match``) with ``match`` and ``north``. Metrics:
:mod:`crossview.evaluation.conditions`. Random draws are seeded per (seed, condition, query), so
two runs see the same queries.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from crossview.data.inputs import model_input
from crossview.errors import ConfigError
from crossview.evaluation.conditions import reduce_scores, summarize
from crossview.index.orientation import rolled_queries, strategy_scores, uniform_headings
from crossview.io import read_image
from crossview.progress import track

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Condition:
    """One query condition of the benchmark."""

    name: str
    fov_deg: tuple[float, float] = (360.0, 360.0)
    """Horizontal FOV range (drawn uniformly per query)."""
    heading_known: bool = False
    camera: Literal["panorama", "pinhole"] = "panorama"
    pitch_deg: tuple[float, float] = (0.0, 0.0)
    """Pitch range of pinhole photos."""


CONDITIONS: dict[str, Condition] = {
    "known": Condition("known", heading_known=True),
    "unknown": Condition("unknown"),
    "fov180": Condition("fov180", (180.0, 180.0)),
    "fov90": Condition("fov90", (90.0, 90.0)),
    "fov70": Condition("fov70", (70.0, 70.0)),
    "pinhole": Condition("pinhole", (60.0, 90.0), camera="pinhole", pitch_deg=(-10.0, 10.0)),
}
"""The benchmark's conditions, in table order."""
PHOTO_HW = (213, 320)
"""Size of the rendered pinhole photos (3:2 landscape)."""
FINE_HEADINGS = 32
"""Headings every global-descriptor query is embedded at; the strategies use sub-grids of it."""
GLOBAL_SEARCHES = ("north", "rolls:4", "rolls:8", "rolls:16", "rolls:32", "coarse_fine:4:16",
                   "coarse_fine:8:32", "rolls:16+center", "rolls:16+z", "rolls:16+contrast",
                   "coarse_fine:4:16+center")
"""Heading searches scored for global-descriptor methods (``coarse_fine:C:N``: C, then N)."""
MATCH_SEARCHES = ("north", "match")
"""Heading searches scored for methods that match feature maps."""


@dataclasses.dataclass(frozen=True)
class _Query:
    pixels: Tensor
    """Model input ``(3, H, W)``."""
    heading: float
    """True bearing of the query's centre."""


def make_query(source: np.ndarray, cond: Condition, spec: Any, vfov_deg: float | None,
               rng: np.random.Generator) -> _Query:
    """One query of ``cond`` from a north-aligned source panorama ``(Hs, Ws, 3)`` uint8."""
    width = source.shape[1]
    if cond.heading_known:
        return _Query(model_input(source, spec, "ground", source_vfov_deg=vfov_deg), 0.0)
    col = int(rng.integers(width))  # whole source columns: the query has no resampling blur
    heading = 360.0 * col / width
    fov = float(rng.uniform(*cond.fov_deg))
    if cond.camera == "pinhole":
        from crossview.geometry.panorama import perspective_from_equirect
        from crossview.io import image_to_tensor, tensor_to_uint8

        pitch = float(rng.uniform(*cond.pitch_deg))
        pano = image_to_tensor(source)[None]
        band = vfov_deg if vfov_deg is not None else spec.ground_vfov_deg
        photo = perspective_from_equirect(pano, heading, pitch, fov, PHOTO_HW, band)[0]
        pixels = model_input(tensor_to_uint8(photo.clamp(0, 1)), spec, "ground",
                             camera="pinhole", fov_deg=fov, pitch_deg=0.0)
        return _Query(pixels, heading)
    turned = np.ascontiguousarray(np.roll(source, -col, axis=1))  # centre column looks at heading
    if fov >= 360.0:
        return _Query(model_input(turned, spec, "ground", source_vfov_deg=vfov_deg), heading)
    from crossview.geometry.panorama import fov_crop_width

    cols = fov_crop_width(fov, width)
    start = width // 2 - cols // 2
    crop = np.ascontiguousarray(turned[:, start:start + cols])
    return _Query(model_input(crop, spec, "ground", source_vfov_deg=vfov_deg, fov_deg=fov),
                  heading)


def _strategy_args(name: str) -> tuple[str, dict[str, Any]]:
    """``rolls:16+center`` -> ``("rolls", {"n": 16, "norm": "center"})``."""
    base, _, norm = name.partition("+")
    parts = base.split(":")
    extra: dict[str, Any] = {"norm": norm} if norm else {}
    try:
        if parts[0] == "rolls" and len(parts) == 2:
            return "rolls", {"n": int(parts[1]), **extra}
        if parts[0] == "coarse_fine" and len(parts) == 3:
            return "coarse_fine", {"n_coarse": int(parts[1]), "n": int(parts[2]), **extra}
    except ValueError:
        pass
    if parts[0] in ("north", "match") and len(parts) == 1 and not norm:
        return parts[0], {}
    raise ConfigError(f"heading search {name!r}: expected north, match, rolls:N[+NORM] or "
                      "coarse_fine:C:N[+NORM]")


class _Scorer:
    """Reference embeddings of one model and the per-batch scoring of every search."""

    def __init__(self, method: Any, table: Any, device: torch.device, batch_size: int,
                 searches: Sequence[str], rerank: int) -> None:
        from crossview.inference import embed_aerial

        self.method, self.device, self.rerank = method, device, rerank
        self.matching = bool(getattr(method, "can_match", False))
        self.searches = list(searches)
        for name in self.searches:
            kind, _ = _strategy_args(name)
            if kind == "match" and not self.matching:
                raise ConfigError(f"search {name!r} needs a method that matches feature maps")
            if kind in ("rolls", "coarse_fine") and self.matching:
                raise ConfigError(f"search {name!r}: {method.name} matches feature maps")
        refs = torch.from_numpy(embed_aerial(method, table, batch_size, device))
        if self.matching:
            refs = refs.view(len(refs), *method.match_shape)  # the flattened maps, folded back
        self.refs = refs

    @torch.inference_mode()
    def score(self, batch: list[_Query], known: bool) -> dict[str, tuple[Tensor, Tensor | None]]:
        """``{search: (scores (B, N), headings (B, N) or None)}`` of a batch of queries."""
        from crossview.device import inference_autocast
        from crossview.inference import eval_mode

        pixels = torch.stack([q.pixels for q in batch])
        with eval_mode(self.method), inference_autocast(self.device):
            if self.matching:
                return self._match(pixels, batch, known)
            return self._global(pixels, batch, known)

    def _match(self, pixels: Tensor, batch: list[_Query], known: bool
               ) -> dict[str, tuple[Tensor, Tensor | None]]:
        from crossview.methods.matching import GroundMap, polar_correlation, refine_peak

        gm = self.method.ground_features(pixels.to(self.device))
        gm = GroundMap(gm.features.float().cpu(), gm.valid.float().cpu())
        corr = polar_correlation(gm, self.refs)  # (B, N, W)
        width = corr.shape[-1]
        if known:
            shift = torch.tensor([q.heading * width / 360.0 for q in batch])
            lo = shift.floor().long()
            frac = (shift - lo).view(-1, 1)
            at = corr.gather(2, (lo % width).view(-1, 1, 1).expand(-1, corr.shape[1], 1))[..., 0]
            nxt = corr.gather(2, ((lo + 1) % width).view(-1, 1, 1).expand(-1, corr.shape[1],
                                                                          1))[..., 0]
            return {"known": (at * (1 - frac) + nxt * frac, None)}
        best, pos = refine_peak(corr)
        out: dict[str, tuple[Tensor, Tensor | None]] = {}
        for name in self.searches:
            if name == "north":
                out[name] = (corr[..., 0], torch.zeros_like(best))
            else:
                out[name] = (best, (pos * (360.0 / width)) % 360.0)
        return out

    def _global(self, pixels: Tensor, batch: list[_Query], known: bool
                ) -> dict[str, tuple[Tensor, Tensor | None]]:
        encode = self.method.encode_ground
        if known:
            turned = torch.cat([rolled_queries(p, [q.heading]) for p, q in zip(pixels, batch,
                                                                                 strict=True)])
            desc = encode(turned.to(self.device)).float().cpu()
            return {"known": (desc @ self.refs.T, None)}
        grid = uniform_headings(FINE_HEADINGS)
        rolls = torch.cat([rolled_queries(p, grid) for p in pixels])  # (B * R, 3, H, W)
        desc = encode(rolls.to(self.device)).float().cpu().view(len(batch), FINE_HEADINGS, -1)
        scores = torch.einsum("brd,nd->bnr", desc, self.refs)  # (B, N, R)
        out: dict[str, tuple[Tensor, Tensor | None]] = {}
        for name in self.searches:
            kind, args = _strategy_args(name)
            out[name] = strategy_scores(scores, kind, keep=self.rerank, **args)
        return out


def evaluate_conditions(
    run: str | Path,
    data: Any = None,
    split: str | None = "val",
    conditions: Sequence[str] = tuple(CONDITIONS),
    searches: Sequence[str] | None = None,
    max_queries: int | None = None,
    seed: int = 0,
    which: str = "last",
    batch_size: int = 16,
    rerank: int = 50,
    device: str | None = None,
    data_options: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Localization of ``split`` under every query condition (module docstring).

    The step behind ``crossview eval-conditions``.

    Args:
        run: Training run directory or checkpoint.
        data: ``LAYOUT:ROOT`` (default: the run's own data).
        split: Split whose panoramas are the queries (its references are the tiles).
        conditions: Names from :data:`CONDITIONS`.
        searches: Heading searches to score (default :data:`GLOBAL_SEARCHES` or
            :data:`MATCH_SEARCHES`).
        max_queries: Use the first this many panoramas of the split (``None``: all).
        seed: Seed of the random bearings, FOVs and pitches.
        which: Checkpoint of a run directory (``last``: the held-out split never picks it).
        batch_size: Queries per forward pass (global methods embed 32 headings of each).
        rerank: Tiles re-scored by ``coarse_fine``.
        device: Torch device.
        data_options: Layout options (``--data-opt``).

    Returns:
        ``{"method", "checkpoint", "checkpoint_sha256", "data", "split", "num_queries",
        "num_references", "default_search", "conditions": {name: {search: row}}}`` with rows of
        :func:`crossview.evaluation.conditions.summarize`.

    """
    from crossview.device import get_device
    from crossview.training.steps import _data_spec, _retrieval_model, select_split

    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ConfigError(f"condition {unknown[0]!r}: expected one of {list(CONDITIONS)}")
    if batch_size < 1 or (max_queries is not None and max_queries < 1):
        raise ConfigError("batch_size and max_queries must be >= 1")
    model = _retrieval_model(run, which)
    spec_data = _data_spec(model, data, data_options)
    table = select_split(spec_data.load(), split)
    if max_queries is not None and max_queries < len(table):
        table = _first(table, max_queries)
    method, dev = model.method, get_device(device)
    method.to(dev)
    matching = bool(getattr(method, "can_match", False))
    chosen = list(searches or (MATCH_SEARCHES if matching else GLOBAL_SEARCHES))
    scorer = _Scorer(method, table, dev, batch_size, chosen, rerank)
    truth = np.array([p.positive for p in table.pairs])
    query_utm = np.array([[p.utm_e, p.utm_n] for p in table.pairs], dtype=np.float64)
    ref_utm = np.array([[r.utm_e, r.utm_n] for r in table.references], dtype=np.float64)
    sources = [np.asarray(read_image(p.ground)) for p in table.pairs]
    vfov = table.extras.get("ground_vfov_deg")
    out: dict[str, Any] = {}
    for ci, name in enumerate(conditions):
        cond = CONDITIONS[name]
        rng = np.random.default_rng([seed, ci])
        queries = [make_query(src, cond, method.input_spec, vfov, rng) for src in sources]
        reduced: dict[str, list[Any]] = {}
        for start in track(range(0, len(queries), batch_size), f"condition {name}",
                           total=math.ceil(len(queries) / batch_size)):
            batch = queries[start:start + batch_size]
            rows = slice(start, start + len(batch))
            heads_true = np.array([q.heading for q in batch])
            for search, (scores, heads) in scorer.score(batch, cond.heading_known).items():
                part = reduce_scores(scores.numpy(), truth[rows],
                                     None if heads is None else heads.numpy(), heads_true)
                reduced.setdefault(search, []).append(part)
        out[name] = {}
        for search, parts in reduced.items():
            ranks, top1 = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
            errs = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
            out[name][search] = summarize(ranks, top1, len(table.references), query_utm,
                                          ref_utm, errs)
    return {
        "method": model.method_name, "checkpoint": str(model.checkpoint_path),
        "checkpoint_sha256": model.checkpoint_sha256, "data": str(spec_data), "split": split,
        "num_queries": len(table), "num_references": len(table.references),
        "default_search": locate_search(method), "seed": seed,
        "conditions": out,
    }


def locate_search(method: Any, num_headings: int = 32, coarse_headings: int = 4) -> str:
    """The benchmark's name of the search ``locate`` uses for ``method`` by default."""
    from crossview.index.locate import resolve_search

    kind = resolve_search(method, "auto")
    if kind == "rolls":
        return f"rolls:{num_headings}"
    if kind == "coarse_fine":
        return f"coarse_fine:{coarse_headings}:{num_headings}"
    return kind


def _first(table: Any, n: int) -> Any:
    """The first ``n`` pairs of ``table`` with every reference (the gallery stays whole)."""
    return dataclasses.replace(table, pairs=list(table.pairs[:n]))


def condition_table(result: dict[str, Any], search: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{condition, search, R@1, ...}`` of one evaluation, one per condition.

    Each condition is scored with ``search`` (default: the search ``locate`` uses; the first
    search scored when that one was not), ``known`` with the given heading; each row names it.
    """
    chosen = search or result["default_search"]
    rows = []
    for cond, by_search in result["conditions"].items():
        key = "known" if "known" in by_search else chosen
        if key not in by_search:
            key = next(iter(by_search))
        rows.append({"condition": cond, "search": key, **by_search[key]})
    return rows
