"""A served stand-in: the non-learned pool method of tests/index over 40 panorama 'tiles'."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from crossview.index.locate import Localizer

pytest.register_assert_rewrite("tests.index.conftest")
from tests.index.conftest import PoolMethod, pano_index  # noqa: E402, F401  (fixture re-export)


@pytest.fixture
def localizer(pano_index) -> Localizer:  # noqa: F811
    index, method, _ = pano_index
    model = types.SimpleNamespace(method=method, method_name="pool", checkpoint_sha256="c" * 64)
    return Localizer(index, model)


@pytest.fixture
def pano_paths(pano_index) -> list[Path]:  # noqa: F811
    return pano_index[2]


__all__ = ["PoolMethod"]
