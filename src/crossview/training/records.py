"""What a run writes besides checkpoints: ``metrics.jsonl`` and the learning curve (PNG + JSON)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from crossview.io import write_bytes_atomic, write_json_atomic, write_text_atomic

METRICS_FILE = "metrics.jsonl"
CURVE_STEM = "learning_curve"


def plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to python, non-finite floats to ``None``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


HEADLINE = ("R@1", "R@5", "R@10", "R@1%")
"""Headline metrics (percent), taken from the ground-to-aerial direction of a protocol result."""


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """``R@1``/``R@5``/``R@10``/``R@1%`` of an ``evaluate_protocol`` result (ground -> aerial).

    Protocol results nest per direction (``{"ground_to_aerial": {"R@1": ...}, ...}``); flat
    results are used as they are. Missing keys are left out.
    """
    source = result
    if "R@1" not in result:
        source = next((result[k] for k in ("ground_to_aerial", "position")
                       if isinstance(result.get(k), dict)), {})
    return {k: source[k] for k in HEADLINE if k in source}


SYNTHESIS_HEADLINE = {"psnr": "PSNR", "ssim": "SSIM", "sd": "SD", "rmse": "RMSE", "lpips": "LPIPS"}
"""Synthesis metrics of ``evaluate_synthesis`` and their names among validation metrics."""


def synthesis_headline(means: dict[str, float]) -> dict[str, float]:
    """``PSNR``/``SSIM``/``SD``/``RMSE`` (and ``LPIPS``) of one predictor's synthesis means."""
    return {name: means[key] for key, name in SYNTHESIS_HEADLINE.items() if key in means}


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


def plot_learning_curve(records: list[dict[str, Any]], title: str = "") -> Any:
    """Plot validation metrics against minutes as a matplotlib figure.

    R@1 (and R@1% when present) in percent; PSNR in dB on a second axis when the records hold it
    (methods that synthesize), or alone for a method that does not retrieve.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    minutes = [r["minutes"] for r in records]

    def series(key: str) -> list[float] | None:
        values = [r["metrics"].get(key) for r in records]
        if all(v is None for v in values):
            return None
        return [np.nan if v is None else v for v in values]

    lines = []
    for key in ("R@1", "R@1%"):
        values = series(key)
        if values is not None:
            lines += ax.plot(minutes, values, marker="o", label=key)
    psnr = series("PSNR")
    if lines:
        ax.set_ylabel("recall (%)")
        ax.set_ylim(0, 100)
    if psnr is not None:
        psnr_ax = ax.twinx() if lines else ax
        lines += psnr_ax.plot(minutes, psnr, marker="s", color="tab:green", label="PSNR")
        psnr_ax.set_ylabel("PSNR (dB)")
    ax.set_xlabel("minutes")
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(lines, [line.get_label() for line in lines], loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


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
