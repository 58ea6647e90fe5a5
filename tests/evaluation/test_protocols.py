"""Protocol layer on hand-built PairTables: dispatch by layout, truth/positions from the table."""

from pathlib import Path

import numpy as np
import pytest

from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError
from crossview.evaluation import default_protocol, evaluate_protocol


def desc(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def table(layout, n=12, split="test", utm=True, **pair_kw):
    refs = [
        Reference(
            id=f"r{i}",
            path=Path(f"r{i}.png"),
            utm_e=10.0 * i if utm else None,
            utm_n=0.0 if utm else None,
            utm_zone="32N",
            lat=46.0,
            lon=7.0 + 1e-4 * i,
            ground_resolution_m=0.1,
            class_id=i % 4,
            extras={"yaw_deg": 30.0 * i},
        )
        for i in range(n)
    ]
    pairs = [
        Pair(
            id=f"g{i}",
            ground=Path(f"g{i}.jpg"),
            split=split,
            references=(i,),
            utm_e=10.0 * i + 3.0 if utm else None,
            utm_n=0.0 if utm else None,
            utm_zone="32N",
            lat=46.0,
            lon=7.0 + 1e-4 * i,
            yaw_deg=30.0 * i + 10,
            class_id=i % 4,
            **pair_kw,
        )
        for i in range(n)
    ]
    return PairTable(layout, Path("."), pairs, refs)


def test_default_protocols_by_layout():
    assert default_protocol(table("cvusa")) == "recall"
    assert default_protocol(table("cvact", split="val")) == "recall"
    assert default_protocol(table("cvact", split="test")) == "cvact_test"
    assert default_protocol(table("vigor")) == "vigor"
    assert default_protocol(table("university1652")) == "university"
    assert default_protocol(table("crosslocate")) == "crosslocate"


def test_recall_protocol_equals_direct_perfect_and_reverse():
    t = table("cvusa")
    g = desc(12, 0)
    out = evaluate_protocol(g, g.copy(), t)
    assert out["protocol"] == "recall"
    assert out["ground_to_aerial"]["R@1"] == 100.0
    assert out["aerial_to_ground"]["R@1"] == 100.0


def test_cvact_test_counts_any_tile_within_5m():
    t = table("cvact")
    g = desc(12, 1)
    # Aerial i+1's descriptor equals ground i's: the top-1 is the neighbour tile 7 m away from
    # ground i (ground at 10i+3, tile i+1 at 10i+10), within 5 m only for tile i (3 m away).
    a = np.roll(g, 1, axis=0)
    out = evaluate_protocol(g, a, t)
    assert out["scoring"] == "within 5 m"
    assert out["ground_to_aerial"]["R@1"] == 0.0
    out = evaluate_protocol(g, a, t, radius_m=7.0)
    assert out["ground_to_aerial"]["R@1"] == pytest.approx(100 * 11 / 12)
    one = evaluate_protocol(g, a, t, one_to_one=True)
    assert one["scoring"] == "one-to-one" and one["ground_to_aerial"]["R@1"] == 0.0


def test_vigor_protocol_metre_error_own_tile():
    t = table("vigor", offsets_px=((30.0, 40.0),))
    g = desc(12, 2)
    out = evaluate_protocol(g, g.copy(), t)["ground_to_aerial"]
    assert out["R@1"] == 100.0 and out["hit_rate"] == 100.0
    assert out["one_percent"] == {"rule": "floor+1", "k": 1}
    assert out["mean_error_m"] == pytest.approx(5.0)  # 50 px * 0.1 m/px


def test_university_protocol_scores_the_task_direction_only():
    t = table("university1652")
    g = desc(12, 3)
    out = evaluate_protocol(g, g.copy(), t)
    # Each class has 3 gallery items; the query's own copy is the top-1. Only queries -> gallery
    # is scored (SPECS §10): no reversed direction in which gallery distractors become queries.
    assert out["query_to_gallery"]["R@1"] == 100.0
    assert out["query_to_gallery"]["num_queries"] == 12
    assert not any(k.endswith("_to_ground") or k == "ground_to_aerial" for k in out)
    # Class ids come from the table (i % 4): ground descriptors one-hot in the class, aerial ones
    # in the next class, so every query's 3 correct items tie at 0 behind 3 wrong ones at 1.
    # Optimistic ties put them at rows 3, 4, 5: AP = ((0 + 1/4) + (1/4 + 2/5) + (2/5 + 3/6)) / 6.
    cls = np.arange(12) % 4
    ground, aerial = np.eye(8, dtype=np.float32)[cls], np.eye(8, dtype=np.float32)[(cls + 1) % 4]
    res = evaluate_protocol(ground, aerial, t, ks=[1, 4, 5])["query_to_gallery"]
    assert res["AP"] == pytest.approx(100 * 0.3)
    assert (res["R@1"], res["R@4"], res["R@5"]) == (0.0, 100.0, 100.0)


def test_crosslocate_grid_and_yaw():
    t = table("crosslocate", utm=False)
    g = desc(12, 4)
    out = evaluate_protocol(g, g.copy(), t, ns=(1, 10))
    pos = out["position"]
    assert pos["distance"] == "geodesic"
    assert set(pos["by_radius_m"]) == {"20", "100", "1000"}
    assert pos["by_radius_m"]["20"]["R@1"] == 100.0
    assert out["position_and_yaw"]["by_radius_m"]["20"]["R@1"] == 100.0  # yaw 10 deg off


def test_mismatched_rows_and_unknown_protocol():
    t = table("cvusa")
    with pytest.raises(ConfigError, match="do not match the table"):
        evaluate_protocol(desc(11, 0), desc(12, 1), t)
    with pytest.raises(ConfigError, match="unknown evaluation protocol"):
        evaluate_protocol(desc(12, 0), desc(12, 1), t, protocol="recal")
    no_positions = PairTable(
        "cvact",
        Path("."),
        [Pair(id="g", ground=Path("g"), split="test", references=(0,))],
        [Reference(id="r", path=Path("r"))],
    )
    with pytest.raises(ConfigError, match="UTM"):
        evaluate_protocol(desc(1, 0), desc(1, 1), no_positions)


def test_shared_options_accepted_and_unknown_option_rejected():
    t = table("university1652")
    g = desc(12, 5)
    out = evaluate_protocol(g, g.copy(), t, ks=[1, 2], one_percent="ceil", block_size=3)
    assert set(out["query_to_gallery"]) >= {"AP", "R@1", "R@2"}
    with pytest.raises(ConfigError, match="'radius_m' is not valid for protocol 'university'"):
        evaluate_protocol(g, g.copy(), t, radius_m=5.0)
    out = evaluate_protocol(g, g.copy(), table("crosslocate"), ks=[1, 3])
    assert set(out["position"]["by_radius_m"]["20"]) == {"R@1", "R@3", "R@1%"}


def test_protocol_registry_choices_and_a_new_protocol():
    from crossview.evaluation import (
        PROTOCOLS,
        Scored,
        get_protocol,
        list_protocols,
        register_protocol,
    )
    from crossview.evaluation.protocols import _PROTOCOLS

    builtin = ["recall", "cvact_test", "vigor", "university", "crosslocate"]
    assert list(PROTOCOLS) == builtin and list_protocols()[:5] == builtin
    with pytest.raises(ConfigError, match=r"unknown evaluation protocol 'vigr'; choose one of "
                                          r"\['crosslocate', .*\]\. Did you mean 'vigor'\?"):
        get_protocol("vigr")

    @register_protocol("test-mean-match")
    def _mean_match(x: Scored, scale: float = 1.0) -> dict:
        # Mean similarity of each ground descriptor with its positive.
        pos = np.asarray(x.aerial)[x.table.truth()]
        return {"mean": scale * float(np.mean(np.sum(np.asarray(x.ground) * pos, axis=1)))}

    try:
        t = table("cvusa")
        g = desc(12, 5)
        out = evaluate_protocol(g, g.copy(), t, protocol="test-mean-match", scale=2.0)
        assert out["protocol"] == "test-mean-match" and out["mean"] == pytest.approx(2.0)
        with pytest.raises(ConfigError, match=r"option 'ks' is not valid for protocol "
                                              r"'test-mean-match'; valid options: \['scale'"):
            evaluate_protocol(g, g.copy(), t, protocol="test-mean-match", ks=(1,))
        with pytest.raises(ValueError, match="registered twice"):
            register_protocol("test-mean-match")(_mean_match)
    finally:
        _PROTOCOLS.pop("test-mean-match")


def test_default_protocol_asks_the_layout_object():
    # An alias resolves to its layout; a table of an unregistered layout is scored with recall.
    assert default_protocol(table("vigor-cross")) == "vigor"
    assert default_protocol(table("university-1652")) == "university"
    assert default_protocol(table("my-own-table")) == "recall"
