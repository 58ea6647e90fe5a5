"""The method contract, parametrized over the registry (STYLE.md §11a).

Every registered method and every one of its presets is checked, so a new method is tested
without editing this file:

- on the meta device at the preset's own input sizes (no memory, no FLOPs): descriptor shapes
  ``(B, D)`` and the synthesized view's shape;
- on CPU with the preset's ``smoke`` overrides (same architecture, small inputs): finite,
  unit-norm descriptors; a non-zero gradient on every trainable parameter from the phase whose
  optimizer owns it; a checkpoint round trip; a 2-step training run plus evaluation on a
  CVUSA-layout fixture through the one trainer.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.data.fixtures import make_cvusa_fixture

from crossview.data.inputs import EXTRAS
from crossview.data.layouts import load_layout
from crossview.errors import CrossviewError
from crossview.inference import embed_aerial, embed_ground
from crossview.methods import create_method, get_preset, list_methods, list_presets
from crossview.methods.base import Method
from crossview.training import TrainConfig, Trainer, load_run, save_checkpoint
from crossview.training.optim import build_optimizer
from crossview.training.steps import build_configs

CASES = [(m, p) for m in list_methods() for p in list_presets(m)]
IDS = [f"{m}-{p}" for m, p in CASES]


def _batch(method: Method, b: int = 4) -> dict:
    """A random batch in the method's sizes, with every extra map its spec asks for."""
    spec = method.input_spec
    g = torch.Generator().manual_seed(1)
    hw, s = spec.ground_hw, spec.aerial_size
    utm = torch.tensor([[500000.0 + 100 * i, 4e6] for i in range(b)], dtype=torch.float64)
    extras = {
        "sky": (torch.arange(hw[0]) < hw[0] // 2).float().view(1, 1, -1, 1).expand(b, 1, *hw),
        "depth": 50.0 * torch.rand(b, 1, *hw, generator=g),
        "aerial_semantics": torch.rand(b, 3, s, s, generator=g),
    }
    return {
        "ground": torch.rand(b, 3, *hw, generator=g),
        "aerial": torch.rand(b, 3, s, s, generator=g),
        "utm": utm,
        "index": torch.arange(b),
        "id": [f"s{i}" for i in range(b)],
        **{name: extras[name].clone() for name in spec.extras},
    }


def _with_extras(table, spec, folder: Path):
    """``table`` with files for every extra map of ``spec`` recorded in its pairs' extras."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in spec.extras:
        view, key = EXTRAS[name]
        items = table.pairs if view == "ground" else table.references
        for item in items:
            path = folder / f"{name}_{item.id}.png"
            if name == "depth":
                path = path.with_suffix(".npy")
                np.save(path, rng.uniform(1, 50, (16, 64)).astype(np.float32))
            else:
                shape = (16, 64) if view == "ground" else (32, 32, 3)
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
            item.extras[key] = path
    return table


def test_registry_lists_every_builtin_with_presets() -> None:
    assert {"cde", "clnet", "safa", "sample4geo"} <= set(list_methods())
    assert all(list_presets(m) for m in list_methods())
    matched = list_methods("sa*")
    assert {"safa", "sample4geo"} <= set(matched) and "cde" not in matched
    assert matched == sorted(matched)


@pytest.mark.parametrize(("name", "preset"), CASES, ids=IDS)
def test_shapes_at_preset_sizes_on_meta_device(name: str, preset: str) -> None:
    with torch.device("meta"):  # shapes only: no weights to load (a meta model holds none)
        method = create_method(name, preset, pretrained=None)
    spec = method.input_spec
    ground = torch.empty(2, 3, *spec.ground_hw, device="meta")
    aerial = torch.empty(2, 3, spec.aerial_size, spec.aerial_size, device="meta")
    method.eval()
    with torch.no_grad():
        if method.can_retrieve:
            for out in (method.encode_ground(ground), method.encode_aerial(aerial)):
                assert tuple(out.shape) == (2, method.descriptor_dim)
        if method.can_synthesize:
            source, target = (aerial, ground) if method.synthesis_source == "aerial" else (
                ground, aerial)
            assert tuple(method.synthesize(source).shape) == tuple(target.shape)


@pytest.fixture(scope="module")
def cvusa(tmp_path_factory: pytest.TempPathFactory):
    root = make_cvusa_fixture(tmp_path_factory.mktemp("cvusa"), n_train=8, n_val=4, tile_px=32,
                              pano_hw=(16, 64))
    return load_layout("cvusa", root)


@pytest.mark.parametrize(("name", "preset"), CASES, ids=IDS)
def test_contract_on_cpu(name: str, preset: str, cvusa, tmp_path: Path) -> None:
    """One build per case (paper-size backbones cost seconds to build): every check in turn."""
    overrides = {f"method.{k}": v for k, v in get_preset(name, preset).smoke.items()}
    method, preset_config = build_configs(name, preset, {**overrides, "train.sampler": "random"})
    assert isinstance(preset_config, TrainConfig)
    batch = _batch(method)
    _check_descriptors(method.eval(), batch)
    _check_gradients(method.train(), batch)
    _check_checkpoint_round_trip(method.eval(), batch, tmp_path / "m.pt")
    table = _with_extras(copy.deepcopy(cvusa), method.input_spec, tmp_path / "extras")
    _check_training_and_evaluation(method, preset_config, preset, table, tmp_path / "run")


def _check_descriptors(method: Method, batch: dict) -> None:
    """Finite, unit-norm ``(B, D)`` float32 descriptors; an error for synthesis-only methods."""
    with torch.no_grad():
        for view in ("ground", "aerial"):
            encode = getattr(method, f"encode_{view}")
            if not method.can_retrieve:
                with pytest.raises((NotImplementedError, CrossviewError)):
                    encode(batch[view])
                continue
            d = encode(batch[view])
            assert d.shape == (len(batch["id"]), method.descriptor_dim)
            assert d.dtype == torch.float32 and torch.isfinite(d).all()
            torch.testing.assert_close(d.norm(dim=1), torch.ones(len(batch["id"])))


def _check_gradients(method: Method, batch: dict) -> None:
    """Each phase's loss reaches every parameter its optimizer steps.

    Checked on the second iteration: zero-initialised layers (timm's last BN of a residual block)
    give exactly zero gradients to the layers before them until one step has moved them.
    """
    specs = method.optimizers()
    optimizers = {n: build_optimizer(s, n) for n, s in specs.items()}
    declared = {id(p) for s in specs.values() for p in s.params}
    assert declared == {id(p) for p in method.parameters() if p.requires_grad}
    names = {id(p): n for n, p in method.named_parameters()}
    for iteration in range(2):
        for phase in method.phases():
            optimizer = optimizers[phase.optimizer]
            optimizer.zero_grad(set_to_none=True)
            losses = method.training_step(batch, iteration, phase.name)
            assert losses["total"].ndim == 0 and torch.isfinite(losses["total"]), phase.name
            losses["total"].backward()
            params = [p for g in optimizer.param_groups for p in g["params"]]
            if iteration == 1:
                bad = [names[id(p)] for p in params
                       if p.grad is None or not torch.isfinite(p.grad).all()
                       or not p.grad.abs().sum() > 0]
                assert not bad, f"{phase.name}: no gradient on {bad[:5]}"
            optimizer.step()
    method.zero_grad(set_to_none=True)


def _check_checkpoint_round_trip(method: Method, batch: dict, path: Path) -> None:
    save_checkpoint(path, method)
    loaded = load_run(path)
    assert loaded.method_name == method.name
    assert loaded.method.config.to_dict() == method.config.to_dict()
    with torch.no_grad():
        if method.can_retrieve:
            torch.testing.assert_close(loaded.method.encode_aerial(batch["aerial"]),
                                       method.encode_aerial(batch["aerial"]))
        if method.can_synthesize:
            source = batch[method.synthesis_source]
            torch.testing.assert_close(loaded.method.synthesize(source), method.synthesize(source))
    path.unlink()


def _check_training_and_evaluation(method: Method, preset_config: TrainConfig, preset: str,
                                   cvusa, out: Path) -> None:
    """Two steps through the one trainer, then its evaluation against one computed here."""
    config = preset_config.replace(batch_size=4, epochs=1, max_steps=2, eval_every=1,
                                   log_every=1, time_budget_min=None, embed_batch_size=4,
                                   eval_synthesis_pairs=4)
    before = {k: v.detach().clone() for k, v in method.state_dict().items()}
    result = Trainer(method, cvusa.select("train"), cvusa.select("val"), config, out,
                     device="cpu", preset=preset, data="cvusa:fixture").fit()
    assert result.step == 2 and result.stopped == "max_steps"
    metrics = result.last_metrics
    loaded = load_run(out, which="last")
    assert loaded.method_name == method.name and loaded.config["preset"] == preset
    after = loaded.method.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in before.items() if v.is_floating_point())
    val = cvusa.select("val")
    if method.can_retrieve:  # the trainer's R@1 equals one computed here from the saved model
        g = torch.from_numpy(embed_ground(loaded.method, val, 4, "cpu"))
        a = torch.from_numpy(embed_aerial(loaded.method, val, 4, "cpu"))
        sim = g @ a.T
        truth = torch.tensor([p.positive for p in val.pairs])
        ranks = (sim > sim.gather(1, truth[:, None])).sum(dim=1)
        assert metrics["R@1"] == pytest.approx(100.0 * (ranks == 0).float().mean().item())
    if method.can_synthesize:
        assert {"PSNR", "SSIM"} <= set(metrics) and metrics["synthesis"]["generator"]["count"] == 4
