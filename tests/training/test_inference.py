"""Batched descriptor extraction (crossview.inference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossview.errors import ConfigError, CrossviewError
from crossview.inference import embed_aerial, embed_ground
from tests.training.dummy import MemoryPairs, MemoryViews, make_dummy


def test_batched_embedding_equals_direct_encoding_in_order():
    method = make_dummy(dropout=0.5)  # dropout must be off during embedding
    method.train()
    pairs = MemoryPairs(7)
    g = embed_ground(method, MemoryViews(pairs, "ground"), batch_size=3, device="cpu")
    a = embed_aerial(method, MemoryViews(pairs, "aerial"), batch_size=4, device="cpu")
    assert method.training, "the caller's training flag is restored"
    method.eval()
    with torch.no_grad():
        expected_g = method.encode_ground(pairs.ground).numpy()
        expected_a = method.encode_aerial(pairs.aerial).numpy()
    assert g.dtype == np.float32 and g.shape == (7, 8) and a.shape == (7, 8)
    np.testing.assert_allclose(g, expected_g, atol=1e-6)
    np.testing.assert_allclose(a, expected_a, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-5)


def test_pair_samples_are_embedded_per_view():
    method = make_dummy()
    pairs = MemoryPairs(5)
    from_pairs = embed_ground(method, pairs, batch_size=2, device="cpu")
    from_views = embed_ground(method, MemoryViews(pairs, "ground"), batch_size=5, device="cpu")
    np.testing.assert_allclose(from_pairs, from_views, atol=1e-6)


def test_non_finite_descriptors_and_bad_arguments_raise():
    method = make_dummy()
    with torch.no_grad():
        method.aerial_net.head.weight.fill_(float("nan"))
    with pytest.raises(CrossviewError, match="aerial descriptors contain NaN"):
        embed_aerial(method, MemoryViews(MemoryPairs(3), "aerial"), device="cpu")
    with pytest.raises(ConfigError, match="batch_size"):
        embed_ground(
            make_dummy(), MemoryViews(MemoryPairs(3), "ground"), batch_size=0, device="cpu"
        )
    with pytest.raises(ConfigError, match="fov_deg needs a PairTable"):
        embed_ground(make_dummy(), MemoryViews(MemoryPairs(3), "ground"), fov_deg=90, device="cpu")


class _SampleOnly(torch.utils.data.Dataset):
    """A dataset without ``read_batch``: the DataLoader's per-sample path and default collate."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict:
        return self.dataset[i]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_table_embedding_reads_whole_batches_with_the_same_result(tmp_path, num_workers):
    from crossview.data.datasets import GroundDataset, ReferenceDataset
    from crossview.data.layouts import load_layout
    from tests.data.fixtures import make_cvusa_fixture

    make_cvusa_fixture(tmp_path, n_train=4, n_val=3)
    table = load_layout("cvusa", tmp_path)
    method = make_dummy()
    spec = method.input_spec
    g = embed_ground(method, table, batch_size=3, device="cpu", num_workers=num_workers)
    a = embed_aerial(method, table, batch_size=4, device="cpu", num_workers=num_workers)
    g_ref = embed_ground(method, _SampleOnly(GroundDataset(table, spec)), 3, "cpu")
    a_ref = embed_aerial(method, _SampleOnly(ReferenceDataset(table, spec)), 4, "cpu")
    assert g.shape == (7, 8) and a.shape == (len(table.references), 8)
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(a, a_ref)
