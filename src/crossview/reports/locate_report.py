"""The ``locate --html`` page: each query, its top-K tiles with scores and a map of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crossview._version import __version__
from crossview.reports.maps import candidates_map
from crossview.reports.render import figure_data_uri, render_template, thumbnail_uri


def query_section(
    result: dict[str, Any],
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
    truth: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Template context of one query (``result`` is one entry of ``locate --json``)."""
    cands = result["candidates"]
    return {
        "query": result["query"],
        "query_uri": thumbnail_uri(result["query"], max_side=512),
        "heading": result.get("heading_deg"),
        "candidates": [{**c, "uri": thumbnail_uri(c["path"], 160)} for c in cands],
        "map_uri": figure_data_uri(candidates_map(cands, near, radius_m, truth)) if cands else None,
    }


def locate_html(
    results: Sequence[dict[str, Any]],
    index_uri: str,
    method: str,
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
) -> str:
    """Render the whole page as a string (images embedded as data URIs: one self-contained file)."""
    sections = [query_section(r, near, radius_m) for r in results]
    return render_template(
        "locate.html",
        sections=sections,
        index_uri=index_uri,
        method=method,
        near=near,
        radius_m=radius_m,
        version=__version__,
    )
