"""Fixtures of the report tests (the Chromium checks live in ``tests/_browser.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/_browser.py (not a package)
from _browser import assert_page_ok, check_page  # noqa: E402


@pytest.fixture
def page_checker():
    """``(check_page, assert_page_ok)`` (test modules are not a package, so no imports)."""
    return check_page, assert_page_ok


@pytest.fixture
def fake_results(tmp_path: Path) -> list[dict]:
    """Two queries in ``locate --json`` form, with real image files for queries and tiles."""
    from crossview.io import save_image

    rng = np.random.default_rng(0)
    docs = []
    for q in range(2):
        query = tmp_path / f"query{q}.png"
        save_image(rng.integers(0, 255, (32, 128, 3), dtype=np.uint8), query)
        cands = []
        for r in range(5):
            tile = tmp_path / f"tile{q}{r}.png"
            save_image(
                np.full((32, 32, 3), 40 * r + 20, np.uint8)
                + rng.integers(0, 30, (32, 32, 3), dtype=np.uint8),
                tile,
            )
            cands.append(
                {
                    "rank": r + 1,
                    "tile": f"t{q}{r}",
                    "path": str(tile),
                    "lat": 40 + 3e-4 * r,
                    "lon": -105 + 2e-4 * (r % 2),
                    "utm_e": 0.0,
                    "utm_n": 0.0,
                    "utm_zone": "13N",
                    "ground_resolution_m": 1.0,
                    "score": 0.9 - 0.1 * r,
                    "distance_m": None,
                    "heading_deg": 22.5 * r,
                }
            )
        docs.append(
            {"query": str(query), "heading_deg": None, "fov_deg": 360.0, "candidates": cands}
        )
    return docs
