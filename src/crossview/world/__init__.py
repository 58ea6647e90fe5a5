"""Synthetic cross-view world rendered in the official dataset layouts.

One procedural 3-D scene rendered to aligned aerial tiles and ground panoramas (with depth, semantics and sky masks), written in the CVUSA, CVACT or VIGOR
on-disk layouts. Entry point: :func:`make_world`.
"""

from crossview.world.config import LAYOUTS, WorldConfig
from crossview.world.make import build_world, load_world_meta, make_world

__all__ = ["LAYOUTS", "WorldConfig", "build_world", "load_world_meta", "make_world"]
