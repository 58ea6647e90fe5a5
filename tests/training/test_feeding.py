"""Keeping a GPU fed, checked on CPU through the same code paths: persistent workers that see the
epoch, worker-count and loader defaults per device, channels-last, ``torch.compile``, warm-up in
epochs, per-dataset presets and evaluation conventions recorded beside the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from typer.testing import CliRunner

from crossview.data.layouts import load_layout
from crossview.methods import create_method
from crossview.training import TrainConfig, Trainer, feeding, load_run
from crossview.training.optim import build_scheduler
from crossview.training.steps import evaluate, resolve_preset
from tests.data.fixtures import make_cvusa_fixture


class _EpochEcho(Dataset):
    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> int:
        return self.epoch


def test_persistent_workers_see_every_epoch() -> None:
    data = feeding.EpochDataset(_EpochEcho())
    loader = DataLoader(data, batch_size=4, num_workers=2, persistent_workers=True)
    for epoch in (0, 3, 4):
        data.set_epoch(epoch)
        assert torch.cat(list(loader)).tolist() == [epoch] * 8
    assert loader._iterator is not None  # the same workers served all epochs


def test_worker_and_loader_defaults_per_device(monkeypatch) -> None:
    monkeypatch.setattr(feeding, "available_cores", lambda: 32)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert feeding.resolve_workers(None, cpu) == 0
    assert feeding.resolve_workers(None, cuda) == 16  # capped
    assert feeding.resolve_workers(None, cuda, local_world_size=4) == 7
    assert feeding.resolve_workers(3, cuda) == 3
    monkeypatch.setattr(feeding, "available_cores", lambda: 1)
    assert feeding.resolve_workers(None, cuda) == 1
    opts = feeding.loader_options(8, cuda, None, 4, True)
    assert opts == {"num_workers": 8, "pin_memory": True, "prefetch_factor": 4,
                    "persistent_workers": True}
    assert feeding.loader_options(0, cpu, None, 4, True) == {"num_workers": 0,
                                                             "pin_memory": False}
    assert feeding.use_channels_last(None, cuda) and not feeding.use_channels_last(None, cpu)


def test_warmup_epochs_become_steps() -> None:
    from crossview.methods.base import ScheduleSpec

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = build_scheduler(opt, ScheduleSpec(kind="cosine", warmup_epochs=0.5), 40, 20)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])  # 0.5 x 20 steps
    assert lrs[10] == pytest.approx(1.0) and lrs[11] < 1.0


@pytest.fixture(scope="module")
def cvusa(tmp_path_factory: pytest.TempPathFactory):
    root = make_cvusa_fixture(tmp_path_factory.mktemp("cvusa"), n_train=12, n_val=4,
                              tile_px=32, pano_hw=(16, 64))
    return load_layout("cvusa", root)


def _tiny_run(table, out: Path, **train) -> tuple[Trainer, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    method = create_method("sample4geo", "tiny")
    config = TrainConfig(epochs=2, batch_size=4, augment="sample4geo", eval_every=0, seed=3,
                         log_every=1, **train)
    trainer = Trainer(method, table.select("train"), None, config, out, device="cpu")
    trainer.fit()
    return trainer, {k: v.detach().clone() for k, v in method.state_dict().items()}


def test_worker_layout_does_not_change_training(cvusa, tmp_path: Path) -> None:
    # Augmentation is drawn from (seed, epoch, index): two persistent workers must give the
    # weights one process gives, epoch 1 included (a worker stuck at epoch 0 would not).
    _, main = _tiny_run(cvusa, tmp_path / "a", num_workers=0)
    trainer, workers = _tiny_run(cvusa, tmp_path / "b", num_workers=2, persistent_workers=True,
                                 prefetch_factor=2)
    assert trainer.epoch == 2 and trainer.step == 6
    for key, value in main.items():
        assert torch.equal(value, workers[key]), key


def test_channels_last_and_compile_keep_checkpoints(cvusa, tmp_path: Path) -> None:
    trainer, state = _tiny_run(cvusa, tmp_path / "c", channels_last=True, compile=True,
                               compile_backend="eager")
    conv = trainer.method.backbone.stem[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    loaded = load_run(tmp_path / "c", which="last")  # same names: a plain eager model loads it
    assert set(loaded.method.state_dict()) == set(state)
    for key, value in loaded.method.state_dict().items():
        assert torch.equal(value, state[key].contiguous()), key


def test_eval_conventions_are_used_recorded_and_printed(cvusa, tmp_path: Path) -> None:
    torch.manual_seed(0)
    method = create_method("sample4geo", "tiny")
    config = TrainConfig(epochs=1, batch_size=4, eval_every=1, max_steps=1,
                         eval_conventions={"recall": {"one_percent": "ceil"}})
    result = Trainer(method, cvusa.select("train"), cvusa.select("val"), config, tmp_path / "r",
                     device="cpu", data=f"cvusa:{cvusa.root}").fit()
    forward = result.last_metrics["details"]["ground_to_aerial"]
    assert forward["one_percent"] == {"rule": "ceil", "k": 1}
    scores = evaluate(tmp_path / "r", which="last")
    assert scores["conventions"]["one_percent_rule"] == "ceil"
    assert scores["conventions"]["note"] == "recall; R@1% K=ceil(N/100)=1"
    override = evaluate(tmp_path / "r", which="last",
                        conventions={"recall": {"one_percent": "floor+1"}})
    assert override["conventions"]["one_percent_rule"] == "floor+1"
    from crossview.cli import app

    out = CliRunner().invoke(app, ["eval", "--run", str(tmp_path / "r"), "--which", "last"])
    assert out.exit_code == 0, out.output
    assert "convention: recall; R@1% K=ceil(N/100)=1" in out.output


def test_paper_preset_resolves_per_dataset() -> None:
    assert resolve_preset("safa", "paper", "cvact") == "paper_cvact"
    assert resolve_preset("safa", "paper", "cvusa") == "paper"
    assert resolve_preset("cde", "paper", "cvusa") == "paper_cvusa"
    assert resolve_preset("sample4geo", "paper", "university-1652") == "paper_university1652"
    assert resolve_preset("clnet", "paper", "vigor") == "paper_vigor"
    assert resolve_preset("clnet", "paper_cvact", "cvusa") == "paper_cvact"  # explicit wins
    assert resolve_preset("clnet", "tiny", "vigor") == "tiny"
