"""The one table type every source is read into (DESIGN.md "Data flow").

A :class:`PairTable` holds the aerial *references* of a dataset (tiles or gallery images, each
with its coordinates) and the ground *queries* (one :class:`Pair` per ground image) pointing at
their references by index: the positive first, then any semi-positives (VIGOR). CVUSA/CVACT have
one reference per pair; VIGOR shares tiles between panoramas; University-1652 has galleries with
distractors.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Reference:
    """One aerial reference image (tile, satellite or drone view) with its coordinates."""

    id: str
    path: Path
    lat: float | None = None
    lon: float | None = None
    utm_e: float | None = None
    utm_n: float | None = None
    utm_zone: str | None = None
    """E.g. ``"55S"``; easting/northing are only comparable within one zone."""
    ground_resolution_m: float | None = None
    """Metres per pixel of the tile as stored on disk."""
    class_id: int | None = None
    """University-1652 building id; ``None`` elsewhere."""
    split: str | None = None
    """Split(s) whose gallery this reference belongs to; ``None`` = every split."""
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One ground image and its aerial reference(s)."""

    id: str
    ground: Path
    split: str
    references: tuple[int, ...]
    """Indices into :attr:`PairTable.references`: the positive first, then semi-positives."""
    offsets_px: tuple[tuple[float, float], ...] | None = None
    """Per reference, the camera's (row, col) pixel offset from the tile centre (VIGOR)."""
    lat: float | None = None
    lon: float | None = None
    utm_e: float | None = None
    utm_n: float | None = None
    utm_zone: str | None = None
    yaw_deg: float | None = None
    """Heading of the ground image's centre column, degrees clockwise from north."""
    fov_deg: float | None = None
    """Horizontal field of view; ``None`` or 360 for full panoramas."""
    class_id: int | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def positive(self) -> int:
        """Index of the positive reference."""
        return self.references[0]


@dataclasses.dataclass
class PairTable:
    """Pairs of ground images and aerial references read from one source."""

    layout: str
    root: Path
    pairs: list[Pair]
    references: list[Reference]
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.references)
        for pair in self.pairs:
            # Query-only tables (a user's folder of photos to locate) have no references at all.
            empty_ok = bool(self.extras.get("queries_only"))
            out_of_range = any(not 0 <= r < n for r in pair.references)
            if (not pair.references and not empty_ok) or out_of_range:
                raise ValueError(f"pair {pair.id!r}: reference indices {pair.references} "
                                 f"out of [0, {n})")

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __getitem__(self, index: int) -> Pair:
        return self.pairs[index]

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.split_counts().items())
        return (
            f"PairTable(layout={self.layout!r}, root={str(self.root)!r}, pairs={len(self.pairs)} "
            f"({counts}), references={len(self.references)})"
        )

    def split_counts(self) -> dict[str, int]:
        """Number of pairs per split, in first-seen order."""
        return dict(Counter(p.split for p in self.pairs))

    def splits(self) -> list[str]:
        """Split names present."""
        return list(self.split_counts())

    def select(self, split: str | Sequence[str]) -> PairTable:
        """Pairs of the given split(s), with the references they need.

        References are re-indexed to those they use or whose ``split`` matches or is ``None``
        (so galleries keep their distractors).
        """
        wanted = {split} if isinstance(split, str) else set(split)
        unknown = wanted - set(self.splits())
        if unknown:
            from crossview.errors import unknown_name_error

            raise unknown_name_error(f"split of {self.layout}", sorted(unknown)[0], self.splits())
        pairs = [p for p in self.pairs if p.split in wanted]
        used = {r for p in pairs for r in p.references}
        keep = [
            i
            for i, ref in enumerate(self.references)
            if i in used or ref.split is None or ref.split in wanted  # None = every split
        ]
        remap = {old: new for new, old in enumerate(keep)}
        new_pairs = [
            dataclasses.replace(p, references=tuple(remap[r] for r in p.references)) for p in pairs
        ]
        return PairTable(
            layout=self.layout,
            root=self.root,
            pairs=new_pairs,
            references=[self.references[i] for i in keep],
            extras=dict(self.extras),
        )

    def truth(self) -> np.ndarray:
        """Index of each pair's positive reference, shape ``(N,)`` int64."""
        return np.array([p.positive for p in self.pairs], dtype=np.int64)

    def ground_utm(self) -> np.ndarray:
        """``(N, 2)`` easting/northing of the ground images (NaN where unknown)."""
        return np.array(
            [[p.utm_e if p.utm_e is not None else np.nan,
              p.utm_n if p.utm_n is not None else np.nan]
             for p in self.pairs],
            dtype=np.float64,
        )

    def reference_utm(self) -> np.ndarray:
        """``(M, 2)`` easting/northing of the references (NaN where unknown)."""
        return np.array(
            [[r.utm_e if r.utm_e is not None else np.nan,
              r.utm_n if r.utm_n is not None else np.nan]
             for r in self.references],
            dtype=np.float64,
        )
