"""What a run writes besides checkpoints: ``metrics.jsonl`` and the learning curve (PNG + JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crossview.io import plain, write_bytes_atomic, write_json_atomic, write_text_atomic
from crossview.reports.curves import plot_learning_curve

METRICS_FILE = "metrics.jsonl"
CURVE_STEM = "learning_curve"


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Return the evaluation records of a run (one per evaluation), oldest first."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def append_metrics(run_dir: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Append one record to ``metrics.jsonl`` (rewritten atomically) and return all records."""
    records = read_metrics(run_dir) + [plain(record)]
    text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records)
    write_text_atomic(Path(run_dir) / METRICS_FILE, text)
    return records


CURVE_KEYS = ("R@1", "R@1%", "PSNR", "SSIM")
"""Validation metrics copied into ``learning_curve.json`` (``None`` where not measured)."""


def write_learning_curve(run_dir: Path, records: list[dict[str, Any]], title: str = "") -> Path:
    """Write ``learning_curve.json`` (minutes, step, epoch and :data:`CURVE_KEYS`) and its PNG."""
    import io

    run_dir = Path(run_dir)
    curve = {
        "title": title,
        "points": [
            {"minutes": r["minutes"], "step": r["step"], "epoch": r["epoch"],
             **{key: r["metrics"].get(key) for key in CURVE_KEYS}}
            for r in records
        ],
    }
    write_json_atomic(run_dir / f"{CURVE_STEM}.json", plain(curve))
    buffer = io.BytesIO()
    plot_learning_curve(records, title).savefig(buffer, format="png")
    return write_bytes_atomic(run_dir / f"{CURVE_STEM}.png", buffer.getvalue())
