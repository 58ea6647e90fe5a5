"""The persistent GeoIndex: aerial-tile descriptors with coordinates in a LanceDB table.

One index = one LanceDB table named ``tiles`` under a URI LanceDB accepts (a local folder, or
object storage such as ``s3://bucket/index``). Each row is one aerial tile: its descriptor
(``vector``, L2-normalised float32), tile id, source path, centre WGS84 lat/lon, UTM, ground
resolution, and the method name and checkpoint SHA-256 of the model that embedded it. The same
method/checkpoint pair is also stored in the table's schema metadata, so a query made with
another model is refused before any search (descriptors of two models are not comparable).

Similarity is the dot product (DESIGN.md "Tensors"); LanceDB's ``dot`` distance is
``1 - q·v``, so ``score = 1 - _distance`` (approximate indexes use the squared L2 distance,
``2 - 2 q·v`` for unit vectors, converted back the same way).

Approximate search (:meth:`GeoIndex.create_ann`) defaults to LanceDB's ``IVF_SQ`` trained on
the L2 distance: about sqrt(N) k-means partitions whose vectors are stored as 8-bit residuals to
their centroid; a query scores the codes of its ``nprobes`` (50) nearest partitions and
re-ranks ``k * refine_factor`` (10) hits with the stored float32 vectors, so returned scores
are exact dot products. On descriptors of tiles a few metres apart the ten nearest tiles are
nearly tied; 8-bit residuals keep their order where 24-byte product codes (the former
``IVF_PQ`` default) or codes of the raw vectors (LanceDB's ``dot`` indexes) do not
(docs/scale.md has the measurements behind this choice). ``IVF_FLAT``, ``IVF_PQ`` and the
``IVF_HNSW_*`` family stay available; indexes built with the former ``IVF_PQ`` default open and
search as before.

Object storage: ``uri`` may be ``s3://bucket/path`` (or ``gs://``, ``az://``). Credentials and
endpoint come from ``storage_options`` (passed to ``lancedb.connect``) or, when it is not given,
from the standard environment variables LanceDB reads (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT`` for S3-compatible servers and
``AWS_ALLOW_HTTP=true`` for a plain-http endpoint).
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

ANN_TYPES = ("IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ")
"""Approximate index types :meth:`GeoIndex.create_ann` builds (LanceDB's names)."""
DEFAULT_ANN_TYPE = "IVF_SQ"
"""The type built by default (module docstring; measurements in docs/scale.md)."""
ANN_METRIC = "l2"
"""Distance new approximate indexes are trained with (see :meth:`GeoIndex.create_ann`)."""
DEFAULT_NPROBES = 50
"""IVF partitions probed per query by default: recall@10 >= 0.98 on structured descriptors with
about sqrt(N) partitions at 100k-1M tiles (docs/scale.md)."""
DEFAULT_REFINE_FACTOR = 10
"""Quantised hits re-ranked with the stored vectors, per result wanted."""
_EXACT_SCORE_TYPES = ("IVF_FLAT", "IVF_HNSW_FLAT")
"""Types that score with the stored float32 vectors: re-ranking them would change nothing."""
_LANCE_TYPE_NAMES = {  # list_indices() spelling -> ours
    "IvfFlat": "IVF_FLAT", "IvfSq": "IVF_SQ", "IvfPq": "IVF_PQ", "IvfHnswFlat": "IVF_HNSW_FLAT",
    "IvfHnswSq": "IVF_HNSW_SQ", "IvfHnswPq": "IVF_HNSW_PQ",
}


@dataclasses.dataclass(frozen=True)
class IndexInfo:
    """Header of an index: which model embedded it and how."""

    method: str
    checkpoint_sha256: str
    dim: int
    crossview_version: str = __version__
    checkpoint_path: str = ""
    """Where the embedding checkpoint was (``locate`` loads it from here unless given ``--run``)."""
    extra_columns: tuple[str, ...] = ()
    """Float64 columns every row has beyond the tile location (DEM view indexes: ``yaw_deg``);
    indexes written before this field have none."""
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the rows are views of, when not image files (``kind: dem_views``: the DEM and the
    render settings, :mod:`crossview.index.terrain`); empty for tile indexes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        clash = set(self.extra_columns) & {*COLUMNS, "method", "checkpoint_sha256", "vector"}
        if clash:
            raise ConfigError(f"index extra columns {sorted(clash)} clash with built-in ones")


@dataclasses.dataclass(frozen=True)
class Candidate(TileLocation):
    """One search result: the tile's location columns, then its rank and score."""

    rank: int
    """1-based rank (1 = best)."""
    score: float
    """Dot-product similarity of the query and tile descriptors (higher is better)."""
    distance_m: float | None = None
    """Geodesic distance of the tile centre from the ``near`` prior, when one was given."""
    extras: dict[str, float] = dataclasses.field(default_factory=dict)
    """The index's extra columns of this row (e.g. ``yaw_deg`` of a DEM view)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (the ``candidates`` entries of ``locate --json``)."""
        d = dataclasses.asdict(self)
        d["tile"] = d.pop("tile_id")
        extras = d.pop("extras")  # flat: a DEM view's ``yaw_deg`` beside its lat/lon
        return {"rank": d.pop("rank"), **d, **extras}  # rank first, as it has always been


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
        *(pa.field(name, pa.float64()) for name in info.extra_columns),
        pa.field("vector", pa.list_(pa.float32(), info.dim)),
    ]
    header = json.dumps(dataclasses.asdict(info)).encode()
    return pa.schema(fields, metadata={META_KEY: header})


def _connect(uri: str, storage_options: Mapping[str, str] | None = None) -> Any:
    import lancedb

    if storage_options:
        return lancedb.connect(str(uri), storage_options=dict(storage_options))
    return lancedb.connect(str(uri))


def _table_names(db: Any) -> list[str]:
    result = db.list_tables()
    names = getattr(result, "tables", result)
    return list(names)


def sql_string(value: str) -> str:
    """``value`` as a quoted SQL string literal (LanceDB filters)."""
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
        storage_options: Mapping[str, str] | None = None,
        extra_columns: Sequence[str] = (),
        source: Mapping[str, Any] | None = None,
    ) -> GeoIndex:
        """Create an empty index at ``uri`` (or open it when ``exist_ok`` and it matches).

        ``storage_options`` configure object storage (module docstring); ``None`` reads the
        environment. ``extra_columns`` and ``source`` describe rows that are not plain tiles
        (:class:`IndexInfo`); reopening an index requires the same ones.

        Raises:
            CrossviewError: the index exists and ``exist_ok`` is false, or it was built with
                another method, checkpoint or descriptor size.

        """
        if dim <= 0:
            raise ConfigError(f"descriptor dim must be positive, got {dim}")
        info = IndexInfo(
            method_name, checkpoint_sha256, int(dim), checkpoint_path=str(checkpoint_path),
            extra_columns=tuple(extra_columns), source=dict(source or {}),
        )
        db = _connect(uri, storage_options)
        if TABLE in _table_names(db):
            if not exist_ok:
                raise CrossviewError(f"index {uri} already exists; open it or choose another --out")
            index = cls.open(uri, storage_options)
            index.check_compatible(method_name, checkpoint_sha256)
            if index.info.dim != dim:
                raise CrossviewError(f"index {uri} holds {index.info.dim}-d descriptors, not {dim}")
            if (index.info.extra_columns, index.info.source) != (info.extra_columns,
                                                                 json.loads(json.dumps(info.source))):
                raise CrossviewError(f"index {uri} holds other rows (columns "
                                     f"{list(index.info.extra_columns)}, source "
                                     f"{index.info.source}); choose another --out")
            return index
        table = db.create_table(TABLE, schema=_schema(info))
        return cls(uri, table, info)

    @classmethod
    def open(cls, uri: str, storage_options: Mapping[str, str] | None = None) -> GeoIndex:
        """Open an existing index; a missing or foreign table is a one-line error.

        ``storage_options`` configure object storage (module docstring).
        """
        try:
            db = _connect(uri, storage_options)
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
        """Whether an approximate vector index exists."""
        return self.ann_type is not None

    @property
    def ann_type(self) -> str | None:
        """Type of the approximate index (one of :data:`ANN_TYPES`), ``None`` if there is none.

        Indexes built before ``IVF_SQ`` became the default report ``IVF_PQ``.
        """
        ann = self._ann_index()
        if ann is None:
            return None
        return _LANCE_TYPE_NAMES.get(str(ann.index_type), str(ann.index_type))

    @property
    def ann_metric(self) -> str | None:
        """Distance the approximate index was trained with, ``None`` if there is none.

        ``l2`` (:data:`ANN_METRIC`), or ``dot`` for indexes built before; searches use the same.
        """
        ann = self._ann_index()
        if ann is None:
            return None
        details = getattr(ann, "index_details", None) or {}
        return str(details.get("metric_type", "dot")).lower()

    def _ann_index(self) -> Any:
        for idx in self._table.list_indices():
            if "vector" in idx.columns:
                return idx
        return None

    def tile_ids(self) -> set[str]:
        """Ids of every tile in the index (used by ``index build`` to resume)."""
        n = len(self)
        if n == 0:
            return set()
        col = self._table.search().select(["tile_id"]).limit(n).to_arrow()["tile_id"]
        return set(col.to_pylist())

    @property
    def row_columns(self) -> tuple[str, ...]:
        """Per-row metadata columns: the tile location's, then the index's extra ones."""
        return (*COLUMNS, *self.info.extra_columns)

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
        columns = self.row_columns
        missing = [c for c in columns if c not in rows]
        if missing:
            raise CrossviewError(f"index {self.uri}: rows lack columns {missing}")
        bad = [c for c in columns if len(rows[c]) != n]
        if bad:
            raise CrossviewError(f"index {self.uri}: columns {bad} do not have {n} entries")
        if n == 0:
            return 0
        data = {c: list(rows[c]) for c in columns}
        data["method"] = [self.info.method] * n
        data["checkpoint_sha256"] = [self.info.checkpoint_sha256] * n
        data["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), self.info.dim)
        self._table.add(pa.table(data, schema=self._table.schema))
        return n

    def create_ann(
        self,
        num_partitions: int | None = None,
        num_sub_vectors: int | None = None,
        index_type: str = DEFAULT_ANN_TYPE,
        m: int = 20,
        ef_construction: int = 300,
        metric: str = ANN_METRIC,
    ) -> dict[str, Any]:
        """Build (or rebuild) the approximate index for ``search(exact=False)``.

        The table's fragments are compacted first (LanceDB ``optimize``): ``index build``
        writes one per batch.

        Args:
            num_partitions: IVF partitions; default about sqrt(N), capped at N/256: LanceDB
                trains k-means on 256 samples per partition and silently trains fewer
                partitions otherwise, so the returned count would not be the one in use.
            num_sub_vectors: PQ sub-vectors (``*_PQ`` types); default D/8, a divisor of D so
                every code covers whole dimensions.
            index_type: One of :data:`ANN_TYPES` (default :data:`DEFAULT_ANN_TYPE`).
            m: HNSW neighbours per node (``IVF_HNSW_*`` types).
            ef_construction: HNSW build-time candidate list (``IVF_HNSW_*`` types).
            metric: ``l2`` (default; same ranking as the dot product for unit vectors, finer
                quantisation) or ``dot`` (how indexes were built before; for comparisons).

        Returns:
            The parameters in use: ``index_type``, ``num_partitions`` and the type's others.

        Raises:
            ConfigError: an unknown type or sizes that do not fit the descriptors.
            CrossviewError: fewer than 256 rows.

        """
        from lancedb import index as lance_index

        if metric not in ("l2", "dot"):
            raise ConfigError(f"ANN metric {metric!r} is not one of l2, dot")
        if index_type not in ANN_TYPES:
            raise ConfigError(
                f"ANN index type {index_type!r} is not one of {', '.join(ANN_TYPES)}"
            )
        n = len(self)
        if n < 256:
            raise CrossviewError(
                f"index {self.uri}: {n} rows are too few for an ANN index (need >= 256)"
            )
        if num_partitions is not None and num_partitions < 1:
            raise ConfigError(f"num_partitions must be >= 1, got {num_partitions}")
        parts = num_partitions or max(1, min(int(round(math.sqrt(n))), n // 256))
        params: dict[str, Any] = {"index_type": index_type, "metric": metric,
                                  "num_partitions": parts}
        # L2 on unit vectors ranks exactly as the dot product (|q - v|^2 = 2 - 2 q.v), and
        # LanceDB quantises L2 indexes by their residual to the partition centroid, which keeps
        # the fine differences between neighbouring tiles; its dot-product indexes quantise the
        # raw vectors and lose them (docs/scale.md: IVF_SQ recall 0.56 -> 0.88 at 100k tiles).
        kwargs: dict[str, Any] = {"distance_type": metric, "num_partitions": parts}
        if num_sub_vectors is not None and not index_type.endswith("_PQ"):
            raise ConfigError(f"num_sub_vectors applies to *_PQ index types, not {index_type}")
        if index_type.endswith("_PQ"):
            subs = num_sub_vectors or _default_sub_vectors(self.info.dim)
            if subs < 1 or self.info.dim % subs:
                raise ConfigError(
                    f"num_sub_vectors={subs} must divide the descriptor dim {self.info.dim}"
                )
            kwargs["num_sub_vectors"] = params["num_sub_vectors"] = subs
        if "_HNSW_" in index_type:
            if m < 2 or ef_construction < m:
                raise ConfigError(f"HNSW needs m >= 2 and ef_construction >= m, got {m}, "
                                  f"{ef_construction}")
            kwargs["m"], kwargs["ef_construction"] = params["m"], params["ef_construction"] = (
                m, ef_construction
            )
        # `index build` commits one fragment per batch (tens of thousands at 1M tiles); merging
        # them first makes k-means sampling, partition shuffling and every later read cheaper.
        self._table.optimize()
        config_class = getattr(lance_index, _lance_class(index_type))
        self._table.create_index("vector", config=config_class(**kwargs), replace=True)
        return params

    # --- search ----------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        near: tuple[float, float] | None = None,
        radius_m: float | None = None,
        exact: bool = True,
        nprobes: int = DEFAULT_NPROBES,
        refine_factor: int | None = DEFAULT_REFINE_FACTOR,
        ef: int | None = None,
    ) -> list[list[Candidate]]:
        """Top-``k`` tiles for each query descriptor.

        Args:
            queries: ``(Q, D)`` L2-normalised float32 descriptors (or one ``(D,)``).
            k: Candidates per query.
            near: Geographic prior ``(lat, lon)``; with ``radius_m`` only tiles whose centre
                lies within ``radius_m`` metres (WGS84 geodesic) are considered.
            radius_m: Radius of the prior in metres (requires ``near``).
            exact: Brute-force search (``True``) or the approximate index (``False``; needs
                :meth:`create_ann`).
            nprobes: IVF partitions probed per query (ANN only). With a geographic prior
                this is the minimum: LanceDB pre-filters, and probes further partitions until
                ``k`` tiles that pass the filter are found (or none is left).
            refine_factor: Re-rank ``k * refine_factor`` quantised hits with the stored
                vectors, so scores are exact (ANN with a quantised type only; ``IVF_FLAT``
                scores are exact already). ``None`` keeps the approximate scores and order.
            ef: HNSW search candidate list (``IVF_HNSW_*`` types; LanceDB's default
                1.5 * limit when ``None``); raised to the candidates needed (``k`` times
                ``refine_factor``) when smaller.

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
        if ef is not None and ef < 1:
            raise ConfigError(f"ef must be >= 1, got {ef}")
        ann = None if exact else self.ann_type
        if not exact and ann is None:
            raise CrossviewError(f"index {self.uri} has no ANN index; run `crossview index ann`")
        if ann in _EXACT_SCORE_TYPES:
            refine_factor = None  # scores are already exact: a re-rank would only cost reads
        metric = "dot" if exact else (self.ann_metric or "dot")
        where = bbox_where(near, radius_m) if near is not None and radius_m is not None else None
        limit = k if where is None else 4 * k
        while True:
            results = self._query(q, limit, where, metric, exact, nprobes, refine_factor, ef)
            extra = self.info.extra_columns
            if where is None:
                return [_to_candidates(r[:k], None, extra) for r in results]
            filtered = [_within(r, near, radius_m) for r in results]  # type: ignore[arg-type]
            # The bounding box holds more than the circle: when a query's box hits were all
            # used up (limit reached) yet fewer than k fall in the circle, ask for more.
            pairs = zip(filtered, results, strict=True)
            short = any(len(f) < k and len(r) == limit for f, r in pairs)
            if not short:
                return [_to_candidates(f[:k], near, extra) for f in filtered]
            limit *= 4

    def _query(
        self,
        q: np.ndarray,
        limit: int,
        where: str | None,
        metric: str,
        exact: bool,
        nprobes: int,
        refine_factor: int | None,
        ef: int | None,
        columns: Sequence[str] | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Raw LanceDB hits per query, ``columns`` + ``score``, best first (``search``'s core).

        ``columns=("tile_id",)`` times the vector search without the metadata reads.
        """
        builder = self._table.search(list(q) if len(q) > 1 else q[0], vector_column_name="vector")
        # The index is used only when the query asks for the distance it was trained with.
        builder = builder.distance_type(metric).limit(limit)
        if where is not None:
            # Pre-filter: LanceDB evaluates the box first and the vector search scores only the
            # rows that pass it, so every hit is inside the box.
            builder = builder.where(where, prefilter=True)
        if exact:
            builder = builder.bypass_vector_index()
        elif where is not None:
            # A fixed nprobes would stop after the nearest partitions even when they hold fewer
            # than ``limit`` rows of the box; maximum 0 lets LanceDB probe on until it has them.
            builder = builder.minimum_nprobes(nprobes).maximum_nprobes(0)
        else:
            builder = builder.nprobes(nprobes)
        if not exact and refine_factor:
            builder = builder.refine_factor(refine_factor)
        if not exact and ef is not None:
            # LanceDB's HNSW needs ef >= the candidates it must return (limit x refine).
            builder = builder.ef(max(ef, limit * (refine_factor or 1)))
        with _reading(self.uri):
            table = builder.select([*(columns or self.row_columns), "_distance"]).to_arrow()
        rows = table.to_pylist()
        per_query: list[list[dict[str, Any]]] = [[] for _ in range(len(q))]
        for row in rows:
            # Back to the dot product: LanceDB's l2 is squared (2 - 2 q.v for unit vectors),
            # its dot and cosine distances are 1 - q.v.
            d = row["_distance"]
            row["score"] = 1.0 - (0.5 * d if metric == "l2" else d)
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


def _lance_class(index_type: str) -> str:
    """``IVF_HNSW_SQ`` -> ``IvfHnswSq`` (the ``lancedb.index`` config class)."""
    return "".join(part.capitalize() for part in index_type.split("_"))


def _default_sub_vectors(dim: int) -> int:
    for width in (8, 4, 16, 2):
        if dim % width == 0 and dim // width >= 1:
            return dim // width
    return 1


def bbox_where(near: tuple[float, float] | None, radius_m: float | None) -> str:
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
    rows: Iterable[dict[str, Any]], near: tuple[float, float] | None,
    extra_columns: Sequence[str] = (),
) -> list[Candidate]:
    return [
        Candidate(
            **{c: r[c] for c in COLUMNS},
            rank=i + 1,
            score=float(r["score"]),
            distance_m=r.get("distance_m") if near is not None else None,
            extras={c: r[c] for c in extra_columns},
        )
        for i, r in enumerate(rows)
    ]
