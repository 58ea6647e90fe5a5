"""Shared fixtures of the terrain tests: the real RMNP DEM and its Landsat texture."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dem_dir() -> Path:
    """``../shared/data/dem`` next to the repository (CI's layout), or next to an ancestor.

    A git worktree may sit one level deeper than the main checkout, so the ancestors of the
    repository are tried in turn; the data are required, so a miss fails (never skips).
    """
    for base in REPO.parents:
        folder = base / "shared" / "data" / "dem"
        if (folder / "rmnp-dem.tif").is_file():
            return folder
    pytest.fail(f"RMNP test data not found: expected {REPO.parent / 'shared/data/dem'} "
                f"(rmnp-dem.tif, rmnp-rgb.tif)")


@pytest.fixture(scope="session")
def dem_dir() -> Path:
    return shared_dem_dir()


@pytest.fixture(scope="session")
def rmnp(dem_dir):
    from crossview.dem import load_dem

    return load_dem(dem_dir / "rmnp-dem.tif")


@pytest.fixture(scope="session")
def rmnp_rgb(dem_dir, rmnp):
    from crossview.dem import load_texture

    return load_texture(dem_dir / "rmnp-rgb.tif", rmnp)
