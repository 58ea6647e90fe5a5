"""Blockwise ranks, top-k and recall against slow full-matrix references, with deliberate ties."""

import numpy as np
import pytest
import torch

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation import (
    one_percent_k,
    recall_at_k,
    recall_both_directions,
    topk_blocks,
    truth_rank,
)


def tied_data(q=37, m=53, d=6, seed=0):
    """Small-integer descriptors: every dot product is exact in float32, so ties are real ties.

    Reference rows are duplicated so many queries tie with their truth.
    """
    rng = np.random.default_rng(seed)
    query = rng.integers(-2, 3, size=(q, d)).astype(np.float32)
    ref = rng.integers(-2, 3, size=(m, d)).astype(np.float32)
    ref[m // 2 :] = ref[: m - m // 2]  # second half duplicates the first
    truth = rng.integers(0, m, size=q)
    return query, ref, truth


def slow_rank(query, ref, truth):
    full = query.astype(np.float64) @ ref.astype(np.float64).T
    return np.array(
        [
            sum(1 for j in range(ref.shape[0]) if full[i, j] > full[i, truth[i]])
            for i in range(len(query))
        ]
    )


@pytest.mark.parametrize("block_size", [1, 4, 1000])
def test_truth_rank_matches_slow_reference_with_ties(block_size):
    query, ref, truth = tied_data()
    got = truth_rank(query, ref, truth, block_size=block_size)
    expected = slow_rank(query, ref, truth)
    np.testing.assert_array_equal(got, expected)
    full = query @ ref.T
    # The data really contains ties with the truth (otherwise the test would prove nothing).
    assert sum((full[i] == full[i, truth[i]]).sum() > 1 for i in range(len(query))) > 5


def test_truth_rank_exclude_ignores_listed_references():
    query, ref, truth = tied_data(seed=1)
    rng = np.random.default_rng(5)
    exclude = rng.integers(0, ref.shape[0], size=(len(query), 3))
    exclude[::4, 2] = -1
    got = truth_rank(query, ref, truth, block_size=3, exclude=exclude)
    full = query.astype(np.float64) @ ref.T.astype(np.float64)
    for i in range(len(query)):
        skip = {e for e in exclude[i] if e >= 0}
        expected = sum(
            1 for j in range(ref.shape[0]) if j not in skip and full[i, j] > full[i, truth[i]]
        )
        assert got[i] == expected


@pytest.mark.parametrize("chunk_size", [None, 5, 17])
def test_topk_blocks_running_merge_matches_sort(chunk_size):
    rng = np.random.default_rng(2)
    query = rng.normal(size=(23, 8)).astype(np.float32)
    ref = rng.normal(size=(61, 8)).astype(np.float32)
    scores, idx = topk_blocks(
        query, torch.from_numpy(ref), k=7, block_size=4, chunk_size=chunk_size
    )
    full = query.astype(np.float64) @ ref.T.astype(np.float64)
    for i in range(len(query)):
        order = np.argsort(-full[i], kind="stable")[:7]
        np.testing.assert_array_equal(idx[i], order)
        np.testing.assert_allclose(scores[i], full[i, order], rtol=1e-5, atol=1e-5)


def test_topk_with_ties_returns_a_valid_top_set():
    query, ref, _ = tied_data(seed=3)
    scores, idx = topk_blocks(query, ref, k=5, block_size=2, chunk_size=7)
    full = query @ ref.T
    for i in range(len(query)):
        kth = np.sort(full[i])[::-1][4]
        assert len(set(idx[i])) == 5
        np.testing.assert_array_equal(scores[i], full[i, idx[i]])
        assert (full[i, idx[i]] >= kth).all()
        assert (np.diff(scores[i]) <= 0).all()


@pytest.mark.parametrize(
    "rule,n,k",
    [
        ("floor", 250, 2),
        ("floor+1", 250, 3),
        ("ceil", 250, 3),
        ("ceil", 200, 2),
        ("floor", 99, 1),
        ("floor+1", 99, 1),
        ("floor", 8884, 88),
        ("ceil", 8884, 89),
    ],
)
def test_one_percent_k_rules(rule, n, k):
    assert one_percent_k(n, rule) == k


def test_one_percent_zero_becomes_one_and_is_recorded():
    query, ref, truth = tied_data(m=53)
    out = recall_at_k(query, ref, truth, ks=[1], one_percent="floor").to_dict()
    assert out["one_percent"] == {"rule": "floor", "k": 1}
    assert out["R@1%"] == out["R@1"]


@pytest.mark.parametrize("rule", ["floor", "floor+1", "ceil"])
def test_recall_values_match_slow_reference(rule):
    query, ref, truth = tied_data(q=40, m=250, seed=4)
    res = recall_at_k(query, ref, truth, ks=[1, 3, 10], one_percent=rule, block_size=7).to_dict()
    ranks = slow_rank(query, ref, truth)
    k1 = {"floor": 2, "floor+1": 3, "ceil": 3}[rule]
    for k in (1, 3, 10):
        assert res[f"R@{k}"] == pytest.approx(100 * np.mean(ranks < k))
    assert res["R@1%"] == pytest.approx(100 * np.mean(ranks < k1))
    assert res["num_queries"] == 40 and res["num_references"] == 250


def test_both_directions_for_one_to_one_pairs():
    rng = np.random.default_rng(6)
    ground = rng.integers(-2, 3, size=(30, 5)).astype(np.float32)
    aerial = rng.integers(-2, 3, size=(30, 5)).astype(np.float32)
    truth = rng.permutation(30)
    res = recall_both_directions(ground, aerial, truth, ks=[1, 5], block_size=4)
    assert set(res) == {"ground_to_aerial", "aerial_to_ground"}
    inv = np.argsort(truth)
    expected = slow_rank(aerial, ground, inv)
    assert res["aerial_to_ground"].recall[5] == pytest.approx(100 * np.mean(expected < 5))
    # Many-to-one truth: the reverse direction is undefined and left out.
    res2 = recall_both_directions(ground, aerial, np.zeros(30, dtype=int))
    assert set(res2) == {"ground_to_aerial"}


def test_perfect_and_identical_descriptors():
    eye = np.eye(12, dtype=np.float32)
    assert recall_at_k(eye, eye, np.arange(12), ks=[1]).recall[1] == 100.0
    # All references identical: every query ties with its truth; ties do not hurt.
    same = np.ones((12, 4), dtype=np.float32) / 2
    assert recall_at_k(same, same, np.arange(12), ks=[1]).recall[1] == 100.0


def test_bad_input_errors():
    query, ref, truth = tied_data()
    bad = query.copy()
    bad[3, 1] = np.nan
    with pytest.raises(CrossviewError, match="query: row 3"):
        truth_rank(bad, ref, truth)
    with pytest.raises(CrossviewError, match="dimensions differ"):
        truth_rank(query, ref[:, :4], truth)
    with pytest.raises(CrossviewError, match="truth_index: expected shape"):
        truth_rank(query, ref, truth[:-1])
    with pytest.raises(CrossviewError, match="outside"):
        truth_rank(query, ref, np.full(len(query), ref.shape[0]))
    with pytest.raises(ConfigError, match="one-percent"):
        recall_at_k(query, ref, truth, one_percent="round")
    with pytest.raises(ConfigError, match="ks"):
        recall_at_k(query, ref, truth, ks=[0, 1])


def test_score_blocks_bound_memory_and_cover_all_rows():
    from crossview.evaluation.retrieval import score_blocks

    query, ref, _ = tied_data(q=37, m=53)
    q, r = torch.from_numpy(query), torch.from_numpy(ref)
    seen = []
    # A 10-row budget: blocks never exceed 10 x M scores, whatever block_size asks for.
    for start, s in score_blocks(q, r, block_size=100, max_block_bytes=4 * 10 * 53):
        assert s.shape[0] <= 10 and s.shape[1] == 53
        np.testing.assert_array_equal(s.numpy(), query[start : start + s.shape[0]] @ ref.T)
        seen.append((start, s.shape[0]))
    assert sum(n for _, n in seen) == 37 and [st for st, _ in seen] == list(range(0, 37, 10))
