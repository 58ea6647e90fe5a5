"""Training query conditions: FOV, heading, pinhole photos, twins; deterministic per sample."""

import pytest
import torch

from crossview.data.augment import rotate_pair
from crossview.data.datasets import PairDataset
from crossview.data.inputs import InputSpec, unseen_mask
from crossview.data.layouts import load_layout
from crossview.data.queries import QueryConfig, QueryDraw, apply_query, draw_query
from crossview.errors import ConfigError
from crossview.geometry.panorama import roll_panorama
from crossview.training.batches import merge_twins
from tests.data.fixtures import make_cvusa_fixture

SPEC = InputSpec(ground_hw=(16, 64), aerial_size=16, ground_vfov_deg=90.0)


def pano(seed=0):
    return torch.rand(3, 16, 64, generator=torch.Generator().manual_seed(seed))


def test_full_view_rolls_to_the_heading():
    p = pano()
    out = apply_query(p, QueryDraw(360.0, 90.0, False, 0.0), SPEC)
    assert torch.equal(out, roll_panorama(p[None], 90.0)[0])
    assert torch.equal(apply_query(p, QueryDraw(360.0, 0.0, False, 0.0), SPEC), p)


def test_crop_is_centred_on_its_heading():
    p = pano(1)
    out = apply_query(p, QueryDraw(90.0, 45.0, False, 0.0), SPEC)
    seen = ~unseen_mask(out[None], SPEC.pad_rgb)[0, 0, 0]
    assert seen.nonzero().flatten().tolist() == list(range(24, 40))  # 16 columns around W/2
    turned = roll_panorama(p[None], 45.0)[0]
    assert torch.equal(out[..., 24:40], turned[..., 24:40])
    # Known heading: the same view stays where it is in the north-aligned panorama.
    aligned = apply_query(p, QueryDraw(90.0, 45.0, False, 0.0, aligned=True), SPEC)
    seen = ~unseen_mask(aligned[None], SPEC.pad_rgb)[0, 0, 0]
    assert seen.nonzero().flatten().tolist() == list(range(32, 48))
    assert torch.equal(aligned[..., 32:48], p[..., 32:48])


def test_pinhole_query_covers_its_fov_around_the_centre():
    p = pano(2)
    out = apply_query(p, QueryDraw(80.0, 0.0, True, 5.0), SPEC)
    seen = ~unseen_mask(out[None], SPEC.pad_rgb)[0, 0]
    cols = seen.any(dim=0).nonzero().flatten()
    assert abs((cols.min() + cols.max()) / 2 - 32) <= 1
    assert abs(len(cols) - 80 / 360 * 64) <= 2
    assert not seen[0].any()  # a 3:2 photo at pitch +-5 does not reach the band's top row


def test_draws_follow_the_config():
    cfg = QueryConfig(fov_deg=(60, 120), heading="unknown", pinhole_prob=1.0, pitch_deg=(-5, 5))
    gen = torch.Generator().manual_seed(0)
    draws = [draw_query(cfg, 64, gen) for _ in range(50)]
    assert all(60 <= d.fov_deg <= 120 and -5 <= d.pitch_deg <= 5 for d in draws)
    assert all(d.pinhole == (d.fov_deg < 180) for d in draws)
    assert len({d.heading_deg for d in draws}) > 10
    assert all((d.heading_deg * 64 / 360) % 1 == 0 for d in draws)  # whole columns
    full = QueryConfig(full_prob=1.0, fov_deg=(60, 90))
    assert all(draw_query(full, 64, gen).fov_deg == 360 for _ in range(5))
    with pytest.raises(ConfigError, match="query.fov_deg"):
        QueryConfig(fov_deg=(90, 60))
    with pytest.raises(ConfigError, match="train.query.heading: 'north' is not one of"):
        QueryConfig.from_dict({"heading": "north"}, where="train.query")


def test_pair_dataset_queries_deterministic_and_twins(tmp_path):
    root = make_cvusa_fixture(tmp_path / "cvusa", n_train=4, n_val=2)
    table = load_layout("cvusa", root).select("train")
    cfg = QueryConfig(fov_deg=(60, 180), heading="unknown", pinhole_prob=0.5,
                      rotation_negatives=True)
    data = PairDataset(table, SPEC, None, seed=3, query=cfg)
    a, b = data[1], data[1]
    assert torch.equal(a["ground"], b["ground"]) and torch.equal(a["ground_twin"], b["ground_twin"])
    data.set_epoch(1)
    assert not torch.equal(data[1]["ground"], a["ground"])
    # The twin is the same place turned by quarter turns: its tile is a rot90 of the original.
    turns = [k for k in (1, 2, 3) if torch.equal(rotate_pair(a["aerial"], a["aerial"][..., :4],
                                                             k)[0], a["aerial_twin"])]
    assert len(turns) == 1
    assert 60 <= a["query_fov_deg"] <= 180
    batch = merge_twins({k: torch.stack([a[k], b[k]]) if isinstance(a[k], torch.Tensor) else
                         [a[k], b[k]] for k in ("ground", "aerial", "ground_twin", "aerial_twin",
                                                "utm", "id")})
    assert batch["ground"].shape[0] == 4 and batch["id"] == [a["id"]] * 4
    assert torch.equal(batch["aerial"][2], a["aerial_twin"]) and "ground_twin" not in batch
    with pytest.raises(ConfigError, match="both limit the field of view"):
        from crossview.data.augment import AugmentConfig

        PairDataset(table, SPEC, AugmentConfig(fov_deg=90.0), query=cfg)
