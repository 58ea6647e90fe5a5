"""Typed configuration: dataclasses with strict loading from plain data (YAML, CLI overrides)."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from crossview.errors import ConfigError, unknown_name_error

C = TypeVar("C", bound="Config")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Coerce YAML / CLI values to the annotated type (tuples from lists, str -> number)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {annotation}")
    if origin is typing.Literal:
        if value not in args:
            import difflib

            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}.{hint}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_types = args if origin is tuple and args and args[-1] is not Ellipsis else args[:1]
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        items = [
            _coerce(v, item_types[i] if len(item_types) > 1 else (item_types or [Any])[0], where)
            for i, v in enumerate(value)
        ]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}") from None
        if annotation is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        return annotation.from_dict(value, where=where)  # type: ignore[attr-defined]
    return value


@dataclasses.dataclass
class Config:
    """Base class of typed configs: strict ``from_dict`` and ``to_dict``."""

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], where: str | None = None) -> C:
        """Build from a mapping; unknown keys are errors naming the valid ones."""
        where = where or cls.__name__
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping, got {data!r}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = set(data) - set(fields)
        if unknown:
            bad = sorted(unknown)[0]
            raise unknown_name_error(f"{where} key", bad, list(fields))
        kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ConfigError(f"{where}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (tuples become lists) suitable for YAML / JSON."""

        def plain(value: Any) -> Any:
            if isinstance(value, Config):  # nested configs (e.g. a ScheduleSpec) as plain dicts
                return value.to_dict()
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, Path):
                return str(value)
            return value

        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self: C, **overrides: Any) -> C:
        """A copy with ``overrides`` applied through the same strict checks as ``from_dict``."""
        return type(self).from_dict({**self.to_dict(), **overrides})


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse CLI ``key=value`` items; values are YAML scalars (``lr=1e-3``, ``flag=true``)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw else ""
    return out
