"""Run the ``crossview`` CLI in-process, through ``crossview.cli.main``.

Tests use the ``run_cli`` fixture (tests/conftest.py: monkeypatch + capsys). ``run_cli_plain``
is for places a function-scoped fixture cannot reach, such as module-scoped fixtures: it saves
and restores ``sys.argv`` itself and captures output with ``contextlib.redirect_stdout/stderr``.
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import NamedTuple


class CliResult(NamedTuple):
    """One in-process ``crossview`` run: exit code, captured stdout and stderr."""

    code: int
    out: str
    err: str


def argv(*args: object) -> list[str]:
    """``sys.argv`` for ``crossview ARGS...`` (every argument through ``str``)."""
    return ["crossview", *map(str, args)]


def call_main() -> int:
    """Call ``main`` with the current ``sys.argv``; the exit code (None counts as 0)."""
    from crossview.cli import main  # imported late: tests may monkeypatch crossview modules first

    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1  # sys.exit("message") exits 1
    return 0


def run_cli_plain(*args: object) -> CliResult:
    """Run ``crossview ARGS...`` without fixtures; ``sys.argv`` is restored afterwards."""
    saved = sys.argv
    out, err = io.StringIO(), io.StringIO()
    sys.argv = argv(*args)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = call_main()
    finally:
        sys.argv = saved
    return CliResult(code, out.getvalue(), err.getvalue())
