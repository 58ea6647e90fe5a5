"""Caches of decoded, resized images (``3 x H x W`` uint8), so JPEG decoding happens once.

At paper sizes a training step needs 2 x 128 full-size JPEG decodes and resizes; once the model
is fast (a GPU), decoding bounds the throughput. Two caches, one interface (``get(key, read)``):

- :class:`MemoryPixelCache`: a dict in the process (small inputs; each DataLoader worker holds
  its own share, kept across epochs with persistent workers).
- :class:`DiskPixelCache`: one memory-mapped file per kind of image (``ground``, ``tile``) with a
  fixed-size slot per index and a byte of "filled" flags, written by whichever process reads an
  image first and shared through the OS page cache by every worker, rank and later run. Its
  directory name is a digest of what the pixels depend on (the image files with their sizes and
  modification times, the input sizes, filters and band crop), so a changed file or spec uses a
  new cache. Images of another shape (limited-FOV photos) are read as usual, never cached.

The pixels are exactly those the one input path gives (:mod:`crossview.data.inputs`): a cache
changes when decoding happens, never what it yields.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crossview.errors import ConfigError

CACHE_ENV = "CROSSVIEW_CACHE"
"""Environment variable naming the default parent directory of disk caches."""


def default_cache_dir() -> Path:
    """``$CROSSVIEW_CACHE`` or ``~/.cache/crossview``."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "crossview"


class MemoryPixelCache:
    """Decoded pixels by key, in this process's memory."""

    def __init__(self) -> None:
        self._items: dict[Hashable, np.ndarray] = {}

    def get(self, key: Hashable, read: Callable[[], np.ndarray]) -> np.ndarray:
        """The pixels of ``key``, read (and kept) on first use."""
        if key not in self._items:
            self._items[key] = read()
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)


class DiskPixelCache:
    """Fixed-shape uint8 images in memory-mapped files: ``<dir>/<kind>.u8`` + ``<kind>.ok``.

    Args:
        directory: The cache's own directory (see :func:`disk_cache_for`).
        shapes: ``kind -> (count, (3, H, W))`` of each kind of image.

    Keys are ``(kind, index)`` tuples. Files are created (sparse) by the constructor, in the main
    process, and opened lazily in each process that reads (memory maps are never pickled).

    """

    def __init__(self, directory: Path, shapes: dict[str, tuple[int, tuple[int, int, int]]]
                 ) -> None:
        self.directory = Path(directory)
        self.shapes = {k: (int(n), tuple(int(x) for x in s)) for k, (n, s) in shapes.items()}
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind, (count, shape) in self.shapes.items():
            data, flags = self._paths(kind)
            size = count * int(np.prod(shape))
            if not data.exists() or data.stat().st_size != size:
                with open(data, "wb") as f:  # sparse: no disk use until slots are written
                    f.truncate(size)
                with open(flags, "wb") as f:
                    f.truncate(count)
        self._maps: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _paths(self, kind: str) -> tuple[Path, Path]:
        return self.directory / f"{kind}.u8", self.directory / f"{kind}.ok"

    def _open(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        if kind not in self._maps:
            count, shape = self.shapes[kind]
            data, flags = self._paths(kind)
            self._maps[kind] = (np.memmap(data, np.uint8, "r+", shape=(count, *shape)),
                                np.memmap(flags, np.uint8, "r+", shape=(count,)))
        return self._maps[kind]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = {}  # each process maps the files itself
        return state

    def get(self, key: tuple[str, int], read: Callable[[], np.ndarray]) -> np.ndarray:
        """The pixels of ``(kind, index)``: from the file once filled, else read and stored."""
        kind, index = key
        if kind not in self.shapes:
            return read()
        data, flags = self._open(kind)
        if flags[index]:
            return np.array(data[index])  # a copy: the caller may modify it in place
        pixels = read()
        if pixels.shape == data.shape[1:] and pixels.dtype == np.uint8:
            data[index] = pixels
            flags[index] = 1  # after the pixels: a reader never sees a half-written slot
        return pixels

    def filled(self, kind: str) -> int:
        """Number of slots of ``kind`` already written."""
        return int(np.count_nonzero(self._open(kind)[1]))


def cache_digest(files: Sequence[Path], spec: dict[str, Any]) -> str:
    """Digest of what cached pixels depend on: the files (path, size, mtime) and ``spec``."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    for path in files:
        try:
            st = os.stat(path)
            stamp = f"{path}|{st.st_size}|{st.st_mtime_ns}\n"
        except OSError:
            stamp = f"{path}|missing\n"
        digest.update(stamp.encode())
    return digest.hexdigest()[:24]


def disk_cache_for(parent: str | Path | None, files: Sequence[Path], spec: dict[str, Any],
                   shapes: dict[str, tuple[int, tuple[int, int, int]]]) -> DiskPixelCache:
    """The disk cache of these files and input spec under ``parent`` (default: see module doc).

    Raises:
        ConfigError: The directory cannot be created or written.

    """
    root = Path(parent).expanduser() if parent else default_cache_dir()
    directory = root / "pixels" / cache_digest(files, {**spec, "shapes": shapes})
    try:
        cache = DiskPixelCache(directory, shapes)
    except OSError as err:
        raise ConfigError(f"train.cache_dir {root}: cannot create the image cache ({err})"
                          ) from None
    manifest = directory / "spec.json"
    if not manifest.exists():
        manifest.write_text(json.dumps({"spec": spec, "shapes": shapes, "files": len(files)},
                                       default=str, indent=1))
    return cache
