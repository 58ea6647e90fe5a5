"""Curves as pure plotting functions: learning curves of a run, recall against distance."""

from __future__ import annotations

from collections.abc import Mapping
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


def plot_recall_distance(curves: Mapping[str, Mapping[str, Any]], title: str = "",
                         ns: tuple[str, ...] | None = None) -> Any:
    """Recall (%) against the distance threshold (km): one colour per model, one style per N.

    Args:
        curves: ``{label: {"radii_m": [...], "recall": {"1": [...], "100": [...]}}}``, e.g. the
            ``curve`` of a ``crosslocate`` evaluation, its ``chance["curve"]`` and a baseline's.
        title: Figure title.
        ns: The N values to draw (default: every one found).

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    styles = ("-", "--", ":", "-.")
    wanted = ns or tuple(dict.fromkeys(n for c in curves.values() for n in c["recall"]))
    for c, (label, curve) in enumerate(curves.items()):
        km = np.asarray(curve["radii_m"], dtype=float) / 1000.0
        for s, n in enumerate(wanted):
            if n in curve["recall"]:
                ax.plot(km, curve["recall"][n], styles[s % len(styles)], color=f"C{c}",
                        label=f"{label}, recall@{n}")
    ax.set_xlabel("distance threshold (km)")
    ax.set_ylabel("recall (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
