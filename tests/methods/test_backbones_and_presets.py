"""Strict local pretrained loading, registry errors and presets (tiny and paper)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from crossview.errors import ConfigError
from crossview.methods import create_method
from crossview.methods.backbones import create_timm_model, load_pretrained, sha256_of
from crossview.training.config import TrainConfig

TINY_CONVNEXT = {"dims": [8, 16, 32, 64], "depths": [1, 1, 1, 1]}


def test_load_pretrained_roundtrip_and_checksum(tmp_path: Path) -> None:
    source = nn.Linear(3, 2)
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    target = nn.Linear(3, 2)
    load_pretrained(target, path, sha256=sha256_of(path))
    torch.testing.assert_close(target.weight, source.weight)
    with pytest.raises(ConfigError, match="sha256"):
        load_pretrained(target, path, sha256="0" * 64)


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.pth: file not found"):
        load_pretrained(nn.Linear(3, 2), tmp_path / "nope.pth")


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_pretrained(nn.Linear(3, 2), path)


def test_mismatched_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2, 3), "extra.scale": torch.ones(1)}, path)
    with pytest.raises(ConfigError) as err:
        load_pretrained(nn.Linear(3, 2), path)
    message = str(err.value)
    assert "1 missing keys ['bias']" in message and "1 unexpected keys ['extra.scale']" in message
    assert "\n" not in message


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    path = tmp_path / "shape.safetensors"
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, str(path))
    with pytest.raises(ConfigError, match=r"weight: \(2, 4\) vs \(2, 3\)"):
        load_pretrained(nn.Linear(3, 2), path)


def test_method_loads_full_timm_checkpoint_into_backbone(tmp_path: Path) -> None:
    # The file holds the full classification model (as timm / ImageNet weights are published).
    full = create_timm_model("convnext_atto", **TINY_CONVNEXT)
    path = tmp_path / "convnext.pth"
    torch.save({"state_dict": full.state_dict()}, path)
    method = create_method(
        "sample4geo", "tiny", backbone_kwargs=TINY_CONVNEXT, pretrained=str(path)
    )
    torch.testing.assert_close(method.backbone.stem[0].weight, full.stem[0].weight)
    with pytest.raises(ConfigError, match=r"13 shape mismatches \['head\.norm\.bias: \(64,\) vs"):
        create_method(
            "sample4geo",
            "tiny",
            backbone_kwargs={**TINY_CONVNEXT, "dims": [8, 16, 32, 48]},
            pretrained=str(path),
        )
    with pytest.raises(ConfigError, match=r"missing keys \['stages\.3\.blocks\.1\."):
        create_method(
            "sample4geo",
            "tiny",
            backbone_kwargs={**TINY_CONVNEXT, "depths": [1, 1, 1, 2]},
            pretrained=str(path),
        )


def test_safa_feature_backbone_pretrained(tmp_path: Path) -> None:
    kwargs = create_method("safa", "tiny").config.backbone_kwargs
    full = create_timm_model("resnet18", **kwargs)
    path = tmp_path / "r18.pth"
    torch.save(full.state_dict(), path)
    method = create_method("safa", "tiny", pretrained=str(path))
    with pytest.raises(ConfigError, match=r"unexpected keys \['layer1\.0\.downsample\.0\.weight'"):
        create_method("safa", "tiny", pretrained=str(path), backbone_kwargs={})
    for branch in (method.ground_branch, method.aerial_branch):
        torch.testing.assert_close(
            branch.local.backbone.body.layer2[0].conv1.weight, full.layer2[0].conv1.weight
        )


def test_unknown_method_and_backbone_suggest_close_match() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'safa'"):
        create_method("safe")
    with pytest.raises(ConfigError, match="unknown timm backbone 'resnet19'"):
        create_method("safa", "tiny", backbone="resnet19")
    with pytest.raises(ConfigError, match="unknown preset"):
        create_method("safa", "huge")
    with pytest.raises(ConfigError, match="num_mask"):
        create_method("safa", "tiny", num_mask=4)


@pytest.mark.parametrize("name", ["clnet", "safa", "sample4geo"])
@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_presets_load_both_sections(name: str, preset: str) -> None:
    cfg, train = _preset(name, preset)
    assert train.batch_size >= 32
    if preset == "tiny":
        assert train.time_budget_min is not None and train.time_budget_min <= 15
        assert max(cfg.ground_hw) <= 256 and cfg.aerial_size <= 128


def _preset(name: str, preset: str) -> tuple:
    """The method config and train config a preset resolves to."""
    from crossview.methods import get_method_class, get_preset

    recipe = get_preset(name, preset)
    return (get_method_class(name).config_class.from_dict(dict(recipe.method)),
            TrainConfig.from_dict(dict(recipe.train)))


def test_paper_values() -> None:
    safa, safa_train = _preset("safa", "paper")
    assert (safa.backbone, safa.polar_hw, safa.ground_hw, safa.num_masks, safa.alpha, safa.lr) == (
        "vgg16",
        (112, 616),
        (112, 616),
        8,
        10.0,
        1e-5,
    )
    assert safa_train.batch_size == 32
    for name in ("sample4geo", "clnet"):
        cfg, train = _preset(name, "paper")
        assert (cfg.backbone, cfg.aerial_size, cfg.ground_hw) == ("convnext_base", 384, (140, 768))
        assert (cfg.optimizer, cfg.lr, cfg.label_smoothing, cfg.init_temperature) == (
            "adamw",
            1e-3,
            0.1,
            0.07,
        )
        # Sample4Geo: cosine after 1 epoch of warm-up (the trainer turns epochs into steps).
        assert cfg.schedule.kind == "cosine" and cfg.schedule.warmup_epochs == 1.0
        assert (train.batch_size, train.epochs, train.sampler) == (128, 40, "gps_then_similarity")


def test_safa_paper_descriptor_is_8x512() -> None:
    with torch.device("meta"):
        model = create_method("safa", "paper", pretrained=None)
    assert model.descriptor_dim == 8 * 512
    # TF 'SAME' pooling: 112x616 -> 56x308 -> 28x154 -> 14x77 -> 7x39 (conv5_3) -> 4x20.
    assert model.ground_branch.feature_hw == (4, 20) == model.aerial_branch.feature_hw
