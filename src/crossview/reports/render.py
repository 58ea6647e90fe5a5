"""Shared helpers of the HTML reports: templates, data URIs, tile thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def render_template(name: str, **context: Any) -> str:
    """Render ``reports/templates/<name>`` with autoescaping."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("crossview.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name).render(**context)


def png_data_uri(image: Image.Image | np.ndarray) -> str:
    """Encode an RGB image as a ``data:image/png;base64,...`` URI (reports are single files)."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail_uri(path: str | Path, max_side: int = 256) -> str:
    """Encode a file's thumbnail as a PNG data URI (read with :func:`crossview.io.read_image`)."""
    from crossview.io import read_image

    img = read_image(path)
    img.thumbnail((max_side, max_side))
    return png_data_uri(img)


def figure_data_uri(fig: Any, dpi: int = 100) -> str:
    """Encode a matplotlib figure as a PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure as a PNG file atomically."""
    from crossview.io import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return write_bytes_atomic(path, buf.getvalue())
