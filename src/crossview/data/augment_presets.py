"""Named augmentation presets: each paper's augmentation set as AugmentConfig fields.

``train.augment: NAME`` picks one; ``{"preset": NAME, field: value}`` overrides fields of it.
Synchronised operations (``flip_prob``, ``rot90_prob``) transform both views so that the
geometry between them holds (DESIGN.md "Rotation augmentation pairs"); the photometric ones are
drawn per view (:mod:`crossview.data.photometric`).

==========================  ==================================================================
``none``                    nothing (SAFA's TF code augments nothing)
``rot90_flip``              synchronised rot90 and flip, each with probability 0.5
                            (``train.augment: true``)
``sample4geo``              Sample4Geo (CVUSA, CVACT, VIGOR): flip p 0.5 and rotation p 0.75,
                            synchronised; per view ColorJitter 0.15 (hue 0.15) with p 0.5,
                            blur or sharpen p 0.3, grid (ratio 0.5 ground, 0.4 aerial) or coarse
                            dropout p 0.3
``sample4geo_university``   Sample4Geo on University-1652: synchronised flip p 0.5; the
                            satellite image alone rotated by k*90 deg (k uniform in 0-3); per
                            view jitter, blur / sharpen and dropout as above (grid ratio 0.4)
``clnet``                   CLNet §4.3: random flip and rotation (synchronised, at Sample4Geo's
                            probabilities 0.5 / 0.75, whose settings CLNet follows) and ColorJitter
                            (0.15, p 0.5); no blur or dropout (the paper names none)
``clnet_university``        CLNet on University-1652: synchronised flip p 0.5, satellite rotation
                            as Sample4Geo, ColorJitter
``cde``                     CDE App. B: random horizontal flips of both views, p 0.5
==========================  ==================================================================

Sample4Geo's JPEG re-compression (quality 90-100, p 0.5) is not reproduced.
"""

from __future__ import annotations

from typing import Any

from crossview.errors import unknown_name_error

_JITTER = {"ground_jitter": 0.15, "aerial_jitter": 0.15, "jitter_hue": 0.15, "jitter_prob": 0.5}
_BLUR_DROPOUT = {"blur_sharpen_prob": 0.3, "dropout_prob": 0.3, "coarse_holes": (10, 25),
                 "coarse_size": (0.1, 0.2)}

AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    "rot90_flip": {"rot90_prob": 0.5, "flip_prob": 0.5},
    "sample4geo": {"flip_prob": 0.5, "rot90_prob": 0.75, **_JITTER, **_BLUR_DROPOUT,
                   "ground_grid_ratio": 0.5, "aerial_grid_ratio": 0.4},
    "sample4geo_university": {"flip_prob": 0.5, "aerial_rot90_prob": 1.0, **_JITTER,
                              **_BLUR_DROPOUT, "ground_grid_ratio": 0.4,
                              "aerial_grid_ratio": 0.4},
    "clnet": {"flip_prob": 0.5, "rot90_prob": 0.75, **_JITTER},
    "clnet_university": {"flip_prob": 0.5, "aerial_rot90_prob": 1.0, **_JITTER},
    "cde": {"flip_prob": 0.5},
}
"""Augmentation preset name -> AugmentConfig fields (see the module docstring)."""


def augment_preset(name: str) -> dict[str, Any]:
    """The AugmentConfig fields of preset ``name`` (a copy).

    Raises:
        ConfigError: Unknown name (lists the presets and a close match).

    """
    if name not in AUGMENT_PRESETS:
        raise unknown_name_error("augmentation preset (train.augment)", name,
                                 list(AUGMENT_PRESETS))
    return dict(AUGMENT_PRESETS[name])
