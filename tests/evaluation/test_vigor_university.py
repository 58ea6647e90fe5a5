"""VIGOR hit rate / metre error and University-1652 AP against slow references."""

import numpy as np
import pytest

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation import university_evaluate, vigor_evaluate
from crossview.evaluation.university import average_precision


def vigor_data(q=25, m=40, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.integers(-2, 3, size=(q, 5)).astype(np.float32)
    ref = rng.integers(-2, 3, size=(m, 5)).astype(np.float32)
    refs = np.stack([rng.choice(np.arange(q + 1, m), 4, replace=False) for _ in range(q)])
    # Even queries: the positive (tile i) is second best, behind a semi-positive (tile i + 1).
    for i in range(0, q - 1, 2):
        refs[i, :2] = i, i + 1
        ref[i], ref[i + 1] = query[i], query[i] * 2
    offsets = rng.uniform(-300, 300, size=(q, 4, 2))
    return query, ref, refs, offsets


def test_vigor_recall_and_hit_rate_match_slow_reference():
    query, ref, refs, offsets = vigor_data()
    res = vigor_evaluate(query, ref, refs, ks=[1, 5], one_percent="floor+1", block_size=3)
    full = query.astype(np.float64) @ ref.T.astype(np.float64)
    rank = np.array([(full[i] > full[i, refs[i, 0]]).sum() for i in range(len(query))])
    hits = []
    for i in range(len(query)):
        others = [j for j in range(ref.shape[0]) if j not in refs[i, 1:]]
        hits.append(all(full[i, j] <= full[i, refs[i, 0]] for j in others))
    assert res.recall[1] == pytest.approx(100 * np.mean(rank < 1))
    assert res.recall[5] == pytest.approx(100 * np.mean(rank < 5))
    assert res.one_percent_k == 1 and res.one_percent == res.recall[1]
    assert res.hit_rate == pytest.approx(100 * np.mean(hits))
    assert res.hit_rate > res.recall[1]  # semi-positives above the positive hurt recall only


def test_vigor_metre_error_from_offsets_and_positions():
    query, ref, refs, offsets = vigor_data(seed=1)
    rng = np.random.default_rng(4)
    res_m = rng.uniform(0.1, 0.2, ref.shape[0])
    tiles = rng.uniform(0, 1000, size=(ref.shape[0], 2))
    out = vigor_evaluate(query, ref, refs, offsets, res_m, tiles, ks=[1], block_size=4)
    full = query.astype(np.float64) @ ref.T.astype(np.float64)
    errs = []
    for i in range(len(query)):
        t = int(np.argmax(full[i]))
        p = refs[i, 0]
        cam = tiles[p] + np.array([offsets[i, 0, 1], -offsets[i, 0, 0]]) * res_m[p]
        own = list(refs[i]).index(t) if t in refs[i] else None
        errs.append(
            np.hypot(*offsets[i, own]) * res_m[t]
            if own is not None
            else np.hypot(*(tiles[t] - cam))
        )
    assert out.mean_error_m == pytest.approx(np.mean(errs))
    assert out.median_error_m == pytest.approx(np.median(errs))
    with pytest.raises(ConfigError, match="no position"):
        vigor_evaluate(query, ref, refs, offsets, res_m, None)


def test_university_ap_hand_worked_example():
    # Gallery ranked g0 > g1 > g2 > g3 > g4; correct = {g1, g3}; g2 is junk.
    # Without junk: rows of correct items are 0-based 1 and 2 (g0, g1, g3, g4).
    # Precision before/after each hit: (0/1, 1/2) and (1/2, 2/3).
    # AP = 1/2*((0 + 1/2)/2) + 1/2*((1/2 + 2/3)/2) = 1/8 + 7/24 = 5/12.
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    angles = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    gallery = np.column_stack([np.cos(angles), np.sin(angles)]).astype(np.float32)
    labels = np.array([9, 7, -1, 7, 3])
    res = university_evaluate(query, gallery, np.array([7]), labels, ks=[1, 2])
    assert res.ap == pytest.approx(100 * 5 / 12)
    assert res.recall == {1: 0.0, 2: 100.0}
    # A correct item at the top: precision before it counts as 1 -> AP 1 for a single hit.
    assert average_precision(np.array([0])) == 1.0
    assert average_precision(np.array([1, 2])) == pytest.approx(5 / 12)


def slow_university(query, gallery, ql, gl):
    full = query.astype(np.float64) @ gallery.T.astype(np.float64)
    aps, r1 = [], []
    for i in range(len(query)):
        keep = [j for j in range(len(gl)) if gl[j] != -1]
        # Optimistic tie order: correct items before incorrect ones of equal score.
        order = sorted(keep, key=lambda j: (-full[i, j], gl[j] != ql[i]))
        good = [k for k, j in enumerate(order) if gl[j] == ql[i]]
        ap = 0.0
        for n, row in enumerate(good):
            prec = (n + 1) / (row + 1)
            old = n / row if row else 1.0
            ap += (prec + old) / 2 / len(good)
        aps.append(ap)
        r1.append(bool(good) and good[0] == 0)
    return 100 * np.mean(aps), 100 * np.mean(r1)


def test_university_matches_slow_reference_with_ties_and_junk():
    rng = np.random.default_rng(7)
    query = rng.integers(-1, 2, size=(20, 4)).astype(np.float32)
    gallery = rng.integers(-1, 2, size=(60, 4)).astype(np.float32)
    gl = rng.integers(-1, 6, size=60)
    ql = rng.integers(0, 7, size=20)  # class 6 has no gallery item
    res = university_evaluate(query, gallery, ql, gl, ks=[1, 5], block_size=3)
    ap, r1 = slow_university(query, gallery, ql, gl)
    assert res.ap == pytest.approx(ap)
    assert res.recall[1] == pytest.approx(r1)
    assert res.num_queries_without_match == int(np.sum(ql == 6))


def test_bad_descriptors_name_the_argument():
    query = np.eye(3, 4, dtype=np.float32)
    with pytest.raises(CrossviewError, match="query has 4, gallery has 3"):
        university_evaluate(query, np.eye(3, dtype=np.float32), np.zeros(3), np.zeros(3))
    reference = np.eye(5, 4, dtype=np.float32)
    reference[1, 2] = np.inf
    with pytest.raises(CrossviewError, match="reference: row 1 contains NaN or inf"):
        vigor_evaluate(query, reference, np.zeros((3, 1), dtype=int))
    with pytest.raises(CrossviewError, match=r"refs: expected shape \(3, 1\+S\)"):
        vigor_evaluate(query, np.eye(5, 4, dtype=np.float32), np.zeros((2, 1), dtype=int))
