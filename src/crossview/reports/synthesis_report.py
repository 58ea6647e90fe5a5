"""The ``synthesize --html`` page: samples and their by-products, an illumination grid, videos.

The page lives in the output folder and refers to the files written there by relative, URL-quoted
names; the input tiles and the illumination sources are embedded as thumbnails (they live
elsewhere). Every string from the inputs (file names, labels) is escaped by the template engine.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossview._version import __version__
from crossview.reports.render import render_template, thumbnail_uri


def _src(path: Path, folder: Path) -> str:
    """A file's URL relative to the page's folder (quoted: names may hold ``#``, ``?``, spaces)."""
    return urllib.parse.quote(path.relative_to(folder).as_posix())


def group_outputs(stems: Sequence[str], written: Sequence[Path]) -> dict[str, list[Path]]:
    """PNG files of each input stem (``<stem>.png`` first, then ``<stem>_<name>.png``).

    A file goes to the longest stem it starts with, so stems that prefix each other stay apart.
    """
    groups: dict[str, list[Path]] = {s: [] for s in stems}
    for path in written:
        if path.suffix != ".png":
            continue
        name = path.name[:-4]
        owners = [s for s in stems if name == s or name.startswith(f"{s}_")]
        if owners:
            groups[max(owners, key=len)].append(path)
    for stem, paths in groups.items():
        paths.sort(key=lambda p: (p.name != f"{stem}.png", p.name))
    return groups


def synthesis_html(folder: Path, run: str, method: str, tiles: Sequence[Path],
                   written: Sequence[Path], grid: dict[str, Any] | None = None,
                   videos: Sequence[dict[str, Any]] = (), options: str = "") -> str:
    """The page as a string.

    Args:
        folder: The output folder (where the page goes).
        run: The run or checkpoint shown in the header.
        method: The method's name.
        tiles: The inputs, in order.
        written: Files written for the samples.
        grid: ``{"sources": [(label, panorama path or None)], "rows": {stem: [png per source]}}``.
        videos: Per input: ``{"stem", "mp4", "gif", "path"}`` file paths.
        options: A line describing the options used.

    """
    folder = Path(folder)
    stems = [Path(t).stem for t in tiles]
    groups = group_outputs(stems, written)
    items = []
    for tile, stem in zip(tiles, stems, strict=True):
        outputs = []
        for path in groups[stem]:
            label = path.name[len(stem) + 1:-4] or "synthesis"
            outputs.append({"label": label, "src": _src(path, folder),
                            "square": "satellite" in label})
        items.append({"stem": stem, "tile_uri": thumbnail_uri(tile, 256), "outputs": outputs})
    grid_ctx = None
    if grid:
        grid_ctx = {
            "sources": [{"label": label, "uri": thumbnail_uri(src, 512) if src else None}
                        for label, src in grid["sources"]],
            "rows": [{"stem": stem, "cells": [_src(p, folder) for p in cells]}
                     for stem, cells in grid["rows"].items()],
        }
    vids = [{"stem": v["stem"], **{k: _src(Path(v[k]), folder) for k in ("mp4", "gif", "path")}}
            for v in videos]
    return render_template("synthesis.html", run=run, method=method, version=__version__,
                           tiles=items, grid=grid_ctx, videos=vids, options=options)
