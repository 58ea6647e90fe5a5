"""The one trainer shared by every method, its configuration and its checkpoints.

``Trainer``/``TrainResult`` are imported lazily so that loading a checkpoint (index, locate,
reports) does not pull in the data pipeline.
"""

from typing import Any

from crossview.training.checkpoint import (
    Checkpoint,
    LoadedModel,
    load_checkpoint,
    load_run,
    save_checkpoint,
)
from crossview.training.config import TrainConfig

__all__ = [
    "Checkpoint",
    "LoadedModel",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_checkpoint",
    "load_run",
    "save_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name in ("Trainer", "TrainResult"):
        from crossview.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'crossview.training' has no attribute {name!r}")
