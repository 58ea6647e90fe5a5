"""crossview: cross-view geo-localization and synthesis.

The public API is deliberately small (``tests/test_package.py`` fails if a name disappears)::

    import crossview

    crossview.list_methods()                                  # ['cde', 'clnet', 'safa', ...]
    method = crossview.create_method("safa", "tiny")
    table = crossview.load_layout("cvusa", "data/CVUSA")      # a PairTable
    result = crossview.train("safa", "cvusa:data/CVUSA", "runs/safa", preset="tiny")
    metrics = crossview.evaluate("runs/safa", split="val")
    crossview.embed("runs/safa", "desc.parquet")
    index = crossview.build_index("runs/safa", "tiles/", "region.index")
    hits = crossview.Localizer.from_index("region.index").locate(["pano.jpg"], top_k=5)
    rows = crossview.evaluate_conditions("runs/safa", split="val")  # photos, unknown heading
    model = crossview.load_run("runs/safa")                    # method + checkpoint facts

Each ``crossview`` command is a thin call of one of these. Names load lazily: importing
``crossview`` stays fast (``crossview --help`` must not pull in torch).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from crossview._version import __version__

_API = {
    "train": "crossview.training.steps",
    "evaluate": "crossview.training.steps",
    "embed": "crossview.training.steps",
    "build_index": "crossview.index.build",
    "Localizer": "crossview.index.locate",
    "evaluate_conditions": "crossview.index.conditions",
    "load_layout": "crossview.data.layouts",
    "load_run": "crossview.training.checkpoint",
    "create_method": "crossview.methods.registry",
    "list_methods": "crossview.methods.registry",
    "register_method": "crossview.methods.registry",
}
"""Public name -> the module that defines it."""

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:  # PEP 562 lazy attributes
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'crossview' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
