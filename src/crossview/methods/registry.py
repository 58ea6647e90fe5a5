"""The one registry of methods: ``@register_method`` / ``create_method`` / ``list_methods``.

A method is one module: its class, registered with ``@register_method(name, presets=...)``, and
its named presets as data beside it (timm ``default_cfgs`` style). Each preset maps sections to
config fields: ``method`` (the method's ``MethodConfig``) and ``train`` (the trainer's
``TrainConfig``).

Methods are found through the entry-point group ``crossview.methods`` (:data:`ENTRY_POINT_GROUP`):
crossview declares its built-ins there in ``pyproject.toml``, and a third-party package declares
its own the same way::

    [project.entry-points."crossview.methods"]
    my_method = "my_package.my_method"        # a module that calls @register_method
    # or: my_method = "my_package:MyMethod"   # a Method subclass, registered under the name

A plugin that fails to import is reported when its name is asked for, not when another method
is used. Every public module of :mod:`crossview.methods` is imported as well, so a built-in
method added to a source tree is found before the package is reinstalled (and when crossview runs
from a source tree that is not installed at all); ``tests/methods/test_registry.py`` checks that
every built-in is also declared as an entry point, as installed wheels need.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

from crossview.errors import ConfigError, CrossviewError, unknown_name_error

if TYPE_CHECKING:
    from crossview.methods.base import Method

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "crossview.methods"
"""Entry-point group through which built-in and third-party methods are found."""

SECTIONS = ("method", "train")
"""Sections of a preset: method config fields and trainer config fields."""

M = TypeVar("M", bound="type[Method]")
_METHODS: dict[str, type[Method]] = {}
_BROKEN: dict[str, str] = {}
"""Entry points that failed to load, by name: the error, raised when the name is asked for."""
_discovered = False


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe of a method: ``method`` config fields and ``train`` config fields."""

    method: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Fields of the method's ``MethodConfig``."""
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Fields of :class:`~crossview.training.config.TrainConfig`."""
    doc: str = ""
    """One line on what the preset is for (shown by ``crossview methods``)."""
    smoke: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Method-config overrides for CPU smoke runs: the preset's modules, losses and options, at
    small inputs (and narrower layers where its full width would take minutes per step on a
    CPU). The contract tests run every preset this way; its shapes at its own sizes are checked
    on the meta device."""

    @classmethod
    def parse(cls, value: Preset | Mapping[str, Any], where: str) -> Preset:
        """A :class:`Preset` from itself or a mapping of its sections."""
        if isinstance(value, Preset):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping of sections, got {value!r}")
        keys = [*SECTIONS, "doc", "smoke"]
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise unknown_name_error(f"{where} section", unknown[0], keys)
        return cls(dict(value.get("method") or {}), dict(value.get("train") or {}),
                   str(value.get("doc", "")), dict(value.get("smoke") or {}))


def register_method(
    name: str, presets: Mapping[str, Preset | Mapping[str, Any]] | None = None
) -> Callable[[M], M]:
    """Class decorator registering a :class:`~crossview.methods.base.Method` under ``name``.

    Args:
        name: Registry name (``crossview train --method NAME``).
        presets: Named recipes (``tiny`` for CPU minutes, ``paper`` for the paper's recipe, ...),
            each a :class:`Preset` or a mapping with ``method`` and ``train`` sections.

    """
    parsed = {p: Preset.parse(v, f"method {name!r} preset {p!r}")
              for p, v in (presets or {}).items()}

    def decorator(cls: M) -> M:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"method {name!r} is already registered by {_METHODS[name]!r}")
        cls.name = name
        cls.presets = parsed
        _METHODS[name] = cls
        _BROKEN.pop(name, None)
        return cls

    return decorator


def _discover() -> None:
    """Load the ``crossview.methods`` entry points once (built-ins fall back to a package scan)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from crossview.methods.base import Method

    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as err:  # a broken plugin must not break every other method
            _BROKEN[ep.name] = f"{type(err).__name__}: {err}"
            logger.debug("method plugin %r (%s) failed to import: %s", ep.name, ep.value, err)
            continue
        if isinstance(obj, type) and issubclass(obj, Method) and _METHODS.get(ep.name) is not obj:
            register_method(ep.name, getattr(obj, "presets", None))(obj)
    _import_builtin_modules()


def _import_builtin_modules() -> None:
    """Import every public module of :mod:`crossview.methods` (each registers its methods)."""
    import crossview.methods as package

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def list_methods(pattern: str = "*") -> list[str]:
    """Names of registered methods matching a shell-style ``pattern``, sorted."""
    _discover()
    return sorted(n for n in _METHODS if fnmatch.fnmatch(n, pattern))


def get_method_class(name: str) -> type[Method]:
    """The class registered under ``name``; unknown names raise with the valid choices."""
    _discover()
    if name in _BROKEN and name not in _METHODS:
        raise CrossviewError(f"method {name!r} is installed but failed to import: {_BROKEN[name]}")
    if name not in _METHODS:
        raise unknown_name_error("method", name, list(_METHODS))
    return _METHODS[name]


def list_presets(name: str) -> list[str]:
    """Preset names of method ``name``, in declaration order."""
    return list(get_method_class(name).presets)


def get_preset(name: str, preset: str) -> Preset:
    """Preset ``preset`` of method ``name``; unknown presets raise with the valid choices."""
    presets = get_method_class(name).presets
    if preset not in presets:
        raise unknown_name_error(f"preset of {name!r}", preset, list(presets))
    return presets[preset]


def create_method(name: str, preset: str = "tiny", **overrides: Any) -> Method:
    """Build method ``name`` from a named preset with keyword overrides.

    Args:
        name: A registered method name (see :func:`list_methods`).
        preset: A preset of that method, e.g. ``"tiny"`` (CPU minutes) or ``"paper"``.
        **overrides: Method config fields to override; unknown keys are errors.

    """
    cls = get_method_class(name)
    fields = {**get_preset(name, preset).method, **overrides}
    config = cls.config_class.from_dict(fields, where=f"{name}:{preset}:method")
    return cls(config)
