"""Prometheus metrics of the model server (``GET /metrics``), in a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

# Request latencies on a CPU server are fractions of a millisecond to tens of milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    """Counters and histograms; label children are cached so the hot path does one dict lookup."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, model: str) -> None:
        self.model = model
        r = self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        gc_collector.GCCollector(registry=r)
        self._requests = Counter(
            "model_server_requests",
            "HTTP requests by model, endpoint and status code.",
            ["model", "endpoint", "code"],
            registry=r,
        )
        self._latency = Histogram(
            "model_server_request_duration_seconds",
            "Time from the request's arrival to its response, by model and endpoint.",
            ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "model_server_batch_size",
            "Rows per model forward (dynamic micro-batching).",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        ).labels(model)
        self.batch_requests = Histogram(
            "model_server_batch_requests",
            "Requests merged into one model forward.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        ).labels(model)
        self.forward_seconds = Histogram(
            "model_server_forward_duration_seconds",
            "Duration of one batched model forward.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ).labels(model)
        self.queue_depth = Gauge(
            "model_server_queue_depth", "Requests waiting for a batch.", ["model"], registry=r
        ).labels(model)
        self.in_flight = Gauge(
            "model_server_in_flight_requests", "Inference requests being handled.", ["model"], registry=r
        ).labels(model)
        self._payload = Counter(
            "model_server_payload_log_events",
            "Payload-logging CloudEvents: sent, failed (the logger refused or was unreachable) or "
            "dropped (the bounded queue was full).",
            ["model", "result"],
            registry=r,
        )
        self._shadow_requests = Counter(
            "model_server_shadow_requests",
            "Inferences mirrored to the shadow model: ok (answered and compared), error (unreachable, "
            "non-2xx, timeout, unparsable or shape mismatch) or dropped (the bounded queue was full, the "
            "mirror was pausing after a connection failure, or the server stopped).",
            ["model", "result"],
            registry=r,
        )
        self._shadow_predictions = Counter(
            "model_server_shadow_predictions",
            "Rows compared between the live and the shadow model: agree or disagree.",
            ["model", "result"],
            registry=r,
        )
        self._shadow_duration = Histogram(
            "model_server_shadow_duration_seconds",
            "Response time of the shadow model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, model: str, endpoint: str, code: int, seconds: float) -> None:
        key = (model, endpoint, code)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (
                self._requests.labels(model, endpoint, str(code)),
                self._latency.labels(model, endpoint),
            )
        child[0].inc()
        child[1].observe(seconds)

    def payload_event(self, result: str, n: int = 1) -> None:
        self._payload.labels(self.model, result).inc(n)

    def shadow_init(self) -> None:
        """Create every shadow series at 0 (only on a server that mirrors to a shadow)."""
        for result in ("ok", "error", "dropped"):
            self._shadow_requests.labels(self.model, result)
        for result in ("agree", "disagree"):
            self._shadow_predictions.labels(self.model, result)
        self._shadow_duration.labels(self.model)

    def shadow_request(self, result: str, n: int = 1) -> None:
        self._shadow_requests.labels(self.model, result).inc(n)

    def shadow_duration(self, seconds: float) -> None:
        self._shadow_duration.labels(self.model).observe(seconds)

    def shadow_predictions(self, agree: int, disagree: int) -> None:
        if agree:
            self._shadow_predictions.labels(self.model, "agree").inc(agree)
        if disagree:
            self._shadow_predictions.labels(self.model, "disagree").inc(disagree)

    def render(self) -> bytes:
        return generate_latest(self.registry)
