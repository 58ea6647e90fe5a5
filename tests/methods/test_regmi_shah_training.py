"""Regmi-Shah stages: phase schedule, weight sharing, frozen parts, descriptors per row."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError
from crossview.losses.ranking import weighted_soft_margin_loss
from crossview.methods import create_method
from crossview.methods.regmi_shah import RegmiShah
from crossview.methods.regmi_shah_config import ROWS

SMALL = {"ngf": 8, "ndf": 8, "match_channels": [8, 8, 16, 16, 16, 16], "descriptor_dim": 32,
         "synthesis_epochs": 2, "two_stream_epochs": 1, "joint_epochs": 3, "fusion_epochs": 2}


def _method(**overrides) -> RegmiShah:
    return create_method("regmi_shah", "tiny", **{**SMALL, **overrides})  # type: ignore[return-value]


def _batch(b: int = 4, semantics: bool = False) -> dict:
    g = torch.Generator().manual_seed(3)
    batch = {"ground": torch.rand(b, 3, 32, 128, generator=g),
             "aerial": torch.rand(b, 3, 64, 64, generator=g)}
    if semantics:
        batch["aerial_semantics"] = torch.rand(b, 3, 64, 64, generator=g)
    return batch


def _owners(method: RegmiShah) -> dict[int, str]:
    return {id(p): name for name, spec in method.optimizers().items() for p in spec.params}


def test_stages_are_phases_scheduled_by_epoch():
    method = _method()
    assert [(p.name, p.optimizer, p.epochs) for p in method.phases()] == [
        ("D", "discriminator", (0, 2)), ("G", "generator", (0, 2)),
        ("two_stream", "two_stream", (2, 3)), ("joint", "joint", (3, 6)),
        ("fusion", "fusion", (6, None))]
    stages = []
    for epoch in range(8):
        method.set_epoch(epoch)
        stages.append(method.stage)
    assert stages == ["synthesis"] * 2 + ["two_stream"] + ["joint"] * 3 + ["fusion"] * 2
    # A stage without epochs leaves its phase (and, for two-stream, its networks and rows) out.
    lean = _method(two_stream_epochs=0)
    assert [p.name for p in lean.phases()] == ["D", "G", "joint", "fusion"]
    assert lean.ts_ga is None and "two_stream" not in lean.optimizers()
    lean.set_epoch(10)
    assert lean.retrieval_variants() == ["joint_aa", "joint_ga", "fusion"]
    with pytest.raises(ConfigError, match="stage epochs"):
        _method(synthesis_epochs=0, two_stream_epochs=0, joint_epochs=0, fusion_epochs=0)


def test_optimizers_follow_the_recipe():
    specs = create_method("regmi_shah", "paper", **{k: v for k, v in SMALL.items()
                                                     if "epochs" not in k}).optimizers()
    assert {n: (s.lr, s.betas) for n, s in specs.items()} == {
        "discriminator": (2e-4, (0.5, 0.999)), "generator": (2e-4, (0.5, 0.999)),
        "joint": (1e-5, (0.9, 0.999)), "fusion": (1e-5, (0.9, 0.999)),
        "two_stream": (1e-5, (0.9, 0.999))}
    ids = [id(p) for s in specs.values() for p in s.params]
    assert len(ids) == len(set(ids))  # each parameter has exactly one optimizer


@pytest.mark.parametrize("sharing", ["encoder", "fc"])
def test_weight_sharing_is_exactly_as_configured(sharing):
    method = _method(aerial_sharing=sharing)
    ground, synth, aerial = method.joint_streams()
    ids = {name: {id(p) for p in s.parameters()} for name, s in
           (("ground", ground), ("synth", synth), ("aerial", aerial))}
    assert not ids["ground"] & (ids["synth"] | ids["aerial"])  # ground encoder separate
    if sharing == "encoder":  # the paper: one aerial encoder (convs and FC) for I_a' and I_a
        assert synth is aerial
    else:  # the code: own conv layers for I_a', the aerial FC shared
        assert synth.fc is aerial.fc and synth.fc.weight is aerial.fc.weight
        assert not {id(p) for p in synth.encoder.parameters()} & ids["aerial"]
    # The two-stream baselines share nothing with each other or with the joint network.
    ts = [{id(p) for p in m.parameters()} for m in (method.ts_ga, method.ts_aa, method.joint)]
    assert not ts[0] & ts[1] and not (ts[0] | ts[1]) & ts[2]
    streams = [method.ts_ga["ground"], method.ts_ga["aerial"], method.ts_aa["synth"],
               method.ts_aa["aerial"]]
    assert len({id(p) for s in streams for p in s.parameters()}) == sum(
        len(list(s.parameters())) for s in streams)


@pytest.mark.parametrize("phase", ["D", "G", "two_stream", "joint", "fusion"])
def test_each_phase_gives_gradients_only_to_its_own_networks(phase):
    method = _method()
    owners = _owners(method)
    own = {n: [p for p in method.parameters() if owners[id(p)] == n] for n in method.optimizers()}
    optimizer = {p.name: p.optimizer for p in method.phases()}[phase]
    method.zero_grad(set_to_none=True)
    losses = method.training_step(_batch(semantics=True), 0, phase)
    losses["total"].backward()
    with_grad = {owners[id(p)] for p in method.parameters() if p.grad is not None}
    assert with_grad == {optimizer}, with_grad  # frozen G, D, joint net: no gradient
    assert all(p.grad is not None for p in own[optimizer])
    assert torch.isfinite(losses["total"])


def test_without_semantics_the_segmentation_head_gets_no_weight():
    method = _method()
    method.zero_grad(set_to_none=True)
    losses = method.training_step(_batch(), 0, "G")
    losses["total"].backward()
    assert "l1_seg" not in losses
    assert all(p.grad is None for p in method.generator.seg_head.parameters())
    assert method.generator.image_head[0][1].weight.grad is not None
    method.eval()  # no dropout: the step and the reference see the same generator
    with_sem = method.training_step(_batch(semantics=True), 0, "G")
    seg = method.synthesize_with_segmentation(_batch()["ground"])[1]
    want = (seg - _batch(semantics=True)["aerial_semantics"]).abs().mean() * 2  # [-1, 1] scale
    assert torch.allclose(with_sem["l1_seg"], want, atol=1e-6)


def test_losses_match_their_definitions():
    method = _method().eval()  # no dropout: both computations see the same network
    batch = _batch()
    x = method.xfork_input(batch["ground"])
    fake, _ = method.generator(x)
    real = batch["aerial"] * 2 - 1
    d_real, d_fake = method.discriminator(real), method.discriminator(fake)
    bce = F.binary_cross_entropy_with_logits
    want_d = 0.5 * (bce(d_real, torch.full_like(d_real, 0.9))
                    + bce(d_fake, torch.zeros_like(d_fake)))
    assert torch.allclose(method.training_step(batch, 0, "D")["total"], want_d, atol=1e-6)
    g = method.training_step(batch, 0, "G")
    want_g = bce(d_fake, torch.full_like(d_fake, 0.9)) + 100 * (fake - real).abs().mean()
    assert torch.allclose(g["total"], want_g, atol=1e-4)
    method.set_epoch(3)  # joint: 10 L(g, a) + 1 L(a', a), paper eq. 4 (no normalisation)
    with method.variant("joint_ga"):
        f_g, f_a = method.encode_ground(batch["ground"]), method.encode_aerial(batch["aerial"])
    with method.variant("joint_aa"):
        f_s = method.encode_ground(batch["ground"])
    want_j = 10 * weighted_soft_margin_loss(f_a, f_g) + weighted_soft_margin_loss(f_a, f_s)
    assert torch.allclose(method.training_step(batch, 0, "joint")["total"], want_j, atol=1e-5)
    method.config.joint_loss_mean = True  # the code's (10 L + L) / 11
    assert torch.allclose(method.training_step(batch, 0, "joint")["total"], want_j / 11, atol=1e-5)


def test_stage_batch_takes_the_first_pairs():
    batch = _batch(6)
    full = _method().eval()
    full.set_epoch(2)
    sliced = _method(two_stream_batch=3).eval()
    sliced.load_state_dict(full.state_dict())
    first = {k: v[:3] for k, v in batch.items()}
    assert torch.equal(sliced.training_step(batch, 0, "two_stream")["total"],
                       full.training_step(first, 0, "two_stream")["total"])


def test_joint_network_starts_from_the_two_stream_weights_once():
    method = _method()
    method.set_epoch(2)  # two-stream stage: nothing copied yet
    assert not torch.equal(method.joint["ground"].fc.weight, method.ts_ga["ground"].fc.weight)
    method.set_epoch(3)  # first joint epoch
    for view in ("ground", "aerial"):
        for a, b in zip(method.joint[view].parameters(), method.ts_ga[view].parameters(),
                        strict=True):
            assert torch.equal(a, b) and a is not b
    with torch.no_grad():
        method.ts_ga["ground"].fc.weight.add_(1.0)
    method.set_epoch(4)
    assert not torch.equal(method.joint["ground"].fc.weight, method.ts_ga["ground"].fc.weight)
    # The flag and the epoch are checkpointed: a resumed run does not copy again.
    resumed = _method()
    resumed.load_state_dict(method.state_dict())
    assert bool(resumed.joint_initialized) and resumed.stage == "joint"
    random_init = _method(joint_init="random")
    random_init.set_epoch(3)
    assert not torch.equal(random_init.joint["ground"].fc.weight,
                           random_init.ts_ga["ground"].fc.weight)


def test_rows_and_default_descriptors_follow_the_stage():
    method = _method().eval()
    expected = {0: [], 2: ["two_stream_aa", "two_stream_ga"],
                3: ["two_stream_aa", "two_stream_ga", "joint_aa", "joint_ga"], 6: list(ROWS)}
    batch = _batch()
    for epoch, rows in expected.items():
        method.set_epoch(epoch)
        assert method.retrieval_variants() == rows
        default = method.encode_ground(batch["ground"])
        name = {0: "two_stream_ga", 2: "two_stream_ga", 3: "joint_ga", 6: "fusion"}[epoch]
        method.set_epoch(6)
        with method.variant(name):
            assert torch.allclose(default, method.encode_ground(batch["ground"]))
        method.set_epoch(epoch)
        assert torch.allclose(default.norm(dim=1), torch.ones(4))
        assert default.shape == (4, 32)


def test_fusion_query_uses_the_synthesized_aerial():
    method = _method()
    method.set_epoch(6)
    ground = _batch()["ground"]
    with torch.no_grad():
        # G's BN running statistics as after training (at init, eval mode gives a flat image).
        for _ in range(30):
            method.generator(method.xfork_input(ground))
        method.eval()
        # At init the constant FC biases (0.1, 0.01) dominate the tiny FC weights (std 0.005):
        # drop them so that the comparison measures the features rather than the init.
        for fc in (method.fusion["query"], method.joint["aerial"].fc):
            fc.bias.zero_()
        query = method.encode_ground(ground)
        # Independently: FC(concat(f_g, f_a'(G(I_g)))) with the joint streams, L2-normalised.
        f_g, f_s, _ = method.joint_streams()
        synth = method.synthesize(ground).flip(1) * 255 - torch.tensor(
            [103.939, 116.779, 123.68]).view(1, 3, 1, 1)
        x = ground.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
        want = F.normalize(method.fusion["query"](torch.cat([f_g(x), f_s(synth)], 1)), dim=1)
        assert torch.allclose(query, want, atol=1e-5)
        with method.variant("joint_ga"):
            joint_query = method.encode_ground(ground)
        last = method.generator.image_head[1][1]  # ConvT 64 -> 3 of the image head
        last.weight.copy_(torch.randn_like(last.weight))  # a clearly different I_a'
        assert (method.encode_ground(ground) - query).abs().max() > 1e-3
        with method.variant("joint_ga"):  # control: the ground-only row does not change
            assert torch.equal(method.encode_ground(ground), joint_query)


def test_frozen_generator_runs_in_eval_mode_during_matching():
    method = _method()
    ground = _batch()["ground"]
    with torch.no_grad():
        for _ in range(5):  # some BN statistics, so that eval and train mode differ
            method.generator(method.xfork_input(ground))
    method.train()
    method.set_epoch(3)
    with torch.no_grad():
        first = method._frozen_synthesis(ground)
        second = method._frozen_synthesis(ground)  # no decoder dropout: identical
        assert method.generator.training  # the trainer's mode is restored
        method.generator.eval()
        want = method.synthesize(ground).flip(1) * 255 - method.bgr_mean
    assert torch.equal(first, second) and torch.allclose(first, want)


def test_check_training_data_says_whether_segmentation_is_used(caplog, tmp_path):
    method = _method()
    pairs = [Pair("g0", tmp_path / "g0.png", "train", (0,))]
    refs = [Reference("t0", tmp_path / "t0.png")]
    table = PairTable("cvusa", tmp_path, pairs, refs)
    with caplog.at_level(logging.WARNING, logger="crossview.methods.regmi_shah"):
        method.check_training_data(table)
    assert "segmentation head's weight is 0" in caplog.text
    caplog.clear()
    refs = [Reference("t0", tmp_path / "t0.png", extras={"semantics": tmp_path / "s.png"})]
    with caplog.at_level(logging.INFO, logger="crossview.methods.regmi_shah"):
        method.check_training_data(PairTable("cvusa", tmp_path, pairs, refs))
    assert "weight is 0" not in caplog.text and "targets found" in caplog.text


def test_synthesis_outputs_and_sample_grid():
    method = _method().eval()
    batch = _batch(3, semantics=True)
    with torch.no_grad():
        outputs = method.synthesize_outputs(batch["ground"])
        image, seg = method.synthesize_with_segmentation(batch["ground"])
        grid = method.visualize(batch, 2)["samples"]
    assert set(outputs) == {"", "seg"}
    assert torch.equal(outputs[""], image) and torch.equal(outputs["seg"], seg)
    assert image.shape == seg.shape == (3, 3, 64, 64)
    assert 0 <= image.min() and image.max() <= 1
    # Rows per sample: panorama, edges, synthesized, segmentation, real aerial, target map.
    assert grid.shape == (3, 2 * 6 * 64, 256)


def test_bad_inputs_raise():
    method = _method()
    with pytest.raises(ValueError, match="ground"):
        method.encode_ground(torch.rand(1, 3, 30, 128))
    with pytest.raises(ValueError, match="aerial"):
        method.encode_aerial(torch.rand(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="phase"):
        method.training_step(_batch(), 0, "R")
    with pytest.raises(ConfigError, match="batch"):
        _method(joint_batch=1)
