"""Register the dummy test methods only while a training test runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.training.dummy import register_dummies, unregister_dummies


@pytest.fixture(autouse=True)
def _dummy_methods() -> Iterator[None]:
    register_dummies()
    yield
    unregister_dummies()
