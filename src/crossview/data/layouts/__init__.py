"""Layout adapters: every on-disk source is read into one :class:`~crossview.data.PairTable`.

Each adapter is a function ``read(root, problems, **options) -> PairTable`` registered under a
name with :func:`register_layout`. Adapters record every missing or malformed file in a
:class:`Problems` collector instead of dropping samples; :func:`load_layout` turns any problem
into one :class:`LayoutError` line, :func:`check_layout` returns them in a :class:`LayoutReport`.

Layouts: ``cvusa``, ``cvact``, ``vigor`` (``area="same"|"cross"``), ``vigor-cross``,
``university1652`` (``task=...``), ``crosslocate`` (``variant=...``), ``folder``.
See ``docs/data.md`` for the exact files each one expects.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossview.data.layouts._common import LayoutError, Problems
from crossview.data.table import PairTable
from crossview.errors import ConfigError, CrossviewError, unknown_name_error

Reader = Callable[..., PairTable]
_LAYOUTS: dict[str, Reader] = {}


def register_layout(name: str) -> Callable[[Reader], Reader]:
    """Register ``read(root, problems, **options) -> PairTable`` under ``name``."""

    def deco(fn: Reader) -> Reader:
        if name in _LAYOUTS:
            raise ValueError(f"layout {name!r} registered twice")
        _LAYOUTS[name] = fn
        return fn

    return deco


def list_layouts() -> list[str]:
    """Return the registered layout names, sorted."""
    _import_adapters()
    return sorted(_LAYOUTS)


def _reader(name: str) -> Reader:
    _import_adapters()
    if name not in _LAYOUTS:
        raise unknown_name_error("layout", name, list(_LAYOUTS))
    return _LAYOUTS[name]


def _read(name: str, root: Path, options: dict[str, Any]) -> tuple[PairTable, Problems]:
    reader = _reader(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(name, root, "dataset root folder not found")
    problems = Problems(root)
    params = [p for p in inspect.signature(reader).parameters if p not in ("root", "problems")]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ConfigError(
            f"layout {name!r}: unknown option {unknown[0]!r}; valid options: {params}"
        )
    return reader(root, problems, **options), problems


def load_layout(name: str, root: str | Path, **options: Any) -> PairTable:
    """Read the dataset at ``root`` in layout ``name`` into a :class:`PairTable`.

    Args:
        name: A registered layout name (see :func:`list_layouts`).
        root: The dataset's root folder, as distributed.
        **options: Layout options (``area`` for VIGOR, ``task`` for University-1652, ...).

    Raises:
        LayoutError: Files are missing or malformed; the one-line message names the first five.
        ConfigError: Unknown layout name or option.

    """
    table, problems = _read(name, Path(root), options)
    if problems:
        raise LayoutError(name, Path(root), "; ".join(problems.messages()))
    return table


@dataclasses.dataclass
class LayoutReport:
    """Result of :func:`check_layout`: counts per split and every problem found."""

    layout: str
    root: Path
    splits: dict[str, int]
    references: int
    problems: list[str]
    summary: list[str]
    """One line per kind of problem (first few items and total), as ``load_layout`` would say."""

    @property
    def ok(self) -> bool:
        """Whether the layout is complete and well-formed."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """``{"layout", "root", "splits", "references", "problems"}`` as plain data."""
        return {
            "layout": self.layout,
            "root": str(self.root),
            "splits": self.splits,
            "references": self.references,
            "problems": self.problems,
        }


def check_layout(name: str, root: str | Path, deep: bool = False, **options: Any) -> LayoutReport:
    """Validate a layout without raising for missing files; counts what could be read.

    With ``deep=True`` every image header is also opened and verified with PIL (slow).
    """
    root = Path(root).expanduser()
    try:
        table, problems = _read(name, root, options)
    except ConfigError:
        raise
    except CrossviewError as err:  # the index files themselves are unreadable
        return LayoutReport(name, root, {}, 0, [str(err)], [str(err)])
    if deep:
        _verify_images(table, problems)
    return LayoutReport(
        name, root, table.split_counts(), len(table.references), problems.all(), problems.messages()
    )


def _verify_images(table: PairTable, problems: Problems) -> None:
    from PIL import Image

    from crossview.progress import track

    paths = [p.ground for p in table.pairs] + [r.path for r in table.references]
    for path in track(paths, "verifying images"):
        if not problems.exists(path):
            continue
        try:
            with Image.open(path) as img:
                img.verify()
        except Exception as err:  # PIL raises many types for corrupt headers
            problems.bad(path, f"cannot decode image header: {type(err).__name__}")


def parse_data_spec(spec: str) -> tuple[str, Path]:
    """Split ``"layout:/path/to/root"`` into ``(layout, root)``.

    A bare folder path (no known ``layout:`` prefix) means the ``folder`` layout; it must hold a
    ``coords.csv``.
    """
    _import_adapters()
    head, sep, tail = spec.partition(":")
    if sep and head in _LAYOUTS:
        return head, Path(tail).expanduser()
    if sep and head and "/" not in head and "\\" not in head and len(head) > 1:
        raise unknown_name_error("layout", head, list(_LAYOUTS))
    root = Path(spec).expanduser()
    from crossview.data.layouts.folder import COORDS_CSV

    if not (root / COORDS_CSV).is_file():
        raise LayoutError(
            "folder",
            root,
            f"no {COORDS_CSV} (columns image,lat,lon); or name a layout, e.g. cvusa:/path/to/CVUSA",
        )
    return "folder", root


def _import_adapters() -> None:
    from crossview.data.layouts import (  # noqa: F401  (imported for their registrations)
        crosslocate,
        cvact,
        cvusa,
        folder,
        university,
        vigor,
    )


__all__ = [
    "LayoutError",
    "LayoutReport",
    "Problems",
    "check_layout",
    "list_layouts",
    "load_layout",
    "parse_data_spec",
    "register_layout",
]
