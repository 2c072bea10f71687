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

import datetime
import logging
import random
from dataclasses import dataclass

import aiohttp
import orjson

from workloads.serving.metrics import Metrics
from workloads.serving.senders import QueuedSender

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


class PayloadLogger(QueuedSender[_Record]):
    kind = "payload-sender"

    def __init__(self, config: LoggerConfig, metrics: Metrics) -> None:
        super().__init__(config.queue_size, config.senders, config.timeout)
        self.config = config
        self._metrics = metrics
        self._want_request = config.mode in ("all", "request")
        self._want_response = config.mode in ("all", "response")
        self._warned = False

    def log(self, rid: str, request: bytes, response: bytes) -> None:
        """Queue the events of one inference (sampled); never blocks, never raises."""
        rate = self.config.sample_rate
        if rate < 1.0 and random.random() >= rate:
            return
        now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        self._offer(
            _Record(rid, request if self._want_request else None, response if self._want_response else None, now)
        )

    def _dropped(self, n: int) -> None:
        self._metrics.payload_event("dropped", n * (int(self._want_request) + int(self._want_response)))

    def _failed_unexpectedly(self) -> None:
        self._metrics.payload_event("failed")

    async def _handle(self, item: _Record) -> None:
        if item.request is not None:
            await self._send(item, REQUEST_TYPE, item.request)
        if item.response is not None:
            await self._send(item, RESPONSE_TYPE, item.response)

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
