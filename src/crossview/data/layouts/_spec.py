""":class:`DataSpec`: a dataset as ``LAYOUT:ROOT`` plus the layout's typed options.

The one way a command, a run config or a script names its data::

    spec = DataSpec.parse("vigor:/data/VIGOR", ["area=cross", "cities=NewYork,Seattle,Chicago"])
    table = spec.load()
    run_config["data"] = spec.to_dict()       # plain data, stored with the run
    same = DataSpec.from_dict(run_config["data"])   # the same layout, root and options

``str(spec)`` is a stable one-line form, ``vigor:/data/VIGOR?area=cross&cities=NewYork,Seattle``
(options that differ from the defaults, in declaration order, values percent-encoded), and
:meth:`DataSpec.parse` reads it back. A bare folder holding ``coords.csv`` is the ``folder``
layout.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossview.config import Config, parse_overrides
from crossview.data.layouts._common import LayoutError
from crossview.data.layouts._load import (
    LayoutReport,
    check_table,
    layout_and_options,
    load_table,
)
from crossview.data.layouts._registry import Layout, get_layout, is_layout_name, list_layouts
from crossview.data.table import PairTable
from crossview.errors import ConfigError, unknown_name_error

_QUERY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=[^&]*(&[A-Za-z_][A-Za-z0-9_]*=[^&]*)*")
_SAFE = ",:/-_.~@+"
"""Characters left as they are in option values of the string form."""
FOLDER_CSV = "coords.csv"


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A dataset: a layout name, its root folder and the layout's typed options."""

    layout: str
    """Canonical layout name (an alias such as ``vigor-cross`` is resolved into options)."""
    root: Path
    """Absolute dataset root."""
    options: Config
    """The layout's options (an instance of its ``options_class``), defaults filled in."""

    @classmethod
    def parse(cls, spec: str,
              options: Sequence[str] | Mapping[str, Any] | None = None) -> DataSpec:
        """Read ``LAYOUT:ROOT`` and validate the options against the layout's options type.

        ``spec`` may also be the string form (``LAYOUT:ROOT?key=value&...``) or a bare folder
        with ``coords.csv``.

        Args:
            spec: ``LAYOUT:ROOT``, ``str(DataSpec)``, or a folder path.
            options: ``key=value`` strings (as ``--data-opt`` gives them) or a mapping; they
                override options written in ``spec``.

        Raises:
            ConfigError: Unknown layout or option (with the valid ones and a close match), a bad
                value, or a malformed ``key=value``.
            LayoutError: A bare folder without ``coords.csv``.

        """
        name, root, embedded = _split(spec)
        given = {**embedded, **_option_dict(options)}
        layout, typed = layout_and_options(name, given)
        return cls(layout.name, _absolute(root), typed)

    @classmethod
    def from_parts(cls, layout: str, root: str | Path,
                   options: Sequence[str] | Mapping[str, Any] | None = None) -> DataSpec:
        """A spec from a layout name (or alias), a root folder and options as in :meth:`parse`."""
        typed_layout, typed = layout_and_options(layout, _option_dict(options))
        return cls(typed_layout.name, _absolute(Path(root).expanduser()), typed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict` (strict: unknown keys and options are errors)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"data spec: expected a mapping, got {data!r}")
        unknown = set(data) - {"layout", "root", "options"}
        if unknown or "layout" not in data or "root" not in data:
            raise ConfigError(
                f"data spec: expected keys layout, root[, options]; got {sorted(data)}"
            )
        options = dict(data.get("options") or {})
        return cls.from_parts(str(data["layout"]), str(data["root"]), options)

    @classmethod
    def coerce(cls, value: DataSpec | str | Mapping[str, Any]) -> DataSpec:
        """A spec from whatever a run config stores: a DataSpec, its dict, or a string."""
        if isinstance(value, DataSpec):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls.from_dict(value)

    def to_dict(self) -> dict[str, Any]:
        """``{"layout", "root", "options"}`` as plain data (every option, defaults included)."""
        return {"layout": self.layout, "root": str(self.root), "options": self.options.to_dict()}

    def __str__(self) -> str:
        changed = _non_default(self.options)
        query = "&".join(f"{k}={_encode(v)}" for k, v in changed.items())
        return f"{self.layout}:{self.root}" + (f"?{query}" if query else "")

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def layout_object(self) -> Layout[Any]:
        """The registered layout object."""
        return get_layout(self.layout)

    def load(self) -> PairTable:
        """Read the dataset (:func:`~crossview.data.layouts.load_layout` semantics)."""
        return load_table(self.layout_object, self.root, self.options)

    def check(self, deep: bool = False) -> LayoutReport:
        """Validate the dataset (:func:`~crossview.data.layouts.check_layout` semantics)."""
        return check_table(self.layout_object, self.root, self.options, deep)

    def with_options(self, **options: Any) -> DataSpec:
        """A copy with some options changed (validated as in :meth:`parse`)."""
        typed = self.layout_object.parse_options({**self.options.to_dict(), **options})
        return dataclasses.replace(self, options=typed)


def split_layout_prefix(spec: str) -> tuple[str, str] | None:
    """``(layout, rest)`` when ``spec`` starts with ``LAYOUT:``; ``None`` for a plain path.

    Raises:
        ConfigError: The prefix looks like a layout name but none is registered under it.

    """
    head, sep, tail = spec.partition(":")
    if sep and is_layout_name(head):
        return head, tail
    # A one-letter head is a Windows drive; a head with a slash is part of a path.
    if sep and head and "/" not in head and "\\" not in head and len(head) > 1:
        raise unknown_name_error("layout", head, list_layouts())
    return None


def _split(spec: str) -> tuple[str, Path, dict[str, Any]]:
    """``(layout, root, options written in the spec)``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"data spec: expected LAYOUT:ROOT or a folder, got {spec!r}")
    prefixed = split_layout_prefix(spec)
    if prefixed is not None:
        name, rest = prefixed
        root_text, q, query = rest.rpartition("?")
        if q and _QUERY.fullmatch(query):
            items = [urllib.parse.unquote(item) for item in query.split("&")]
            return name, Path(root_text).expanduser(), parse_overrides(items)
        return name, Path(rest).expanduser(), {}
    root = Path(spec).expanduser()
    if not (root / FOLDER_CSV).is_file():
        raise LayoutError(
            "folder", root,
            f"no {FOLDER_CSV} (columns image,lat,lon); or name a layout, e.g. cvusa:/path/to/CVUSA",
        )
    return "folder", root, {}


def _option_dict(options: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    if options is None:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    if isinstance(options, str):
        raise ConfigError(f"data options: expected a list of key=value, got the string {options!r}")
    return parse_overrides(list(options))


def _absolute(root: Path) -> Path:
    # abspath, not resolve(): keep the user's symlinks, only anchor relative paths.
    return Path(os.path.abspath(root))


def _non_default(options: Config) -> dict[str, Any]:
    """Options that differ from the type's defaults (all of them if it has required fields)."""
    values = options.to_dict()
    try:
        defaults = type(options)().to_dict()
    except (TypeError, ConfigError):
        return values
    return {k: v for k, v in values.items() if defaults.get(k) != v}


def _encode(value: Any) -> str:
    """An option value as text that ``parse_overrides`` reads back to the same option."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    else:
        text = str(value)
    return urllib.parse.quote(text, safe=_SAFE)


__all__ = ["DataSpec", "split_layout_prefix"]
