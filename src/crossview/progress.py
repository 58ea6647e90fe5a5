"""Logging set-up and rich progress bars for long loops."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from crossview import _faults

T = TypeVar("T")
logger = logging.getLogger("crossview")


def setup_logging(level: int | str = logging.INFO) -> None:
    """Route crossview's standard-library logging through rich, once."""
    if any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.setLevel(level)
        return
    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def progress_disabled() -> bool:
    """Progress bars are off when ``CROSSVIEW_NO_PROGRESS`` is set or stderr is not a terminal."""
    return bool(os.environ.get("CROSSVIEW_NO_PROGRESS")) or not sys.stderr.isatty()


def make_progress(transient: bool = False) -> Progress:
    """A rich progress display with count, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        transient=transient,
        disable=progress_disabled(),
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar (a drop-in for ``rich.progress.track`` with our columns)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as progress:
        task = progress.add_task(description, total=total, info="")
        for item in items:
            yield item
            _faults.point(f"loop.{description}")
            progress.advance(task)
