"""CLI commands of the synth area (registered on import by :mod:`crossview.cli`)."""

from __future__ import annotations

from crossview.cli import app  # noqa: F401
