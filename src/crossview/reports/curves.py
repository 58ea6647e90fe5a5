"""Learning curves of a run: validation metrics against minutes (a pure plotting function)."""

from __future__ import annotations

from typing import Any

import numpy as np


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
        ax.legend(lines, [str(line.get_label()) for line in lines], loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
