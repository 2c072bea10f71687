"""Work that follows an answered inference, off the response path: a bounded queue drained by a few
sender tasks over one HTTP client session. What does not fit the queue, and what is still queued when
the server stops (after a short flush), is dropped and counted by the subclass, never waited for.
Payload logging (payload.py) and shadow mirroring (shadow.py) are the two kinds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic, TypeVar

import aiohttp

log = logging.getLogger("workloads.serving")

Item = TypeVar("Item")


class QueuedSender(Generic[Item]):
    """Subclasses implement `_handle` (one item, with `self._session`) and `_dropped` (count n items)."""

    kind = "sender"  # the tasks' names and the log's

    def __init__(self, queue_size: int, senders: int, timeout: float) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=queue_size)
        self._senders, self._timeout = senders, timeout
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    def _offer(self, item: Item) -> None:
        """Queue `item`; never blocks, never raises (a full queue drops it)."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped(1)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout), connector=aiohttp.TCPConnector(limit=self._senders)
        )
        self._tasks = [asyncio.create_task(self._drain(), name=f"{self.kind}-{i}") for i in range(self._senders)]

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Send what is queued (for at most `flush_timeout` seconds), then stop; the rest is dropped."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), flush_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        left = self._queue.qsize()
        if left:
            self._dropped(left)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _drain(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._handle(item)
            except Exception:  # a sender must survive anything (the senders are the only consumers)
                log.exception("%s failed", self.kind)
                self._failed_unexpectedly()
            finally:
                self._queue.task_done()

    async def _handle(self, item: Item) -> None:
        raise NotImplementedError

    def _dropped(self, n: int) -> None:
        raise NotImplementedError

    def _failed_unexpectedly(self) -> None:
        """Count an item `_handle` raised on (a bug, logged with its traceback)."""
