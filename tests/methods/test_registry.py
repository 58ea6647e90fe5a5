"""The registry finds methods through the ``crossview.methods`` entry-point group, built-ins
included, and an out-of-tree method trains and evaluates through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

from crossview.methods import get_method_class, list_methods

REPO = Path(__file__).resolve().parents[2]


def test_every_builtin_method_is_declared_as_an_entry_point() -> None:
    """Installed wheels find methods only through entry points: none may be missing."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
        "crossview.methods"]
    builtin = {m for m in list_methods()
               if get_method_class(m).__module__.startswith("crossview.methods.")}
    assert builtin == set(declared)
    for name, module in declared.items():
        assert get_method_class(name).__module__ == module


PLUGIN = '''
"""A method that lives outside crossview: one file, found through its entry point."""
import dataclasses

import torch
from torch import nn

from crossview.methods import Method, MethodConfig, OptimizerSpec, register_method
from crossview.methods.base import l2_normalize


@dataclasses.dataclass
class PoolConfig(MethodConfig):
    dim: int = 16


@register_method("oot_pool", presets={
    "tiny": {"doc": "out-of-tree test method",
             "method": {"ground_hw": [16, 64], "aerial_size": 32, "dim": 16},
             "train": {"epochs": 1, "batch_size": 4, "eval_every": 1}}})
class PoolMethod(Method):
    config_class = PoolConfig

    def __init__(self, config):
        super().__init__(config)
        self.ground = nn.Linear(3 * 4 * 4, config.dim)
        self.aerial = nn.Linear(3 * 4 * 4, config.dim)

    @property
    def descriptor_dim(self):
        return self.config.dim

    def _pool(self, x):
        return nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)

    def encode_ground(self, ground):
        return l2_normalize(self.ground(self._pool(ground)))

    def encode_aerial(self, aerial):
        return l2_normalize(self.aerial(self._pool(aerial)))

    def optimizers(self):
        return {"main": OptimizerSpec(list(self.parameters()), kind="sgd", lr=0.1)}

    def training_step(self, batch, step, phase="main"):
        g, a = self.encode_ground(batch["ground"]), self.encode_aerial(batch["aerial"])
        loss = (1 - (g * a).sum(1)).mean()
        return {"total": loss}
'''


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """An installed distribution (package + dist-info with the entry point), as pip writes it."""
    site = tmp_path / "site"
    (site / "oot_method").mkdir(parents=True)
    (site / "oot_method" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "oot_method-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: oot-method\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[crossview.methods]\noot_pool = oot_method\n")
    (dist / "RECORD").write_text("")
    return site


def _crossview(args: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "CROSSVIEW_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "crossview", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_out_of_tree_method_trains_and_evaluates_through_the_cli(plugin_site: Path,
                                                                  tmp_path: Path) -> None:
    from tests.data.fixtures import make_cvusa_fixture

    data = make_cvusa_fixture(tmp_path / "cvusa", n_train=8, n_val=4)
    listed = _crossview(["methods"], plugin_site)
    assert listed.returncode == 0, listed.stderr
    assert "oot_pool" in listed.stdout and "out-of-tree test method" in listed.stdout
    run = tmp_path / "run"
    trained = _crossview(["train", "--method", "oot_pool", "--data", f"cvusa:{data}",
                          "--out", str(run), "train.max_steps=2"], plugin_site)
    assert trained.returncode == 0, trained.stderr
    assert (run / "checkpoints" / "last.pt").is_file()
    scores = _crossview(["eval", "--run", str(run), "--which", "last", "--json",
                         str(tmp_path / "r.json")], plugin_site)
    assert scores.returncode == 0, scores.stderr
    assert '"method": "oot_pool"' in (tmp_path / "r.json").read_text()
    # Without the plugin on the path the method is unknown, in one line.
    missing = _crossview(["train", "--method", "oot_pool", "--data", f"cvusa:{data}",
                          "--out", str(tmp_path / "run2")], tmp_path / "nowhere")
    assert missing.returncode == 2 and "unknown method 'oot_pool'" in missing.stderr


def test_a_broken_plugin_is_reported_when_asked_for(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[crossview.methods]\nbroken = no_such_module\n")
    ok = _crossview(["methods"], site)
    assert ok.returncode == 0 and "safa" in ok.stdout  # other methods are unaffected
    bad = _crossview(["train", "--method", "broken", "--data", "cvusa:/nowhere",
                      "--out", str(tmp_path / "r")], site)
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 2 and len(lines) == 1
    assert "broken" in lines[0] and "failed to import" in lines[0]
