"""Load benchmark of ``crossview serve`` (localhost only, bounded in count and time).

Starts ``crossview serve`` on a free localhost port over an index of a synthetic world (an
untrained model of the demo's method: latency does not depend on the weights), then measures
p50/p99 latency and requests/s of ``POST /locate`` at 1, 4 and 16 concurrent clients, against
the per-call cost of ``crossview locate`` in a fresh process (start-up, model and index load,
one query). Clients are threads of this process, on the same 2 cores as the server.

    python benchmarks/bench_serve.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import synthetic_world  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "bench_out" / "serve"
SRC = Path(__file__).resolve().parent.parent / "src"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "CROSSVIEW_NO_PROGRESS": "1"}


def _index(world: Path, method: str, out: Path) -> Path:
    from crossview.index.build import build_index
    from crossview.index.geoindex import GeoIndex
    from crossview.methods.registry import create_method
    from crossview.training.checkpoint import save_checkpoint

    ckpt = out / "run" / "checkpoints" / "last.pt"
    if not ckpt.is_file():
        save_checkpoint(ckpt, create_method(method, "tiny"))
    idx = out / f"index-{world.name}"
    try:
        if len(GeoIndex.open(str(idx))) > 0:
            return idx
    except Exception:  # noqa: BLE001
        pass
    build_index(out / "run", str(world), str(idx), batch_size=32)
    return idx


def _start(idx: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossview", "serve", "--index", str(idx), "--port", "0",
         "--max-batch", str(max_batch)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env())
    deadline = time.time() + 180
    while time.time() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("crossview serve did not start")


def _load(url: str, panos: list[Path], clients: int, max_requests: int, max_s: float
          ) -> dict[str, Any]:
    import httpx

    bodies = [(p.name, p.read_bytes()) for p in panos]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(max_requests))
    stop_at = time.perf_counter() + max_s

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.perf_counter() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                name, data = bodies[i % len(bodies)]
                t0 = time.perf_counter()
                r = http.post("locate", files={"image": (name, data)})
                dt = time.perf_counter() - t0
                with lock:
                    (latencies if r.status_code == 200 else errors).append(
                        dt if r.status_code == 200 else r.text)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(round(q * (len(lat) - 1))))]) if lat else None
    return {"clients": clients, "requests": len(lat), "errors": len(errors),
            "p50_ms": round(1000 * pct(0.5), 1) if pct else None,
            "p99_ms": round(1000 * pct(0.99), 1) if pct else None,
            "requests_per_s": round(len(lat) / wall, 2), "wall_s": round(wall, 1)}


def _cli_cost(idx: Path, pano: Path, calls: int) -> dict[str, Any]:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "crossview", "locate", str(pano), "--index",
                        str(idx)], check=True, capture_output=True, env=_env())
        times.append(time.perf_counter() - t0)
    return {"calls": calls, "median_s": round(statistics.median(times), 2),
            "min_s": round(min(times), 2)}


def run(quick: bool = False, method: str = "sample4geo") -> dict[str, Any]:
    """Serve latency/throughput at 1, 4, 16 clients and the CLI's per-call cost."""
    pairs = 40 if quick else 200
    world = synthetic_world("cvusa", pairs=pairs, seed=0)
    OUT.mkdir(parents=True, exist_ok=True)
    idx = _index(world, method, OUT)
    panos = sorted((world / "streetview" / "panos").glob("*.jpg"))[:32]
    max_requests, max_s = (24, 40.0) if quick else (160, 120.0)
    proc, url = _start(idx, max_batch=8)
    try:
        _load(url, panos, 1, 2, 30.0)  # warm-up (first forward pass, caches)
        levels = [_load(url, panos, c, max_requests, max_s) for c in (1, 4, 16)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    cli = _cli_cost(idx, panos[0], 2 if quick else 5)
    result = {"method": method, "tiles": pairs, "quick": quick, "serve": levels,
              "cli_locate_per_call": cli,
              "speedup_1_client": round(cli["median_s"] * 1000 / levels[0]["p50_ms"], 1)
              if levels[0]["p50_ms"] else None}
    (OUT / ("results_quick.json" if quick else "results.json")).write_text(
        json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 tiles, 24 requests per level")
    parser.add_argument("--method", default="sample4geo", help="method of the served model")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick, method=args.method), indent=2))
