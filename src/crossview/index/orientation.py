"""Heading search: the scoring rules ``locate`` and the query-condition benchmark share.

Two families of methods (docs/locate.md "Orientation"):

- **Global descriptors** (``sample4geo``, ``clnet``, SAFA's aggregation): a descriptor is not
  rotation-invariant, so the query is rolled to candidate headings and embedded once per
  heading. Each tile's score is its best over the headings tried; the heading of that roll is
  the estimate (refined between grid points by a parabola when the grid is uniform).
  Strategies: ``north`` (assume heading 0: the baseline a search must beat), ``rolls`` (``n``
  headings, every tile), ``coarse_fine`` (``n_coarse`` headings over every tile, then the
  ``rerank`` best tiles re-scored on a ``n`` grid).
- **Polar-aligned feature maps** (``Method.can_match``: DSM): one correlation gives every tile's
  score at every azimuth shift (:mod:`crossview.methods.matching`).

The functions here work on score arrays (``(..., N, R)`` scores of ``N`` tiles at ``R``
headings), so the benchmark can score every strategy from one set of embeddings and ``locate``
applies the same rule to what the GeoIndex returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from crossview.errors import ConfigError
from crossview.geometry.panorama import roll_panorama
from crossview.methods.matching import refine_peak

STRATEGIES = ("north", "rolls", "coarse_fine", "match")
"""Heading search strategies (module docstring)."""


def uniform_headings(n: int) -> list[float]:
    """``n`` headings evenly spaced from 0 degrees (clockwise from north)."""
    if n < 1:
        raise ConfigError(f"number of headings must be >= 1, got {n}")
    return [360.0 * i / n for i in range(n)]


def rolled_queries(pano: Tensor, headings: Sequence[float]) -> Tensor:
    """A query ``(3, H, W)`` north-aligned under each heading hypothesis: ``(R, 3, H, W)``.

    A camera looking at bearing ``h`` shows north ``h`` degrees to the left of its centre, so the
    hypothesis ``h`` rolls the query by ``-h`` (:func:`~crossview.geometry.panorama.roll_panorama`).
    """
    batch = pano[None].expand(len(headings), -1, -1, -1)
    return roll_panorama(batch, torch.tensor([-float(h) for h in headings]))


def best_heading(scores: Tensor, headings: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Best score over the last axis ``(..., R)`` and its heading (deg).

    On a uniform circular grid (``headings == uniform_headings(R)``, ``R >= 3``) the heading is
    refined between grid points (:func:`crossview.methods.matching.refine_peak`); otherwise it is
    the grid heading of the best score.
    """
    r = scores.shape[-1]
    if r != len(headings):
        raise ConfigError(f"scores have {r} headings, the grid {len(headings)}")
    grid = torch.tensor([float(h) for h in headings], dtype=torch.float32)
    if r >= 3 and torch.allclose(grid, torch.tensor(uniform_headings(r), dtype=torch.float32)):
        best, pos = refine_peak(scores)
        return best, (pos * (360.0 / r)) % 360.0
    best, idx = scores.max(dim=-1)
    return best, grid.to(scores.device)[idx]


def subgrid(scores: Tensor, n_fine: int, n: int) -> Tensor:
    """Scores ``(..., n_fine)`` on a uniform grid -> the uniform ``n``-heading sub-grid.

    ``n`` must divide ``n_fine`` (every ``n_fine / n``-th heading).
    """
    if n < 1 or n_fine % n:
        raise ConfigError(f"{n} headings are not a sub-grid of {n_fine}")
    return scores[..., :: n_fine // n]


def rerank(coarse: Tensor, fine: Tensor, keep: int) -> Tensor:
    """Scores ``(Q, N)`` after re-ranking: the ``keep`` best tiles by ``coarse`` get ``fine``.

    The others keep their coarse score, shifted below every re-ranked tile (a re-ranking only
    reorders the candidates it re-scored, as ``locate`` returns only those).
    """
    if coarse.shape != fine.shape or coarse.ndim != 2:
        raise ConfigError(f"rerank: expected two equal (Q, N) score arrays, got "
                          f"{tuple(coarse.shape)} and {tuple(fine.shape)}")
    keep = max(1, min(int(keep), coarse.shape[1]))
    top = coarse.topk(keep, dim=1).indices
    chosen = torch.zeros_like(coarse, dtype=torch.bool).scatter_(1, top, True)
    floor = fine.min().clamp(max=coarse.min()) - 1.0
    below = coarse - coarse.max() + floor  # every non-candidate under every candidate
    return torch.where(chosen, fine, below)


NORMALIZATIONS = ("none", "center", "z", "contrast")
"""Score normalisations across headings (:func:`normalize_rolls`)."""


def normalize_rolls(scores: Tensor, mode: str) -> Tensor:
    """Make scores ``(Q, N, R)`` of different heading hypotheses comparable.

    ``center``: subtract, per query and heading, the mean score over the tiles (a roll whose
    descriptor sits near every tile's no longer wins everywhere); ``z``: also divide by the std
    over the tiles; ``contrast``: subtract, per tile, its mean over the headings (a tile that
    matches every heading equally is not a heading match); ``none``: unchanged.
    """
    if mode == "none":
        return scores
    if mode == "center":
        return scores - scores.mean(dim=1, keepdim=True)
    if mode == "z":
        return (scores - scores.mean(dim=1, keepdim=True)) / scores.std(dim=1, keepdim=True
                                                                          ).clamp_min(1e-6)
    if mode == "contrast":
        return scores - scores.mean(dim=2, keepdim=True)
    raise ConfigError(f"score normalisation {mode!r}: expected one of {list(NORMALIZATIONS)}")


def strategy_scores(scores: Tensor, strategy: str, n: int = 16, n_coarse: int = 4,
                    keep: int = 50, norm: str = "none") -> tuple[Tensor, Tensor]:
    """Apply a global-descriptor strategy to scores ``(Q, N, R)`` on a uniform grid.

    Returns ``(score (Q, N), heading (Q, N))``; ``n`` and ``n_coarse`` must divide ``R``;
    ``norm`` is applied first (:func:`normalize_rolls`).
    """
    scores = normalize_rolls(scores, norm)
    r = scores.shape[-1]
    if strategy == "north":
        return scores[..., 0], torch.zeros_like(scores[..., 0])
    fine = subgrid(scores, r, n)
    best, heading = best_heading(fine, uniform_headings(n))
    if strategy == "rolls":
        return best, heading
    if strategy == "coarse_fine":
        coarse, _ = best_heading(subgrid(scores, r, n_coarse), uniform_headings(n_coarse))
        return rerank(coarse, best, keep), heading
    raise ConfigError(f"heading search {strategy!r}: expected one of {list(STRATEGIES[:3])} for "
                      "global descriptors")
