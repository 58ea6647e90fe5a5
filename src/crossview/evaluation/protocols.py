"""Protocol layer: metrics of a :class:`~crossview.data.table.PairTable` from descriptors.

Used by the trainer and ``crossview eval``. ``ground_desc`` rows align with ``table.pairs`` and
``aerial_desc`` rows with ``table.references``. Protocols are registered functions
(:func:`register_protocol`); a table's default protocol is its layout object's
(:meth:`crossview.data.layouts.Layout.default_protocol`), ``recall`` for tables of unregistered
layouts. Built-in protocols:

==================  ===========================================================================
``recall``          CVUSA, CVACT_val and generic layouts: R@k, R@1%, both directions
``cvact_test``      CVACT test: correct when the retrieved tile is within 5 m (UTM); option
                    ``one_to_one=True`` scores it like ``recall`` (public Python codebases)
``vigor``           recall of the positive, official hit rate, metre-level error
``university``      University-1652 mAP and R@k by class id, the task's queries -> gallery
``crosslocate``     N in {1, 10, 100} x t in {20, 100, 1000} m, with and without yaw <= 30 deg;
                    headline R@N at 1 km; recall-vs-distance curve to 10 km (N = 1, 100); the
                    chance baseline (random database views, exact expectation)
==================  ===========================================================================
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from crossview.data.table import PairTable
from crossview.errors import ConfigError, unknown_name_error
from crossview.evaluation.distance import (
    chance_recall,
    distance_recall,
    nearest_retrieved_distance,
    radius_grid,
    recall_curve,
)
from crossview.evaluation.retrieval import ArrayLike, recall_both_directions, recall_from_ranks
from crossview.evaluation.university import university_evaluate
from crossview.evaluation.vigor import vigor_evaluate

_COMMON_OPTIONS = ("block_size", "device")
"""Options every protocol passes to the blockwise scorer unchanged."""


@dataclasses.dataclass(frozen=True)
class Scored:
    """What every protocol scores: the descriptors, their table and the scorer options.

    ``common`` holds ``block_size`` and ``device``, to pass on to the blockwise scorers.
    """

    ground: ArrayLike
    aerial: ArrayLike
    table: PairTable
    common: dict[str, Any]


ProtocolFn = Callable[..., dict[str, Any]]
"""``fn(scored, **options) -> dict``: the first argument holds the descriptors and the table."""
_PROTOCOLS: dict[str, ProtocolFn] = {}


def register_protocol(name: str) -> Callable[[ProtocolFn], ProtocolFn]:
    """Register ``fn(scored, **options) -> dict`` as protocol ``name``.

    ``scored`` has ``ground``, ``aerial`` (descriptors), ``table`` and ``common`` (the options
    every protocol passes to the blockwise scorers: ``block_size``, ``device``). The function's
    keyword parameters are the protocol's options; unknown ones are errors naming them.
    """

    def deco(fn: ProtocolFn) -> ProtocolFn:
        if name in _PROTOCOLS:
            raise ValueError(f"evaluation protocol {name!r} registered twice")
        _PROTOCOLS[name] = fn
        return fn

    return deco


def get_protocol(name: str) -> ProtocolFn:
    """The protocol function registered as ``name``.

    Raises:
        ConfigError: Unknown name (lists the registered ones and a close match).

    """
    if name not in _PROTOCOLS:
        raise unknown_name_error("evaluation protocol", name, list(_PROTOCOLS))
    return _PROTOCOLS[name]


def list_protocols() -> list[str]:
    """Registered protocol names, in registration order."""
    return list(_PROTOCOLS)


def default_protocol(table: PairTable) -> str:
    """The protocol ``table`` is scored with: its layout object's choice.

    ``recall`` when ``table.layout`` is not a registered layout (e.g. a table built in code).
    """
    from crossview.data.layouts import get_layout

    try:
        layout = get_layout(table.layout)
    except ConfigError:  # not a registered layout: the generic protocol, as documented
        return "recall"
    return layout.default_protocol(table)


def evaluate_protocol(
    ground_desc: ArrayLike,
    aerial_desc: ArrayLike,
    table: PairTable,
    protocol: str | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Evaluate descriptors of ``table`` under ``protocol`` and return a JSON-able dict.

    Args:
        ground_desc: (len(table.pairs), D) ground descriptors.
        aerial_desc: (len(table.references), D) aerial descriptors.
        table: The evaluated pairs (select the split first).
        protocol: A registered protocol (:func:`list_protocols`); default from the layout.
        **opts: ``ks``, ``one_percent``, ``block_size``, ``device``; ``radius_m`` and
            ``one_to_one`` (cvact_test); ``radii_m``, ``ns``, ``max_yaw_deg`` (crosslocate).

    """
    protocol = protocol or default_protocol(table)
    fn = get_protocol(protocol)
    if len(ground_desc) != len(table.pairs) or len(aerial_desc) != len(table.references):
        raise ConfigError(
            f"descriptor rows ({len(ground_desc)} ground, {len(aerial_desc)} aerial) do "
            f"not match the table ({len(table.pairs)} pairs, "
            f"{len(table.references)} references)"
        )
    common = {k: opts.pop(k) for k in _COMMON_OPTIONS if k in opts}
    valid = list(inspect.signature(fn).parameters)[1:]  # the first one is the Scored input
    unknown = sorted(set(opts) - set(valid))
    if unknown:
        raise ConfigError(
            f"option {unknown[0]!r} is not valid for protocol {protocol!r}; "
            f"valid options: {valid + list(_COMMON_OPTIONS)}"
        )
    result = fn(Scored(ground_desc, aerial_desc, table, common), **opts)
    return {"protocol": protocol, "layout": table.layout, **result}


@register_protocol("recall")
def _recall(x: Scored, ks: Any = (1, 5, 10), one_percent: str = "floor") -> dict[str, Any]:
    res = recall_both_directions(x.ground, x.aerial, x.table.truth(), ks, one_percent, **x.common)
    return {name: r.to_dict() for name, r in res.items()}


def _positions(table: PairTable, prefer: str = "utm") -> tuple[np.ndarray, np.ndarray, str]:
    """Ground and reference positions and their metric.

    UTM (OriCNN's CVACT protocol) when all are known in one zone, else WGS84 geodesic from
    latitude/longitude; ``prefer="geodesic"`` (CrossLocate) tries latitude/longitude first.
    """
    gu, ru = table.ground_utm(), table.reference_utm()
    zones = {p.utm_zone for p in table.pairs} | {r.utm_zone for r in table.references}
    utm_ok = np.isfinite(gu).all() and np.isfinite(ru).all() and len(zones) <= 1
    gl = np.array([[p.lat, p.lon] for p in table.pairs], dtype=float)
    rl = np.array([[r.lat, r.lon] for r in table.references], dtype=float)
    latlon_ok = np.isfinite(gl).all() and np.isfinite(rl).all()
    if utm_ok and not (prefer == "geodesic" and latlon_ok):
        return gu, ru, "utm"
    if latlon_ok:
        return gl, rl, "geodesic"
    raise ConfigError(
        f"{table.layout}: distance protocol needs UTM (one zone) or lat/lon for every "
        "ground image and reference"
    )


def _distance_scorer(x: Scored, prefer: str = "utm") -> Callable[..., dict[str, Any]]:
    """``score(radii_m, ns, one_percent, **yaw)``: :func:`distance_recall` of ``x`` as a dict.

    The positions are resolved once (and a table without them fails here, before any scoring).
    """
    qp, rp, metric = _positions(x.table, prefer)

    def score(radii_m: Any, ns: Any, one_percent: str, **yaw: Any) -> dict[str, Any]:
        res = distance_recall(
            x.ground, x.aerial, qp, rp, radii_m, ns, one_percent, metric, **yaw, **x.common
        )
        return res.to_dict()

    return score


@register_protocol("cvact_test")
def _cvact_test(
    x: Scored,
    ks: Any = (1, 5, 10),
    one_percent: str = "floor",
    radius_m: float = 5.0,
    one_to_one: bool = False,
) -> dict[str, Any]:
    if one_to_one:
        return {**_recall(x, ks, one_percent), "scoring": "one-to-one"}
    score = _distance_scorer(x)
    return {
        "ground_to_aerial": score(radius_m, ks, one_percent),
        "scoring": f"within {radius_m:g} m",
    }


@register_protocol("vigor")
def _vigor(x: Scored, ks: Any = (1, 5, 10), one_percent: str = "floor+1") -> dict[str, Any]:
    table = x.table
    width = max(len(p.references) for p in table.pairs)
    refs = np.full((len(table.pairs), width), -1, dtype=np.int64)
    offsets = np.zeros((len(table.pairs), width, 2))
    have_offsets = all(p.offsets_px is not None for p in table.pairs)
    for i, p in enumerate(table.pairs):
        refs[i, : len(p.references)] = p.references
        if have_offsets:
            offsets[i, : len(p.offsets_px)] = p.offsets_px  # type: ignore[arg-type]
    res_m = np.array(
        [
            np.nan if r.ground_resolution_m is None else r.ground_resolution_m
            for r in table.references
        ]
    )
    have = have_offsets and np.isfinite(res_m).all()
    gp: np.ndarray | None
    rp: np.ndarray | None
    try:
        gp, rp, metric = _positions(table)
    except ConfigError:  # metre errors then only resolve top-1 tiles among the query's own
        gp = rp = None
        metric = "utm"
    res = vigor_evaluate(
        x.ground,
        x.aerial,
        refs,
        offsets if have else None,
        res_m if have else None,
        rp,
        gp,
        ks,
        one_percent,
        metric,
        **x.common,
    )
    return {"ground_to_aerial": res.to_dict()}


@register_protocol("university")
def _university(x: Scored, ks: Any = (1, 5, 10), one_percent: str | None = None) -> dict[str, Any]:
    # ``one_percent`` is accepted so that callers can pass the same options to every protocol;
    # the University-1652 protocol reports AP and CMC recall@k only. Only the direction the
    # task defines is scored (SPECS §10): the table's queries (``pairs``: drone images for
    # drone2sat, satellite images for sat2drone) against its gallery (``references``); the
    # reverse would make the gallery's distractors queries without a match.
    gl = np.array([-1 if p.class_id is None else p.class_id for p in x.table.pairs])
    al = np.array([-1 if r.class_id is None else r.class_id for r in x.table.references])
    extras = x.table.extras
    query_view = extras.get("query_view", "ground")
    gallery_view = extras.get("reference_view", "aerial")
    fwd = university_evaluate(x.ground, x.aerial, gl, al, ks,
                              direction=f"{query_view}_to_{gallery_view}", **x.common)
    return {"query_to_gallery": fwd.to_dict(), "task": extras.get("task"),
            "query_view": query_view, "gallery_view": gallery_view}


@register_protocol("crosslocate")
def _crosslocate(
    x: Scored,
    ns: Any = (1, 10, 100),
    radii_m: Any = (20.0, 100.0, 1000.0),
    max_yaw_deg: float = 30.0,
    one_percent: str = "floor",
    ks: Any = None,
    headline_radius_m: float = 1000.0,
    curve_ns: Any = (1, 100),
    curve_max_m: float = 10_000.0,
    curve_points: int = 201,
) -> dict[str, Any]:
    score = _distance_scorer(x, prefer="geodesic")
    ns = ns if ks is None else ks  # the generic ``ks`` option names CrossLocate's N values
    ns = [n for n in ns if n <= len(x.table.references)] or [1]
    radii = sorted({*(float(r) for r in radii_m), float(headline_radius_m)})
    out: dict[str, Any] = {"position": score(radii, ns, one_percent)}
    qy = [p.yaw_deg for p in x.table.pairs]
    ry = [r.extras.get("yaw_deg") for r in x.table.references]
    if all(y is not None for y in qy) and all(y is not None for y in ry):
        out["position_and_yaw"] = score(
            radii,
            ns,
            one_percent,
            query_yaw_deg=np.array(qy, float),
            reference_yaw_deg=np.array(ry, float),
            max_yaw_deg=max_yaw_deg,
        )
    # Headline (the trainer's best checkpoint, eval tables): recall at the paper's 1 km.
    head = out["position"]["by_radius_m"][f"{float(headline_radius_m):g}"]
    qp, rp, metric = _positions(x.table, prefer="geodesic")
    grid = radius_grid(curve_max_m, curve_points)
    nearest = nearest_retrieved_distance(x.ground, x.aerial, qp, rp, curve_ns, metric,
                                         **x.common)
    chance_grid = chance_recall(qp, rp, radii, ns, metric)
    chance_curve = chance_recall(qp, rp, grid, list(nearest), metric)
    return {
        **head, "headline_radius_m": float(headline_radius_m), **out,
        "curve": {**recall_curve(nearest, grid), "distance": f"{metric} (chord for lat/lon)"},
        "chance": {
            "by_radius_m": {f"{r:g}": {f"R@{n}": float(v[t]) for n, v in chance_grid.items()}
                            for t, r in enumerate(radii)},
            "curve": {"radii_m": grid.tolist(),
                      "recall": {str(n): v.tolist() for n, v in chance_curve.items()}},
            "rule": "expected recall of N distinct database views drawn uniformly at random",
        },
    }


PROTOCOLS = tuple(_PROTOCOLS)
"""The built-in protocol names, in the order of the module docstring's table (those registered
later are in :func:`list_protocols`)."""

__all__ = [
    "PROTOCOLS",
    "Scored",
    "default_protocol",
    "evaluate_protocol",
    "get_protocol",
    "list_protocols",
    "recall_from_ranks",
    "register_protocol",
]
