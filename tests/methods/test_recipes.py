"""Paper presets state their whole recipe, per dataset, with the papers' values.

A field a paper preset leaves out would silently take the trainer's or the config's default (as
CDE's epochs once did: 1 epoch, so its hard-mining schedule never ran), so every recipe field must
be written in every paper preset.
"""

from __future__ import annotations

import dataclasses

import pytest

from crossview.losses.ranking import cde_hard_ratio
from crossview.methods import (
    create_method,
    get_method_class,
    get_preset,
    list_methods,
    list_presets,
)
from crossview.training.config import TrainConfig

TRAIN_FIELDS = ("epochs", "batch_size", "augment", "grad_clip_norm", "sampler",
                "eval_conventions")
"""Recipe fields of the trainer every paper preset states."""
METHOD_FIELDS = ("lr", "schedule", "pretrained")
"""Recipe fields of the method every paper preset states, where its config has them
(``pretrained`` where the method has modules that take ImageNet weights)."""

PAPER = [(m, p) for m in list_methods() for p in list_presets(m) if p.startswith("paper")]


@pytest.mark.parametrize(("name", "preset"), PAPER, ids=[f"{m}-{p}" for m, p in PAPER])
def test_paper_preset_states_every_recipe_field(name: str, preset: str) -> None:
    recipe = get_preset(name, preset)
    missing = [f"train.{f}" for f in TRAIN_FIELDS if f not in recipe.train]
    fields = {f.name for f in dataclasses.fields(get_method_class(name).config_class)}
    for field in METHOD_FIELDS:
        if field == "pretrained":  # the smoke build has the same slots, narrowed
            method = create_method(name, preset, **{**recipe.smoke, "pretrained": None})
            if not method.pretrained_slots():
                continue
        if field in fields and field not in recipe.method:
            missing.append(f"method.{field}")
    assert not missing, f"{name}:{preset} inherits defaults for {missing}"
    if recipe.method.get("pretrained") is not None:
        assert recipe.method["pretrained"] == "imagenet"
        assert recipe.smoke.get("pretrained") == "none"  # smoke runs use narrowed layers
    TrainConfig.from_dict(dict(recipe.train))  # and the values are valid


def _train(name: str, preset: str) -> TrainConfig:
    return TrainConfig.from_dict(dict(get_preset(name, preset).train))


def _method(name: str, preset: str):
    cls = get_method_class(name)
    return cls.config_class.from_dict(dict(get_preset(name, preset).method))


def test_cde_trains_through_its_hard_mining_schedule() -> None:
    for preset in ("paper", "paper_cvusa", "paper_cvact"):
        train, cfg = _train("cde", preset), _method("cde", preset)
        assert train.epochs == 200 and train.batch_size == 32 and cfg.hard_mining
        assert cde_hard_ratio(train.epochs - 1) == 0.01  # the last stage of SPECS §2 is reached
        assert train.augment == "cde" and cfg.update_order == "code"
        assert train.eval_conventions["recall"] == {"one_percent": "ceil"}
    assert _method("cde", "paper_cvact").ground_vfov_deg == 180.0  # CDE's CVACT: no crop
    assert _method("cde", "paper_cvact").negative_radius_m == 25.0


def test_cde_update_order() -> None:
    overrides = dict(get_preset("cde", "paper").smoke)
    code = create_method("cde", "paper", **overrides)
    assert [p.name for p in code.phases()] == ["D", "R", "G"]
    text = create_method("cde", "paper", **overrides, update_order="text")
    assert [p.name for p in text.phases()] == ["D", "G", "R"]


@pytest.mark.parametrize("name", ["sample4geo", "clnet"])
def test_infonce_recipes(name: str) -> None:
    for preset in ("paper", "paper_cvact", "paper_vigor"):
        train, cfg = _train(name, preset), _method(name, preset)
        assert (train.epochs, train.grad_clip_norm, train.sampler) == (40, 100.0,
                                                                       "gps_then_similarity")
        # 32 nearest + 32 drawn from ranks 33-128; similarity after the first evaluation.
        assert (train.sampler_neighbours, train.sampler_range) == (64, 128)
        assert train.similarity_from_epoch == train.eval_every == 4
        assert (cfg.optimizer, cfg.lr, cfg.weight_decay) == ("adamw", 1e-3, 0.01)
        assert (cfg.schedule.kind, cfg.schedule.warmup_epochs) == ("cosine", 1.0)
        assert train.augment == ("sample4geo" if name == "sample4geo" else "clnet")
        assert train.eval_conventions["vigor"] == {"one_percent": "floor"}
        assert train.eval_conventions["cvact_test"]["one_to_one"] is True
    sizes = {p: (_method(name, p).ground_hw, _method(name, p).aerial_size,
                 _method(name, p).ground_vfov_deg) for p in ("paper", "paper_cvact",
                                                              "paper_vigor",
                                                              "paper_university1652")}
    assert sizes == {"paper": ((140, 768), 384, 90.0), "paper_cvact": ((140, 768), 384, 180.0),
                     "paper_vigor": ((384, 768), 384, 180.0),
                     "paper_university1652": ((384, 384), 384, 90.0)}
    assert _train(name, "paper").batch_size == 128 and _train(name, "paper_vigor").batch_size == 96
    uni = _train(name, "paper_university1652")
    assert (uni.epochs, uni.sampler, uni.eval_split) == (1, "unique", "test")
    assert _method(name, "paper_university1652").schedule.warmup_epochs == 0.1


def test_safa_recipe() -> None:
    for preset, tile in (("paper", 750), ("paper_cvact", 1200)):
        cfg, train = _method("safa", preset), _train("safa", preset)
        # Polar transform from the full-resolution tile; TF details of SAFA's VGG16.
        assert cfg.aerial_size == tile and cfg.polar_hw == (112, 616)
        assert (cfg.tf_same_pooling, cfg.frozen_stages, cfg.dropout,
                cfg.dropout_stages) == (True, 3, 0.2, (3, 4))
        assert cfg.ground_vfov_deg == 90.0  # CVACT: the middle half (SPECS §1)
        assert (train.augment, train.batch_size, cfg.lr) == ("none", 32, 1e-5)
        assert train.eval_conventions["cvact_test"]["radius_m"] == 5.0
