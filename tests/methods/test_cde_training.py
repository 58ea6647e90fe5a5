"""CDE training contract: phases in the declared order, each updating only its own network."""

from __future__ import annotations

import pytest
import torch

from crossview.errors import ConfigError, CrossviewError
from crossview.losses.ranking import weighted_soft_margin_loss
from crossview.methods import create_method


def _batch(b: int = 4) -> dict:
    g = torch.Generator().manual_seed(3)
    return {
        "ground": torch.rand(b, 3, 32, 176, generator=g),
        "aerial": torch.rand(b, 3, 64, 64, generator=g),
        "utm": torch.arange(b, dtype=torch.float64).repeat(2, 1).T * 10.0,
    }


def _build(method):
    specs = method.optimizers()
    return {
        name: torch.optim.Adam(spec.params, lr=spec.lr, betas=spec.betas)
        for name, spec in specs.items()
    }


def _run_iterations(method, iterations: int = 2):
    """The generic trainer loop: per phase zero grads, backward ``total``, step its optimizer."""
    opts = _build(method)
    owner = {
        id(p): name for name, opt in opts.items() for g in opt.param_groups for p in g["params"]
    }
    order, batch = [], _batch()
    for step in range(iterations):
        for phase in method.phases():
            for opt in opts.values():
                opt.zero_grad(set_to_none=True)
            losses = method.training_step(batch, step, phase.name)
            assert torch.isfinite(losses["total"])
            losses["total"].backward()
            with_grad = {owner[id(p)] for p in method.parameters() if p.grad is not None}
            assert with_grad == {phase.optimizer}, (phase, with_grad)
            before = [p.detach().clone() for p in opts[phase.optimizer].param_groups[0]["params"]]
            opts[phase.optimizer].step()
            after = opts[phase.optimizer].param_groups[0]["params"]
            assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), phase
            order.append(phase.name)
    return order, opts, losses


def test_declared_order_and_adam_settings():
    # Default: the authors' code order D -> R -> G; the order listed in App. B on request.
    method = create_method("cde", "tiny")
    assert [(p.name, p.optimizer) for p in method.phases()] == [
        ("D", "discriminator"),
        ("R", "retrieval"),
        ("G", "generator"),
    ]
    text = create_method("cde", "tiny", update_order="text")
    assert [p.name for p in text.phases()] == ["D", "G", "R"]
    specs = method.optimizers()
    assert all(
        s.kind == "adam" and s.lr == 1e-4 and tuple(s.betas) == (0.5, 0.999) for s in specs.values()
    )
    ids = [id(p) for s in specs.values() for p in s.params]
    assert len(ids) == len(set(ids)) == len(list(method.parameters()))  # a partition
    assert {id(p) for p in specs["discriminator"].params} == {
        id(p) for p in method.discriminator.parameters()
    }
    assert {id(p) for p in specs["generator"].params} == {
        id(p) for p in method.generator.parameters()
    }


def test_iterations_update_d_r_g_in_order():
    method = create_method("cde", "tiny").train()
    order, _, _ = _run_iterations(method, iterations=2)
    assert order == ["D", "R", "G", "D", "R", "G"]


def test_loss_weights_and_terms():
    method = create_method("cde", "tiny", lambda_ret=7.0, lambda_l1=3.0, lambda_gan=2.0).train()
    batch = _batch()
    torch.manual_seed(0)
    g = method.training_step(batch, 0, "G")
    expected = 3.0 * g["l1"] + 2.0 * g["g_gan"] + 7.0 * g["ret"]
    assert torch.allclose(g["total"].detach(), expected, rtol=1e-5)
    with torch.no_grad():
        fake = method.synthesize(batch["aerial"])
        l1 = (2 * fake - 2 * batch["ground"]).abs().mean()  # in [-1, 1] units
        sat, grd = method.encode_aerial(batch["aerial"]), method.encode_ground(batch["ground"])
    assert torch.allclose(g["l1"], l1, rtol=1e-4)
    method.eval()  # BatchNorm of R_E in eval mode: the ranking term equals the loss on descriptors
    r = method.training_step(batch, 0, "R")
    with torch.no_grad():
        sat, grd = method.encode_aerial(batch["aerial"]), method.encode_ground(batch["ground"])
    assert torch.allclose(r["ret"], weighted_soft_margin_loss(sat, grd, alpha=10.0), rtol=1e-4)
    assert torch.allclose(r["total"].detach(), 7.0 * r["ret"])


def test_hard_mining_schedule_and_negative_radius():
    method = create_method("cde", "tiny", negative_radius_m=15.0).eval()
    method.set_epoch(25)
    assert method.hard_ratio == 0.1
    batch = _batch()
    r = method.training_step(batch, 0, "R")
    with torch.no_grad():
        sat, grd = method.encode_aerial(batch["aerial"]), method.encode_ground(batch["ground"])
    mask = torch.cdist(batch["utm"], batch["utm"]) < 15.0  # samples 10 m apart: not negatives
    want = weighted_soft_margin_loss(sat, grd, alpha=10.0, hard_ratio=0.1, negative_mask=mask)
    assert torch.allclose(r["ret"], want, rtol=1e-4)
    del batch["utm"]
    with pytest.raises(ConfigError, match="utm"):
        method.training_step(batch, 0, "R")


def test_descriptors_and_synthesis_shapes():
    method = create_method("cde", "tiny").eval()
    batch = _batch(3)
    with torch.no_grad():
        g, a = method.encode_ground(batch["ground"]), method.encode_aerial(batch["aerial"])
        fake = method.synthesize(batch["aerial"])
    assert g.shape == a.shape == (3, method.descriptor_dim)
    assert torch.allclose(g.norm(dim=1), torch.ones(3)) and torch.allclose(
        a.norm(dim=1), torch.ones(3)
    )
    assert fake.shape == (3, 3, 32, 176) and 0 <= fake.min() and fake.max() <= 1
    grid = method.visualize(batch)["samples"]
    assert grid.shape == (3, 3 * 4 * 32, 176)
    with pytest.raises(ValueError, match="ground"):
        method.encode_ground(torch.rand(1, 3, 32, 170))
    with pytest.raises(ConfigError, match="phase"):
        method.training_step(batch, 0, "X")


def test_ablation_i_without_decoder_and_discriminator():
    method = create_method("cde", "tiny", synthesis=False).train()
    assert method.discriminator is None and not method.generator.has_decoder
    assert [p.name for p in method.phases()] == ["R"]
    order, _, _ = _run_iterations(method, 1)
    assert order == ["R"]
    grads = [p.grad for p in method.generator.parameters()]
    assert all(g is not None for g in grads)  # G_E trains through the ranking loss
    with pytest.raises(CrossviewError):
        method.synthesize(torch.rand(1, 3, 64, 64))


def test_ablation_ii_without_gan():
    method = create_method("cde", "tiny", gan=False).train()
    assert method.discriminator is None
    order, _, losses = _run_iterations(method, 1)
    assert order == ["R", "G"]


def test_ablation_iii_retrieval_on_synthesized_images():
    method = create_method("cde", "tiny", retrieval_features="synthesized").train()
    order, _, _ = _run_iterations(method, 1)
    assert order == ["D", "R", "G"]
    with torch.no_grad():
        a = method.encode_aerial(torch.rand(2, 3, 64, 64))
    assert a.shape == (2, method.descriptor_dim)


def test_table4_without_retrieval():
    method = create_method("cde", "tiny", retrieval=False).train()
    order, _, losses = _run_iterations(method, 1)
    assert order == ["D", "G"] and "ret" not in losses
    with pytest.raises(CrossviewError, match="retrieval"):
        method.encode_ground(torch.rand(1, 3, 32, 176))
