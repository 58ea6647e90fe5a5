"""Index / locate benchmark: locate latency per query (query embedding + search, exact vs
IVF-PQ), ANN recall@10 against exact, build throughput, and the demo region's localization error
(if ``demo_out`` exists).

Large indexes hold random unit vectors (latency and recall do not depend on where vectors came
from); each timed query first embeds a ground image with the tiny sample4geo model, as ``locate``
does with a known heading, then searches with a random unit vector (so recall is measured on the
same queries for exact and ANN). ``quick=True`` uses 10k tiles only.

Usage: ``python benchmarks/bench_index.py [--full] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
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


def _tiny_encoder(batch: int = 1, method_name: str = "sample4geo") -> Callable[[], None]:
    """Embed ``batch`` ground images with the tiny preset on CPU (the first half of locate).

    ``batch=16`` is an unknown-heading query: ``locate`` embeds 16 rolls of it at once.
    """
    from crossview.methods.registry import create_method

    method = create_method(method_name, "tiny").eval()
    h, w = method.input_spec.ground_hw
    x = torch.rand(batch, 3, h, w)

    def embed() -> None:
        with torch.no_grad():
            method.encode_ground(x)

    embed()  # warm-up (first call allocates)
    return embed


def _latency_ms(
    index: GeoIndex, queries: np.ndarray, embed: Callable[[], None], **kw: object
) -> tuple[dict[str, float], list]:
    """Per-query milliseconds: embedding, search, and both together (``locate_ms``).

    ``queries`` is ``(Q, D)`` (one search per row) or ``(Q, R, D)`` (one batched search of
    ``R`` rolls per query, as ``locate --heading unknown`` does).
    """
    index.search(queries[0], k=10, **kw)  # warm-up (opens files, loads the IVF index)
    embed_s = search_s = 0.0
    results = []
    for q in queries:
        t0 = time.perf_counter()
        embed()
        t1 = time.perf_counter()
        results.append(index.search(q, k=10, **kw)[0])
        t2 = time.perf_counter()
        embed_s, search_s = embed_s + t1 - t0, search_s + t2 - t1
    n = len(queries)
    times = {
        "embed_ms": 1000 * embed_s / n,
        "search_ms": 1000 * search_s / n,
        "locate_ms": 1000 * (embed_s + search_s) / n,
    }
    return times, results


def _recall(approx: list, exact: list) -> float:
    """Mean share of the exact top-10 ids that the approximate top-10 holds."""
    pairs = zip(approx, exact, strict=True)
    return float(
        np.mean([len({c.tile_id for c in a} & {c.tile_id for c in e}) / 10 for a, e in pairs])
    )


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    v = rng.standard_normal((*shape, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


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
    out: dict = {
        "dim": DIM,
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "indexes": [],
    }
    embed, embed16 = _tiny_encoder(1), _tiny_encoder(16)
    try:
        for n in SIZES_QUICK if quick else SIZES_FULL:
            index, fill_s = _fill(str(tmp / f"idx{n}"), n, rng)
            q = _unit(rng, 10 if quick else 50)
            q16 = _unit(rng, 3 if quick else 5, 16)  # unknown-heading queries: 16 rolls each
            exact_ms, exact = _latency_ms(index, q, embed)
            exact16_ms, _ = _latency_ms(index, q16, embed16)
            t0 = time.perf_counter()
            params = index.create_ann()
            ann_build_s = time.perf_counter() - t0
            sweep = []  # the recall/latency trade-off: more probes, more recall, more time
            for nprobes in (5, 20, 50, 100):
                ms, approx = _latency_ms(
                    index, q, embed, exact=False, nprobes=nprobes, refine_factor=10
                )
                sweep.append(
                    {
                        "nprobes": nprobes,
                        "refine_factor": 10,
                        **ms,
                        "recall@10": _recall(approx, exact),
                    }
                )
            default = next(s for s in sweep if s["nprobes"] == 20)  # locate --ann's setting
            ann16_ms, _ = _latency_ms(
                index, q16, embed16, exact=False, nprobes=20, refine_factor=10
            )
            out["indexes"].append(
                {
                    "tiles": n,
                    "add_rows_per_s": n / fill_s,
                    "embed_ms": exact_ms["embed_ms"],
                    "exact_search_ms": exact_ms["search_ms"],
                    "exact_locate_ms": exact_ms["locate_ms"],
                    "ann_search_ms": default["search_ms"],
                    "ann_locate_ms": default["locate_ms"],
                    "ann_recall@10": default["recall@10"],
                    "unknown_heading_exact_locate_ms": exact16_ms["locate_ms"],
                    "unknown_heading_ann_locate_ms": ann16_ms["locate_ms"],
                    "ann_build_s": ann_build_s,
                    "ann": params,
                    "ann_sweep": sweep,
                }
            )
            print(f"[bench_index] {json.dumps(out['indexes'][-1])}", flush=True)
        out["query_embed_ms"] = float(np.mean([r["embed_ms"] for r in out["indexes"]]))
        out["build_tiles_per_s"] = _build_throughput(tmp, 64 if quick else 512)
        out["demo_localization"] = _demo_stats()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="10k, 100k and 1M tiles (default: 10k)")
    parser.add_argument("--out", default="", help="also write the JSON summary here")
    args = parser.parse_args()
    text = json.dumps(run(quick=not args.full), indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
