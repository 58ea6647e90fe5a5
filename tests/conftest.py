"""Shared test fixtures. Tests run on CPU, one thread per pytest worker, without progress bars."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("CROSSVIEW_NO_PROGRESS", "1")
os.environ.setdefault("CROSSVIEW_DEVICE", "cpu")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
