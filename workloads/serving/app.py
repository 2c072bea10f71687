"""The ASGI application: Open Inference Protocol v2 over REST, written directly against ASGI.

Endpoints (``NAME`` is ``--model_name``; ``/versions/VERSION`` may follow ``/v2/models/NAME``):

    GET  /v2/health/live            200 while the process runs
    GET  /v2/health/ready           200 when the model is loaded; 503 once shutdown has begun
    GET  /v2                        server metadata
    GET  /v2/models/NAME            model metadata (inputs, outputs, versions)
    GET  /v2/models/NAME/ready      model readiness
    POST /v2/models/NAME/infer      inference
    GET  /metrics                   Prometheus metrics

Every client error is a 4xx with ``{"error": "..."}``: malformed JSON or a request that does not fit
the model 400, unknown model or version 404, wrong method 405, body over the limit 413. A 5xx means
the server itself failed (and is logged with its traceback).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from workloads.serving.batcher import Batcher, ForwardError
from workloads.serving.errors import RequestError
from workloads.serving.metrics import Metrics
from workloads.serving.model import LoadedModel, decode_infer_request, encode_infer_response
from workloads.serving.payload import PayloadLogger
from workloads.serving.shadow import ShadowMirror

log = logging.getLogger("workloads.serving")
access_log = logging.getLogger("workloads.serving.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SERVER_NAME = "ml-platform-model-server"
SERVER_VERSION = "0.1.0"
JSON = b"application/json"
MODELS = "/v2/models/"


class _DisconnectedError(Exception):
    """The client went away before its request body arrived."""


def _error(message: str) -> bytes:
    return orjson.dumps({"error": message})


class ModelServerApp:
    def __init__(
        self,
        model: LoadedModel,
        batcher: Batcher,
        metrics: Metrics,
        *,
        max_body_bytes: int = 4 << 20,
        payload_logger: PayloadLogger | None = None,
        shadow: ShadowMirror | None = None,
        access_log_sample_rate: float = 0.0,
    ) -> None:
        self.model = model
        self.batcher = batcher
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.payload_logger = payload_logger
        self.shadow = shadow
        self.access_log_sample_rate = access_log_sample_rate
        self.ready = True
        self.draining = False
        name, version = model.name, model.version
        self._infer_paths = {f"{MODELS}{name}/infer", f"{MODELS}{name}/versions/{version}/infer"}
        self._live = orjson.dumps({"live": True})
        self._ready = orjson.dumps({"ready": True})
        self._not_ready = orjson.dumps({"ready": False})
        self._server_metadata = orjson.dumps({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []})
        self._model_metadata = orjson.dumps(model.metadata())

    @property
    def is_ready(self) -> bool:
        return self.ready and not self.draining

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        endpoint, model_label = "infer", self.model.name
        headers: list[tuple[bytes, bytes]] = []
        content_type = JSON
        try:
            if method == "POST" and path in self._infer_paths:
                status, body = await self._infer(scope, receive)
            else:
                endpoint, model_label, status, body, content_type, headers = await self._route(scope, receive)
        except _DisconnectedError:
            self.metrics.observe(model_label, endpoint, 499, time.perf_counter() - started)
            return
        except RequestError as exc:
            status, body = exc.status, _error(exc.message)
            if status == 413:  # do not read the rest of an oversized body
                headers = [(b"connection", b"close")]
        except ForwardError as exc:
            status, body = 500, _error(str(exc))
        except Exception:
            log.exception("unhandled error", extra={"fields": {"method": method, "path": path}})
            status, body = 500, _error("internal server error")
        if self.draining:
            headers = [*headers, (b"connection", b"close")]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(model_label, endpoint, status, elapsed)
        rate = self.access_log_sample_rate
        if rate > 0.0 and (rate >= 1.0 or random.random() < rate):
            client = scope.get("client")
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": f"{client[0]}:{client[1]}" if client else None,
                    }
                },
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- inference -----------------------------------------------------------------------------

    async def _infer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        batcher, model = self.batcher, self.model
        batcher.expect()
        self.metrics.in_flight.inc()
        try:
            try:
                body = await self._read_body(scope, receive)
                request = decode_infer_request(body, model.input, model.output.name)
            except BaseException:
                batcher.unexpect()
                raise
            out = await batcher.infer(request.array)
            rid = request.id or uuid.uuid4().hex
            response = encode_infer_response(model, rid, out)
            if self.payload_logger is not None:
                self.payload_logger.log(rid, body, response)
            if self.shadow is not None:  # the answer is built: mirroring only queues (never awaited)
                self.shadow.mirror(body, out)
            return 200, response
        finally:
            self.metrics.in_flight.dec()

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                if int(value) > limit:  # the HTTP parser has already checked it is a number
                    raise RequestError(413, f"request body of {int(value)} bytes exceeds the limit of {limit} bytes")
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _DisconnectedError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request body exceeds the limit of {limit} bytes")
            if not message.get("more_body", False):
                if not chunks:
                    return chunk
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)

    # -- everything else -----------------------------------------------------------------------

    async def _route(  # noqa: PLR0911 - one return per endpoint and error
        self, scope: Scope, receive: Receive
    ) -> tuple[str, str, int, bytes, bytes, list[tuple[bytes, bytes]]]:
        path: str = scope["path"]
        method: str = scope["method"]
        name = self.model.name
        if path.startswith(MODELS):
            parts = path[len(MODELS) :].split("/")
            requested, version, rest = parts[0], None, parts[1:]
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            action = "/".join(rest)
            endpoint = {"": "metadata", "ready": "ready", "infer": "infer"}.get(action, "other")
            if endpoint == "other":
                return endpoint, "unknown", 404, _error(f"no such endpoint: {path}"), JSON, []
            if requested != name:
                message = f"model {requested!r} is not served here; this server serves {name!r}"
                return endpoint, "unknown", 404, _error(message), JSON, []
            if version is not None and version != self.model.version:
                message = f"model {name!r} has no version {version!r}; it serves version {self.model.version!r}"
                return endpoint, name, 404, _error(message), JSON, []
            allowed = "POST" if endpoint == "infer" else "GET"
            if method != allowed:
                return (
                    endpoint,
                    name,
                    405,
                    _error(f"{method} is not allowed here; use {allowed}"),
                    JSON,
                    [(b"allow", allowed.encode())],
                )
            if endpoint == "infer":  # a path the fast path did not match exactly (e.g. a trailing slash)
                status, body = await self._infer(scope, receive)
                return endpoint, name, status, body, JSON, []
            if endpoint == "ready":
                ok = self.is_ready
                return endpoint, name, 200 if ok else 503, self._ready if ok else self._not_ready, JSON, []
            return endpoint, name, 200, self._model_metadata, JSON, []

        if path == "/v2/health/live":
            endpoint, status, body, ctype = "live", 200, self._live, JSON
        elif path == "/v2/health/ready":
            ok = self.is_ready
            endpoint, status, body, ctype = "ready", 200 if ok else 503, self._ready if ok else self._not_ready, JSON
        elif path in ("/v2", "/v2/"):
            endpoint, status, body, ctype = "server_metadata", 200, self._server_metadata, JSON
        elif path == "/metrics":
            endpoint, status, body, ctype = "metrics", 200, b"", self.metrics.content_type.encode()
        else:
            return "other", name, 404, _error(f"no such endpoint: {path}"), JSON, []
        if method != "GET":
            return endpoint, name, 405, _error(f"{method} is not allowed here; use GET"), JSON, [(b"allow", b"GET")]
        if endpoint == "metrics":
            body = self.metrics.render()
        return endpoint, name, status, body, ctype, []
