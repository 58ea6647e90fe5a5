"""Layout objects and their registry: one object per on-disk dataset layout.

A :class:`Layout` owns everything crossview knows about one layout: its reader (``read``), its
typed options (``options_class``, a :class:`~crossview.config.Config` dataclass), its default
evaluation protocol (``protocol`` / :meth:`Layout.default_protocol`), the synthetic world's
writer when the world can produce it (``writer``, a :class:`~crossview.world.plan.WorldWriter`)
and option presets under other names (``aliases``, e.g. ``vigor-cross``).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from crossview.config import Config
from crossview.data.layouts._common import Problems
from crossview.data.table import PairTable
from crossview.errors import ConfigError, unknown_name_error

if TYPE_CHECKING:
    from crossview.world.plan import WorldWriter


@dataclasses.dataclass
class NoOptions(Config):
    """Options of a layout that takes none."""


OptionsT = TypeVar("OptionsT", bound=Config)
L = TypeVar("L", bound="type[Layout[Any]]")


class Layout(Generic[OptionsT]):
    """One dataset layout: reader, typed options, default protocol, world writer, aliases.

    Subclass it, set the class attributes, implement :meth:`read`, and decorate the class with
    :func:`register_layout` (``docs/data.md``, "Add a layout").

    Attributes:
        name: Registry name (``LAYOUT`` in ``LAYOUT:ROOT``).
        options_class: The typed options; every field needs a default and a docstring.
        protocol: Name of the evaluation protocol its tables are scored with by default.
        aliases: Other names that mean this layout with some options fixed,
            e.g. ``{"vigor-cross": {"area": "cross"}}``.
        writer: How the synthetic world writes this layout (``None``: it cannot).

    """

    name: ClassVar[str] = ""
    options_class: ClassVar[type[Config]] = NoOptions
    protocol: ClassVar[str] = "recall"
    aliases: ClassVar[dict[str, dict[str, Any]]] = {}
    writer: ClassVar[WorldWriter | None] = None

    def read(self, root: Path, problems: Problems, options: OptionsT) -> PairTable:
        """Read the dataset at ``root`` into a table.

        Missing or malformed files are recorded in ``problems`` instead of dropping samples;
        raise (an ``InputFileError``) only when nothing can be read, e.g. a missing index file.
        """
        raise NotImplementedError

    def default_protocol(self, table: PairTable) -> str:
        """Protocol a table of this layout is scored with (may depend on its splits)."""
        return self.protocol

    def check_details(self, root: Path, options: OptionsT) -> dict[str, Any]:
        """Extra counts ``crossview data check`` shows (e.g. per task); default none."""
        return {}

    def world_writer(self) -> WorldWriter:
        """The synthetic world's writer of this layout.

        Raises:
            ConfigError: The world cannot write this layout (names those it can).

        """
        if self.writer is None:
            raise ConfigError(
                f"layout {self.name!r} cannot be written by the synthetic world; "
                f"choose one of {list_layouts(world=True)}"
            )
        return self.writer

    def parse_options(self, values: Mapping[str, Any] | Config | None = None) -> OptionsT:
        """Validate ``values`` (strings are coerced) into :attr:`options_class`.

        Raises:
            ConfigError: One line naming an unknown option (valid ones, a close match) or a bad
                value.

        """
        if isinstance(values, self.options_class):
            return values  # type: ignore[return-value]
        if isinstance(values, Config):
            values = values.to_dict()
        values = dict(values or {})
        valid = self.option_names()
        for key in values:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"layout {self.name!r}: unknown option {key!r}; valid options: "
                    f"{', '.join(valid) or 'none'}.{hint}"
                )
        return self.options_class.from_dict(values, where=self.name)  # type: ignore[return-value]

    def option_names(self) -> list[str]:
        """Names of the options, in declaration order."""
        return [f.name for f in dataclasses.fields(self.options_class) if f.init]

    @property
    def summary(self) -> str:
        """First line of the class docstring."""
        return (type(self).__doc__ or "").strip().splitlines()[0] if type(self).__doc__ else ""

    def __repr__(self) -> str:
        return f"<layout {self.name!r} options={self.option_names()} protocol={self.protocol!r}>"


_LAYOUTS: dict[str, Layout[Any]] = {}
_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {}


def register_layout(cls: L) -> L:
    """Class decorator: register an instance of a :class:`Layout` subclass under its ``name``.

    Raises:
        ValueError: The name or one of its aliases is already taken, or an alias fixes an
            option the layout does not have (programming errors, at import time).

    """
    layout = cls()
    name = layout.name
    if not name or name in _LAYOUTS or name in _ALIASES:
        raise ValueError(f"layout {name!r} registered twice (or has no name)")
    for alias, fixed in layout.aliases.items():
        if alias in _LAYOUTS or alias in _ALIASES:
            raise ValueError(f"layout alias {alias!r} registered twice")
        layout.parse_options(fixed)  # a typo in an alias fails at import time
    _LAYOUTS[name] = layout
    for alias, fixed in layout.aliases.items():
        _ALIASES[alias] = (name, dict(fixed))
    return cls


def get_layout(name: str) -> Layout[Any]:
    """The layout object registered as ``name`` (an alias gives the layout it stands for).

    Raises:
        ConfigError: Unknown name (lists the valid ones and a close match).

    """
    return resolve_layout(name)[0]


def resolve_layout(name: str) -> tuple[Layout[Any], dict[str, Any]]:
    """``(layout, fixed options)`` of a layout name or alias (no options fixed for a name)."""
    import_builtin_layouts()
    if name in _LAYOUTS:
        return _LAYOUTS[name], {}
    if name in _ALIASES:
        target, fixed = _ALIASES[name]
        return _LAYOUTS[target], dict(fixed)
    raise unknown_name_error("layout", name, [*_LAYOUTS, *_ALIASES])


def list_layouts(world: bool = False) -> list[str]:
    """Registered layout names, sorted (aliases are on each layout's ``aliases``).

    Args:
        world: Only the layouts the synthetic world can write.

    """
    import_builtin_layouts()
    return sorted(n for n, lay in _LAYOUTS.items() if not world or lay.writer is not None)


def is_layout_name(name: str) -> bool:
    """Whether ``name`` is a registered layout name or alias."""
    import_builtin_layouts()
    return name in _LAYOUTS or name in _ALIASES


def import_builtin_layouts() -> None:
    """Import crossview's own layout modules (each registers itself on import)."""
    from crossview.data.layouts import (  # noqa: F401  (imported for their registrations)
        crosslocate,
        cvact,
        cvusa,
        folder,
        university,
        vigor,
    )


__all__ = [
    "Layout",
    "NoOptions",
    "get_layout",
    "import_builtin_layouts",
    "is_layout_name",
    "list_layouts",
    "register_layout",
    "resolve_layout",
]
