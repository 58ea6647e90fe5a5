"""User-facing errors: one line naming the input, what was expected and what came."""

from __future__ import annotations

import errno
from pathlib import Path

ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                errno.EROFS, errno.EFBIG})
"""Write failures caused by the machine, not by crossview: reported as one-line errors."""


class CrossviewError(Exception):
    """An error caused by input (a file, an argument, a configuration), not by a bug.

    The CLI prints its message as one line and exits non-zero, without a traceback.
    """


class InputFileError(CrossviewError, FileNotFoundError):
    """A file that is missing, unreadable, corrupt or malformed."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OutputFileError(CrossviewError, OSError):
    """A write the machine refused: a full disk, a read-only or forbidden folder.

    Nothing written before is lost (writes are atomic); the message names the file.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class ConfigError(CrossviewError, ValueError):
    """An unknown name, a bad value or a mismatched configuration."""


def unknown_name_error(kind: str, name: str, choices: list[str]) -> ConfigError:
    """Build the error for an unknown registry name, with the valid choices and a close match."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown {kind} {name!r}; choose one of {sorted(choices)}.{hint}")
