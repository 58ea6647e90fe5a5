"""Micro-batching: queries that arrive together share one forward pass of the model.

Requests put their query in a queue and await a future. One worker task takes the first query,
waits up to ``batch_wait_ms`` for more (at most ``max_batch``), and runs the batch in a single
worker thread (the model is used by one thread at a time; the event loop keeps accepting
uploads meanwhile). A query whose request already timed out is dropped before the forward pass.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Sequence
from typing import Any

from crossview.errors import CrossviewError

logger = logging.getLogger(__name__)

RunBatch = Callable[[Sequence[Any]], list[Any]]


class MicroBatcher:
    """Collect queries into batches for ``run_batch`` (one call per batch, in a worker thread)."""

    def __init__(self, run_batch: RunBatch, max_batch: int, batch_wait_ms: float) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_ms / 1000.0
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="crossview-model")
        self.batch_sizes: list[int] = []
        """Sizes of the batches run so far (for tests and the load benchmark)."""

    async def start(self) -> None:
        """Start the worker task (on the running event loop)."""
        if self._queue is not None:
            return
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._work())

    async def stop(self) -> None:
        """Stop the worker; pending queries get a 'shutting down' error."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(CrossviewError("the service is shutting down"))
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def submit(self, query: Any) -> Any:
        """Queue ``query`` and wait for its result (exceptions of its batch are re-raised)."""
        if self._queue is None:  # an ASGI server without lifespan events
            await self.start()
        assert self._queue is not None
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((query, fut))
        return await fut

    async def _collect(self) -> list[tuple[Any, asyncio.Future[Any]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_wait_s
        while len(batch) < self.max_batch:
            left = deadline - loop.time()
            if left <= 0 and self._queue.empty():
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), max(left, 0.0)))
            except asyncio.TimeoutError:
                break
        return [(q, f) for q, f in batch if not f.done()]  # done = its request gave up

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            queries = [q for q, _ in batch]
            try:
                results = await loop.run_in_executor(self._pool, self._run_batch, queries)
            except Exception as err:  # noqa: BLE001  (handed to the requests, which answer it)
                if len(batch) > 1 and isinstance(err, CrossviewError):
                    # One bad query must not fail the others: retry each on its own.
                    results = [await self._one(loop, q) for q in queries]
                else:
                    results = [err] * len(batch)
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    async def _one(self, loop: asyncio.AbstractEventLoop, query: Any) -> Any:
        try:
            return (await loop.run_in_executor(self._pool, self._run_batch, [query]))[0]
        except Exception as err:  # noqa: BLE001
            return err
