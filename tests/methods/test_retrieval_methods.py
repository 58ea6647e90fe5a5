"""What the two-view retrieval methods share beyond the contract (tests/methods/test_contract.py):
input validation naming the view and the batch key. Parametrized over the registry."""

from __future__ import annotations

import pytest
import torch

from crossview.errors import ConfigError
from crossview.methods import create_method, get_method_class, list_methods
from crossview.methods.base import Method
from crossview.methods.retrieval import RetrievalMethod

RETRIEVAL = [m for m in list_methods() if issubclass(get_method_class(m), RetrievalMethod)]


@pytest.fixture(scope="module", params=RETRIEVAL)
def method(request: pytest.FixtureRequest) -> Method:
    torch.manual_seed(0)
    return create_method(request.param, "tiny")


def test_the_builtin_retrieval_methods_are_found():
    assert {"clnet", "safa", "sample4geo"} <= set(RETRIEVAL) and "cde" not in RETRIEVAL


def test_wrong_input_shape_names_the_view(method: Method) -> None:
    with pytest.raises(ValueError, match="ground: expected shape"):
        method.encode_ground(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="aerial: expected shape"):
        method.encode_aerial(torch.rand(1, 3, 32, 32))


def test_training_batch_missing_key_is_named(method: Method) -> None:
    spec = method.input_spec
    batch = {"ground": torch.rand(2, 3, *spec.ground_hw)}
    with pytest.raises(ConfigError, match="missing key 'aerial'"):
        method.training_step(batch, 0)


def test_polar_flag_follows_the_aerial_encoder(method: Method) -> None:
    assert method.input_spec.polar is method.uses_polar
    assert method.uses_polar is (method.name == "safa")
