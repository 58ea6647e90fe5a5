"""Index benchmark: ANN recall@10 against exact search, ms per query, build time and memory.

Sets (``benchmarks/_descriptors.py`` explains them):

- **structured**: real 192-d ``sample4geo`` tile descriptors of a synthetic region (a model from
  ``--run``, or one trained here for ``--train-minutes``), grown to each size by a local
  Gaussian mixture fitted to them; the queries are 300 held-out ground panoramas of the same
  region embedded with the ground encoder (cross-view queries, as ``locate`` sends). ``--quick``
  uses a clustered mixture instead (no model) and 50 queries near it.
- **random**: uniform unit vectors of the same size, the worst case (no neighbourhood
  structure), with uniform random queries.

For every set and size: the exact top-10 (numpy, one chunked matmul for all queries), then
LanceDB through :class:`crossview.index.geoindex.GeoIndex` (exact search, and each ANN type with
its search settings), and FAISS (``faiss-cpu``: HNSW32 and IVF-PQ with exact re-ranking) as the
anchor. Each ANN entry reports recall@10 vs exact, ms per query for the search alone (one query
per call, the known-heading ``locate``; and per query in calls of 16, the unknown-heading one),
build time, the build's peak resident memory above the process baseline, and the index size.
A power-law fit over the sizes measured projects build time, memory and latency to 10M tiles.
Also (as before): query embedding time of the tiny model, ``index build`` throughput and the
demo's localization figures when ``demo_out/`` exists.

Usage::

    python benchmarks/bench_index.py --quick                     # < 1 min, no model
    python benchmarks/bench_index.py --run demo_out/run --out bench_out/index.json
    python benchmarks/bench_index.py --sizes 2000000,4000000 --random-sizes "" \\
        --lance IVF_FLAT --faiss hnsw --out bench_out/index_4m.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# OpenMP threads spin while they wait; on shared cores (this project's 2-core machines) that
# made FAISS's IVF-PQ training 3x slower. Set before numpy/torch/faiss load the runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _descriptors as desc  # noqa: E402  (benchmarks/ is not a package)
from crossview.index.geoindex import GeoIndex  # noqa: E402

K = 10
SIZES_FULL = (100_000, 1_000_000)
RANDOM_SIZES_FULL = (100_000, 1_000_000)
SIZES_QUICK = (10_000,)
RANDOM_SIZES_QUICK = (10_000,)
LANCE_QUICK = ("IVF_PQ_dot", "IVF_SQ")
"""``--quick``: the former default and the new one."""
LATENCY_QUERIES = 100
"""Queries timed one per call (all queries count for recall)."""

# LanceDB: (create_ann arguments, search settings swept). ``IVF_PQ_dot`` is the former default
# (``index ann`` + ``locate --ann`` before issue #16: dot metric, D/8 sub-vectors, 20 probes,
# refine 10); every other type is trained on L2 (GeoIndex.create_ann's default).
LANCE_CONFIGS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "IVF_PQ_dot": ({"index_type": "IVF_PQ", "metric": "dot"},
                   [{"nprobes": 20, "refine_factor": 10}, {"nprobes": 64, "refine_factor": 10}]),
    "IVF_PQ": ({"index_type": "IVF_PQ"},
               [{"nprobes": 20, "refine_factor": 10}, {"nprobes": 50, "refine_factor": 10}]),
    "IVF_SQ": ({"index_type": "IVF_SQ"},
               [{"nprobes": 20, "refine_factor": 10}, {"nprobes": 50, "refine_factor": 10},
                {"nprobes": 100, "refine_factor": 10}]),
    "IVF_FLAT": ({"index_type": "IVF_FLAT"}, [{"nprobes": 20}, {"nprobes": 50}, {"nprobes": 100}]),
    "IVF_HNSW_SQ": ({"index_type": "IVF_HNSW_SQ"},
                    [{"nprobes": 20, "refine_factor": 10}, {"nprobes": 50, "refine_factor": 10}]),
    "IVF_HNSW_FLAT": ({"index_type": "IVF_HNSW_FLAT"}, [{"nprobes": 20}, {"nprobes": 50}]),
}
LANCE_DEFAULT_RUN = ("IVF_PQ_dot", "IVF_PQ", "IVF_SQ", "IVF_FLAT")
"""Types of a full run; the HNSW ones build slowly on 2 cores (over 3 min at 1M): ``--lance``."""
FAISS_KINDS = ("hnsw", "ivfpq")
FAISS_QUICK = ("hnsw",)


# --- measuring ---------------------------------------------------------------------------------
class PeakRSS:
    """Peak resident memory of this process above its level at entry, sampled every 10 ms."""

    def __enter__(self) -> PeakRSS:
        _trim_heap()  # memory freed earlier would otherwise hide new allocations
        self.base = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def mb(self) -> float:
        return round((self.peak - self.base) / 2**20, 1)


def _trim_heap() -> None:
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _recall(approx: Sequence[Sequence[int]], exact: np.ndarray) -> float:
    """Mean share of the exact top-10 ids found in the approximate top-10."""
    return float(np.mean([len(set(a) & set(e.tolist())) / K for a, e in zip(approx, exact,
                                                                              strict=True)]))


def _timed_calls(search: Callable[[np.ndarray], list[list[int]]], q: np.ndarray,
                 batch: int) -> tuple[list[list[int]], float]:
    """Run ``search`` on ``q`` in calls of ``batch`` rows; (ids per query, ms per query)."""
    search(q[:batch])  # warm-up: opens files, loads the index partitions
    ids: list[list[int]] = []
    t0 = time.perf_counter()
    for start in range(0, len(q), batch):
        ids += search(q[start : start + batch])
    return ids, 1000 * (time.perf_counter() - t0) / len(q)


def _measure(search: Callable[[np.ndarray], list[list[int]]], q: np.ndarray,
             truth: np.ndarray) -> dict[str, float]:
    """Recall over all queries (calls of 16) and ms/query for calls of 1 and of 16."""
    ids16, ms16 = _timed_calls(search, q, 16)
    _, ms1 = _timed_calls(search, q[:LATENCY_QUERIES], 1)
    return {"recall@10": round(_recall(ids16, truth), 4), "ms_per_query": round(ms1, 3),
            "ms_per_query_in_16": round(ms16, 3)}


# --- data --------------------------------------------------------------------------------------
def _rows(n: int, start: int) -> dict[str, list]:
    """Tile metadata like a region's: a grid of 10 m steps, one UTM zone, one resolution.

    Constant columns matter: LanceDB's random reads of a column holding one value grew with the
    table (about 2 ms at 100k rows and 4.5 ms at 1M per column, loaded 2-core machine).
    """
    ids = np.arange(start, start + n)
    row, col = ids // 4000, ids % 4000
    return {
        "tile_id": [str(i) for i in ids],
        "path": [f"tiles/r{r:06d}_c{c:06d}.png" for r, c in zip(row, col, strict=True)],
        "lat": (40 + row * 9e-5).tolist(),
        "lon": (-105 + col * 1.2e-4).tolist(),
        "utm_e": (500_000.0 + 10.0 * col).tolist(),
        "utm_n": (4_400_000.0 + 10.0 * row).tolist(),
        "utm_zone": ["13T"] * n,
        "ground_resolution_m": [0.5] * n,
    }


class Sets:
    """The structured and random descriptor sets at any size, with their queries."""

    def __init__(self, quick: bool, run_dir: str | None, train_minutes: float) -> None:
        rng = np.random.default_rng(0)
        if quick:
            self.dim = 192
            base = desc.clustered_mixture(20_000, self.dim, rng)
            self.queries = desc.jitter_queries(base[10_000:], 50, rng, noise=0.3)
            self.mixture = desc.LocalMixture.fit(base[:10_000], k=10, scale=0.75)
            self.info: dict[str, Any] = {"source": "clustered_mixture (--quick, no model)",
                                         "base": 10_000}
            self.check = desc.generator_check(self.mixture, {"scale": 0.75}, rng)
        else:
            real = desc.real_descriptors(desc.RealConfig(train_minutes=train_minutes), run_dir)
            self.dim = real.tiles.shape[1]
            self.queries = real.queries
            self.info = real.info
            # The bandwidth search and its check take a minute: keep them with the descriptors.
            cached = Path(real.info["cache"]).with_suffix(".check.json")
            if cached.is_file():
                self.check = json.loads(cached.read_text())
                self.mixture = desc.LocalMixture.fit(real.tiles, self.check["k"],
                                                     self.check["scale"])
            else:
                self.mixture, report = desc.calibrate_scale(real.tiles, rng)
                self.check = desc.generator_check(self.mixture, report, rng)
                cached.write_text(json.dumps(self.check))

    def get(self, kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(base (n, D), queries (Q, D))`` of ``kind`` (``structured`` or ``random``)."""
        rng = np.random.default_rng(n)
        if kind == "structured":
            return desc.grow(self.mixture, n, rng), self.queries
        return (desc.random_unit(n, self.dim, rng),
                desc.random_unit(len(self.queries), self.dim, np.random.default_rng(1)))


# --- engines -----------------------------------------------------------------------------------
def _lance_search(index: GeoIndex, **settings: Any) -> Callable[[np.ndarray], list[list[int]]]:
    def search(q: np.ndarray) -> list[list[int]]:
        return [[int(c.tile_id) for c in hits] for hits in index.search(q, k=K, **settings)]

    return search


def _lance_ids_only(index: GeoIndex, **settings: Any) -> Callable[[np.ndarray], list[list[int]]]:
    """The same LanceDB vector search returning tile ids only (no per-tile metadata reads)."""
    metric = index.ann_metric or "dot"

    def search(q: np.ndarray) -> list[list[int]]:
        hits = index._query(q, K, None, metric, False, settings["nprobes"],
                            settings.get("refine_factor"), settings.get("ef"), ("tile_id",))
        return [[int(h["tile_id"]) for h in row] for row in hits]

    return search


def bench_lance(x: np.ndarray, q: np.ndarray, truth: np.ndarray, tmp: Path,
                types: Sequence[str], exact_queries: int) -> dict[str, Any]:
    """GeoIndex: rows added, exact search latency, then each ANN type and its settings."""
    index = GeoIndex.create(str(tmp / "lance"), "bench", "0" * 64, x.shape[1])
    t0 = time.perf_counter()
    for start in range(0, len(x), 100_000):
        chunk = x[start : start + 100_000]
        index.add(_rows(len(chunk), start), chunk)
    out: dict[str, Any] = {"add_rows_per_s": round(len(x) / (time.perf_counter() - t0))}
    search = _lance_search(index, exact=True)
    ids, ms = _timed_calls(search, q[:exact_queries], 1)
    out["exact"] = {"recall@10": _recall(ids, truth[:exact_queries]), "ms_per_query": round(ms, 2)}
    out["ann"] = []
    for name in types:
        build, sweep = LANCE_CONFIGS[name]
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            params = index.create_ann(**build)
            build_s = time.perf_counter() - t0
        size = next(i.size_bytes for i in index._table.list_indices() if "vector" in i.columns)
        entry = {"engine": "lancedb", "type": name, "params": params,
                 "build_s": round(build_s, 2), "build_peak_mb": mem.mb,
                 "index_mb": round((size or 0) / 2**20, 1), "search": []}
        for settings in sweep:
            ids_only = _measure(_lance_ids_only(index, **settings), q[:LATENCY_QUERIES],
                                truth[:LATENCY_QUERIES])
            entry["search"].append({**settings, **_measure(
                _lance_search(index, exact=False, **settings), q, truth),
                "ms_per_query_ids_only": ids_only["ms_per_query"]})
            print(f"[bench_index]   lancedb {name} {entry['search'][-1]}", file=sys.stderr,
                  flush=True)
        out["ann"].append(entry)
    return out


def bench_faiss(x: np.ndarray, q: np.ndarray, truth: np.ndarray,
                kinds: Sequence[str]) -> list[dict[str, Any]]:
    """FAISS anchors: HNSW32 (efSearch sweep) and IVF-PQ (sqrt(N) lists, D/8 codes, refine 10).

    IVF-PQ uses the L2 metric (the same ranking on unit vectors): FAISS's inner-product IVF-PQ
    reached recall@10 0.37 on the real tiles where L2 reached 0.97, both with refine 10.
    """
    import faiss  # the anchor only: an optional benchmark dependency (the ``bench`` extra)

    out = []
    n, d = x.shape
    for kind in kinds:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            if kind == "hnsw":
                index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
                params: dict[str, Any] = {"M": 32, "efConstruction": index.hnsw.efConstruction}
                sweep = [{"efSearch": e} for e in (64, 128, 256)]
            else:
                nlist = max(1, min(int(round(np.sqrt(n))), n // 39))
                quantizer = faiss.IndexFlatL2(d)
                ivf = faiss.IndexIVFPQ(quantizer, d, nlist, d // 8, 8, faiss.METRIC_L2)
                index = faiss.IndexRefineFlat(ivf)
                index.k_factor = 10
                params = {"nlist": nlist, "pq": d // 8, "refine_factor": 10}
                sweep = [{"nprobe": p} for p in (20, 64)]
                index.train(x[np.random.default_rng(0).choice(n, min(n, 256 * nlist),
                                                              replace=False)])
            index.add(x)
            build_s = time.perf_counter() - t0
        entry = {"engine": "faiss", "type": "HNSW32" if kind == "hnsw" else "IVF_PQ+refine",
                 "params": params, "build_s": round(build_s, 2), "build_peak_mb": mem.mb,
                 "index_mb": round(len(faiss.serialize_index(index)) / 2**20, 1), "search": []}
        for settings in sweep:
            if kind == "hnsw":
                index.hnsw.efSearch = settings["efSearch"]
            else:
                faiss.extract_index_ivf(index.base_index).nprobe = settings["nprobe"]

            def search(qq: np.ndarray, index: Any = index) -> list[list[int]]:
                return index.search(np.ascontiguousarray(qq), K)[1].tolist()

            entry["search"].append({**settings, **_measure(search, q, truth)})
            print(f"[bench_index]   faiss {entry['type']} {entry['search'][-1]}",
                  file=sys.stderr, flush=True)
        out.append(entry)
        del index
    return out


def bench_set(sets: Sets, kind: str, n: int, tmp: Path, lance_types: Sequence[str],
              faiss_kinds: Sequence[str], exact_queries: int) -> dict[str, Any]:
    """Every engine on one set at one size."""
    x, q = sets.get(kind, n)
    t0 = time.perf_counter()
    truth, _ = desc.knn(x, q, K)
    exact_ms = 1000 * (time.perf_counter() - t0) / len(q)
    result: dict[str, Any] = {"set": kind, "tiles": n, "queries": len(q),
                              "exact_numpy_ms_per_query": round(exact_ms, 2)}
    folder = tmp / f"{kind}{n}"
    try:
        result["lancedb"] = bench_lance(x, q, truth, folder, lance_types, exact_queries)
        result["faiss"] = bench_faiss(x, q, truth, faiss_kinds) if faiss_kinds else []
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return result


# --- summary -----------------------------------------------------------------------------------
_MEASURES = ("recall@10", "ms_per_query", "ms_per_query_in_16", "ms_per_query_ids_only")


def extrapolate(results: list[dict[str, Any]], target: int = 10_000_000) -> list[dict[str, Any]]:
    """Power-law fit ``y = a N^b`` of build time, build memory and latency, per engine/setting.

    Uses every size measured for a set (at least two); the exponent is reported so the reader
    can judge the fit (linear build: b ~ 1; IVF latency at fixed probes: b ~ 0.5).
    """
    series: dict[tuple, list[tuple[int, dict[str, float]]]] = {}
    for res in results:
        for entry in res["lancedb"]["ann"] + res["faiss"]:
            for s in entry["search"]:
                setting = tuple(sorted((k, v) for k, v in s.items() if k not in _MEASURES))
                key = (res["set"], entry["engine"], entry["type"], setting)
                series.setdefault(key, []).append((res["tiles"], {
                    "build_s": entry["build_s"], "build_peak_mb": entry["build_peak_mb"],
                    "index_mb": entry["index_mb"], "ms_per_query": s["ms_per_query"],
                    "ms_per_query_ids_only": s.get("ms_per_query_ids_only", s["ms_per_query"]),
                    "recall@10": s["recall@10"]}))
    out = []
    for (kind, engine, typ, setting), points in series.items():
        if len({n for n, _ in points}) < 2:
            continue
        ns = np.log([n for n, _ in points])
        row: dict[str, Any] = {"set": kind, "engine": engine, "type": typ,
                               "setting": dict(setting), "sizes": [n for n, _ in points],
                               "at": target}
        for metric in ("build_s", "build_peak_mb", "index_mb", "ms_per_query",
                       "ms_per_query_ids_only"):
            ys = np.array([max(p[metric], 1e-6) for _, p in points])
            b, log_a = np.polyfit(ns, np.log(ys), 1)
            row[metric] = round(float(np.exp(log_a) * target**b), 1)
            row[f"{metric}_exponent"] = round(float(b), 2)
        row["recall@10_trend"] = [p["recall@10"] for _, p in points]
        out.append(row)
    return out


def _tiny_embed_ms(batch: int = 1) -> float:
    """Milliseconds to embed one ground query with the tiny sample4geo on CPU (``locate``)."""
    import torch

    from crossview.methods.registry import create_method

    method = create_method("sample4geo", "tiny").eval()
    h, w = method.input_spec.ground_hw
    x = torch.rand(batch, 3, h, w)
    with torch.inference_mode():
        method.encode_ground(x)
        t0 = time.perf_counter()
        for _ in range(20):
            method.encode_ground(x)
    return 1000 * (time.perf_counter() - t0) / 20


def _build_throughput(tmp: Path, n: int) -> float:
    """Tiles/s of ``build_index`` (image decode + tiny sample4geo + table commits)."""
    import torch

    from crossview.index.build import index_tiles
    from crossview.index.tiles import TileRecord
    from crossview.io import save_image
    from crossview.methods.registry import create_method

    rng = np.random.default_rng(0)
    method = create_method("sample4geo", "tiny")
    size = method.input_spec.aerial_size
    tiles = []
    for i in range(n):
        path = tmp / "tiles" / f"{i}.png"
        save_image(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), path)
        tiles.append(TileRecord(f"k{i}", str(path), 40.0, -105.0, 0.0, 0.0, "13T", 0.5))
    t0 = time.perf_counter()
    index_tiles(tiles, str(tmp / "build_idx"), method, "sample4geo", "0" * 64, batch_size=64,
                device=torch.device("cpu"))
    return n / (time.perf_counter() - t0)


def _demo_stats() -> dict | None:
    path = Path("demo_out/localization.json")
    return json.loads(path.read_text()) if path.is_file() else None


def _versions() -> dict[str, str]:
    import lancedb

    out = {"lancedb": lancedb.__version__, "numpy": np.__version__}
    try:
        import faiss

        out["faiss"] = faiss.__version__
    except ImportError:
        out["faiss"] = "not installed (pip install -e '.[bench]')"
    return out


def run(quick: bool = False, sizes: Sequence[int] | None = None,
        random_sizes: Sequence[int] | None = None, run_dir: str | None = None,
        lance_types: Sequence[str] | None = None, faiss_kinds: Sequence[str] | None = None,
        train_minutes: float = 2.5, exact_queries: int = 5, extras: bool = True) -> dict:
    """Benchmark summary as a JSON-able dict (module docstring)."""
    sizes = tuple(sizes if sizes is not None else SIZES_QUICK if quick else SIZES_FULL)
    random_sizes = tuple(random_sizes if random_sizes is not None
                         else RANDOM_SIZES_QUICK if quick else RANDOM_SIZES_FULL)
    lance_types = tuple(lance_types or (LANCE_QUICK if quick else LANCE_DEFAULT_RUN))
    if faiss_kinds is None:
        faiss_kinds = ((FAISS_QUICK if quick else FAISS_KINDS)
                       if _versions()["faiss"][0].isdigit() else ())
    t_start = time.perf_counter()
    sets = Sets(quick, run_dir, train_minutes)
    print(f"[bench_index] descriptor sets ready after {time.perf_counter() - t_start:.0f} s",
          file=sys.stderr, flush=True)
    out: dict[str, Any] = {"quick": quick, "versions": _versions(),
                           "cores": len(os.sched_getaffinity(0)), "dim": sets.dim,
                           "structured_source": sets.info, "generator_check": sets.check,
                           "results": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench_index_"))
    try:
        plan = [("structured", n) for n in sizes] + [("random", n) for n in random_sizes]
        for kind, n in plan:
            print(f"[bench_index] {kind} {n:,} tiles", file=sys.stderr, flush=True)
            out["results"].append(bench_set(sets, kind, n, tmp, lance_types, faiss_kinds,
                                            exact_queries))
        out["extrapolated"] = extrapolate(out["results"])
        if not extras:
            return out
        t0 = time.perf_counter()
        out["query_embed_ms"] = round(_tiny_embed_ms(), 2)
        out["build_tiles_per_s"] = round(_build_throughput(tmp, 64 if quick else 512))
        out["demo_localization"] = _demo_stats()
        print(f"[bench_index] embedding figures took {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        out["wall_s"] = round(time.perf_counter() - t_start, 1)
    return out


def _ints(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v.strip()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k tiles, no model (< 1 min)")
    parser.add_argument("--full", action="store_true", help="(the default; kept for old scripts)")
    parser.add_argument("--sizes", type=_ints, default=None, help="structured set sizes")
    parser.add_argument("--random-sizes", type=_ints, default=None, help="random set sizes")
    parser.add_argument("--run", default=None, help="sample4geo run dir or checkpoint to embed "
                        "the region with (default: train one for --train-minutes)")
    parser.add_argument("--train-minutes", type=float, default=2.5)
    parser.add_argument("--lance", default="", help=f"LanceDB types ({','.join(LANCE_CONFIGS)})")
    parser.add_argument("--faiss", default=None, help="FAISS anchors: hnsw,ivfpq ('' for none)")
    parser.add_argument("--exact-queries", type=int, default=5,
                        help="queries timed through GeoIndex exact search")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip the query-embedding / index-build throughput figures")
    parser.add_argument("--out", default="", help="also write the JSON summary here")
    args = parser.parse_args()
    result = run(quick=args.quick, sizes=args.sizes, random_sizes=args.random_sizes,
                 run_dir=args.run, lance_types=[t for t in args.lance.split(",") if t] or None,
                 faiss_kinds=None if args.faiss is None else [k for k in args.faiss.split(",")
                                                              if k],
                 train_minutes=args.train_minutes, exact_queries=args.exact_queries,
                 extras=not args.no_extras)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
