"""Building a method and its trainer config from a preset: override routing and the seed."""

from __future__ import annotations

import pytest
import torch

from crossview.errors import ConfigError
from crossview.training.steps import build_configs


def test_overrides_are_routed_to_method_and_train():
    method, config = build_configs(
        "safa", "tiny", {"lr": 1e-3, "train.epochs": 3, "batch_size": 8, "method.num_masks": 4}
    )
    assert method.config.lr == 1e-3 and method.config.num_masks == 4
    assert (config.epochs, config.batch_size) == (3, 8)
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        build_configs("safa", "tiny", {"train.epoch": 3})


def test_train_seed_sets_the_weight_initialisation():
    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(1234)  # whatever the global state, train.seed decides
        method, _ = build_configs("sample4geo", "tiny", {"train.seed": seed})
        return [p.detach().clone() for p in method.parameters()]

    first, again, other = weights(3), weights(3), weights(4)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
