"""Helpers shared by the benchmarks: a cached synthetic world and its per-split tensors.

Rendering a world of a few thousand pairs takes minutes on 2 CPU cores, and several benchmarks
train on the same one, so :func:`synthetic_world` renders it once into a cache folder keyed by its
options and returns the cached copy afterwards. Benchmarks import this module as ``_common``
(``benchmarks/`` is ``sys.path[0]`` both for ``python benchmarks/bench_x.py`` and ``run.py``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

CACHE_ENV = "CROSSVIEW_BENCH_CACHE"
"""Environment variable naming the world cache folder (default :data:`DEFAULT_CACHE_DIR`)."""
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "bench_out" / "worlds"
"""``bench_out/`` is git-ignored and removed by ``make clean``."""
_MARKER = "bench_world.json"
"""Written into the world folder last: a folder without it is an interrupted build."""


def world_spec(layout: str, pairs: int, seed: int, **size_options: Any) -> str:
    """Canonical JSON of a world's options (the cache key); tuples and lists compare equal."""
    from crossview import __version__

    spec = {
        "layout": layout,
        "pairs": pairs,
        "seed": seed,
        **size_options,
        "crossview": __version__,
    }
    return json.dumps(spec, sort_keys=True, default=list)


def synthetic_world(
    layout: str = "cvusa",
    pairs: int = 100,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    refresh: bool = False,
    **size_options: Any,
) -> Path:
    """Return the root of a synthetic world with these options, rendering it only when needed.

    Args:
        layout: Dataset layout of the world (``cvusa``, ``cvact``, ``vigor``).
        pairs: Number of ground/aerial pairs.
        seed: World seed.
        cache_dir: Folder of cached worlds; default ``$CROSSVIEW_BENCH_CACHE`` or
            ``bench_out/worlds`` at the repository root.
        refresh: Delete a cached copy and render it again.
        **size_options: Any :class:`crossview.world.WorldConfig` field (``tile_px=128``,
            ``pano_hw=(64, 256)``, ...); part of the cache key.

    Returns:
        ``CACHE/<layout>-<pairs>p-s<seed>-<hash of the options>``; a world already complete there
        is reused as it is, an interrupted one is resumed by ``make_world``.

    """
    from crossview.errors import ConfigError
    from crossview.world import make_world

    if pairs < 1:
        raise ConfigError(f"pairs: expected >= 1, got {pairs}")
    spec = world_spec(layout, pairs, seed, **size_options)
    cache = Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)
    key = hashlib.sha256(spec.encode()).hexdigest()[:12]
    root = cache / f"{layout}-{pairs}p-s{seed}-{key}"
    marker = root / _MARKER
    if refresh:
        shutil.rmtree(root, ignore_errors=True)
    elif marker.is_file() and marker.read_text() == spec:
        return root
    make_world(root, layout=layout, pairs=pairs, seed=seed, **size_options)
    marker.write_text(spec)
    return root


def load_split_tensors(
    root: str | Path, ground_hw: tuple[int, int], aerial_size: int, with_utm: bool = False
) -> dict[str, dict[str, torch.Tensor]]:
    """Per-split tensors of a synthetic world, resized to a method's input sizes.

    Args:
        root: World root (with ``crossview_gt/samples.csv``).
        ground_hw: Panorama size (H, W); downsized with area averaging.
        aerial_size: Tile side; resized bilinearly with antialiasing.
        with_utm: Also return ``utm`` (N, 2) float64 easting/northing of each panorama.

    Returns:
        ``{split: {"ground": (N, 3, H, W), "aerial": (N, 3, S, S)[, "utm": (N, 2)]}}`` in
        ``samples.csv`` order, float32 in [0, 1].

    """
    from crossview.errors import InputFileError
    from crossview.io import load_image_tensor

    root = Path(root)
    table = root / "crossview_gt" / "samples.csv"
    if not table.is_file():
        raise InputFileError(table, "file not found (not a synthetic world; see `world make`)")
    splits: dict[str, dict[str, list[torch.Tensor]]] = {}
    with table.open(newline="") as f:
        for row in csv.DictReader(f):
            entry = splits.setdefault(row["split"], {"ground": [], "aerial": []})
            ground = load_image_tensor(root / row["ground"])[None]
            tile = load_image_tensor(root / row["aerial"])[None]
            entry["ground"].append(F.interpolate(ground, size=ground_hw, mode="area"))
            entry["aerial"].append(
                F.interpolate(
                    tile,
                    size=(aerial_size, aerial_size),
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                ).clamp(0, 1)  # exactly [0, 1] despite float rounding
            )
            if with_utm:
                utm = [[float(row["utm_e"]), float(row["utm_n"])]]
                entry.setdefault("utm", []).append(torch.tensor(utm, dtype=torch.float64))
    return {s: {k: torch.cat(v) for k, v in d.items()} for s, d in splits.items()}
