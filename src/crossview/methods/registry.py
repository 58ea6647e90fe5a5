"""The one registry of methods (``@register_method`` / ``create_method`` / ``list_methods``)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from crossview.errors import unknown_name_error

if TYPE_CHECKING:
    from crossview.methods.base import Method

M = TypeVar("M", bound="type[Method]")
_METHODS: dict[str, type[Method]] = {}


def register_method(name: str) -> Callable[[M], M]:
    """Class decorator that registers a :class:`~crossview.methods.base.Method` under ``name``."""

    def decorator(cls: M) -> M:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"method {name!r} is already registered by {_METHODS[name]!r}")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return decorator


def _import_builtin_methods() -> None:
    # Importing the package registers every built-in method.
    import crossview.methods  # noqa: F401


def list_methods(pattern: str = "*") -> list[str]:
    """Names of registered methods matching a shell-style ``pattern``, sorted."""
    _import_builtin_methods()
    return sorted(n for n in _METHODS if fnmatch.fnmatch(n, pattern))


def get_method_class(name: str) -> type[Method]:
    """The class registered under ``name``; unknown names raise with the valid choices."""
    _import_builtin_methods()
    if name not in _METHODS:
        raise unknown_name_error("method", name, list(_METHODS))
    return _METHODS[name]


def create_method(name: str, preset: str = "tiny", **overrides: Any) -> Method:
    """Build method ``name`` from a named preset (YAML data) with keyword overrides.

    Args:
        name: A registered method name (see :func:`list_methods`).
        preset: A preset of that method, e.g. ``"tiny"`` (CPU minutes) or ``"paper"``.
        **overrides: Config fields to override; unknown keys are errors.
    """
    cls = get_method_class(name)
    config = cls.config_class.from_preset(name, preset, **overrides)
    return cls(config)
