"""``Method.synthesize_outputs``: ``synthesize_files`` writes the view and its named by-products."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

from crossview.errors import CrossviewError
from crossview.inference import synthesize_files
from crossview.io import load_image_tensor
from crossview.methods.base import Method, MethodConfig


class _Painter(Method):
    """Tiles -> 8x16 'panoramas': the tile's mean colour; a by-product map of its red channel."""

    name = "painter"

    def __init__(self, extra: dict | None = None) -> None:
        super().__init__(MethodConfig(ground_hw=(8, 16), aerial_size=8))
        self.extra = extra

    def synthesize(self, source: Tensor) -> Tensor:
        return source.mean(dim=(2, 3), keepdim=True).expand(-1, 3, 8, 16)

    def synthesize_outputs(self, source: Tensor) -> dict[str, Tensor]:
        if self.extra is not None:
            return {"": self.synthesize(source), **self.extra}
        return {"": self.synthesize(source), "red": source[:, :1]}


class _Plain(_Painter):
    synthesize_outputs = Method.synthesize_outputs  # the base class default


def _tiles(tmp_path, n=3):
    paths = []
    for i in range(n):
        arr = np.full((8, 8, 3), 40 * (i + 1), dtype=np.uint8)
        arr[..., 0] = 200 - 30 * i
        Image.fromarray(arr).save(tmp_path / f"t{i}.png")
        paths.append(tmp_path / f"t{i}.png")
    return paths


def test_by_products_are_written_beside_each_view(tmp_path):
    tiles = _tiles(tmp_path)
    written = synthesize_files(_Painter(), tiles, tmp_path / "out", batch_size=2, device="cpu")
    names = sorted(p.name for p in written)
    assert names == ["t0.png", "t0_red.png", "t1.png", "t1_red.png", "t2.png", "t2_red.png"]
    for i, tile in enumerate(tiles):
        source = load_image_tensor(tile)
        view = load_image_tensor(tmp_path / "out" / f"t{i}.png")
        assert view.shape == (3, 8, 16)
        assert torch.allclose(view, source.mean(dim=(1, 2), keepdim=True).expand(3, 8, 16),
                              atol=1 / 255 + 1e-6)
        red = np.asarray(Image.open(tmp_path / "out" / f"t{i}_red.png"))
        assert red.shape == (8, 8) and (red == 200 - 30 * i).all()  # 1 channel -> grey png


def test_default_writes_the_view_only(tmp_path):
    written = synthesize_files(_Plain(), _tiles(tmp_path, 2), tmp_path / "out", device="cpu")
    assert sorted(p.name for p in written) == ["t0.png", "t1.png"]


@pytest.mark.parametrize(("extra", "match"), [
    ({"a/b": torch.zeros(1, 3, 8, 8)}, "file-name-safe"),
    ({"seg": torch.zeros(1, 2, 8, 8)}, "1|3, H, W"),
    ({"seg": torch.zeros(3, 8, 8)}, "1|3, H, W"),
])
def test_bad_by_products_raise(tmp_path, extra, match):
    with pytest.raises(CrossviewError, match=match):
        synthesize_files(_Painter(extra), _tiles(tmp_path, 1), tmp_path / "out", device="cpu")
