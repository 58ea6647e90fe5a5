"""The trainer on tiny in-memory data: phases, accumulation, resume, budget, best tracking."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
import yaml
from torch.func import functional_call

from crossview.errors import ConfigError, CrossviewError
from crossview.methods.base import ScheduleSpec
from crossview.training import TrainConfig, Trainer, load_checkpoint, load_run
from crossview.training.optim import lr_factor
from crossview.training.sampling import RandomBatchSampler
from tests.training.dummy import GanLikeConfig, GanLikeMethod, MemoryPairs, make_dummy, memory_table


def _fit(method, out, n=10, **cfg):
    config = TrainConfig(**{"epochs": 1, "batch_size": 4, "log_every": 1, **cfg})
    return Trainer(
        method, None, None, config, out, device="cpu", train_dataset=MemoryPairs(n)
    ).fit()


def _batches(n, batch_size, seed=0, epoch=0):
    sampler = RandomBatchSampler(n, batch_size, seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def _params(method):
    return {k: v.detach().clone() for k, v in method.named_parameters()}


def test_two_step_run_writes_run_directory(tmp_path):
    method = make_dummy()
    before = _params(method)
    result = _fit(method, tmp_path / "run", epochs=5, max_steps=2)
    assert (result.step, result.epoch, result.stopped) == (2, 1, "max_steps")
    assert result.pairs_per_s > 0
    run = tmp_path / "run"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["method"] == "dummy" and config["train_config"]["max_steps"] == 2
    assert config["method_config"]["dim"] == 8
    assert list((run / "tb").glob("events.out.tfevents.*"))
    loaded = load_run(run, which="last")
    changed = [k for k, v in loaded.method.named_parameters() if not torch.equal(v, before[k])]
    assert changed, "two optimizer steps must change the weights"
    state = load_checkpoint(run / "checkpoints" / "last.pt").payload["state"]
    assert (state["epoch"], state["micro_in_epoch"], state["step"]) == (1, 0, 2)


def test_phases_step_in_declared_order_on_their_own_parameters(tmp_path):
    """D then G per micro-batch; with grad_accum=2, D steps before G's second micro-batch and the
    gradient G's loss leaves on D's parameters is discarded (computed independently below)."""
    torch.manual_seed(0)
    method = GanLikeMethod(GanLikeConfig())
    reference = {k: v.detach().clone() for k, v in method.named_parameters()}
    GanLikeMethod.calls.clear()
    _fit(method, tmp_path / "run", n=8, batch_size=2, grad_accum=2, max_steps=1)
    assert GanLikeMethod.calls == [("D", 0), ("G", 0), ("D", 0), ("G", 0)]

    data = MemoryPairs(8)
    b1, b2 = _batches(8, 2)[:2]

    def sim(params, idx):
        g = functional_call(
            method.ground_net,
            {k[len("ground_net.") :]: v for k, v in params.items() if k.startswith("ground_net.")},
            (data.ground[idx],),
        )
        a = functional_call(
            method.aerial_net,
            {k[len("aerial_net.") :]: v for k, v in params.items() if k.startswith("aerial_net.")},
            (data.aerial[idx],),
        )
        return (g * a).sum(dim=1).mean()

    def grads(params, idx, sign, prefix):
        p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        (sign * sim(p, idx) / 2).backward()
        return {k: p[k].grad for k in p if k.startswith(prefix)}

    p0 = dict(reference)
    d1, d2 = grads(p0, b1, 1, "aerial_net."), grads(p0, b2, 1, "aerial_net.")
    p1 = {k: (v - 0.1 * (d1[k] + d2[k]) if k in d1 else v) for k, v in p0.items()}
    g1, g2 = grads(p0, b1, -1, "ground_net."), grads(p1, b2, -1, "ground_net.")
    expected = {k: (v - 0.1 * (g1[k] + g2[k]) if k in g1 else v) for k, v in p1.items()}
    for key, value in method.named_parameters():
        assert torch.allclose(value.detach(), expected[key], atol=1e-6), key


def test_grad_accumulation_matches_larger_batch(tmp_path):
    accum = make_dummy()
    whole = make_dummy()
    _fit(accum, tmp_path / "a", batch_size=2, grad_accum=2, max_steps=1)
    _fit(whole, tmp_path / "b", batch_size=4, grad_accum=1, max_steps=1)
    assert _batches(10, 4)[0] == sum(_batches(10, 2)[:2], [])  # same four pairs
    for (key, a), (_, b) in zip(accum.named_parameters(), whole.named_parameters(), strict=False):
        assert torch.allclose(a, b, atol=1e-6), key
    assert not torch.equal(accum.ground_net.head.weight, make_dummy().ground_net.head.weight)


def test_resume_equals_uninterrupted_training(tmp_path):
    # Dropout (global RNG), Adam moments and a cosine schedule with warm-up must all resume.
    settings = dict(dropout=0.5, optimizer="adam", schedule="cosine", warmup_steps=2)
    straight = make_dummy(**settings)
    _fit(straight, tmp_path / "straight", epochs=3, max_steps=5)
    first = make_dummy(**settings)
    r1 = _fit(first, tmp_path / "split", epochs=3, max_steps=3)  # stops inside epoch 1
    assert (r1.epoch, r1.step) == (1, 3)
    resumed = make_dummy(**settings, init_seed=123)  # its init is replaced by the checkpoint
    r2 = _fit(resumed, tmp_path / "split", epochs=3, max_steps=5)
    assert r2.step == 5
    for (key, a), (_, b) in zip(
        straight.named_parameters(), resumed.named_parameters(), strict=False
    ):
        assert torch.equal(a, b), key


def test_resume_refuses_changed_settings(tmp_path):
    _fit(make_dummy(), tmp_path / "run", max_steps=1)
    with pytest.raises(ConfigError, match=r"method.lr: 0.01 -> 0.5"):
        _fit(make_dummy(lr=0.5), tmp_path / "run", max_steps=2)
    with pytest.raises(ConfigError, match=r"train.batch_size: 4 -> 2"):
        _fit(make_dummy(), tmp_path / "run", max_steps=2, batch_size=2)


class _SlowPairs(MemoryPairs):
    def __getitem__(self, i):
        time.sleep(0.02)
        return super().__getitem__(i)


def test_time_budget_stops_cleanly_after_a_step(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        Trainer, "_compute_metrics", lambda self: calls.append(self.step) or {"R@1": 5.0}
    )
    config = TrainConfig(epochs=50, batch_size=2, time_budget_min=0.1 / 60, eval_every=0)
    table = memory_table(4)
    result = Trainer(
        make_dummy(),
        None,
        table,
        config,
        tmp_path / "run",
        device="cpu",
        train_dataset=_SlowPairs(8),
    ).fit()
    assert result.stopped == "time_budget"
    assert 1 <= result.step < 50 * 4 and calls == [result.step]
    assert result.minutes >= 0.1 / 60
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt").payload["state"]
    assert state["step"] == result.step and (tmp_path / "run" / "checkpoints" / "best.pt").is_file()


def test_best_checkpoint_follows_r1_and_curves_are_written(tmp_path, monkeypatch):
    scores = iter([10.0, 30.0, 20.0])
    monkeypatch.setattr(
        Trainer, "_compute_metrics", lambda self: {"R@1": next(scores), "R@1%": 50.0}
    )
    config = TrainConfig(epochs=3, batch_size=4, eval_every=1)
    run = tmp_path / "run"
    result = Trainer(
        make_dummy(), None, memory_table(4), config, run, device="cpu", train_dataset=MemoryPairs(8)
    ).fit()
    assert result.best_metrics["R@1"] == 30.0 and result.last_metrics["R@1"] == 20.0
    best = load_checkpoint(run / "checkpoints" / "best.pt").payload["state"]
    assert (best["step"], best["epoch"]) == (4, 2)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"], r["metrics"]["R@1"]) for r in records] == [
        (1, 2, 10.0),
        (2, 4, 30.0),
        (3, 6, 20.0),
    ]
    curve = json.loads((run / "learning_curve.json").read_text())
    assert [p["R@1"] for p in curve["points"]] == [10.0, 30.0, 20.0]
    assert all(
        a["minutes"] <= b["minutes"]
        for a, b in zip(curve["points"], curve["points"][1:], strict=False)
    )
    assert (run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lr_schedules_match_hand_computed_values():
    warm_cos = lr_factor(
        ScheduleSpec(kind="cosine", warmup_steps=4, min_lr_ratio=0.1), total_steps=14
    )
    assert [warm_cos(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert warm_cos(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert warm_cos(14) == pytest.approx(0.1) and warm_cos(100) == pytest.approx(0.1)
    step = lr_factor(ScheduleSpec(kind="step", step_size=3, gamma=0.5), total_steps=10)
    assert [step(s) for s in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert lr_factor(ScheduleSpec(), 10)(7) == 1.0


def test_bad_inputs_raise_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="too few for batch_size=8 x grad_accum=2"):
        _fit(make_dummy(), tmp_path / "a", n=10, batch_size=8, grad_accum=2)
    with pytest.raises(ConfigError, match="batch_size: expected >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="not one of"):
        TrainConfig.from_dict({"sampler": "hard"})


def test_non_finite_loss_is_an_error(tmp_path):
    method = make_dummy()
    with torch.no_grad():
        method.ground_net.head.weight.fill_(float("nan"))
    with pytest.raises(CrossviewError, match="non-finite losses"):
        _fit(method, tmp_path / "run", max_steps=1)


def test_gps_then_similarity_switches_and_resumes_exactly(tmp_path, monkeypatch):
    updates = []
    from crossview.data.samplers import SimilarityNeighbourSampler

    original = SimilarityNeighbourSampler.update
    monkeypatch.setattr(
        SimilarityNeighbourSampler,
        "update",
        lambda self, g, a: updates.append(g.shape) or original(self, g, a),
    )
    table = memory_table(12, split="train")  # coordinates for the GPS sampler

    def fit(method, out, max_steps):
        config = TrainConfig(
            epochs=3,
            batch_size=4,
            sampler="gps_then_similarity",
            similarity_from_epoch=1,
            max_steps=max_steps,
            eval_every=0,
        )
        return Trainer(
            method, table, None, config, out, device="cpu", train_dataset=MemoryPairs(12)
        ).fit()

    straight = make_dummy(optimizer="adam")
    result = fit(straight, tmp_path / "straight", 7)
    assert result.step == 7 and updates == [(12, 8)]  # refreshed once, at the switch (epoch 1)
    fit(make_dummy(optimizer="adam"), tmp_path / "split", 5)  # stops inside epoch 1
    resumed = make_dummy(optimizer="adam", init_seed=7)
    fit(resumed, tmp_path / "split", 7)  # neighbour lists come from the checkpoint
    assert len(updates) == 2
    for (key, a), (_, b) in zip(
        straight.named_parameters(), resumed.named_parameters(), strict=False
    ):
        assert torch.equal(a, b), key
