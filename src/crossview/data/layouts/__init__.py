"""Layout objects: every on-disk source is read into one :class:`~crossview.data.PairTable`.

Each layout is one registered :class:`Layout` object that owns its reader, its typed options
(a :class:`~crossview.config.Config` dataclass), its default evaluation protocol and, for the
layouts the synthetic world produces, the world's writer. Readers record every missing or
malformed file in a :class:`Problems` collector instead of dropping samples;
:func:`load_layout` turns any problem into one :class:`LayoutError` line, :func:`check_layout`
returns them in a :class:`LayoutReport`. A dataset named on the command line or stored with a
run is a :class:`DataSpec` (``LAYOUT:ROOT`` plus options).

Layouts: ``cvusa``, ``cvact``, ``vigor`` (``area``, ``cities``; alias ``vigor-cross``),
``university1652`` (``task``), ``crosslocate`` (``variant``), ``folder``.
See ``docs/data.md`` for the exact files each one expects and how to add a layout.
"""

from __future__ import annotations

from pathlib import Path

from crossview.data.layouts._common import LayoutError, Problems
from crossview.data.layouts._load import LayoutReport, check_layout, load_layout
from crossview.data.layouts._registry import (
    Layout,
    NoOptions,
    get_layout,
    list_layouts,
    register_layout,
    resolve_layout,
)
from crossview.data.layouts._spec import DataSpec, split_layout_prefix
from crossview.errors import ConfigError


def parse_data_spec(spec: str) -> tuple[str, Path]:
    """Split ``"layout:/path/to/root"`` into ``(layout, root)`` (the layout name as written).

    Kept for callers that take no options; new code uses :meth:`DataSpec.parse`. A bare folder
    path means the ``folder`` layout; it must hold a ``coords.csv``.

    Raises:
        ConfigError: Unknown layout, or ``spec`` carries options (use :class:`DataSpec`).
        LayoutError: A bare folder without ``coords.csv``.

    """
    prefixed = split_layout_prefix(spec)
    if prefixed is None:
        DataSpec.parse(spec)  # raises unless the folder holds coords.csv
        return "folder", Path(spec).expanduser()
    name, rest = prefixed
    parsed = DataSpec.parse(spec)
    if str(parsed) != str(DataSpec.parse(f"{name}:{parsed.root}")):
        raise ConfigError(f"data spec {spec!r} carries options; read it with DataSpec.parse")
    return name, Path(rest).expanduser()


__all__ = [
    "DataSpec",
    "Layout",
    "LayoutError",
    "LayoutReport",
    "NoOptions",
    "Problems",
    "check_layout",
    "get_layout",
    "list_layouts",
    "load_layout",
    "parse_data_spec",
    "register_layout",
    "resolve_layout",
]
