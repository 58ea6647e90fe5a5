"""Run ``crossview`` commands in-process and judge their answer to bad input.

A case passes when the command exits 2 with exactly one ``error:`` line that names the file (or
argument) and what is wrong, prints no traceback, and writes nothing: no file in the case's
folder is created or changed (an empty folder is tolerated). Cases whose input is merely unusual
(16-bit, palette, EXIF-rotated images, extra CSV columns) must instead succeed (exit 0).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Setup = Callable[[Path, "Fixtures"], Sequence[Any]]


@dataclasses.dataclass(frozen=True)
class Fixtures:
    """Shared valid inputs every case starts from (built once per session)."""

    world: Path
    """A 8-pair CVUSA-layout synthetic world (64 px tiles, 32x128 panoramas)."""
    run: Path
    """A run folder with an untrained ``safa tiny`` checkpoint (``checkpoints/last.pt``)."""
    index: Path
    """The world's tiles indexed with that run."""
    synth_run: Path
    """A run folder with an untrained ``cde tiny`` checkpoint (a synthesis method)."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad (or unusual) input and the command that reads it."""

    id: str
    what: str
    """The input, in words (goes into docs/robustness.md)."""
    setup: Setup
    """``(case_dir, fixtures) -> argv`` after writing the input into ``case_dir``."""
    expect: str = "error"
    """``error`` (exit 2, one line) or ``ok`` (exit 0)."""
    names: str | None = None
    """A string the error line must contain (the file's name); default: none required."""
    writes: str = ""
    """Why this case may leave files (documented; empty = it must write nothing)."""
    slow: bool = False
    """Only in the full run (``CROSSVIEW_FULL_SUITES=1``)."""


@dataclasses.dataclass
class Outcome:
    """What a command did."""

    code: int
    stderr: str
    stdout: str
    crash: str = ""

    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]


def run_cli(argv: Sequence[Any]) -> Outcome:
    """``crossview ARGV`` in this process; an exception escaping ``main`` is a crash."""
    from crossview.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["crossview", *[os.fsdecode(a) if isinstance(a, (bytes, Path)) else str(a)
                               for a in argv]]
    code, crash = 0, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except BaseException as exc:  # noqa: BLE001  (what a user would see as a traceback)
        code, crash = 1, "".join(traceback.format_exception_only(type(exc), exc)).strip()
        err.write(traceback.format_exc())
    finally:
        sys.argv = old
    return Outcome(code, err.getvalue(), out.getvalue(), crash)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every regular file under ``folder``: relative path -> (size, mtime_ns)."""
    files = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            p = Path(dirpath) / name
            st = p.stat()
            files[os.fsdecode(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return files


def normalise(text: str, root: Path, fixtures: Path) -> str:
    """Message with the case folder shown as ``CASE``, the fixtures' as ``FIX`` (stable)."""
    return text.replace(str(root), "CASE").replace(str(fixtures), "FIX")


def judge(case: Case, case_dir: Path, fixtures: Fixtures) -> tuple[str, str, list[str]]:
    """Run ``case``; return (outcome label, normalised message, problems found)."""
    argv = case.setup(case_dir, fixtures)
    watched = [case_dir, fixtures.world, fixtures.index]
    before = [snapshot(p) for p in watched]
    result = run_cli(argv)
    after = [snapshot(p) for p in watched]
    problems = []
    lines = result.error_lines()
    message = normalise(lines[0][len("error: "):], case_dir, fixtures.world.parent) if lines else ""
    if result.crash:
        problems.append(f"crash: {result.crash}")
    if "Traceback" in result.stderr:
        problems.append("traceback printed")
    if case.expect == "ok":
        label = "accepted" if result.code == 0 else f"exit {result.code}"
        if result.code != 0:
            problems.append(f"expected success, got exit {result.code}: {result.stderr[-400:]}")
        return label, message or "-", problems
    if result.code != 2:
        problems.append(f"exit code {result.code}, expected 2")
    if len(lines) != 1:
        problems.append(f"{len(lines)} error lines: {result.stderr[-600:]!r}")
    if case.names and case.names not in (lines[0] if lines else ""):
        problems.append(f"the error does not name {case.names!r}")
    if not case.writes:
        for folder, b, a in zip(watched, before, after, strict=True):
            new = sorted(set(a) - set(b))
            changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
            if new or changed:
                problems.append(f"wrote under {folder.name}: new {new[:5]}, changed {changed[:5]}")
    label = f"exit {result.code}"
    return label, message, problems


def judge_upload(case: Any, client: Any, fixtures: Fixtures) -> tuple[str, str, list[str]]:
    """POST ``case``'s upload; return (``HTTP <status>``, the error line or ``-``, problems)."""
    r = client.post("/locate", files={"image": (case.name, case.body(fixtures))},
                    data=dict(case.fields))
    problems = []
    if r.status_code != case.expect:
        problems.append(f"HTTP {r.status_code}, expected {case.expect}: {r.text[:300]}")
    if r.status_code >= 500:
        problems.append("a server error")
    message = "-"
    if r.status_code != 200:
        try:
            message = r.json()["error"]
        except (ValueError, KeyError):
            problems.append(f"no JSON error: {r.text[:200]}")
        if "\n" in message:
            problems.append("more than one line")
    elif r.json()[0]["query"] != case.name or len(r.json()[0]["candidates"]) != 5:
        problems.append("the answer is not the query's candidates")
    return f"HTTP {r.status_code}", message, problems
