"""``crossview demo``: world -> train -> eval -> index -> locate -> ``report.html``, resumable.

A pipeline of the same steps the CLI commands call (STYLE.md §8): ``world make``
(:func:`crossview.world.make_world`), ``train`` (:func:`crossview.train`), ``eval``
(:func:`crossview.evaluate`), ``index build`` (:func:`crossview.build_index`) and ``locate``
(:class:`crossview.Localizer`). Each demo step skips its work when its output already exists, so an
interrupted demo continues where it stopped (training itself resumes from ``last.pt``). The
held-out panoramas are localized twice, with their true heading given and with the heading
unknown (``locate`` searches it, as for a photo without a compass); the report shows both rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from crossview.errors import ConfigError, CrossviewError
from crossview.io import write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

DEFAULT_METHOD = "sample4geo"
"""Shared-backbone InfoNCE learns fastest from random init on CPU among the tiny presets."""


@dataclasses.dataclass
class DemoConfig:
    """What the demo runs."""

    out: Path = Path("demo_out")
    """Output folder (world, run, index, report)."""
    method: str = DEFAULT_METHOD
    """Registered method trained with its ``tiny`` preset."""
    minutes: float = 7.5
    """Training time budget (wall clock): a cap; on 2 idle CPU cores the 80 epochs take ~4 min."""
    seed: int = 0
    """World and training seed."""
    pairs: int = 2000
    """Panoramas in the synthetic region (80 % train, 20 % held out)."""
    world_options: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {
            "tile_px": 128,
            "pano_hw": (64, 256),
            "region_m": 800.0,
            "cities": ("NewYork",),
        }
    )
    """Extra ``make_world`` size options. One dense "city" (167 tiles of 100 m, 50 %
    overlap, several panoramas per tile): the same-area split, where every held-out panorama's
    tile was seen in training, as in VIGOR's same-area protocol."""
    max_steps: int | None = None
    """Cap on training steps (smoke mode)."""
    epochs: int | None = 80
    """Training epochs (1,880 steps of 64 pairs; about 4 minutes on 2 idle CPU cores, the time
    budget stops it earlier on a slower or loaded machine).
    From random initialisation the tiny model plateaus near chance for ~800 steps on this region,
    then R@1 climbs to ~35 %; ``None`` keeps the preset's 60 epochs."""
    eval_every: int = 5
    """Epochs between evaluations of the learning curve (each one embeds the held-out split)."""
    max_queries: int = 100
    """Held-out panoramas localized for the report statistics."""
    top_k: int = 5
    """Candidates per query."""

    def __post_init__(self) -> None:
        checks = {
            "minutes": self.minutes > 0,
            "pairs": self.pairs >= 10,
            "eval_every": self.eval_every >= 0,
            "max_queries": self.max_queries >= 1,
            "top_k": self.top_k >= 1,
            "epochs": self.epochs is None or self.epochs >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"demo {name}: invalid value {getattr(self, name)!r}")

    @classmethod
    def smoke(cls, out: Path, method: str = DEFAULT_METHOD, seed: int = 0) -> DemoConfig:
        """Tiny sizes for tests (about half a minute on one core)."""
        return cls(
            out=Path(out),
            method=method,
            minutes=0.3,
            seed=seed,
            pairs=40,
            world_options={"tile_px": 64, "pano_hw": (32, 128), "region_m": 400.0},
            max_steps=4,
            max_queries=8,
        )


def step_world(conf: DemoConfig) -> Path:
    """Make a VIGOR-like synthetic region (official layout + ground truth) under ``out/world``."""
    root = conf.out / "world"
    if (root / "crossview_gt" / "samples.csv").is_file():
        return root
    from crossview.world import make_world

    logger.info("demo: making a synthetic VIGOR-like region (%d panoramas)", conf.pairs)
    return Path(
        make_world(root, layout="vigor", pairs=conf.pairs, seed=conf.seed, **conf.world_options)
    )


def held_split(table: Any) -> str:
    """The held-out split of the demo world (``val``, else ``test``)."""
    splits = table.splits()
    if "train" not in splits:
        raise CrossviewError(f"demo world {table.root} has no train split (splits: {splits})")
    held = "val" if "val" in splits else "test" if "test" in splits else None
    if held is None:
        raise CrossviewError(f"demo world {table.root} has no val/test split (splits: {splits})")
    return held


def step_train(conf: DemoConfig, data: str, train_pairs: int) -> Path:
    """Train ``conf.method`` (tiny preset) within ``conf.minutes`` into ``out/run``.

    :func:`crossview.train` with the demo's overrides; ``conf.seed`` seeds the weight
    initialisation as well as the trainer.
    """
    from crossview.methods.registry import get_preset
    from crossview.training.config import TrainConfig
    from crossview.training.steps import train

    run = conf.out / "run"
    done = run / "demo_train_done.json"
    if done.is_file():
        return run
    overrides: dict[str, Any] = {
        "train.time_budget_min": conf.minutes,
        "train.seed": conf.seed,
        "train.eval_every": conf.eval_every,
    }
    if conf.max_steps is not None:
        overrides["train.max_steps"] = conf.max_steps
    if conf.epochs is not None:
        overrides["train.epochs"] = conf.epochs
    batch_size = get_preset(conf.method, "tiny").train.get("batch_size", TrainConfig.batch_size)
    if batch_size > train_pairs:  # the smoke world's few pairs
        overrides["train.batch_size"] = max(2, train_pairs // 2)
    result = train(conf.method, data, run, "tiny", overrides)
    write_json_atomic(
        done, {"stopped": result.stopped, "step": result.step, "minutes": result.minutes}
    )
    return run


def step_eval(conf: DemoConfig, run: Path, split: str) -> dict[str, Any]:
    """Protocol metrics of the trained model on the held-out split (``out/metrics.json``)."""
    path = conf.out / "metrics.json"
    if path.is_file():
        return json.loads(path.read_text())
    from crossview.training.steps import evaluate

    # The final checkpoint, not "best": the held-out split must not pick the model.
    metrics = evaluate(run, split=split, which="last")["details"]
    write_json_atomic(path, metrics)
    return metrics


def step_index(conf: DemoConfig, run: Path, table: Any) -> str:
    """Every tile of the region embedded into ``out/index`` (resumes if interrupted)."""
    from crossview.index.build import build_index, table_tiles

    uri = str(conf.out / "index")
    # The region's tiles as already loaded (no second read of the layout); the final checkpoint.
    build_index(run, table_tiles(table), uri, which="last")
    return uri


def step_locate(conf: DemoConfig, run: Path, uri: str, held: Any,
                heading: str = "known") -> list[dict[str, Any]]:
    """Localize held-out panoramas; each result gains its truth and top-1 error in metres.

    ``heading="known"`` passes each query's true yaw (``out/locate.json``); ``"unknown"`` lets
    ``locate`` search the heading, as for a photo without a compass (``out/locate_unknown.json``).
    """
    if heading not in ("known", "unknown"):
        raise ConfigError(f"demo heading: expected 'known' or 'unknown', got {heading!r}")
    path = conf.out / ("locate.json" if heading == "known" else "locate_unknown.json")
    if path.is_file():
        return json.loads(path.read_text())
    from pyproj import Geod

    from crossview.index.locate import Localizer

    localizer = Localizer.from_index(uri, run, which="last")
    vfov = held.extras.get("ground_vfov_deg")
    geod = Geod(ellps="WGS84")
    docs = []
    for pair in held.pairs[: conf.max_queries]:
        given = "unknown" if heading == "unknown" or pair.yaw_deg is None else pair.yaw_deg
        [res] = localizer.locate([pair.ground], top_k=conf.top_k, heading=given, vfov_deg=vfov,
                                 camera="panorama")
        doc = res.to_dict()
        top = doc["candidates"][0]
        doc["truth"] = {"lat": pair.lat, "lon": pair.lon, "tile": held.references[pair.positive].id}
        doc["error_m"] = float(geod.inv(pair.lon, pair.lat, top["lon"], top["lat"])[2])
        docs.append(doc)
    write_json_atomic(path, docs)
    return docs


def localization_stats(docs: list[dict[str, Any]], threshold_m: float = 25.0) -> dict[str, float]:
    """Median top-1 error (m), share within ``threshold_m`` and top-1 tile accuracy."""
    errors = np.array([d["error_m"] for d in docs], dtype=np.float64)
    top1 = [d["candidates"][0]["tile"] == d["truth"]["tile"] for d in docs]
    return {
        "queries": len(docs),
        "median_error_m": float(np.median(errors)),
        f"within_{threshold_m:g}m": float(np.mean(errors <= threshold_m)),
        "top1_tile_accuracy": float(np.mean(top1)),
    }


def run_demo(conf: DemoConfig) -> Path:
    """Run every step (skipping finished ones) and write ``out/report.html``; returns its path."""
    from crossview.data.layouts import load_layout
    from crossview.methods.registry import get_method_class
    from crossview.reports.demo_report import demo_html

    get_method_class(conf.method)  # an unknown name fails now, not after the world is made
    conf.out.mkdir(parents=True, exist_ok=True)
    world = step_world(conf)
    data = f"vigor:{world}"  # the world holds only its own cities
    table = load_layout("vigor", world)
    held_split_name = held_split(table)
    run = step_train(conf, data, len(table.select("train")))
    metrics = step_eval(conf, run, held_split_name)
    uri = step_index(conf, run, table)
    held = table.select(held_split_name)
    docs = step_locate(conf, run, uri, held)
    unknown = step_locate(conf, run, uri, held, heading="unknown")
    stats = {**localization_stats(docs), "unknown_heading": localization_stats(unknown)}
    write_json_atomic(conf.out / "localization.json", stats)
    training = json.loads((run / "demo_train_done.json").read_text())
    html = demo_html(
        metrics=metrics,
        stats=stats,
        docs=docs,
        run=run,
        table=table,
        method=conf.method,
        training=training,
    )
    return write_text_atomic(conf.out / "report.html", html)
