"""Materials, semantic classes and seasonal palettes of the synthetic world.

A cell of the scene carries a *material* (what it is made of, which fixes its colour in each
season); the semantic class written with every panorama and tile follows from the material.
"""

from __future__ import annotations

import numpy as np

# Semantic classes written to semantics/<id>.png (pixel value = class id).
SKY, BUILDING, VEGETATION, ROAD, GROUND, WATER, VEHICLE = range(7)
CLASS_NAMES = ("sky", "building", "vegetation", "road", "ground", "water", "vehicle")

# Materials (uint8 per cell).
GRASS, CROPS, SOIL, WATER_M, PAVEMENT, ASPHALT, MARKING, ROOF, FACADE, CROWN, TRUNK, HEDGE, CAR = (
    range(13))
MATERIAL_NAMES = ("grass", "crops", "soil", "water", "pavement", "asphalt", "marking", "roof",
                  "facade", "crown", "trunk", "hedge", "vehicle")

MATERIAL_CLASS = np.array([GROUND, GROUND, GROUND, WATER, ROAD, ROAD, ROAD, BUILDING, BUILDING,
                           VEGETATION, VEGETATION, VEGETATION, VEHICLE], dtype=np.uint8)

# Class colours for previews (RGB uint8).
CLASS_COLOURS = np.array([[135, 190, 235], [200, 60, 60], [40, 150, 40], [90, 90, 90],
                          [190, 160, 100], [40, 80, 200], [240, 200, 0]], dtype=np.uint8)

# Base albedo per season (rows follow the material ids above; linear RGB in [0, 1]).
# Roof, facade and vehicle rows are multiplied by per-object colours.
_SUMMER = [[0.22, 0.42, 0.15], [0.55, 0.50, 0.22], [0.50, 0.38, 0.26], [0.12, 0.22, 0.30],
           [0.55, 0.54, 0.52], [0.22, 0.22, 0.24], [0.92, 0.92, 0.88], [1.0, 1.0, 1.0],
           [1.0, 1.0, 1.0], [0.16, 0.36, 0.12], [0.30, 0.22, 0.15], [0.14, 0.30, 0.10],
           [1.0, 1.0, 1.0]]
_SPRING = [[0.32, 0.55, 0.22], [0.40, 0.45, 0.20], [0.45, 0.35, 0.25], [0.15, 0.28, 0.35],
           [0.60, 0.58, 0.55], [0.26, 0.26, 0.28], [0.90, 0.90, 0.85], [1.0, 1.0, 1.0],
           [1.0, 1.0, 1.0], [0.35, 0.60, 0.25], [0.32, 0.24, 0.16], [0.25, 0.48, 0.18],
           [1.0, 1.0, 1.0]]
_AUTUMN = [[0.42, 0.40, 0.18], [0.60, 0.45, 0.20], [0.42, 0.30, 0.20], [0.16, 0.20, 0.24],
           [0.50, 0.48, 0.44], [0.20, 0.20, 0.21], [0.85, 0.84, 0.78], [1.0, 1.0, 1.0],
           [1.0, 1.0, 1.0], [0.62, 0.30, 0.08], [0.28, 0.20, 0.14], [0.45, 0.35, 0.12],
           [1.0, 1.0, 1.0]]
_WINTER = [[0.82, 0.84, 0.88], [0.78, 0.80, 0.84], [0.70, 0.70, 0.74], [0.55, 0.62, 0.70],
           [0.62, 0.62, 0.64], [0.30, 0.30, 0.32], [0.80, 0.80, 0.80], [1.0, 1.0, 1.0],
           [1.0, 1.0, 1.0], [0.30, 0.28, 0.26], [0.22, 0.18, 0.15], [0.40, 0.38, 0.34],
           [1.0, 1.0, 1.0]]
PALETTES = {name: np.asarray(p, dtype=np.float32)
            for name, p in (("summer", _SUMMER), ("spring", _SPRING), ("autumn", _AUTUMN),
                            ("winter", _WINTER))}

AERIAL_SEASONS = ("summer", "spring")
"""Aerial tiles are captured in the growing season..."""
GROUND_SEASONS = ("autumn", "winter", "spring", "summer")
"""...ground panoramas in any season (weighted towards the others, see appearance.py)."""

ROOF_COLOURS = np.array([[0.55, 0.25, 0.20], [0.45, 0.45, 0.48], [0.30, 0.30, 0.32],
                         [0.70, 0.68, 0.62], [0.35, 0.22, 0.18], [0.60, 0.55, 0.45],
                         [0.25, 0.35, 0.40]], dtype=np.float32)
FACADE_COLOURS = np.array([[0.80, 0.75, 0.65], [0.65, 0.35, 0.25], [0.70, 0.70, 0.72],
                           [0.55, 0.50, 0.45], [0.85, 0.82, 0.70], [0.45, 0.42, 0.40],
                           [0.75, 0.60, 0.45]], dtype=np.float32)
VEHICLE_COLOURS = np.array([[0.85, 0.85, 0.85], [0.10, 0.10, 0.12], [0.60, 0.05, 0.05],
                            [0.10, 0.20, 0.50], [0.55, 0.55, 0.58], [0.80, 0.70, 0.20],
                            [0.20, 0.40, 0.25]], dtype=np.float32)
