"""The query-condition benchmark: queries it makes, its result, ``crossview eval-conditions``."""

import json

import numpy as np
import pytest
import torch
from tests.data.fixtures import make_cvusa_fixture

from crossview.data.inputs import InputSpec, model_input, unseen_mask
from crossview.errors import ConfigError
from crossview.geometry.panorama import roll_panorama
from crossview.index.conditions import (
    CONDITIONS,
    condition_table,
    evaluate_conditions,
    make_query,
)
from crossview.methods.registry import create_method
from crossview.training.checkpoint import save_checkpoint

SPEC = InputSpec(ground_hw=(16, 64), aerial_size=32, ground_vfov_deg=90.0)


def source(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (16, 64, 3), dtype=np.uint8)


def test_queries_of_each_condition():
    src = source()
    rng = np.random.default_rng(0)
    known = make_query(src, CONDITIONS["known"], SPEC, 90.0, rng)
    assert known.heading == 0.0 and torch.equal(known.pixels, model_input(src, SPEC, "ground"))
    turned = make_query(src, CONDITIONS["unknown"], SPEC, 90.0, rng)
    # A camera looking at the drawn bearing: the north-aligned panorama rolled by it.
    expected = roll_panorama(known.pixels[None], turned.heading)[0]
    assert turned.heading % (360 / 64) == 0 and torch.equal(turned.pixels, expected)
    view = make_query(src, CONDITIONS["fov90"], SPEC, 90.0, rng)
    seen = ~unseen_mask(view.pixels[None], SPEC.pad_rgb)[0, 0, 0]
    assert seen.nonzero().flatten().tolist() == list(range(24, 40))
    assert torch.equal(view.pixels[..., 24:40],
                       roll_panorama(known.pixels[None], view.heading)[0][..., 24:40])
    photo = make_query(src, CONDITIONS["pinhole"], SPEC, 90.0, rng)
    cols = (~unseen_mask(photo.pixels[None], SPEC.pad_rgb))[0, 0].any(dim=0).nonzero().flatten()
    assert 60 / 360 * 64 - 2 <= len(cols) <= 90 / 360 * 64 + 2
    assert abs((cols.min() + cols.max()).item() / 2 - 32) <= 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond")
    data = make_cvusa_fixture(root / "cvusa", n_train=4, n_val=5, tile_px=64, pano_hw=(32, 128))
    out = {}
    for name, preset in (("safa", "tiny_photo"), ("sample4geo", "tiny")):
        method = create_method(name, preset)
        save_checkpoint(root / name / "checkpoints" / "last.pt", method)
        out[name] = root / name
    return f"cvusa:{data}", out


def test_evaluate_conditions_rows_for_both_families(runs):
    data, paths = runs
    dsm = evaluate_conditions(paths["safa"], data, "val", max_queries=3)
    assert dsm["default_search"] == "match" and dsm["num_queries"] == 3
    assert dsm["num_references"] == 5  # the gallery keeps every tile of the split
    assert set(dsm["conditions"]) == set(CONDITIONS)
    assert set(dsm["conditions"]["unknown"]) == {"north", "match"}
    known = dsm["conditions"]["known"]["known"]
    assert known["heading_err_deg"] is None and 0 <= known["R@1"] <= 100
    glob = evaluate_conditions(paths["sample4geo"], data, "val", ["known", "fov90"],
                               ["north", "rolls:32", "coarse_fine:4:16+center"], max_queries=3)
    rows = condition_table(glob)  # the search locate uses by default
    assert [(r["condition"], r["search"]) for r in rows] == [("known", "known"),
                                                           ("fov90", "rolls:32")]
    assert 0 <= rows[1]["heading_err_deg"] <= 180 and rows[1]["queries"] == 3
    with pytest.raises(ConfigError, match="needs a method that matches"):
        evaluate_conditions(paths["sample4geo"], data, "val", ["unknown"], ["match"])
    with pytest.raises(ConfigError, match="condition 'dusk'"):
        evaluate_conditions(paths["safa"], data, "val", ["dusk"])


def test_eval_conditions_cli(runs, tmp_path, run_cli):
    data, paths = runs
    out = tmp_path / "c.json"
    args = ["eval-conditions", "--run", f"photo={paths['safa']}", "--data", data,
            "--conditions", "known,unknown,pinhole", "--max-queries", "2", "--json", str(out)]
    code, _, err = run_cli(*args)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert list(doc) == ["photo"] and set(doc["photo"]["conditions"]) == {"known", "unknown",
                                                                          "pinhole"}
    assert "pinhole" in err and "heading err" in err
