"""``train.cache_images``: decoded, resized images are read from disk once and reused exactly."""

from __future__ import annotations

import pytest
import torch

from crossview.data.augment import AugmentConfig
from crossview.data.datasets import GroundDataset, PairDataset, ReferenceDataset
from crossview.data.inputs import InputSpec
from crossview.data.layouts import load_layout
from crossview.errors import InputFileError
from crossview.training import TrainConfig, Trainer
from tests.data.fixtures import make_cvusa_fixture
from tests.training.dummy import make_dummy

SPEC = InputSpec(ground_hw=(8, 32), aerial_size=16)


def _table(tmp_path):
    return load_layout("cvusa", make_cvusa_fixture(tmp_path / "cvusa", n_train=6, n_val=4))


def test_cache_serves_later_epochs_without_the_files(tmp_path):
    table = _table(tmp_path).select("train")
    cached = PairDataset(table, SPEC, None, seed=3)
    cached.cache_images()
    first = [cached[i] for i in range(len(cached))]
    for pair in table.pairs:  # a second epoch must not read the files again
        pair.ground.unlink()
    for i, sample in enumerate(first):
        again = cached[i]
        assert torch.equal(again["ground"], sample["ground"])
        assert torch.equal(again["aerial"], sample["aerial"])
    uncached = PairDataset(table, SPEC, None, seed=3)
    with pytest.raises(InputFileError, match="streetview/panos"):
        uncached[0]


def test_cached_and_uncached_values_match_before_removal(tmp_path):
    table = _table(tmp_path)
    for cls in (GroundDataset, ReferenceDataset):
        plain, cached = cls(table, SPEC), cls(table, SPEC)
        cached.cache_images()
        for i in range(len(plain)):
            cached[i]  # fill
            assert torch.equal(cached[i]["image"], plain[i]["image"])
    train = table.select("train")
    augment = AugmentConfig(rot90_prob=0.5, flip_prob=0.5)
    plain = PairDataset(train, SPEC, augment, seed=1)
    cached = PairDataset(train, SPEC, augment, seed=1)
    cached.cache_images()
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(plain)):
            a, b = plain[i], cached[i]
            assert torch.equal(a["ground"], b["ground"]) and torch.equal(a["aerial"], b["aerial"])
    clean = cached.without_augmentation()
    assert clean.augment is None and clean._pixels is cached._pixels


def test_trainer_caches_train_and_validation_images(tmp_path):
    table = _table(tmp_path)
    config = TrainConfig(epochs=2, batch_size=2, cache_images=True, eval_every=1, log_every=1)
    trainer = Trainer(make_dummy(), table.select("train"), table.select("val"), config,
                      tmp_path / "run", device="cpu")
    result = trainer.fit()
    assert result.step == 6 and result.last_metrics is not None
    ground, aerial = trainer._val_data
    assert len(ground._pixels) == 4 and len(aerial._pixels) == 4
    assert len(trainer._train_dataset._pixels) == 12  # 6 panoramas + 6 tiles
