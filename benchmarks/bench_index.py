"""Index / locate benchmark: search latency (exact vs IVF-PQ), ANN recall@10, build throughput,
query embedding time, and the demo region's localization error (if ``demo_out`` exists).

Large indexes hold random unit vectors (latency and recall do not depend on where vectors came
from); ``quick=True`` uses 10k tiles only.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crossview.index.geoindex import GeoIndex

DIM = 256
SIZES_FULL = (10_000, 100_000, 1_000_000)
SIZES_QUICK = (10_000,)


def _rows(n: int, start: int) -> dict[str, list]:
    ids = np.arange(start, start + n)
    return {
        "tile_id": [f"t{i}" for i in ids],
        "path": [f"tiles/t{i}.png" for i in ids],
        "lat": list(40 + (ids % 1000) * 1e-4),
        "lon": list(-105 + (ids // 1000) * 1e-4),
        "utm_e": [0.0] * n,
        "utm_n": [0.0] * n,
        "utm_zone": ["13T"] * n,
        "ground_resolution_m": [0.5] * n,
    }


def _fill(
    uri: str, n: int, rng: np.random.Generator, chunk: int = 100_000
) -> tuple[GeoIndex, float]:
    index = GeoIndex.create(uri, "bench", "0" * 64, DIM)
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        v = rng.standard_normal((m, DIM)).astype(np.float32)
        index.add(_rows(m, start), v / np.linalg.norm(v, axis=1, keepdims=True))
    return index, time.perf_counter() - t0


def _latency_ms(index: GeoIndex, queries: np.ndarray, **kw: object) -> tuple[float, list]:
    index.search(queries[:1], k=10, **kw)  # warm-up (opens files, loads the IVF index)
    t0 = time.perf_counter()
    results = [index.search(q, k=10, **kw)[0] for q in queries]
    return 1000 * (time.perf_counter() - t0) / len(queries), results


def _embed_ms(method_name: str = "sample4geo") -> float:
    """Ground-embedding time per query (tiny preset, CPU): the other half of locate latency."""
    from crossview.methods.registry import create_method

    method = create_method(method_name, "tiny").eval()
    h, w = method.input_spec.ground_hw
    x = torch.rand(1, 3, h, w)
    with torch.no_grad():
        method.encode_ground(x)
        t0 = time.perf_counter()
        for _ in range(5):
            method.encode_ground(x)
    return 1000 * (time.perf_counter() - t0) / 5


def _build_throughput(tmp: Path, n: int = 256) -> float:
    """Tiles/s of ``build_index`` (image decode + tiny sample4geo + table commits)."""
    from crossview.index.build import build_index
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
    build_index(
        tiles,
        str(tmp / "build_idx"),
        method,
        "sample4geo",
        "0" * 64,
        batch_size=64,
        device=torch.device("cpu"),
    )
    return n / (time.perf_counter() - t0)


def _demo_stats() -> dict | None:
    path = Path("demo_out/localization.json")
    return json.loads(path.read_text()) if path.is_file() else None


def run(quick: bool = False) -> dict:
    """Benchmark summary as a JSON-able dict."""
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_index_"))
    out: dict = {"dim": DIM, "device": "cpu", "indexes": []}
    try:
        for n in SIZES_QUICK if quick else SIZES_FULL:
            index, fill_s = _fill(str(tmp / f"idx{n}"), n, rng)
            q = rng.standard_normal((10 if quick else 50, DIM)).astype(np.float32)
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            exact_ms, exact = _latency_ms(index, q)
            t0 = time.perf_counter()
            params = index.create_ann()
            ann_build_s = time.perf_counter() - t0
            ann_ms, approx = _latency_ms(index, q, exact=False, nprobes=20, refine_factor=10)
            recall = np.mean(
                [
                    len({c.tile_id for c in a} & {c.tile_id for c in e}) / 10
                    for a, e in zip(approx, exact, strict=False)
                ]
            )
            out["indexes"].append(
                {
                    "tiles": n,
                    "add_rows_per_s": n / fill_s,
                    "exact_search_ms": exact_ms,
                    "ann_search_ms": ann_ms,
                    "ann_recall@10": float(recall),
                    "ann_build_s": ann_build_s,
                    "ann": {**params, "nprobes": 20, "refine_factor": 10},
                }
            )
        out["query_embed_ms"] = _embed_ms()
        out["build_tiles_per_s"] = _build_throughput(tmp, 64 if quick else 512)
        out["demo_localization"] = _demo_stats()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2))
