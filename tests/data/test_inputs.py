"""The one input path: what each command feeds a model, and the function's own behaviour.

The cross-command test trains, evaluates, embeds, indexes, locates and synthesizes with a
recording method, and checks that one panorama and one tile reach the model as the same tensor,
bit for bit, in every command (training without augmentation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torch import Tensor

from crossview.data.inputs import (
    IMAGENET_MEAN,
    InputSpec,
    aerial_pixels,
    ground_pixels,
    model_input,
    pad_to_panorama,
)
from crossview.data.layouts import load_layout
from crossview.errors import ConfigError, InputFileError
from crossview.methods.base import MethodConfig, OptimizerSpec
from crossview.methods.registry import _METHODS, register_method
from tests.training.dummy import DummyMethod

SPEC_HW, SPEC_S = (16, 64), 32


# --- the function itself ------------------------------------------------------------------------
def test_ground_band_crop_resize_and_fov_padding(tmp_path: Path) -> None:
    rows = np.repeat(np.arange(64, dtype=np.uint8)[:, None] * 4, 128, axis=1)
    pano = np.stack([rows] * 3, axis=2)  # 64 x 128, brightness grows downwards
    path = tmp_path / "p.png"
    Image.fromarray(pano).save(path)
    spec = InputSpec((8, 32), 16, ground_vfov_deg=90.0, mean=(0.1, 0.2, 0.3))
    # A 180-degree panorama keeps its middle half (rows 16-47) before the 4x area resize.
    got = ground_pixels(path, spec, source_vfov_deg=180.0)
    want = np.array(Image.fromarray(pano[16:48]).resize((32, 8), Image.Resampling.BOX))
    assert np.array_equal(got, want.transpose(2, 0, 1))
    # A 90-degree view: 8 of 32 columns, centred on column 16, the rest the method's mean.
    view = model_input(path, spec, "ground", fov_deg=90.0, band_crop=False)
    assert view.shape == (3, 8, 32)
    pad = torch.tensor(spec.pad_rgb).view(3, 1, 1)
    assert torch.equal(view[..., :12], pad.expand(3, 8, 12))
    assert torch.equal(view[..., 20:], pad.expand(3, 8, 12))
    inner = torch.from_numpy(ground_pixels(path, spec, fov_deg=90.0, band_crop=False)) / 255.0
    assert torch.equal(view[..., 12:20], inner)


def test_pad_to_panorama_and_its_errors() -> None:
    view = torch.ones(2, 3, 4, 6)
    out = pad_to_panorama(view, 10, IMAGENET_MEAN)
    assert out.shape == (2, 3, 4, 10) and torch.equal(out[..., 2:8], view)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(IMAGENET_MEAN))
    assert pad_to_panorama(view, 6, IMAGENET_MEAN) is view
    with pytest.raises(ConfigError, match="more than 4"):
        pad_to_panorama(view, 4, IMAGENET_MEAN)


def test_bad_images_are_named(tmp_path: Path) -> None:
    spec = InputSpec((8, 32), 16)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(InputFileError, match="wide.png: aerial tile must be square, got 30x20"):
        aerial_pixels(tmp_path / "wide.png", spec)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(InputFileError, match="broken.jpg: cannot decode"):
        model_input(tmp_path / "broken.jpg", spec, "ground")
    with pytest.raises(InputFileError, match="missing.png: file not found"):
        model_input(tmp_path / "missing.png", spec, "aerial")
    with pytest.raises(ConfigError, match="view"):
        model_input(tmp_path / "wide.png", spec, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown InputSpec extra"):
        InputSpec((8, 32), 16, extras=("skies",))


# --- every command feeds the model the same pixels ----------------------------------------------
@dataclasses.dataclass
class RecorderConfig(MethodConfig):
    """A dummy method that records what it is fed."""

    ground_hw: tuple[int, int] = SPEC_HW
    aerial_size: int = SPEC_S
    width: int = 4
    dim: int = 8
    dropout: float = 0.0


class Recorder(DummyMethod):
    """Records every ground and aerial image it encodes, trains on or synthesizes from."""

    config_class = RecorderConfig
    seen: list[tuple[str, str, Tensor]] = []
    command = "?"

    def encode_ground(self, ground: Tensor) -> Tensor:
        type(self).seen.extend((self.command, "ground", g.clone()) for g in ground)
        return super().encode_ground(ground)

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        type(self).seen.extend((self.command, "aerial", a.clone()) for a in aerial)
        return super().encode_aerial(aerial)

    def synthesize(self, source: Tensor) -> Tensor:
        type(self).seen.extend((self.command, "aerial", a.clone()) for a in source)
        return torch.zeros(source.shape[0], 3, *self.config.ground_hw)

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {"main": OptimizerSpec(list(self.parameters()), kind="sgd", lr=1e-3)}

    def training_step(self, batch: dict[str, Any], step: int, phase: str = "main"
                      ) -> dict[str, Tensor]:
        for view in ("ground", "aerial"):
            type(self).seen.extend(("train", view, x.clone()) for x in batch[view])
        was, type(self).command = type(self).command, "train-forward"
        try:
            return super().training_step(batch, step, phase)
        finally:
            type(self).command = was


@pytest.fixture
def recorder() -> Iterator[type[Recorder]]:
    register_method("recorder", {"tiny": {"method": {}, "train": {}}})(Recorder)
    Recorder.seen = []
    yield Recorder
    _METHODS.pop("recorder", None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crossview.world import make_world

    return Path(make_world(tmp_path_factory.mktemp("world"), "cvusa", pairs=8, seed=3,
                           tile_px=64, tile_m=40.0, region_m=300.0, pano_hw=(32, 128),
                           val_fraction=0.25))


def _run(command: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    Recorder.command = command
    try:
        return fn(*args, **kwargs)
    finally:
        Recorder.command = "?"


def test_every_command_feeds_the_same_tensor(recorder: type[Recorder], world: Path,
                                             tmp_path: Path) -> None:
    from crossview.index.build import build_index
    from crossview.index.locate import Localizer
    from crossview.inference import synthesize_files
    from crossview.training.steps import embed, evaluate, train

    table = load_layout("cvusa", world)
    val = table.select("val")
    pair = val.pairs[0]
    tile = val.references[pair.positive].path
    spec = InputSpec(SPEC_HW, SPEC_S)
    ground_ref = model_input(pair.ground, spec, "ground", source_vfov_deg=90.0)
    aerial_ref = model_input(tile, spec, "aerial")
    run = tmp_path / "run"
    # One epoch of the 6 training pairs (no augmentation in this preset), then each command.
    _run("train", train, "recorder", f"cvusa:{world}", run, "tiny",
         {"train.max_steps": 3, "train.batch_size": 2, "train.epochs": 1,
          "train.embed_batch_size": 4})
    _run("eval", evaluate, run, split="val", which="last", batch_size=3)
    _run("embed", embed, run, tmp_path / "d.parquet", split="val", which="last")
    _run("index", build_index, run, f"cvusa:{world}", str(tmp_path / "idx"), batch_size=3,
         which="last")
    localizer = Localizer.from_index(str(tmp_path / "idx"), run, which="last")
    _run("locate", localizer.locate, [pair.ground], heading=0.0, vfov_deg=90.0)
    _run("synthesize", synthesize_files, localizer.model.method, [tile], tmp_path / "syn")

    def matches(command: str, view: str, want: Tensor) -> int:
        return sum(torch.equal(x, want) for c, v, x in Recorder.seen if c == command and v == view)

    for command in ("train", "eval", "embed", "locate"):  # "train": the trainer's evaluation
        assert matches(command, "ground", ground_ref) == 1, command
    for command in ("eval", "embed", "index", "synthesize"):
        assert matches(command, "aerial", aerial_ref) == 1, command
    # The trainer scores its validation tiles twice: descriptors, and synthesis (the recorder
    # synthesizes too).
    assert matches("train", "aerial", aerial_ref) == 2
    train_table = table.select("train")
    for train_pair in train_table.pairs:  # every training batch row, bit for bit
        ref = train_table.references[train_pair.positive].path
        assert matches("train", "ground", model_input(train_pair.ground, spec, "ground",
                                                      source_vfov_deg=90.0)) == 1
        assert matches("train", "aerial", model_input(ref, spec, "aerial")) == 1


def test_embed_and_locate_heading_zero_give_the_same_descriptor(world: Path, tmp_path: Path
                                                                ) -> None:
    """``locate --heading 0`` scores each tile with the descriptors ``embed`` writes."""
    from crossview.index.build import build_index
    from crossview.index.locate import Localizer
    from crossview.methods import create_method
    from crossview.training.checkpoint import save_checkpoint
    from crossview.training.steps import embed

    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, create_method("sample4geo", "tiny"), config_dict={
        "data": {"layout": "cvusa", "root": str(world), "options": {}}})
    embed(ckpt, tmp_path / "d.parquet")
    rows = pq.read_table(tmp_path / "d.parquet").to_pylist()
    pair = load_layout("cvusa", world).select("val").pairs[0]
    g = np.array(next(r["descriptor"] for r in rows if r["view"] == "ground"
                      and r["id"] == pair.id), dtype=np.float64)
    tiles = {r["id"]: np.array(r["descriptor"], dtype=np.float64) for r in rows
             if r["view"] == "aerial"}
    build_index(ckpt, f"cvusa:{world}", str(tmp_path / "idx"))
    [result] = Localizer.from_index(str(tmp_path / "idx"), ckpt).locate(
        [pair.ground], top_k=8, heading=0.0, vfov_deg=90.0)
    assert len(result.candidates) == 8
    for cand in result.candidates:
        assert cand.score == pytest.approx(float(tiles[cand.tile_id] @ g), abs=1e-6)
