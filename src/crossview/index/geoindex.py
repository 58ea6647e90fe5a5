"""The persistent GeoIndex: aerial-tile descriptors with coordinates in a LanceDB table.

One index = one LanceDB table named ``tiles`` under a URI LanceDB accepts (a local folder, or
object storage such as ``s3://bucket/index``). Each row is one aerial tile: its descriptor
(``vector``, L2-normalised float32), tile id, source path, centre WGS84 lat/lon, UTM, ground
resolution, and the method name and checkpoint SHA-256 of the model that embedded it. The same
method/checkpoint pair is also stored in the table's schema metadata, so a query made with
another model is refused before any search (descriptors of two models are not comparable).

Similarity is the dot product (DESIGN.md "Tensors"); LanceDB's ``dot`` distance is
``1 - q·v``, so ``score = 1 - _distance``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from crossview._version import __version__
from crossview.errors import ConfigError, CrossviewError
from crossview.index.tiles import TILE_COLUMNS, TileLocation

logger = logging.getLogger(__name__)

TABLE = "tiles"
"""Name of the LanceDB table holding the tiles."""
META_KEY = b"crossview"
"""Schema-metadata key of the JSON header (method, checkpoint, dim, version)."""
COLUMNS = TILE_COLUMNS
"""Per-tile metadata columns (same names as the world's and ``tiles make``'s ``tiles.csv``)."""
_EARTH_M_PER_DEG_LAT = 110_574.0  # lower bound of metres per degree of latitude (at the equator)


@dataclasses.dataclass(frozen=True)
class IndexInfo:
    """Header of an index: which model embedded it and how."""

    method: str
    checkpoint_sha256: str
    dim: int
    crossview_version: str = __version__
    checkpoint_path: str = ""
    """Where the embedding checkpoint was (``locate`` loads it from here unless given ``--run``)."""


@dataclasses.dataclass(frozen=True)
class Candidate(TileLocation):
    """One search result: the tile's location columns, then its rank and score."""

    rank: int
    """1-based rank (1 = best)."""
    score: float
    """Dot-product similarity of the query and tile descriptors (higher is better)."""
    distance_m: float | None = None
    """Geodesic distance of the tile centre from the ``near`` prior, when one was given."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (the ``candidates`` entries of ``locate --json``)."""
        d = dataclasses.asdict(self)
        d["tile"] = d.pop("tile_id")
        return {"rank": d.pop("rank"), **d}  # rank first, as ``locate --json`` has always had


def _schema(info: IndexInfo) -> pa.Schema:
    fields = [
        pa.field("tile_id", pa.string()),
        pa.field("path", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("utm_e", pa.float64()),
        pa.field("utm_n", pa.float64()),
        pa.field("utm_zone", pa.string()),
        pa.field("ground_resolution_m", pa.float64()),
        pa.field("method", pa.string()),
        pa.field("checkpoint_sha256", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), info.dim)),
    ]
    header = json.dumps(dataclasses.asdict(info)).encode()
    return pa.schema(fields, metadata={META_KEY: header})


def _connect(uri: str) -> Any:
    import lancedb

    return lancedb.connect(str(uri))


def _table_names(db: Any) -> list[str]:
    result = db.list_tables()
    names = getattr(result, "tables", result)
    return list(names)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class GeoIndex:
    """A LanceDB table of aerial-tile descriptors with coordinates (see module docstring)."""

    def __init__(self, uri: str, table: Any, info: IndexInfo) -> None:
        self.uri = str(uri)
        self._table = table
        self.info = info

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        uri: str,
        method_name: str,
        checkpoint_sha256: str,
        dim: int,
        exist_ok: bool = False,
        checkpoint_path: str = "",
    ) -> GeoIndex:
        """Create an empty index at ``uri`` (or open it when ``exist_ok`` and it matches).

        Raises:
            CrossviewError: the index exists and ``exist_ok`` is false, or it was built with
                another method, checkpoint or descriptor size.

        """
        if dim <= 0:
            raise ConfigError(f"descriptor dim must be positive, got {dim}")
        info = IndexInfo(
            method_name, checkpoint_sha256, int(dim), checkpoint_path=str(checkpoint_path)
        )
        db = _connect(uri)
        if TABLE in _table_names(db):
            if not exist_ok:
                raise CrossviewError(f"index {uri} already exists; open it or choose another --out")
            index = cls.open(uri)
            index.check_compatible(method_name, checkpoint_sha256)
            if index.info.dim != dim:
                raise CrossviewError(f"index {uri} holds {index.info.dim}-d descriptors, not {dim}")
            return index
        table = db.create_table(TABLE, schema=_schema(info))
        return cls(uri, table, info)

    @classmethod
    def open(cls, uri: str) -> GeoIndex:
        """Open an existing index; a missing or foreign table is a one-line error."""
        try:
            db = _connect(uri)
            names = _table_names(db)
        except Exception as err:  # noqa: BLE001  (LanceDB raises many types for bad URIs)
            raise CrossviewError(f"index {uri}: cannot open ({err})") from None
        if TABLE not in names:
            raise CrossviewError(
                f"index {uri}: no crossview index here (build one with `crossview index build`)"
            )
        with _reading(uri):
            table = db.open_table(TABLE)
            raw = (table.schema.metadata or {}).get(META_KEY)
        if raw is None:
            raise CrossviewError(f"index {uri}: table {TABLE!r} has no crossview header")
        return cls(uri, table, IndexInfo(**json.loads(raw)))

    # --- contents --------------------------------------------------------------------------
    def __len__(self) -> int:
        with _reading(self.uri):
            return int(self._table.count_rows())

    def __repr__(self) -> str:
        return (
            f"GeoIndex(uri={self.uri!r}, method={self.info.method!r}, "
            f"checkpoint={self.info.checkpoint_sha256[:12]!r}, dim={self.info.dim}, "
            f"rows={len(self)})"
        )

    @property
    def has_ann(self) -> bool:
        """Whether an approximate (IVF-PQ) vector index exists."""
        return any("vector" in idx.columns for idx in self._table.list_indices())

    def tile_ids(self) -> set[str]:
        """Ids of every tile in the index (used by ``index build`` to resume)."""
        n = len(self)
        if n == 0:
            return set()
        col = self._table.search().select(["tile_id"]).limit(n).to_arrow()["tile_id"]
        return set(col.to_pylist())

    def locations(self, where: str | None = None, limit: int | None = None,
                  columns: Sequence[str] = COLUMNS) -> pa.Table:
        """Location ``columns`` (default :data:`COLUMNS`) of the tiles matching SQL ``where``.

        Used by ``crossview serve`` for the index extent and the map's tiles (no vectors read).
        """
        n = len(self) if limit is None else int(limit)
        query = self._table.search()
        if where is not None:
            query = query.where(where)
        with _reading(self.uri):
            return query.select(list(columns)).limit(max(n, 1)).to_arrow()

    def check_compatible(self, method_name: str, checkpoint_sha256: str) -> None:
        """Refuse a model other than the one that built the index.

        Raises:
            CrossviewError: naming both the index's and the query's method and checkpoint.

        """
        if method_name != self.info.method or checkpoint_sha256 != self.info.checkpoint_sha256:
            raise CrossviewError(
                f"index {self.uri} was built with method {self.info.method!r} checkpoint "
                f"{self.info.checkpoint_sha256[:12]}, but the query model is {method_name!r} "
                f"checkpoint {checkpoint_sha256[:12]}; descriptors are not comparable, rebuild "
                "the index with this model"
            )

    def add(self, rows: Mapping[str, Sequence[Any]], vectors: np.ndarray) -> int:
        """Append tiles.

        ``rows`` maps each name of :data:`COLUMNS` to a sequence, ``vectors``
        is ``(N, D)`` float32 (L2-normalised). Returns the number of rows written.

        Raises:
            CrossviewError: on a missing column, mismatched lengths, wrong D or NaN descriptors.

        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.info.dim:
            raise CrossviewError(
                f"index {self.uri}: expected descriptors (N, {self.info.dim}), got {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise CrossviewError(f"index {self.uri}: refusing NaN/inf descriptors")
        n = len(vectors)
        missing = [c for c in COLUMNS if c not in rows]
        if missing:
            raise CrossviewError(f"index {self.uri}: rows lack columns {missing}")
        bad = [c for c in COLUMNS if len(rows[c]) != n]
        if bad:
            raise CrossviewError(f"index {self.uri}: columns {bad} do not have {n} entries")
        if n == 0:
            return 0
        data = {c: list(rows[c]) for c in COLUMNS}
        data["method"] = [self.info.method] * n
        data["checkpoint_sha256"] = [self.info.checkpoint_sha256] * n
        data["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), self.info.dim)
        self._table.add(pa.table(data, schema=self._table.schema))
        return n

    def create_ann(
        self, num_partitions: int | None = None, num_sub_vectors: int | None = None
    ) -> dict[str, int]:
        """Build (or rebuild) the IVF-PQ index for approximate search.

        Defaults follow LanceDB's guidance: about sqrt(N) partitions, and sub-vectors of 8
        dimensions (a divisor of D, so every PQ code covers whole dimensions). Partitions are
        capped at N/256: LanceDB trains k-means on 256 samples per partition and silently trains
        fewer partitions otherwise, so the returned count would not be the one in use.
        """
        from lancedb.index import IvfPq

        n = len(self)
        if n < 256:
            raise CrossviewError(f"index {self.uri}: {n} rows are too few for IVF-PQ (need >= 256)")
        parts = num_partitions or max(1, min(int(round(math.sqrt(n))), n // 256))
        subs = num_sub_vectors or _default_sub_vectors(self.info.dim)
        if self.info.dim % subs:
            raise ConfigError(
                f"num_sub_vectors={subs} must divide the descriptor dim {self.info.dim}"
            )
        config = IvfPq(distance_type="dot", num_partitions=parts, num_sub_vectors=subs)
        self._table.create_index("vector", config=config, replace=True)
        return {"num_partitions": parts, "num_sub_vectors": subs}

    # --- search ----------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        near: tuple[float, float] | None = None,
        radius_m: float | None = None,
        exact: bool = True,
        nprobes: int = 20,
        refine_factor: int | None = None,
    ) -> list[list[Candidate]]:
        """Top-``k`` tiles for each query descriptor.

        Args:
            queries: ``(Q, D)`` L2-normalised float32 descriptors (or one ``(D,)``).
            k: Candidates per query.
            near: Geographic prior ``(lat, lon)``; with ``radius_m`` only tiles whose centre
                lies within ``radius_m`` metres (WGS84 geodesic) are considered.
            radius_m: Radius of the prior in metres (requires ``near``).
            exact: Brute-force search (``True``) or the IVF-PQ index (``False``; needs
                :meth:`create_ann`).
            nprobes: IVF partitions probed per query (ANN only).
            refine_factor: Re-rank ``k * refine_factor`` PQ hits with exact vectors (ANN only).

        Returns:
            Per query, up to ``k`` candidates sorted by decreasing score.

        """
        q = np.asarray(queries, dtype=np.float32)
        q = q[None] if q.ndim == 1 else q
        if q.ndim != 2 or q.shape[1] != self.info.dim:
            raise CrossviewError(f"queries: expected (Q, {self.info.dim}), got {q.shape}")
        if not np.isfinite(q).all():
            raise CrossviewError("queries: descriptors contain NaN/inf")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if (near is None) != (radius_m is None):
            raise ConfigError("the geographic prior needs both near=(lat, lon) and radius_m")
        if radius_m is not None and not radius_m > 0:
            raise ConfigError(f"radius_m must be positive, got {radius_m}")
        if len(self) == 0:
            raise CrossviewError(
                f"index {self.uri} is empty; build it with `crossview index build`"
            )
        if not exact and nprobes < 1:
            raise ConfigError(f"nprobes must be >= 1, got {nprobes}")
        if not exact and not self.has_ann:
            raise CrossviewError(f"index {self.uri} has no ANN index; run `crossview index ann`")
        where = _bbox_sql(near, radius_m) if near is not None and radius_m is not None else None
        limit = k if where is None else 4 * k
        while True:
            results = self._query(q, limit, where, exact, nprobes, refine_factor)
            if where is None:
                return [_to_candidates(r[:k], None) for r in results]
            filtered = [_within(r, near, radius_m) for r in results]  # type: ignore[arg-type]
            # The bounding box holds more than the circle: when a query's box hits were all
            # used up (limit reached) yet fewer than k fall in the circle, ask for more.
            pairs = zip(filtered, results, strict=True)
            short = any(len(f) < k and len(r) == limit for f, r in pairs)
            if not short:
                return [_to_candidates(f[:k], near) for f in filtered]
            limit *= 4

    def _query(
        self,
        q: np.ndarray,
        limit: int,
        where: str | None,
        exact: bool,
        nprobes: int,
        refine_factor: int | None,
    ) -> list[list[dict[str, Any]]]:
        builder = self._table.search(list(q) if len(q) > 1 else q[0], vector_column_name="vector")
        builder = builder.distance_type("dot").limit(limit)
        if where is not None:
            builder = builder.where(where, prefilter=True)
        if exact:
            builder = builder.bypass_vector_index()
        else:
            builder = builder.nprobes(nprobes)
            if refine_factor:
                builder = builder.refine_factor(refine_factor)
        columns = [*COLUMNS, "_distance"]
        with _reading(self.uri):
            table = builder.select(columns).to_arrow()
        rows = table.to_pylist()
        per_query: list[list[dict[str, Any]]] = [[] for _ in range(len(q))]
        for row in rows:
            per_query[int(row.get("query_index", 0))].append(row)
        for hits in per_query:
            hits.sort(key=lambda r: r["_distance"])
        return per_query


@contextlib.contextmanager
def _reading(uri: str) -> Iterator[None]:
    """Turn LanceDB's errors on damaged files (truncated data, lost manifests) into one line."""
    try:
        yield
    except CrossviewError:
        raise
    except (OSError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CrossviewError(f"index {uri}: cannot read the table, damaged or truncated "
                             f"({first[:160]})") from None


def _default_sub_vectors(dim: int) -> int:
    for width in (8, 4, 16, 2):
        if dim % width == 0 and dim // width >= 1:
            return dim // width
    return 1


def _bbox_sql(near: tuple[float, float] | None, radius_m: float | None) -> str:
    """Build a lat/lon box containing the circle (a cheap SQL pre-filter before the exact test)."""
    assert near is not None and radius_m is not None
    lat, lon = near
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"near=({lat}, {lon}) is not a valid WGS84 latitude/longitude")
    dlat = radius_m / _EARTH_M_PER_DEG_LAT * 1.01
    lat_lo, lat_hi = lat - dlat, lat + dlat
    max_abs_lat = min(89.9, max(abs(lat_lo), abs(lat_hi)))
    dlon = dlat / max(math.cos(math.radians(max_abs_lat)), 1e-6)
    clauses = [f"lat >= {lat_lo!r}", f"lat <= {lat_hi!r}"]
    if dlon < 180:
        lo, hi = lon - dlon, lon + dlon
        # A box crossing the antimeridian is the union of two longitude ranges.
        if lo < -180:
            clauses.append(f"(lon >= {lo + 360!r} OR lon <= {hi!r})")
        elif hi > 180:
            clauses.append(f"(lon >= {lo!r} OR lon <= {hi - 360!r})")
        else:
            clauses += [f"lon >= {lo!r}", f"lon <= {hi!r}"]
    return " AND ".join(clauses)


def _within(
    rows: list[dict[str, Any]], near: tuple[float, float], radius_m: float
) -> list[dict[str, Any]]:
    """Rows whose centre is within ``radius_m`` of ``near`` (WGS84 geodesic), with distance."""
    from pyproj import Geod

    if not rows:
        return []
    lats = np.array([r["lat"] for r in rows])
    lons = np.array([r["lon"] for r in rows])
    _, _, dist = Geod(ellps="WGS84").inv(
        np.full_like(lons, near[1]), np.full_like(lats, near[0]), lons, lats
    )
    kept = []
    for row, d in zip(rows, np.atleast_1d(dist), strict=False):
        if d <= radius_m:
            kept.append({**row, "distance_m": float(d)})
    return kept


def _to_candidates(
    rows: Iterable[dict[str, Any]], near: tuple[float, float] | None
) -> list[Candidate]:
    return [
        Candidate(
            **{c: r[c] for c in COLUMNS},
            rank=i + 1,
            score=float(1.0 - r["_distance"]),
            distance_m=r.get("distance_m") if near is not None else None,
        )
        for i, r in enumerate(rows)
    ]
