"""The valid inputs the bad-input cases start from (built once, in a few seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import Fixtures


def build_fixtures(root: Path) -> Fixtures:
    """A 8-pair world, untrained safa/cde tiny runs and the world's index, under ``root``."""
    from crossview.index.build import build_index
    from crossview.methods.registry import create_method
    from crossview.training.checkpoint import save_checkpoint
    from crossview.world.make import make_world

    world = make_world(root / "world", "cvusa", pairs=8, seed=0, tile_px=64, pano_hw=(32, 128),
                       region_m=400.0)
    save_checkpoint(root / "run" / "checkpoints" / "last.pt", create_method("safa", "tiny"))
    save_checkpoint(root / "synth" / "checkpoints" / "last.pt", create_method("cde", "tiny"))
    build_index(root / "run", str(world), str(root / "index"), batch_size=8)
    return Fixtures(world=Path(world), run=root / "run", index=root / "index",
                    synth_run=root / "synth")


def upload_client(fx: Fixtures) -> Any:
    """A Starlette test client of ``crossview serve`` over the fixtures' index (a context)."""
    from starlette.testclient import TestClient

    from crossview.index.locate import Localizer
    from crossview.serve import ServeConfig, create_app

    return TestClient(create_app(Localizer.from_index(str(fx.index)), ServeConfig()))
