"""Pretrained backbone weights in timm, torchvision and official formats load strictly.

Randomly initialised VGG16, ResNet34 and ConvNeXt-B state dicts are saved in each format their
publishers use and loaded into every method whose presets take that backbone's ImageNet weights
(found from the registry). Where they land is checked against the publishing library's own
modules (e.g. torchvision's ``features[1][0].block[3]`` is timm's ``stages[0].blocks[0].mlp.fc1``),
not against crossview's conversion. To stay fast: ConvNeXt-B keeps its widths with one block per
stage (timm and torchvision both allow it), VGG16's classifier (unused by feature backbones, 120M
values) is stored as a broadcast constant, and each method is built once per backbone.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
import torch
import torchvision
from typer.testing import CliRunner

from crossview.cli import app
from crossview.errors import ConfigError
from crossview.methods import (
    create_method,
    get_method_class,
    get_preset,
    list_methods,
    list_presets,
)
from crossview.methods.backbones import (
    KNOWN_FILES,
    WEIGHTS_ENV,
    create_timm_model,
    init_pretrained,
    resolve_pretrained,
)

CONVNEXT_KW = {"depths": [1, 1, 1, 1]}
"""ConvNeXt-B widths (128..1024 channels), one block per stage."""
BUILD = {"cde": {"width": 1.0, "num_bottleneck": 1}}
"""Overrides (beside the smoke sizes) that give a method its full-width pretrained module."""


def _imagenet_presets() -> dict[str, list[tuple[str, str]]]:
    """Backbone -> (method, preset) of every preset whose method starts from ImageNet weights."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in list_methods():
        for preset in list_presets(name):
            recipe = get_preset(name, preset)
            if recipe.method.get("pretrained") != "imagenet":
                continue
            # Smoke sizes (narrowed): cheap to build, and the same pretrained slots.
            method = create_method(name, preset, **{**recipe.smoke, "pretrained": None})
            for backbone in {s.backbone for s in method.pretrained_slots()}:
                out[backbone].append((name, preset))
    return out


USES = _imagenet_presets()


def test_every_paper_backbone_is_covered() -> None:
    methods = {b: {m for m, _ in cases} for b, cases in USES.items()}
    assert {"safa"} <= methods["vgg16"] and {"cde"} <= methods["resnet34"]
    assert {"sample4geo", "clnet"} <= methods["convnext_base"]
    assert set(USES) <= {"vgg16", "resnet34", "convnext_base"}  # formats tested below


# --- state dicts in each format ------------------------------------------------------------
def _vgg16_files(folder: Path) -> tuple[dict[str, Path], dict[str, torch.Tensor]]:
    """torchvision and timm VGG16 files with the same random convolutions."""
    torch.manual_seed(0)
    with torch.device("meta"):
        tv_keys = torchvision.models.vgg16().state_dict()
        timm_keys = create_timm_model("vgg16").state_dict()
    convs = {k: torch.randn(v.shape) for k, v in tv_keys.items() if k.startswith("features.")}

    def fill(keys: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: convs[k] if k in convs else torch.zeros(()).expand(v.shape)
                for k, v in keys.items()}

    files = {"torchvision": folder / "vgg16-397923af.pth", "timm": folder / "vgg16_timm.pth"}
    torch.save(fill(tv_keys), files["torchvision"])
    torch.save(fill(timm_keys), files["timm"])
    # torchvision's conv k of features.N is conv k whatever the format: expected by name.
    return files, convs


def _resnet34_files(folder: Path) -> tuple[dict[str, Path], dict[str, torch.Tensor]]:
    """A torchvision ResNet34 (timm uses the same keys), plain and as a wrapped DDP save."""
    torch.manual_seed(1)
    state = torchvision.models.resnet34(weights=None).state_dict()
    files = {"torchvision": folder / "resnet34-b627a593.pth",
             "checkpoint": folder / "resnet34_ddp.pth"}
    torch.save(state, files["torchvision"])
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, files["checkpoint"])
    return files, state


def _official_convnext(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """timm keys -> the official ConvNeXt release's (facebookresearch/ConvNeXt) naming."""
    out = {}
    for key, value in state.items():
        key = key.replace("stem.", "downsample_layers.0.")
        key = re.sub(r"stages\.(\d+)\.downsample\.", r"downsample_layers.\1.", key)
        key = re.sub(r"stages\.(\d+)\.blocks\.(\d+)\.", r"stages.\1.\2.", key)
        key = key.replace("conv_dw", "dwconv").replace("mlp.fc1", "pwconv1")
        key = key.replace("mlp.fc2", "pwconv2").replace("head.norm", "norm")
        key = key.replace("head.fc", "head")
        out[key] = value
    return {"model": out}


def _convnext_files(folder: Path) -> tuple[dict[str, Path], dict[str, dict[str, torch.Tensor]]]:
    """ConvNeXt-B (1 block per stage) as timm, official and torchvision files."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    torch.manual_seed(2)
    timm_model = create_timm_model("convnext_base", **CONVNEXT_KW)
    for p in timm_model.parameters():  # no zero or constant init: every tensor identifiable
        p.data.normal_()
    tv_model = ConvNeXt([CNBlockConfig(128, 256, 1), CNBlockConfig(256, 512, 1),
                         CNBlockConfig(512, 1024, 1), CNBlockConfig(1024, None, 1)])
    for p in tv_model.parameters():
        p.data.normal_()
    files = {"timm": folder / "convnext_base.fb_in22k_ft_in1k_384.safetensors",
             "official": folder / "convnext_base_22k_1k_384.pth",
             "torchvision": folder / "convnext_base-6075fbad.pth"}
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in timm_model.state_dict().items()},
              str(files["timm"]))
    torch.save(_official_convnext(timm_model.state_dict()), files["official"])
    torch.save(tv_model.state_dict(), files["torchvision"])
    # Expected timm tensors, by the torchvision module each one is (independent of crossview).
    tv = tv_model.state_dict()
    expected_tv = {"stem.0.weight": tv["features.0.0.weight"],
                   "stages.1.downsample.1.weight": tv["features.2.1.weight"],
                   "stages.0.blocks.0.gamma": tv["features.1.0.layer_scale"].flatten(),
                   "stages.2.blocks.0.mlp.fc1.weight": tv["features.5.0.block.3.weight"],
                   "stages.3.blocks.0.conv_dw.weight": tv["features.7.0.block.0.weight"],
                   "head.norm.weight": tv["classifier.0.weight"]}
    timm_state = timm_model.state_dict()
    return files, {"timm": timm_state, "official": timm_state, "torchvision": expected_tv}


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    folder = tmp_path_factory.mktemp("weights")
    return {"vgg16": _vgg16_files(folder), "resnet34": _resnet34_files(folder),
            "convnext_base": _convnext_files(folder)}


def _build(name: str, preset: str, backbone: str, pretrained: str | None = None):
    overrides = {**get_preset(name, preset).smoke, **BUILD.get(name, {}), "pretrained": pretrained}
    if backbone == "convnext_base":
        overrides["backbone_kwargs"] = CONVNEXT_KW
    return create_method(name, preset, **overrides)


def _slot_state(method, backbone: str) -> list[tuple[str, dict[str, torch.Tensor]]]:
    return [(s.name, s.module.state_dict()) for s in method.pretrained_slots()
            if s.backbone == backbone]


def _check_loaded(backbone: str, fmt: str, slots, expected) -> None:
    """The slot tensors equal the file's, located by the publisher's module names."""
    for slot_name, state in slots:
        if backbone == "vgg16":  # timm's feature wrapper flattens features.N to features_N
            for key, value in expected.items():
                found = key if key in state else key.replace("features.", "features_")
                assert torch.equal(state[found], value), (slot_name, key)
        elif backbone == "resnet34":  # R_E keeps torchvision's names (conv1 .. layer3)
            assert len(state) > 100
            for key, value in state.items():
                assert torch.equal(value, expected[key]), (slot_name, key)
        elif fmt == "torchvision":  # the tensors located through torchvision's modules
            for key, value in expected[fmt].items():
                assert torch.equal(state[key], value), (slot_name, fmt, key)
        else:  # timm and official files hold timm's tensors: every module tensor matches
            for key, value in state.items():
                assert torch.equal(value, expected[fmt][key]), (slot_name, fmt, key)


CASES = [(backbone, name, preset) for backbone, cases in sorted(USES.items())
         for name, preset in sorted({(m, p) for m, p in cases})
         if preset == min(p for m2, p in cases if m2 == name)]  # one preset per method


@pytest.mark.parametrize(("backbone", "name", "preset"), CASES,
                         ids=[f"{b}-{n}" for b, n, _ in CASES])
def test_every_format_loads_strictly_into_every_method(backbone: str, name: str, preset: str,
                                                       weight_files) -> None:
    files, expected = weight_files[backbone]
    first = next(iter(files.values()))
    method = _build(name, preset, backbone, str(first))  # through the constructor once
    _check_loaded(backbone, next(iter(files)), _slot_state(method, backbone), expected)
    for fmt, path in files.items():
        with torch.no_grad():
            for p in method.parameters():
                p.zero_()
        method.config.pretrained = str(path)
        reports = init_pretrained(method)
        assert reports and all(r.ok and r.filled == r.target_keys for r in reports), fmt
        _check_loaded(backbone, fmt, _slot_state(method, backbone), expected)


def test_report_names_format_and_classifier(weight_files) -> None:
    from crossview.methods.backbones import check_weights

    files, _ = weight_files["vgg16"]
    report = check_weights("safa", files["torchvision"])[0]
    assert report.ok and "timm.models.vgg._filter_fn" in report.format
    assert report.classifier.startswith("head.fc: 1000 classes") and report.filled == 26
    cx, _ = weight_files["convnext_base"]
    reports = check_weights("clnet", cx["torchvision"], overrides={"backbone_kwargs": CONVNEXT_KW})
    assert [r.target for r in reports] == ["ground_backbone", "aerial_backbone"]
    assert all(r.ok and r.format.startswith("torchvision ConvNeXt") for r in reports)
    official = check_weights("sample4geo", cx["official"],
                             overrides={"backbone_kwargs": CONVNEXT_KW})[0]
    assert official.ok and "convnext.checkpoint_filter_fn" in official.format
    # The full-depth ConvNeXt-B of the paper preset: this file lacks its blocks 1..26.
    short = check_weights("sample4geo", cx["timm"])[0]
    assert not short.ok and "stages.0.blocks.1.conv_dw.weight" in short.missing


def test_cli_weights_check(weight_files, tmp_path: Path) -> None:
    files, _ = weight_files["resnet34"]
    runner = CliRunner()
    # synthesis=false: no generator decoder nor discriminator to build (R_E is what is checked).
    ok = runner.invoke(app, ["weights", "check", str(files["checkpoint"]), "--method", "cde",
                             "--preset", "paper_cvusa", "synthesis=false"])
    assert ok.exit_code == 0, ok.output
    assert "street_encoder <- resnet34" in ok.output and "[ok]" in ok.output
    vgg, _ = weight_files["vgg16"]
    bad = runner.invoke(app, ["weights", "check", str(vgg["timm"]), "--method", "cde",
                              "synthesis=false"])
    assert bad.exit_code != 0 and "MISMATCH" in bad.output


def test_shape_mismatch_names_the_key(weight_files, tmp_path: Path) -> None:
    files, _ = weight_files["resnet34"]
    state = torch.load(files["torchvision"], weights_only=True)
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"layer2\.0\.conv1\.weight: \(128, 64, 5, 5\) vs "
                                          r"\(128, 64, 3, 3\)") as err:
        create_method("cde", "paper", **{**get_preset("cde", "paper").smoke, "width": 1.0,
                                         "num_bottleneck": 1, "pretrained": str(path)})
    assert "\n" not in str(err.value)


def test_missing_weights_is_one_line_naming_the_file_and_the_ways(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(ConfigError) as err:
        create_method("sample4geo", "paper")
    message = str(err.value)
    assert "\n" not in message
    assert "convnext_base.fb_in22k_ft_in1k_384.safetensors" in message
    for way in ("method.pretrained=PATH", f"{WEIGHTS_ENV}=DIR", "method.weights_dir=DIR",
                "method.pretrained=none"):
        assert way in message
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=f"not found in {tmp_path}"):
        create_method("sample4geo", "paper")
    with pytest.raises(ConfigError, match="nope.pth: file not found"):
        resolve_pretrained(str(tmp_path / "nope.pth"), "vgg16")
    # The explicit opt-out builds from random init.
    method = create_method("sample4geo", "paper", **get_preset("sample4geo", "paper").smoke)
    assert method.config.pretrained is None


def test_weights_directory_lookup(weight_files, monkeypatch, tmp_path: Path) -> None:
    files, expected = weight_files["convnext_base"]
    folder = tmp_path / "w"
    folder.mkdir()
    os.link(files["official"], folder / f"{KNOWN_FILES['convnext_base'][1]}.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(folder))
    assert resolve_pretrained("imagenet", "convnext_base") == folder / \
        f"{KNOWN_FILES['convnext_base'][1]}.pth"
    method = _build("sample4geo", "paper", "convnext_base", "imagenet")
    _check_loaded("convnext_base", "official", _slot_state(method, "convnext_base"), expected)
    # A weights_dir given in the config wins over the environment.
    other = tmp_path / "other"
    (other / KNOWN_FILES["convnext_base"][0]).mkdir(parents=True)
    os.link(files["timm"], other / KNOWN_FILES["convnext_base"][0] / "model.safetensors")
    assert resolve_pretrained("imagenet", "convnext_base", other) == \
        other / KNOWN_FILES["convnext_base"][0] / "model.safetensors"


def test_safa_recipe_freezes_and_drops_out() -> None:
    method = create_method("safa", "paper", **get_preset("safa", "paper").smoke)
    body = method.ground_branch.local.backbone.body
    frozen = [n for n, p in body.named_parameters() if not p.requires_grad]
    # conv1_1 .. conv3_3: the 7 convolutions before pool3 (features 0, 2, 5, 7, 10, 12, 14).
    assert frozen == [f"features_{i}.{w}" for i in (0, 2, 5, 7, 10, 12, 14)
                      for w in ("weight", "bias")]
    assert get_method_class("safa").config_class.from_dict(
        dict(get_preset("safa", "paper").method)).dropout == pytest.approx(0.2)
    x = torch.rand(2, 3, 32, 128)
    method.train()
    a, b = method.ground_branch.local(x), method.ground_branch.local(x)
    assert not torch.equal(a, b)  # dropout active in training
    method.eval()
    assert torch.equal(method.ground_branch.local(x), method.ground_branch.local(x))
