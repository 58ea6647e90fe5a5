"""Fault injection for the robustness suite (docs/robustness.md "Faults"); off by default.

Named points in long jobs call :func:`point`. With ``CROSSVIEW_FAULTS`` unset (always, outside
the suite) that is one global lookup. The suite sets it to one of:

- ``count:FILE``: append ``PID NAME`` per point to ``FILE`` (learns where a run can be cut);
- ``kill:PREFIX:N``: SIGKILL this process at the ``N``-th point whose name starts with
  ``PREFIX`` (``N`` from 1, counted in each process; an empty prefix matches every point);
- ``fail:PREFIX:N:ERRNO``: raise ``OSError(ERRNO)`` there instead (a full disk: ``ENOSPC``,
  a read-only or forbidden folder: ``EACCES``), as the write at that point would.

Points: ``io.write.<suffix>`` (an atomic write whose temporary file is complete, before its
rename), ``loop.<description>`` (each item of a progress-tracked loop), ``train.step`` (after an
optimizer step), ``train.eval`` (inside a validation pass).
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "CROSSVIEW_FAULTS"
_spec: list[str] | None = None
_seen = 0


def configure(spec: str | None) -> None:
    """Set (or clear, with ``None``) the fault spec of this process and reset its counter."""
    global _spec, _seen
    _spec = spec.split(":") if spec else None
    _seen = 0


def point(name: str) -> None:
    """A place where the suite may cut the run (see the module docstring)."""
    global _seen
    if _spec is None:
        return
    mode = _spec[0]
    if mode == "count":
        with open(_spec[1], "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {name}\n")  # per process: torchrun ranks count apart
        return
    if not name.startswith(_spec[1]):
        return
    _seen += 1
    if _seen != int(_spec[2]):
        return
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "fail":
        code = getattr(errno, _spec[3]) if not _spec[3].isdigit() else int(_spec[3])
        raise OSError(code, os.strerror(code))


configure(os.environ.get(ENV))
