"""Payload logging: inference requests and responses as CloudEvents to a logger URL, off the hot path.

The events match what KServe's logger sends (binary content mode by default): ``ce-specversion``,
``ce-id`` (the inference id, the same for a request and its response), ``ce-type``
(``org.kubeflow.serving.inference.request`` / ``.response``), ``ce-source``, ``ce-time`` and the
extensions ``ce-inferenceservicename``, ``ce-namespace``, ``ce-component``, ``ce-endpoint``; the body is
the JSON payload. Structured mode (``application/cloudevents+json``) is also available.

A sampled request is put on a bounded queue (never awaited by the response path); a few sender tasks
post the events. When the queue is full (the logger is slow or down) events are dropped; every event
is counted in ``model_server_payload_log_events_total{result="sent"|"failed"|"dropped"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
from dataclasses import dataclass

import aiohttp
import orjson

from workloads.serving.metrics import Metrics

log = logging.getLogger("workloads.serving.payload")

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
MODES = ("all", "request", "response")
FORMATS = ("binary", "structured")


@dataclass(frozen=True)
class LoggerConfig:
    url: str
    mode: str = "all"
    sample_rate: float = 1.0
    format: str = "binary"
    source: str = "http://localhost:8080/"
    service_name: str = ""
    namespace: str = ""
    component: str = "predictor"
    endpoint: str = ""
    queue_size: int = 1000
    senders: int = 2
    timeout: float = 5.0


@dataclass(slots=True)
class _Record:
    id: str
    request: bytes | None
    response: bytes | None
    time: str


class PayloadLogger:
    def __init__(self, config: LoggerConfig, metrics: Metrics) -> None:
        self.config = config
        self._metrics = metrics
        self._queue: asyncio.Queue[_Record] = asyncio.Queue(maxsize=config.queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._want_request = config.mode in ("all", "request")
        self._want_response = config.mode in ("all", "response")
        self._warned = False

    def log(self, rid: str, request: bytes, response: bytes) -> None:
        """Queue the events of one inference (sampled); never blocks, never raises."""
        rate = self.config.sample_rate
        if rate < 1.0 and random.random() >= rate:
            return
        now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        record = _Record(
            rid,
            request if self._want_request else None,
            response if self._want_response else None,
            now,
        )
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._metrics.payload_event("dropped", int(self._want_request) + int(self._want_response))

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            connector=aiohttp.TCPConnector(limit=self.config.senders),
        )
        self._tasks = [
            asyncio.create_task(self._sender(), name=f"payload-sender-{i}") for i in range(self.config.senders)
        ]

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Send what is queued (for at most `flush_timeout` seconds), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), flush_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        left = self._queue.qsize()
        if left:
            self._metrics.payload_event("dropped", left * (int(self._want_request) + int(self._want_response)))
        if self._session is not None:
            await self._session.close()

    async def _sender(self) -> None:
        while True:
            record = await self._queue.get()
            try:
                if record.request is not None:
                    await self._send(record, REQUEST_TYPE, record.request)
                if record.response is not None:
                    await self._send(record, RESPONSE_TYPE, record.response)
            finally:
                self._queue.task_done()

    def _attributes(self, record: _Record, ce_type: str) -> dict[str, str]:
        c = self.config
        attrs = {
            "specversion": "1.0",
            "id": record.id,
            "type": ce_type,
            "source": c.source,
            "time": record.time,
            "inferenceservicename": c.service_name,
            "component": c.component,
        }
        if c.namespace:
            attrs["namespace"] = c.namespace
        if c.endpoint:
            attrs["endpoint"] = c.endpoint
        return attrs

    async def _send(self, record: _Record, ce_type: str, payload: bytes) -> None:
        assert self._session is not None
        attrs = self._attributes(record, ce_type)
        if self.config.format == "binary":
            headers = {f"ce-{k}": v for k, v in attrs.items()}
            headers["content-type"] = "application/json"
            body = payload
        else:
            headers = {"content-type": "application/cloudevents+json"}
            body = orjson.dumps({**attrs, "datacontenttype": "application/json", "data": orjson.Fragment(payload)})
        try:
            async with self._session.post(self.config.url, data=body, headers=headers) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                reason = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        self._metrics.payload_event("sent" if ok else "failed")
        if not ok and not self._warned:
            # once: a down logger must not flood the log; the metric counts every failure
            self._warned = True
            log.warning("payload logger unreachable", extra={"fields": {"url": self.config.url, "reason": reason}})
