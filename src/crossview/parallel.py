"""Run independent rendering jobs serially or in a process pool, with the same results.

Used by ``world make`` and ``dem make``: every job seeds itself from its own index, renders with
one torch thread (in the serial path too, so floating-point results do not depend on the worker
count) and writes its files atomically; a failure comes back as one line naming the job.

Workers are forked where possible, so they inherit the caller's module-level state (scenes,
DEMs) copy-on-write; spawned workers receive a pickled copy of that state instead.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from crossview.errors import CrossviewError
from crossview.progress import track

logger = logging.getLogger(__name__)
J = TypeVar("J")

MAX_AUTO_WORKERS = 8
"""Cap of the automatic worker count: each worker holds its own render buffers."""

_POOL: dict[str, Any] = {}
"""In a worker: the job function, the failure formatter and the stop event."""


def usable_cores(cap: int | None = None) -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's core count)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, cap) if cap else n)


def usable_workers(requested: int) -> int:
    """``requested``, or 1 inside a daemonic process (which may not have children)."""
    return 1 if multiprocessing.current_process().daemon else max(1, int(requested))


def mp_context() -> multiprocessing.context.BaseContext:
    """Fork where available (Linux): workers then share the parent's data without copying."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Render with one intra-op thread, as the workers do (same results, no oversubscription)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_jobs(jobs: Sequence[J], run_one: Callable[[J], None],
             describe: Callable[[J, Exception], str], *, workers: int, label: str,
             state: dict[str, Any], state_name: str = "_STATE") -> None:
    """Call ``run_one(job)`` for every job, serially or in ``workers`` processes.

    Args:
        jobs: The jobs (picklable; each identifies its own inputs and outputs).
        run_one: A module-level function that renders one job, reading its inputs from
            ``state``.
        describe: ``(job, error) -> str``: the one-line failure message.
        workers: Process count (1 = in this process).
        label: Progress bar label.
        state: The module-level dict ``run_one`` reads (forked workers inherit it).
        state_name: Its name in ``run_one``'s module (spawned workers fill theirs from a copy).

    Raises:
        CrossviewError: The first failure, as one line; jobs already finished keep their files.

    """
    workers = min(usable_workers(workers), len(jobs))
    if workers <= 1:
        with one_torch_thread():
            for job in track(jobs, label):
                try:
                    run_one(job)
                except Exception as err:
                    raise CrossviewError(describe(job, err)) from err
        return
    ctx = mp_context()
    stop = ctx.Event()
    failure = None
    shipped = None if ctx.get_start_method() == "fork" else (
        run_one.__module__, state_name, dict(state))
    with ctx.Pool(workers, initializer=_init_worker,
                  initargs=(run_one, describe, stop, shipped)) as pool:
        for result in track(pool.imap_unordered(_run_job, jobs), label, total=len(jobs)):
            if result is not None:
                # Queued jobs now return at once; running ones finish writing their files
                # (terminating them would leave temporary files behind).
                failure = result
                stop.set()
                break
        pool.close()
        pool.join()  # a clean exit, so the workers' CPU time and memory reach RUSAGE_CHILDREN
    if failure is not None:
        raise CrossviewError(failure)


def _init_worker(run_one: Callable[[Any], None], describe: Callable[[Any, Exception], str],
                 stop: Any, shipped: tuple[str, str, dict[str, Any]] | None) -> None:
    """Pool initializer: one torch thread per worker, Ctrl-C handled by the parent only."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    if shipped is not None:
        module, name, state = shipped
        getattr(importlib.import_module(module), name).update(state)
    _POOL.update(run=run_one, describe=describe, stop=stop)


def _run_job(job: Any) -> str | None:
    """Worker entry: run one job; returns ``None``, or a one-line failure message.

    Failures travel back as text: exceptions with custom constructors do not always survive
    the pickling between processes, and the parent wants one clear line anyway.
    """
    if _POOL["stop"].is_set():
        return None
    try:
        _POOL["run"](job)
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        logger.debug("job %s failed:\n%s", job, traceback.format_exc())
        return _POOL["describe"](job, err)
    return None
