"""Query-condition metrics and heading-search rules against hand-computed answers."""

import numpy as np
import pytest
import torch

from crossview.errors import ConfigError
from crossview.evaluation.conditions import reduce_scores, summarize
from crossview.index.orientation import (
    best_heading,
    normalize_rolls,
    rerank,
    strategy_scores,
    uniform_headings,
)


def test_reduce_and_summarize_known_answer():
    scores = np.array([[0.9, 0.1, 0.5],    # truth 0: rank 0
                       [0.8, 0.7, 0.9],    # truth 1: two tiles above -> rank 2
                       [0.2, 0.6, 0.6]])   # truth 2: a tie does not hurt -> rank 0
    truth = np.array([0, 1, 2])
    heads = np.array([[10.0, 0, 0], [0, 350.0, 0], [0, 0, 200.0]])
    ranks, top1, err = reduce_scores(scores, truth, heads, np.array([0.0, 20.0, 20.0]))
    assert ranks.tolist() == [0, 2, 0] and top1.tolist() == [0, 2, 1]
    assert err.tolist() == [10.0, 30.0, 180.0]
    utm_q = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    utm_r = np.array([[3.0, 4.0], [6.0, 8.0], [0.0, 100.0]])
    row = summarize(ranks, top1, 3, utm_q, utm_r, err)
    assert row["R@1"] == pytest.approx(200 / 3) and row["R@5"] == 100.0
    assert row["one_percent_k"] == 1 and row["R@1%"] == pytest.approx(200 / 3)
    assert row["median_m"] == 10.0  # top-1 tiles at 5, 100 and 10 m
    assert row["heading_err_deg"] == 30.0 and row["heading_within_30"] == pytest.approx(200 / 3)
    assert summarize(ranks, top1, 3, utm_q, utm_r)["heading_err_deg"] is None
    with pytest.raises(ConfigError, match="NaN"):
        reduce_scores(np.array([[np.nan]]), np.array([0]))


def test_best_heading_refines_on_uniform_grids_only():
    grid = uniform_headings(8)
    scores = torch.tensor([[0.0, 0.2, 0.9, 0.9, 0.2, 0.0, 0.0, 0.0]])
    best, heading = best_heading(scores, grid)
    assert best.item() == pytest.approx(0.9) and heading.item() == pytest.approx(112.5)
    _, coarse = best_heading(scores[:, :2], [30.0, 200.0])
    assert coarse.item() == 200.0


def test_strategies_and_rerank():
    # One query, two tiles, 8 headings: tile 0 peaks at heading 90 (0.8); tile 1 is flat 0.7
    # except a spike of 0.85 at 315, which only a grid with that heading sees.
    s = torch.full((1, 2, 8), 0.1)
    s[0, 0, 2] = 0.8
    s[0, 1] = 0.7
    s[0, 1, 7] = 0.85
    north, _ = strategy_scores(s, "north")
    assert north[0].tolist() == pytest.approx([0.1, 0.7])
    four, heads = strategy_scores(s, "rolls", n=4)  # headings 0, 90, 180, 270
    assert four[0].tolist() == pytest.approx([0.8, 0.7]) and heads[0, 0].item() == 90.0
    eight, _ = strategy_scores(s, "rolls", n=8)
    assert eight[0].tolist() == pytest.approx([0.8, 0.85])
    # Contrast: a tile that matches every heading is not a heading match.
    contrast, _ = strategy_scores(s, "rolls", n=8, norm="contrast")
    assert contrast[0, 0] > contrast[0, 1]
    # Coarse (4 headings) keeps one tile, the 8-heading grid re-scores only that one.
    fine, _ = strategy_scores(s, "coarse_fine", n=8, n_coarse=4, keep=1)
    assert fine[0, 0].item() == pytest.approx(0.8) and fine[0, 1] < fine[0, 0]
    reranked = rerank(torch.tensor([[0.5, 0.4, 0.3]]), torch.tensor([[0.1, 0.9, 0.95]]), 2)
    assert reranked.argsort(descending=True)[0].tolist() == [1, 0, 2]
    centred = normalize_rolls(torch.tensor([[[1.0], [3.0]]]), "center")
    assert centred.flatten().tolist() == [-1.0, 1.0]
    with pytest.raises(ConfigError, match="sub-grid"):
        strategy_scores(s, "rolls", n=3)
