"""Synthetic cross-view world rendered in the official dataset layouts.

One procedural 3-D scene rendered to aligned aerial tiles and ground panoramas (with depth,
semantics and sky masks), written in the CVUSA, CVACT or VIGOR on-disk layouts by each layout's
world writer (:mod:`crossview.world.plan`). Entry point: :func:`make_world`.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "WorldConfig": "config",
    "build_world": "make",
    "load_world_meta": "make",
    "make_world": "make",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy: the layouts' world writers import crossview.world.plan, which must not pull in the
    # renderer (torch) or crossview.world.make (which imports the layouts back).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"crossview.world.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'crossview.world' has no attribute {name!r}")
