"""Hard-negative batch samplers: GPS neighbours and visual-similarity neighbours (SPECS.md §5).

Both yield lists of dataset indices. An epoch's batches are built from a permutation seeded by
``(seed, epoch)``: take the next unused sample as *anchor*, then its nearest unused neighbours
(the hard negatives of the anchor in an InfoNCE batch) until the batch is full; then the next
anchor. Every sample appears exactly once per epoch, and never two samples with the same *key*
in one batch (keys default to the indices; pass e.g. positive-tile indices for VIGOR, where two
panoramas can share a tile and would otherwise be each other's false negatives). Samples that
would repeat a key are deferred to a later batch, so the last batches of an epoch can be smaller.

With ``sample_range`` (Sample4Geo: 64 neighbours from a range of 128) an anchor's candidates
are its ``neighbours // 2`` nearest followed by ``neighbours - neighbours // 2`` drawn at random
from the remaining ranks up to ``sample_range``; each candidate still unused joins the batch
until it is full. Without it, the nearest unused neighbours join until ``neighbours`` have.
:class:`UniqueKeySampler` is the same construction without neighbours: shuffled batches in which
no key repeats (University-1652: one drone image per building and batch).

``state_dict()`` records the epoch and how many batches were handed out, so a trainer resumes
exactly where it stopped (with a prefetching DataLoader pass the number it actually consumed).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from crossview.errors import ConfigError


class _NeighbourBatchSampler(Sampler[list[int]]):
    """Shared epoch / resume logic; subclasses fill :attr:`_neighbours` (``(N, K)`` int64)."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        neighbours: int,
        seed: int = 0,
        keys: Sequence[Hashable] | None = None,
        sample_range: int | None = None,
    ) -> None:
        if sample_range is not None and sample_range < neighbours:
            raise ConfigError(f"{type(self).__name__}: sample_range {sample_range} is smaller "
                              f"than neighbours {neighbours}")
        if n < 1 or batch_size < 2:
            raise ConfigError(
                f"{type(self).__name__}: need n >= 1 and batch_size >= 2, got {n}, {batch_size}"
            )
        if neighbours < 0:
            raise ConfigError(f"{type(self).__name__}: neighbours must be >= 0, got {neighbours}")
        if keys is not None and len(keys) != n:
            raise ConfigError(f"{type(self).__name__}: {len(keys)} keys for {n} samples")
        self.n = n
        self.batch_size = batch_size
        self.neighbours = neighbours
        self.seed = seed
        self.keys: list[Hashable] = list(range(n)) if keys is None else list(keys)
        self.sample_range = sample_range
        self.epoch = 0
        self.position = 0
        self._neighbours: np.ndarray | None = None
        self._cache: tuple[int, list[list[int]]] | None = None

    # --- epoch bookkeeping -----------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches to yield (a new epoch starts from its first batch)."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self.position = 0

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """Epoch and position (batches handed out, or ``consumed`` when given) for exact resume."""
        return {
            "epoch": self.epoch,
            "position": self.position if consumed is None else int(consumed),
            "seed": self.seed,
            "n": self.n,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a different dataset size or batch size is an error."""
        for key in ("n", "batch_size", "seed"):
            if state.get(key) != getattr(self, key):
                raise ConfigError(
                    f"{type(self).__name__} state: {key}={state.get(key)!r} does not match "
                    f"this sampler's {getattr(self, key)!r}"
                )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])

    def __len__(self) -> int:
        return len(self.batches())

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        while self.position < len(batches):
            self.position += 1
            yield batches[self.position - 1]
        self.position = 0

    # --- batch construction ----------------------------------------------------------------
    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """All batches of ``epoch`` (default: the current one), deterministic per (seed, epoch)."""
        epoch = self.epoch if epoch is None else epoch
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, self._build(epoch))
        return self._cache[1]

    def _build(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        pending = deque(rng.permutation(self.n).tolist())
        used = np.zeros(self.n, dtype=bool)
        batches: list[list[int]] = []
        batch: list[int] = []
        batch_keys: set[Hashable] = set()
        deferred: list[int] = []

        def flush() -> None:
            nonlocal batch, batch_keys
            if batch:
                batches.append(batch)
            batch, batch_keys = [], set()
            pending.extendleft(reversed(deferred))  # deferred samples first, in their order
            deferred.clear()

        def add(i: int) -> None:
            batch.append(i)
            batch_keys.add(self.keys[i])
            used[i] = True

        while pending or deferred:
            if not pending:
                flush()
                continue
            anchor = pending.popleft()
            if used[anchor]:
                continue
            if self.keys[anchor] in batch_keys:
                deferred.append(anchor)
                continue
            add(anchor)
            added = 0
            if self._neighbours is not None:
                limit = self.neighbours
                candidates = self._neighbours[anchor].tolist()
                if self.sample_range is not None:  # nearest half + random half of the range
                    near = self.neighbours // 2
                    pool = [j for j in candidates[near:self.sample_range] if j >= 0]
                    far = rng.permutation(len(pool))[: self.neighbours - near]
                    candidates = candidates[:near] + [pool[i] for i in far]
                    limit = len(candidates)
                for j in candidates:
                    if added >= limit or len(batch) >= self.batch_size:
                        break
                    if j >= 0 and not used[j] and self.keys[j] not in batch_keys:
                        add(j)
                        added += 1
            if len(batch) >= self.batch_size:
                flush()
        flush()
        return batches


class UniqueKeySampler(_NeighbourBatchSampler):
    """Shuffled batches in which no key repeats (no neighbours are added).

    Args:
        n: Dataset length.
        batch_size: Batch size ``B``.
        seed: Seed of the per-epoch order.
        keys: Per-sample keys that must not repeat within a batch (e.g. positive references).

    """

    def __init__(self, n: int, batch_size: int, seed: int = 0,
                 keys: Sequence[Hashable] | None = None) -> None:
        super().__init__(n, batch_size, 0, seed, keys)


class GPSNeighbourSampler(_NeighbourBatchSampler):
    """Batches of an anchor plus its geographically nearest samples (precomputed once).

    Args:
        coords: ``(N, 2)`` UTM easting/northing in metres (one zone), or latitude/longitude in
            degrees with ``latlon=True`` (neighbours by great-circle distance: the chord between
            unit vectors orders points exactly as the haversine distance does).
        batch_size: Batch size ``B``.
        neighbours: Neighbours added after each anchor (``B - 1`` fills a batch from one anchor).
        seed: Seed of the per-epoch anchor order.
        latlon: Interpret ``coords`` as degrees.
        keys: Per-sample keys that must not repeat within a batch (default: indices).
        candidates: Nearest positions kept per sample (default ``2 * neighbours``), so that
            already-used neighbours can be skipped.

    """

    def __init__(
        self,
        coords: np.ndarray | torch.Tensor,
        batch_size: int,
        neighbours: int = 8,
        seed: int = 0,
        latlon: bool = False,
        keys: Sequence[Hashable] | None = None,
        candidates: int | None = None,
        sample_range: int | None = None,
    ) -> None:
        xy = np.asarray(coords, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ConfigError(f"GPSNeighbourSampler: coords must have shape (N, 2), got {xy.shape}")
        bad = np.flatnonzero(~np.isfinite(xy).all(axis=1))
        if bad.size:
            raise ConfigError(
                f"GPSNeighbourSampler: {bad.size} samples without coordinates "
                f"(NaN), first at index {int(bad[0])}"
            )
        super().__init__(len(xy), batch_size, neighbours, seed, keys, sample_range)
        points = _unit_vectors(xy) if latlon else xy
        self._neighbours = _nearest(points, candidates or max(2 * neighbours, sample_range or 0, 1))

    @classmethod
    def from_table(
        cls, table: Any, batch_size: int, neighbours: int = 8, seed: int = 0, **kwargs: Any
    ) -> GPSNeighbourSampler:
        """From a :class:`PairTable`: UTM when all pairs share one zone, latitude/longitude else."""
        zones = {p.utm_zone for p in table.pairs}
        if len(zones) == 1 and None not in zones:
            return cls(table.ground_utm(), batch_size, neighbours, seed, **kwargs)
        latlon = np.array(
            [
                [np.nan if p.lat is None else p.lat, np.nan if p.lon is None else p.lon]
                for p in table.pairs
            ]
        )
        return cls(latlon, batch_size, neighbours, seed, latlon=True, **kwargs)


def _unit_vectors(latlon_deg: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(latlon_deg[:, 0]), np.radians(latlon_deg[:, 1])
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _nearest(points: np.ndarray, k: int) -> np.ndarray:
    """``(N, k)`` nearest other samples by Euclidean distance (``-1`` padding when N <= k)."""
    from scipy.spatial import cKDTree

    n = len(points)
    kk = min(k + 1, n)
    _, idx = cKDTree(points).query(points, k=kk)
    idx = np.asarray(idx).reshape(n, kk)
    out = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):  # drop self (not always column 0 when positions coincide)
        others = idx[i][idx[i] != i][:k]
        out[i, : len(others)] = others
    return out


class SimilarityNeighbourSampler(_NeighbourBatchSampler):
    """Batches of an anchor plus the samples whose aerial view it confuses most (Sample4Geo).

    Until :meth:`update` is called the batches are plain shuffles. ``update`` recomputes, for
    every ground descriptor, the most similar *other* aerial descriptors, block by block
    (``block_size`` rows at a time, never the full N x N matrix).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        neighbours: int = 8,
        seed: int = 0,
        keys: Sequence[Hashable] | None = None,
        block_size: int = 1024,
        candidates: int | None = None,
        sample_range: int | None = None,
    ) -> None:
        super().__init__(n, batch_size, neighbours, seed, keys, sample_range)
        self.block_size = block_size
        self.candidates = candidates or max(2 * neighbours, sample_range or 0, 1)

    @property
    def ready(self) -> bool:
        """Whether neighbours have been computed by :meth:`update`."""
        return self._neighbours is not None

    @torch.no_grad()
    def update(
        self, ground_desc: torch.Tensor | np.ndarray, aerial_desc: torch.Tensor | np.ndarray
    ) -> None:
        """Recompute neighbours from ``(N, D)`` ground and aerial descriptors (row i = sample i)."""
        g = torch.as_tensor(ground_desc).float()
        a = torch.as_tensor(aerial_desc).float().to(g.device)
        if g.shape != a.shape or g.ndim != 2 or g.shape[0] != self.n:
            raise ConfigError(
                f"SimilarityNeighbourSampler.update: expected two ({self.n}, D) arrays, "
                f"got {tuple(g.shape)} and {tuple(a.shape)}"
            )
        if not (torch.isfinite(g).all() and torch.isfinite(a).all()):
            raise ConfigError("SimilarityNeighbourSampler.update: descriptors contain NaN or inf")
        k = min(self.candidates, self.n - 1)
        out = np.full((self.n, self.candidates), -1, dtype=np.int64)
        for start in range(0, self.n, self.block_size):
            stop = min(start + self.block_size, self.n)
            sim = g[start:stop] @ a.T  # (block, N)
            rows = torch.arange(stop - start, device=sim.device)
            sim[rows, rows + start] = -torch.inf  # a sample is not its own negative
            if k > 0:
                out[start:stop, :k] = sim.topk(k, dim=1).indices.cpu().numpy()
        self._neighbours = out
        self._cache = None

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """As the base class, plus the neighbour lists (needed to rebuild the same batches)."""
        state = super().state_dict(consumed)
        state["neighbour_lists"] = None if self._neighbours is None else self._neighbours.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore position and neighbour lists."""
        super().load_state_dict(state)
        lists = state.get("neighbour_lists")
        self._neighbours = None if lists is None else np.asarray(lists, dtype=np.int64)
        self._cache = None
