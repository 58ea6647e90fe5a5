"""Benchmark descriptor sets for the index: real tile descriptors, grown to millions.

ANN recall depends on the geometry of the data, so the index benchmark measures it on
descriptors shaped like real ones (issue #16 §2). Three sources:

1. **Real** (:func:`real_descriptors`): a trained ``sample4geo`` (``tiny``, 192-d) embeds every
   tile of a synthetic VIGOR-like region, cut from the region's orthophoto every ``stride_m``
   metres as ``tiles make`` would (100 m tiles every 10 m: 22,801 tiles on 1.6 km), through the one
   input path; the region's held-out panoramas embedded with the ground encoder are the
   queries (the cross-view queries ``locate`` sends). The model comes from ``--run`` (e.g. the
   demo's ``demo_out/run``) or is trained here for a few minutes. Every step is cached under
   ``bench_out/index_descriptors/`` and skipped when done.
2. **Grown** (:func:`grow`): a *local Gaussian mixture* fitted to the real set, one component per
   real descriptor ``x_i`` with covariance ``s^2 * C_i``, where ``C_i`` is the second moment of
   the offsets ``x_j - x_i`` to its ``k`` nearest real neighbours. A sample is
   ``x_i + s / sqrt(k) * sum_j z_j (x_j - x_i)``, ``z ~ N(0, I_k)``, renormalised. Why it keeps the
   neighbourhood structure: new points lie in the span of the real local differences (the
   directions in which nearby tiles actually vary: the local intrinsic dimension stays that of
   the data, at most ``k``, not 192), in proportion to the real density (one equal-weight
   component per real tile), and at the real local scale. Copying descriptors with *isotropic*
   noise (the issue's first measurement) instead adds 192 independent directions around every
   copy: all siblings are then nearly equidistant, the locally-uniform case that ANN handles
   worst. ``s`` is chosen by :func:`calibrate_scale` so that a sample of the real set's size
   has the real nearest-neighbour-distance distribution (the bandwidth choice of this kernel
   density estimate); :func:`neighbourhood_stats` reports that check, with the local
   intrinsic dimensionality (LID, maximum-likelihood estimate from the 20 nearest neighbours).
3. **Quick** (:func:`clustered_mixture`): no model; clusters of low-dimensional Gaussian patches
   on the sphere, for ``--quick`` runs and tests. And :func:`random_unit` (uniform on the
   sphere) stays the worst case.

Descriptors are L2-normalised float32 rows; similarity is the dot product (DESIGN.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "bench_out" / "index_descriptors"
"""Cache of worlds, runs and embedded descriptors (``bench_out/`` is git-ignored)."""
CACHE_ENV = "CROSSVIEW_BENCH_CACHE"


def normalise(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place (float32) and return them."""
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, dim)`` uniform on the unit sphere: no structure, the worst case for ANN."""
    return normalise(rng.standard_normal((n, dim), dtype=np.float32))


def clustered_mixture(
    n: int,
    dim: int,
    rng: np.random.Generator,
    clusters: int = 50,
    local_dim: int = 32,
    spread: float = 0.3,
) -> np.ndarray:
    """``(n, dim)`` unit vectors in ``clusters`` Gaussian patches of ``local_dim`` dimensions.

    A stand-in with real descriptors' two traits (clusters, low local dimension) for runs
    without a trained model; the defaults give about the real set's neighbour contrast
    (10th/1st neighbour distance ~1.15) and a local intrinsic dimension of ~17 (real: ~26).
    Each patch has its own random orthonormal basis; a small isotropic term (a tenth of
    ``spread``) keeps the points off an exact subspace.
    """
    centres = random_unit(clusters, dim, rng)
    bases = np.linalg.qr(rng.standard_normal((clusters, dim, local_dim)))[0].astype(np.float32)
    labels = rng.integers(0, clusters, n)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 65_536):
        lab = labels[start : start + 65_536]
        z = rng.standard_normal((len(lab), local_dim), dtype=np.float32)
        x = centres[lab] + spread * np.einsum("ndk,nk->nd", bases[lab], z) / math.sqrt(local_dim)
        x += 0.1 * spread * rng.standard_normal(x.shape, dtype=np.float32) / math.sqrt(dim)
        out[start : start + len(lab)] = normalise(x)
    return out


def jitter_queries(base: np.ndarray, m: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """``m`` queries: random rows of ``base`` moved by isotropic noise of norm about ``noise``."""
    pick = base[rng.choice(len(base), m, replace=False)]
    step = rng.standard_normal(pick.shape, dtype=np.float32) * noise / math.sqrt(base.shape[1])
    return normalise(pick + step)


# --- neighbourhoods ---------------------------------------------------------------------------
def knn(
    base: np.ndarray,
    queries: np.ndarray,
    k: int,
    exclude_self: bool = False,
    chunk: int = 1024,
    block: int = 262_144,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``base`` (by dot product) for each query: (ids, sims).

    With ``exclude_self`` query ``i`` is ``base[i]`` and its own entry is skipped. Queries go
    ``chunk`` at a time against ``block`` rows of ``base`` at a time (a running top-k), so
    memory stays at ``chunk x block`` similarities whatever the size of ``base``.
    """
    kk = k + 1 if exclude_self else k
    ids = np.empty((len(queries), k), np.int64)
    sims = np.empty((len(queries), k), np.float32)
    for start in range(0, len(queries), chunk):
        qc = queries[start : start + chunk]
        best_s = np.full((len(qc), 0), -np.inf, np.float32)
        best_i = np.zeros((len(qc), 0), np.int64)
        for b0 in range(0, len(base), block):
            s = qc @ base[b0 : b0 + block].T
            if exclude_self:
                rows = np.arange(len(qc))
                own = start + rows - b0
                mask = (own >= 0) & (own < s.shape[1])
                s[rows[mask], own[mask]] = -np.inf
            top = min(kk, s.shape[1])
            part = np.argpartition(-s, top - 1, axis=1)[:, :top]
            best_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
            best_i = np.concatenate([best_i, part + b0], axis=1)
            if best_s.shape[1] > kk:
                keep = np.argpartition(-best_s, kk - 1, axis=1)[:, :kk]
                best_s = np.take_along_axis(best_s, keep, axis=1)
                best_i = np.take_along_axis(best_i, keep, axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        ids[start : start + len(qc)] = np.take_along_axis(best_i, order, axis=1)
        sims[start : start + len(qc)] = np.take_along_axis(best_s, order, axis=1)
    return ids, sims


def chord(sims: np.ndarray) -> np.ndarray:
    """Euclidean distance of unit vectors from their dot product."""
    return np.sqrt(np.maximum(2.0 - 2.0 * sims, 0.0))


def neighbourhood_stats(x: np.ndarray, rng: np.random.Generator, sample: int = 2000) -> dict:
    """Nearest-neighbour distance quantiles and LID of ``sample`` rows of ``x`` within ``x``."""
    pick = rng.choice(len(x), min(sample, len(x)), replace=False)
    order = np.argsort(pick)
    pick = pick[order]
    # Put the sampled rows first so that ``exclude_self`` finds each one's own column.
    rest = np.setdiff1d(np.arange(len(x)), pick)
    base = np.concatenate([x[pick], x[rest]])
    _, sims = knn(base, base[: len(pick)], 20, exclude_self=True)
    d = chord(sims).astype(np.float64)
    nn = d[:, 0]
    d = np.maximum(d, 1e-9)
    lid = -1.0 / np.mean(np.log(d[:, :-1] / d[:, -1:]), axis=1)
    q = [5, 25, 50, 75, 95]
    return {
        "n": int(len(x)),
        "nn_dist_quantiles": dict(zip([f"p{p}" for p in q], np.percentile(nn, q).round(4).tolist(),
                                      strict=True)),
        "nn_dist_mean": round(float(nn.mean()), 4),
        "d10_over_d1": round(float(np.median(d[:, 9] / d[:, 0])), 3),
        "lid_median": round(float(np.median(lid)), 2),
        "_nn": nn,
    }


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (largest gap between the two CDFs)."""
    grid = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


# --- the generator ----------------------------------------------------------------------------
@dataclass
class LocalMixture:
    """One Gaussian per real descriptor, shaped by the offsets to its ``k`` real neighbours."""

    real: np.ndarray
    """``(N, D)`` real descriptors (the component means)."""
    neighbours: np.ndarray
    """``(N, k)`` ids of each one's nearest real neighbours."""
    scale: float = 0.5
    """Bandwidth ``s`` (see module docstring)."""

    @classmethod
    def fit(cls, real: np.ndarray, k: int = 10, scale: float = 0.5) -> LocalMixture:
        """Find each real descriptor's ``k`` nearest neighbours."""
        ids, _ = knn(real, real, k, exclude_self=True)
        return cls(np.ascontiguousarray(real, np.float32), ids, scale)

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 65_536,
               out: np.ndarray | None = None) -> np.ndarray:
        """``n`` new unit descriptors (parents drawn uniformly, so in proportion to density).

        Written into ``out`` (``(n, D)`` float32) when given.
        """
        k = self.neighbours.shape[1]
        if out is None:
            out = np.empty((n, self.real.shape[1]), np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            parent = rng.integers(0, len(self.real), m)
            z = rng.standard_normal((m, k), dtype=np.float32) * (self.scale / math.sqrt(k))
            x = self.real[parent] * (1.0 - z.sum(axis=1, keepdims=True))
            for j in range(k):  # sum_j z_j (x_j - x_i), one neighbour at a time (no (m, k, D))
                x += z[:, j : j + 1] * self.real[self.neighbours[parent, j]]
            out[start : start + m] = normalise(x)
        return out


def isotropic_copies(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The issue's first generator: copies with isotropic noise at half the mean NN distance."""
    _, sims = knn(real, real[: min(2000, len(real))], 1, exclude_self=True)
    sigma = 0.5 * float(chord(sims).mean())
    parent = rng.integers(0, len(real), n)
    noise = rng.standard_normal((n, real.shape[1]), dtype=np.float32)
    return normalise(real[parent] + noise * sigma / math.sqrt(real.shape[1]))


def calibrate_scale(
    real: np.ndarray,
    rng: np.random.Generator,
    k: int = 10,
    scales: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5),
) -> tuple[LocalMixture, dict]:
    """Fit the mixture and pick the bandwidth whose same-size sample matches real NN distances.

    Returns the mixture and a report ``{"scales": {s: ks}, "scale": best}`` (KS statistic of the
    nearest-neighbour-distance distributions, sample vs real, at the real set's size).
    """
    mixture = LocalMixture.fit(real, k)
    real_nn = neighbourhood_stats(real, np.random.default_rng(1))["_nn"]
    ks = {}
    for s in scales:
        mixture.scale = s
        fake = mixture.sample(len(real), np.random.default_rng(2))
        ks[s] = ks_distance(neighbourhood_stats(fake, np.random.default_rng(1))["_nn"], real_nn)
    mixture.scale = min(ks, key=ks.__getitem__)
    return mixture, {"k": k, "ks_by_scale": {str(s): round(v, 4) for s, v in ks.items()},
                     "scale": mixture.scale}


def grow(mixture: LocalMixture, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` descriptors: the real ones (all, or a random subset if ``n`` is smaller) + samples."""
    real = mixture.real
    if n <= len(real):
        return real[np.sort(rng.choice(len(real), n, replace=False))].copy()
    out = np.empty((n, real.shape[1]), np.float32)
    out[: len(real)] = real
    mixture.sample(n - len(real), rng, out=out[len(real) :])
    return out


def generator_check(mixture: LocalMixture, report: dict, rng: np.random.Generator) -> dict:
    """Neighbourhood statistics of real vs grown vs isotropic copies vs random, at equal size."""
    real = mixture.real
    n, d = real.shape
    sets = {
        "real": real,
        "local_mixture": mixture.sample(n, np.random.default_rng(3)),
        "isotropic_copies": isotropic_copies(real, n, np.random.default_rng(3)),
        "random": random_unit(n, d, np.random.default_rng(3)),
    }
    stats = {name: neighbourhood_stats(x, np.random.default_rng(1)) for name, x in sets.items()}
    real_nn = stats["real"]["_nn"]
    for st in stats.values():
        st["ks_vs_real"] = round(ks_distance(st.pop("_nn"), real_nn), 4)
    return {**report, "at_real_size": stats}


# --- real descriptors ---------------------------------------------------------------------------
@dataclass
class RealSet:
    """Real tile descriptors with the cross-view queries of the same region."""

    tiles: np.ndarray
    """``(N, D)`` tile descriptors."""
    queries: np.ndarray
    """``(Q, D)`` ground descriptors of held-out panoramas."""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RealConfig:
    """The region, model and tiling of the real descriptor set."""

    pairs: int = 2000
    """Panoramas of the synthetic region (80 % train, 20 % held out: the queries)."""
    region_m: float = 1600.0
    """Side of the square region in metres."""
    tile_m: float = 100.0
    """Tile footprint (as the world's own tiles)."""
    stride_m: float = 10.0
    """Step between tiles: ``tiles make --stride`` of a dense deployment."""
    train_minutes: float = 2.5
    """Training budget when no ``run`` is given (tiny preset, random init)."""
    queries: int = 300
    seed: int = 0

    def key(self, extra: str = "") -> str:
        """Cache key of everything that changes the descriptors."""
        from crossview import __version__

        text = json.dumps({**self.__dict__, "crossview": __version__, "extra": extra},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_WORLD_OPTIONS = {"tile_px": 128, "pano_hw": (64, 256), "cities": ("NewYork",)}
"""The demo's world options (docs/locate.md), on a larger region."""


def _world(conf: RealConfig, cache: Path) -> Path:
    from crossview.world import WorldConfig
    from crossview.world.make import build_world

    spec = {"pairs": conf.pairs, "region_m": conf.region_m, "seed": conf.seed, **_WORLD_OPTIONS}
    root = cache / f"world-{hashlib.sha256(repr(sorted(spec.items())).encode()).hexdigest()[:10]}"
    marker = root / "bench_done.json"
    if not marker.is_file():
        cfg = WorldConfig.from_dict({"layout": "vigor", **spec})
        build_world(cfg, root, geotiff=True)
        marker.write_text(json.dumps(spec, default=list))
    return root


def _model(conf: RealConfig, cache: Path, world: Path, run: str | None) -> Any:
    from crossview.data.layouts import load_layout
    from crossview.pipelines.demo import DemoConfig, step_train
    from crossview.training.checkpoint import load_run

    if run:
        return load_run(run, which="last")
    table = load_layout("vigor", world, cities=_WORLD_OPTIONS["cities"])
    demo = DemoConfig(out=cache / f"train-{world.name}-{conf.train_minutes:g}min",
                      minutes=conf.train_minutes, seed=conf.seed, pairs=conf.pairs, eval_every=0)
    trained = step_train(demo, f"vigor:{world}", len(table.select("train")))
    return load_run(trained, which="last")


def _tile_descriptors(model: Any, world: Path, conf: RealConfig) -> np.ndarray:
    """Embed tiles cut from the orthophoto every ``stride_m`` through the one input path."""
    import rasterio
    import torch

    from crossview.data.inputs import aerial_pixels, pixels_to_batch
    from crossview.inference import encode_images, eval_mode
    from crossview.progress import track

    ortho = next((world / "crossview_gt").glob("*_orthophoto.tif"))
    with rasterio.open(ortho) as src:
        image = src.read().transpose(1, 2, 0)  # H x W x 3 uint8
        cell = abs(src.transform.a)
    size, stride = round(conf.tile_m / cell), round(conf.stride_m / cell)
    h, w = image.shape[:2]
    rows, cols = range(0, h - size + 1, stride), range(0, w - size + 1, stride)
    origins = [(r, c) for r in rows for c in cols]
    method, spec = model.method.eval(), model.method.input_spec
    device = torch.device("cpu")
    chunks = []
    batches = [origins[i : i + 256] for i in range(0, len(origins), 256)]
    with eval_mode(method), torch.inference_mode():
        for batch in track(batches, "embedding tiles"):
            pixels = [aerial_pixels(np.ascontiguousarray(image[r : r + size, c : c + size]), spec)
                      for r, c in batch]
            chunks.append(encode_images(method, "aerial", pixels_to_batch(pixels), device))
    return np.concatenate(chunks)


def real_descriptors(
    conf: RealConfig | None = None, run: str | None = None, cache: str | Path | None = None
) -> RealSet:
    """Real tile and query descriptors (module docstring, item 1); cached after the first call."""
    from crossview.data.layouts import load_layout
    from crossview.inference import embed_ground
    from crossview.pipelines.demo import held_split

    conf = conf or RealConfig()
    cache = Path(cache or os.environ.get(CACHE_ENV, "") or DEFAULT_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    world = _world(conf, cache)
    model = _model(conf, cache, world, run)
    path = cache / f"descriptors-{conf.key(model.checkpoint_sha256)}.npz"
    if not path.is_file():
        tiles = _tile_descriptors(model, world, conf)
        table = load_layout("vigor", world, cities=_WORLD_OPTIONS["cities"])
        held = table.select(held_split(table))
        queries = embed_ground(model.method, held, device="cpu")[: conf.queries]
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, tiles=tiles, queries=queries)
        tmp.replace(path)
    data = np.load(path)
    info = {"source": "real", "model": model.method_name,
            "checkpoint": model.checkpoint_sha256[:12], "run": str(run or model.checkpoint_path),
            "world": str(world), "cache": str(path), **conf.__dict__,
            "tiles": int(len(data["tiles"])), "dim": int(data["tiles"].shape[1])}
    return RealSet(data["tiles"].astype(np.float32), data["queries"].astype(np.float32), info)
