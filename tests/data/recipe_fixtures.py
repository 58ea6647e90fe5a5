"""Datasets in the real on-disk layouts for paper-recipe tests (CVUSA with its coordinates file,
CVACT, VIGOR, University-1652), small enough for CPU runs of every paper preset."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tests.data.fixtures import (
    make_cvact_fixture,
    make_cvusa_fixture,
    make_university_fixture,
    make_vigor_fixture,
)


def write_cvusa_locations(root: Path, last_id: int, seed: int = 0) -> dict[int, tuple]:
    """``split_locations/all.csv`` as the release has it: row i = image id i, no header,
    ``sat_lat,sat_lon,ground_lat,ground_lon,<other>`` (what Sample4Geo's GPS sampling reads)."""
    rng = np.random.default_rng(seed)
    rows = {}
    (root / "split_locations").mkdir(parents=True, exist_ok=True)
    with open(root / "split_locations" / "all.csv", "w", newline="") as f:
        writer = csv.writer(f)
        for i in range(1, last_id + 3):
            lat, lon = 35 + rng.uniform(0, 5), -100 + rng.uniform(0, 5)
            rows[i] = (lat + 1e-4, lon, lat, lon)
            writer.writerow([f"{v:.7f}" for v in rows[i]] + ["0"])
    return rows


def make_paper_datasets(root: Path) -> dict[str, Path]:
    """One small dataset per layout the paper presets are for: ``{layout: root}``."""
    root = Path(root)
    cvusa = make_cvusa_fixture(root / "CVUSA", n_train=8, n_val=4, tile_px=48,
                               pano_hw=(24, 96))
    write_cvusa_locations(cvusa, 12)
    return {
        "cvusa": cvusa,
        "cvact": make_cvact_fixture(root / "CVACT", n_train=8, n_val=4, n_test_extra=2,
                                    tile_px=48, pano_hw=(48, 96)),
        "vigor": make_vigor_fixture(root / "VIGOR", panos_per_city=4, tiles_per_city=6,
                                    tile_px=48, pano_hw=(24, 48)),
        "university1652": make_university_fixture(root / "U1652", n_classes=8,
                                                  n_distractors=2, drone_per_class=2,
                                                  hw=(24, 24)),
    }
