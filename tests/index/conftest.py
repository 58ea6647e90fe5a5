"""A tiny non-learned stand-in method and a filled index for the locate tests.

The stand-in is *not* registered (so registry-wide tests elsewhere never see it): ``locate``
only needs ``name``, ``input_spec`` and the encoders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossview.data.inputs import InputSpec
from crossview.index.geoindex import GeoIndex
from crossview.io import load_image_tensor, save_image

HW = (16, 64)


class PoolMethod(torch.nn.Module):
    """Descriptor = centred, L2-normalised 2x16 average pool: not rotation-invariant."""

    name = "pool"

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(ground_hw=HW, aerial_size=16)

    @property
    def descriptor_dim(self) -> int:
        return 3 * 2 * 16

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        d = F.adaptive_avg_pool2d(x, (2, 16)).flatten(1)
        # Centre on the pad colour, so the unseen part of a limited-FOV query adds nothing.
        d = d - torch.tensor(self.input_spec.pad_rgb).repeat_interleave(32).to(d)
        return F.normalize(d, dim=1)

    def encode_ground(self, ground: torch.Tensor) -> torch.Tensor:
        assert ground.shape[-2:] == HW
        return self._pool(ground)

    def encode_aerial(self, aerial: torch.Tensor) -> torch.Tensor:
        return self._pool(F.interpolate(aerial, size=HW, mode="bilinear", align_corners=False))


def smooth_panorama(rng: np.random.Generator) -> np.ndarray:
    """A random, horizontally varied (16, 64, 3) uint8 panorama."""
    coarse = torch.from_numpy(rng.uniform(0, 1, (1, 3, 4, 16)).astype(np.float32))
    fine = F.interpolate(coarse, size=HW, mode="bilinear", align_corners=False)[0]
    return (fine.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture
def pano_index(tmp_path: Path) -> tuple[GeoIndex, PoolMethod, list[Path]]:
    """An index whose 40 'tiles' carry descriptors of 40 north-aligned panoramas."""
    rng = np.random.default_rng(7)
    method = PoolMethod()
    paths = []
    for i in range(40):
        path = tmp_path / "panos" / f"p{i:02d}.png"
        save_image(smooth_panorama(rng), path)
        paths.append(path)
    desc = method.encode_ground(torch.stack([load_image_tensor(p) for p in paths])).numpy()
    index = GeoIndex.create(str(tmp_path / "idx"), "pool", "c" * 64, method.descriptor_dim)
    n = len(paths)
    index.add(
        {
            "tile_id": [p.stem for p in paths],
            "path": [str(p) for p in paths],
            "lat": list(40 + 0.001 * np.arange(n)),
            "lon": list(-105 + 0.001 * np.arange(n)),
            "utm_e": list(500000 + 100.0 * np.arange(n)),
            "utm_n": list(4400000 + 100.0 * np.arange(n)),
            "utm_zone": ["13N"] * n,
            "ground_resolution_m": [1.0] * n,
        },
        desc,
    )
    return index, method, paths


@pytest.fixture
def pool_method() -> PoolMethod:
    """The stand-in method (as a fixture: test modules are not a package)."""
    return PoolMethod()
