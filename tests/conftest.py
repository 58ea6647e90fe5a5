"""Shared test fixtures. Tests run on CPU, one thread per pytest worker, without progress bars."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest
import torch

from tests.cli_runner import CliResult, argv, call_main

os.environ.setdefault("CROSSVIEW_NO_PROGRESS", "1")
os.environ.setdefault("CROSSVIEW_DEVICE", "cpu")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture()
def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    """``run_cli(*args)`` runs ``crossview ARGS...`` in-process (arguments through ``str``).

    Returns ``CliResult(code, out, err)``: the exit code and what capsys captured since its
    last read. Module-scoped fixtures use ``tests.cli_runner.run_cli_plain`` instead.
    """

    def run(*args: object) -> CliResult:
        monkeypatch.setattr(sys, "argv", argv(*args))
        code = call_main()
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
