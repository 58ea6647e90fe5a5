"""Every paper recipe of docs/reproduce.md starts on its dataset's real layout.

Each (method, dataset) of the guide runs ``crossview.train`` exactly as the guide's command does
(``--preset paper``, resolved per dataset), on a small dataset in the official layout (CVUSA with
its coordinates file, CVACT, VIGOR, University-1652), with the preset's smoke sizes (random init),
a batch of 4 and 2 steps, then the evaluation with the paper's convention. So no paper path
(pretrained check aside: smoke runs start from random init) can crash at start: samplers,
augmentation presets, vertical crops, warm-up in epochs, evaluation split and protocol options
all run. Sat2Density's presets are exercised by the method contract test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crossview.methods import get_preset
from crossview.training.steps import resolve_preset, train
from tests.data.recipe_fixtures import make_paper_datasets

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "reproduce.md"
RUNS = [("safa", "cvusa"), ("safa", "cvact"), ("cde", "cvusa"), ("cde", "cvact"),
        ("sample4geo", "cvusa"), ("sample4geo", "cvact"), ("sample4geo", "vigor"),
        ("sample4geo", "university1652"), ("clnet", "cvusa"), ("clnet", "cvact"),
        ("clnet", "vigor"), ("clnet", "university1652")]
"""Method x dataset of the reproduce guide."""


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_paper_datasets(tmp_path_factory.mktemp("paper_data"))


def test_guide_lists_exactly_these_runs() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    found = set(re.findall(r"crossview train --method (\w+) --data (\w+):", text))
    assert found == set(RUNS)


@pytest.mark.parametrize(("name", "layout"), RUNS, ids=[f"{m}-{d}" for m, d in RUNS])
def test_paper_recipe_runs_on_its_layout(name: str, layout: str, datasets, tmp_path: Path
                                         ) -> None:
    preset = resolve_preset(name, "paper", layout)
    recipe = get_preset(name, preset)
    overrides = {f"method.{k}": v for k, v in recipe.smoke.items()}
    overrides.update({"train.batch_size": 4, "train.max_steps": 2, "train.embed_batch_size": 8,
                      "train.num_workers": 0})
    result = train(name, f"{layout}:{datasets[layout]}", tmp_path / "run", "paper", overrides)
    assert result.step == 2 and result.stopped == "max_steps"
    metrics = result.last_metrics
    assert metrics is not None and "R@1" in metrics
    protocol = metrics["protocol"]
    assert metrics["convention"] == recipe.train["eval_conventions"].get(protocol, {})
    import yaml

    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert recorded["preset"] == preset
