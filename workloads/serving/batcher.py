"""Dynamic micro-batching: concurrent requests share one model forward.

One queue, one batcher task, one forward at a time. The batcher takes the oldest request and every
request already queued behind it (up to `max_batch_size` rows, same trailing shape), and runs one
forward for all of them. While that forward runs, new requests queue up and form the next batch:
under load, batches grow by themselves.

Waiting is adaptive, never a fixed delay: the batcher waits for more requests only while the HTTP
server is known to hold some that are not in the batch yet — received, but whose handler has not
reached the queue (one turn of the event loop brings those), or whose body is still arriving (for at
most `max_wait` after the batch started). With one client nothing else is in the server, and a
request is run at once, without even passing through the batcher task: batching adds no latency at
concurrency 1.

Where the forward runs: in a single worker thread (`inline=False`), so the event loop keeps reading
and parsing requests while torch computes (torch releases the GIL inside its kernels); or, for a
model whose whole forward takes a fraction of a millisecond, inline on the event loop
(`inline=True`): there a thread hop costs more than the forward itself, and the GIL changing hands
between the loop and the worker on every torch op made the tabular sample several times slower
under load (benchmarks/serve_bench.py). The server picks one from the measured forward time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from workloads.serving.metrics import Metrics

log = logging.getLogger("workloads.serving.batcher")


class ForwardError(Exception):
    """The model forward raised (a server-side failure: 500)."""


@dataclass(slots=True)
class _Item:
    array: np.ndarray
    future: asyncio.Future[np.ndarray]


class Batcher:
    def __init__(
        self,
        forward: Callable[[np.ndarray], np.ndarray],
        metrics: Metrics,
        *,
        max_batch_size: int = 32,
        max_wait: float = 0.002,
        max_rows: int | None = None,
        inline: bool = False,
        active_requests: Callable[[], int] | None = None,
    ) -> None:
        self._forward = forward
        self._metrics = metrics
        # never merge past what the model accepts in its batch dimension
        self.max_batch_size = min(max_batch_size, max_rows) if max_rows else max_batch_size
        self.max_wait = max_wait
        self._queue: collections.deque[_Item] = collections.deque()
        self._wakeup = asyncio.Event()
        self.inline = inline
        self._executor = None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-forward")
        self._arriving = 0
        self._busy = False  # the batcher task holds a batch
        # how many requests the HTTP server is handling, this one included: those whose bytes have
        # arrived but whose handler has not run yet are counted there and nowhere else
        self._active = active_requests or (lambda: 1 << 30)
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    # -- request side --------------------------------------------------------------------------

    def expect(self) -> None:
        """A request has arrived and will probably be submitted soon (its body is being read)."""
        self._arriving += 1

    def unexpect(self) -> None:
        """An expected request will not be submitted (it was rejected)."""
        self._arriving -= 1

    async def infer(self, array: np.ndarray) -> np.ndarray:
        """Run an expected request in the next batch; returns its rows of the model output."""
        self._arriving -= 1
        if self._executor is None and not self._busy and not self._queue and self._active() <= 1:
            # Nothing to batch with and the forward runs on this loop anyway: run it now, without
            # the two task switches through the batcher (the common case at low concurrency).
            return self._forward_batch([array], array.shape[0])
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(array, future))
        self._wakeup.set()
        return await future

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- batcher task --------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        """Finish every queued request, then stop the task and the worker thread."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _take(self, batch: list[_Item], rows: int) -> int:
        queue, tail = self._queue, batch[0].array.shape[1:]
        while queue:
            nxt = queue[0].array
            if rows + nxt.shape[0] > self.max_batch_size or nxt.shape[1:] != tail:
                break
            batch.append(queue.popleft())
            rows += nxt.shape[0]
        return rows

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue, wakeup = self._queue, self._wakeup
        while True:
            if not queue:
                if self._closing:
                    return
                wakeup.clear()
                await wakeup.wait()
                continue
            self._busy = True
            try:
                first = queue.popleft()
                batch = [first]
                rows = self._take(batch, first.array.shape[0])
                # Requests already received whose handlers have not run yet: one turn of the loop
                # brings them to the queue (as long as each turn brings some, within max_wait).
                deadline = loop.time() + self.max_wait
                while rows < self.max_batch_size and self._active() > len(batch) and loop.time() < deadline:
                    before = rows
                    await asyncio.sleep(0)
                    rows = self._take(batch, rows)
                    if rows == before:
                        break
                if self.max_wait > 0 and rows < self.max_batch_size and self._arriving > 0:
                    while rows < self.max_batch_size and self._arriving > 0 and not queue:
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            break
                        wakeup.clear()
                        try:
                            await asyncio.wait_for(wakeup.wait(), remaining)
                        except TimeoutError:
                            break
                        rows = self._take(batch, rows)
                self._metrics.queue_depth.set(len(queue))
                arrays = [item.array for item in batch]
                try:
                    if self._executor is None:
                        out = self._forward_batch(arrays, rows)
                    else:
                        out = await loop.run_in_executor(self._executor, self._forward_batch, arrays, rows)
                except ForwardError as exc:
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
                    continue
                start = 0
                for item in batch:
                    n = item.array.shape[0]
                    if not item.future.done():  # the client may have gone away
                        item.future.set_result(out[start : start + n])
                    start += n
            finally:
                self._busy = False

    def _forward_batch(self, arrays: list[np.ndarray], rows: int) -> np.ndarray:
        """One forward of the concatenated batch; ForwardError when the model fails."""
        started = time.perf_counter()
        try:
            out = self._forward(arrays[0] if len(arrays) == 1 else np.concatenate(arrays))
        except Exception as exc:
            log.exception("model forward failed", extra={"fields": {"rows": rows, "requests": len(arrays)}})
            raise ForwardError(f"model forward failed: {type(exc).__name__}") from exc
        if out.shape[:1] != (rows,):
            raise ForwardError(f"the model returned {out.shape[0] if out.ndim else 0} rows for {rows}")
        m = self._metrics
        m.forward_seconds.observe(time.perf_counter() - started)
        m.batch_size.observe(rows)
        m.batch_requests.observe(len(arrays))
        return out
