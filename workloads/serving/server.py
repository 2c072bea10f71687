"""Running the app under uvicorn (uvloop + httptools when installed), with a graceful shutdown.

On SIGTERM (or SIGINT):

1. readiness turns 503 and every response carries ``Connection: close``, so keep-alive clients
   reconnect (to another replica) after their current request;
2. for ``drain_seconds`` the server still accepts connections (for load balancers that route here
   until they see the failed readiness probe; 0 by default);
3. the listening socket closes: no new connections; requests already sent on open connections are
   still read and answered for a short linger;
4. idle connections close; requests in flight and queued in the batcher finish (at most
   ``grace_seconds``); the payload logger and the shadow mirror flush; the process exits 0.

A second signal ends the wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import uvicorn

from workloads.serving.app import ModelServerApp
from workloads.serving.batcher import Batcher
from workloads.serving.errors import UsageError
from workloads.serving.metrics import Metrics
from workloads.serving.model import LoadedModel, forward_seconds
from workloads.serving.payload import LoggerConfig, PayloadLogger
from workloads.serving.shadow import ShadowConfig, ShadowMirror

log = logging.getLogger("workloads.serving")

LINGER_SECONDS = 0.25  # after the listener closes: requests already on the wire still get read
# forward_thread="auto": a forward of a full batch faster than this runs inline on the event loop
INLINE_FORWARD_SECONDS = 0.001
FORWARD_THREAD = ("auto", "always", "never")


@dataclass
class ServerOptions:
    host: str = "0.0.0.0"
    port: int = 8080
    max_batch_size: int = 32
    max_batch_wait_ms: float = 2.0
    max_body_bytes: int = 4 << 20
    drain_seconds: float = 0.0
    grace_seconds: float = 25.0
    keep_alive_seconds: int = 75
    access_log_sample_rate: float = 0.0
    forward_thread: str = "auto"
    logger: LoggerConfig | None = None
    shadow: ShadowConfig | None = None


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _has_httptools() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a one-line error, not a log record."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn's server with our shutdown sequence instead of its immediate one."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_signal = on_signal
        self._signalled = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it after shutdown, and the
        # process would die of SIGTERM instead of exiting 0.
        if self._signalled:  # a second signal: stop waiting
            self.should_exit = True
            self.force_exit = True
            return
        self._signalled = True
        self._on_signal()


class ModelServer:
    def __init__(self, model: LoadedModel, options: ServerOptions) -> None:
        self.model = model
        self.options = options
        self.metrics = Metrics(model.name)
        self.batcher: Batcher | None = None
        self.app: ModelServerApp | None = None
        self.payload_logger: PayloadLogger | None = None
        self.shadow: ShadowMirror | None = None
        self._server: _Uvicorn | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown_task: asyncio.Task[None] | None = None

    def run(self) -> None:
        """Serve until a signal (blocking); returns after a graceful shutdown."""
        sock = bind(self.options.host, self.options.port)
        with asyncio.Runner(loop_factory=_uvloop_factory()) as runner:
            runner.run(self.serve(sock))

    async def serve(self, sock: socket.socket | None = None) -> None:
        opts = self.options
        self._loop = asyncio.get_running_loop()
        batch_dim = self.model.input.dims[0]
        max_rows = min(opts.max_batch_size, batch_dim.high or opts.max_batch_size)
        forward_s = forward_seconds(self.model, max_rows)
        auto = opts.forward_thread == "auto"
        inline = forward_s < INLINE_FORWARD_SECONDS if auto else opts.forward_thread == "never"
        self.batcher = Batcher(
            self.model.forward,
            self.metrics,
            max_batch_size=opts.max_batch_size,
            max_wait=opts.max_batch_wait_ms / 1000.0,
            max_rows=batch_dim.high,
            inline=inline,
            active_requests=self._active_requests,
        )
        if opts.logger is not None:
            self.payload_logger = PayloadLogger(opts.logger, self.metrics)
        if opts.shadow is not None:
            self.shadow = ShadowMirror(opts.shadow, self.metrics, self.model.output.name, self.model.decision_threshold)
        self.app = ModelServerApp(
            self.model,
            self.batcher,
            self.metrics,
            max_body_bytes=opts.max_body_bytes,
            payload_logger=self.payload_logger,
            shadow=self.shadow,
            access_log_sample_rate=opts.access_log_sample_rate,
        )
        config = uvicorn.Config(
            self.app,
            host=opts.host,
            port=opts.port,
            loop="none",  # the running loop (uvloop when run() made it)
            http="httptools" if _has_httptools() else "h11",
            lifespan="off",
            ws="none",
            access_log=False,
            log_config=None,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=opts.keep_alive_seconds,
            timeout_graceful_shutdown=max(int(opts.grace_seconds), 1),
        )
        self._server = _Uvicorn(config, self._signal)
        self.batcher.start()
        if self.payload_logger is not None:
            await self.payload_logger.start()
        if self.shadow is not None:
            await self.shadow.start()
        log.info(
            "serving",
            extra={
                "fields": {
                    "model": self.model.name,
                    "version": self.model.version,
                    "source": self.model.source,
                    "port": opts.port,
                    "max_batch_size": self.batcher.max_batch_size,
                    "max_batch_wait_ms": opts.max_batch_wait_ms,
                    "forward_ms_at_max_batch": round(forward_s * 1000, 3),
                    "forward": "inline" if inline else "worker thread",
                    "payload_logging": opts.logger.url if opts.logger else None,
                    "shadow": opts.shadow.url if opts.shadow else None,
                }
            },
        )
        started = time.monotonic()
        await self._server.serve(sockets=[sock] if sock else None)
        # every connection is closed: nothing can be submitted any more
        await self.batcher.stop()
        # the payload logger and the shadow flush side by side
        await asyncio.gather(*(side.close() for side in (self.payload_logger, self.shadow) if side is not None))
        log.info("stopped", extra={"fields": {"uptime_s": round(time.monotonic() - started, 1)}})

    def _active_requests(self) -> int:
        return len(self._server.server_state.tasks) if self._server is not None else 1 << 30

    def _signal(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.shutdown)

    def shutdown(self) -> None:
        """Begin the graceful shutdown (what SIGTERM does); idempotent."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(self._shutdown())

    async def _shutdown(self) -> None:
        assert self.app is not None and self._server is not None and self.batcher is not None
        server, opts = self._server, self.options
        self.app.draining = True
        log.info(
            "shutdown started",
            extra={
                "fields": {
                    "in_flight": len(server.server_state.tasks),
                    "queued": self.batcher.queued,
                    "drain_seconds": opts.drain_seconds,
                }
            },
        )
        if opts.drain_seconds > 0:
            await asyncio.sleep(opts.drain_seconds)
        for listener in server.servers:
            listener.close()
        await asyncio.sleep(LINGER_SECONDS)
        with contextlib.suppress(Exception):
            log.info(
                "no longer accepting connections",
                extra={"fields": {"open_connections": len(server.server_state.connections)}},
            )
        server.should_exit = True
