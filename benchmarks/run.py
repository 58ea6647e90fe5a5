"""Run every benchmark and print one JSON summary (``make bench``).

Each ``benchmarks/bench_<area>.py`` exposes ``run(quick: bool = False) -> dict``. Usage::

    python benchmarks/run.py [--quick] [--only geometry,evaluation] [--out bench_out/summary.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (minutes, not hours)")
    parser.add_argument("--only", default="",
                        help="comma-separated areas, e.g. geometry,evaluation")
    parser.add_argument("--out", default="bench_out/summary.json",
                        help="where the JSON is also written")
    args = parser.parse_args()
    only = {a for a in args.only.split(",") if a}
    import torch

    summary: dict = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()},
        "quick": args.quick,
        "results": {},
    }
    for path in sorted(HERE.glob("bench_*.py")):
        area = path.stem.removeprefix("bench_")
        if only and area not in only:
            continue
        start = time.perf_counter()
        try:
            result = _load(path).run(quick=args.quick)
            status = "ok"
        except Exception as err:  # a failing benchmark is reported, the others still run
            result = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            status = "error"
        summary["results"][area] = {"status": status,
                                    "seconds": round(time.perf_counter() - start, 1),
                                    **result}
        print(f"[bench] {area}: {status} in {summary['results'][area]['seconds']} s",
              file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, default=str)
    out.write_text(text + "\n")
    print(text)
    return 0 if all(r["status"] == "ok" for r in summary["results"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
