"""Contract tests parametrized over the retrieval methods of the registry (STYLE.md §11a)."""

from __future__ import annotations

import pytest
import torch

from crossview.methods import create_method, list_methods
from crossview.methods.base import Method
from crossview.methods.retrieval import RetrievalMethod

RETRIEVAL = ["clnet", "safa", "sample4geo"]


@pytest.fixture(scope="module", params=RETRIEVAL)
def method(request: pytest.FixtureRequest) -> Method:
    torch.manual_seed(0)
    return create_method(request.param, "tiny")


def _batch(method: Method, b: int = 4) -> dict:
    spec = method.input_spec
    utm = torch.tensor([[500000.0 + 100 * i, 4e6] for i in range(b)], dtype=torch.float64)
    return {
        "ground": torch.rand(b, 3, *spec.ground_hw),
        "aerial": torch.rand(b, 3, spec.aerial_size, spec.aerial_size),
        "utm": utm,
        "index": torch.arange(b),
        "id": [f"s{i}" for i in range(b)],
    }


def test_registered() -> None:
    assert set(RETRIEVAL) <= set(list_methods())
    assert list_methods("saf*") == ["safa"]
    assert {"safa", "sample4geo"} <= set(list_methods("sa*"))


def test_descriptors_shape_norm_finite(method: Method) -> None:
    batch = _batch(method, 3)
    method.eval()
    with torch.no_grad():
        g = method.encode_ground(batch["ground"])
        a = method.encode_aerial(batch["aerial"])
    for d in (g, a):
        assert d.shape == (3, method.descriptor_dim) and d.dtype == torch.float32
        assert torch.isfinite(d).all()
        torch.testing.assert_close(d.norm(dim=1), torch.ones(3))


def test_input_spec(method: Method) -> None:
    spec = method.input_spec
    assert spec.ground_hw == (32, 128) and spec.aerial_size == 64
    assert spec.polar is (method.name == "safa")


def test_every_parameter_gets_a_gradient(method: Method) -> None:
    method.train()
    method.zero_grad(set_to_none=True)
    losses = method.training_step(_batch(method), step=0)
    assert "total" in losses and losses["total"].ndim == 0 and torch.isfinite(losses["total"])
    losses["total"].backward()
    params = dict(method.named_parameters())
    no_grad = [n for n, p in params.items() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    # timm zero-initialises the last BN of each residual block, so the convs before it get an
    # exactly-zero gradient at step 0; everything else must receive a non-zero one.
    zero = [n for n, p in params.items() if not p.grad.abs().sum() > 0]
    assert all(".layer" in n and ("conv" in n or ".bn1." in n) for n in zero), zero[:5]


def test_optimizer_declared_over_all_parameters(method: Method) -> None:
    specs = method.optimizers()
    assert [p.optimizer for p in method.phases()] == ["main"] and set(specs) == {"main"}
    declared = {id(p) for p in specs["main"].params}
    assert declared == {id(p) for p in method.parameters()}
    assert len(declared) == len(specs["main"].params)  # no parameter twice (shared backbones)


def test_wrong_input_shape_names_the_view(method: Method) -> None:
    with pytest.raises(ValueError, match="ground: expected shape"):
        method.encode_ground(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="aerial: expected shape"):
        method.encode_aerial(torch.rand(1, 3, 32, 32))


def test_two_training_steps_update_weights(method: Method) -> None:
    """A 2-step run with the declared optimizer: finite losses, parameters move."""
    spec = method.optimizers()["main"]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[spec.kind]
    opt = cls(spec.params, lr=spec.lr, betas=spec.betas, weight_decay=spec.weight_decay)
    before = [p.detach().clone() for p in spec.params]
    method.train()
    batch = _batch(method, 6)
    for step in range(2):
        method.set_epoch(step)
        opt.zero_grad(set_to_none=True)
        loss = method.training_step(batch, step)["total"]
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    moved = sum(not torch.equal(b, p.detach()) for b, p in zip(before, spec.params, strict=True))
    assert moved == len(before)


def test_training_batch_missing_key(method: Method) -> None:
    batch = _batch(method)
    del batch["aerial"]
    with pytest.raises(Exception, match="missing key 'aerial'"):
        method.training_step(batch, 0)


def test_is_retrieval_method(method: Method) -> None:
    assert isinstance(method, RetrievalMethod) and not method.can_synthesize
