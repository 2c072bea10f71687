"""Shadow mirroring: a sample of live inferences replayed against a candidate model, off the hot path.

After the live answer is built (never delaying or changing it), a sampled request body is put on a
bounded queue together with the live output; a few sender tasks POST the body unchanged to the
shadow's OIP v2 infer URL, parse its answer and compare it with the live output row by row
(:func:`compare_rows`: the argmax of class scores, the side of a binary classifier's decision
threshold, or values within a tolerance). Everything is counted:

- ``model_server_shadow_requests_total{model, result="ok"|"error"|"dropped"}``: ok = the shadow answered
  2xx and was compared; error = unreachable, non-2xx, timeout, unparsable answer or shape mismatch;
  dropped = the queue was full, the mirror was pausing after a connection failure (1 s, doubling up to
  30 s while the shadow stays unreachable), or requests were still queued at shutdown;
- ``model_server_shadow_predictions_total{model, result="agree"|"disagree"}``: one per compared row;
- ``model_server_shadow_duration_seconds{model}``: the shadow's response time.

A shadow that is down costs counted errors and a single warning in the log, never a failed inference.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import orjson

from workloads.serving.metrics import Metrics
from workloads.serving.senders import QueuedSender

BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0  # seconds the mirror pauses after a connection failure

log = logging.getLogger("workloads.serving.shadow")


@dataclass(frozen=True)
class ShadowConfig:
    url: str  # the shadow's full OIP v2 infer URL
    sample_rate: float = 1.0  # fraction of successful inferences mirrored, 0 < r <= 1
    tolerance: float = 0.0  # outputs of one value per row agree when |live - shadow| <= tolerance
    queue_size: int = 256  # mirrored requests waiting to be sent; more are dropped
    senders: int = 4  # concurrent requests to the shadow
    timeout: float = 5.0  # seconds per shadow request


class ShadowMismatchError(ValueError):
    """The shadow's output cannot be compared with the live one (shape differs)."""


def compare_rows(
    live: np.ndarray, shadow: np.ndarray, tolerance: float, decision_threshold: float | None = None
) -> np.ndarray:
    """Per-row agreement (a bool array, one entry per row of the first axis) of two model outputs.

    When the output's last dimension is over 1 (class scores, logits) a row agrees when the argmax
    over that dimension is the same everywhere in the row; otherwise (one value per row, or per
    position) when every value of the row is within `tolerance` of the live one, or, for a model with a
    `decision_threshold` (a binary classifier's probability), when both fall on the same side of it.
    NaN never agrees.
    Raises :class:`ShadowMismatchError` when the shapes differ.
    """
    if live.shape != shadow.shape:
        raise ShadowMismatchError(f"shadow output shape {list(shadow.shape)} != live {list(live.shape)}")
    if live.ndim == 0:
        raise ShadowMismatchError("outputs without a batch dimension cannot be compared row by row")
    rows = live.shape[0]
    if live.size == 0:
        return np.ones(rows, dtype=bool)
    if live.ndim >= 2 and live.shape[-1] > 1:
        same = np.asarray(np.argmax(live, axis=-1) == np.argmax(shadow, axis=-1))
    elif decision_threshold is not None:
        same = np.asarray((live >= decision_threshold) == (shadow >= decision_threshold)) & ~np.isnan(shadow)
    else:
        diff = np.abs(live.astype(np.float64) - shadow.astype(np.float64))
        same = np.asarray(diff <= tolerance)  # NaN compares False
    return np.asarray(same.reshape(rows, -1).all(axis=1))


def parse_output(body: bytes, output_name: str) -> np.ndarray:
    """The output tensor `output_name` of an OIP v2 infer response (the only output when the name differs).

    Raises ValueError when the body is not such a response.
    """
    doc: Any = orjson.loads(body)
    if type(doc) is not dict or type(doc.get("outputs")) is not list or not doc["outputs"]:
        raise ValueError("not an OIP v2 infer response (no 'outputs')")
    outputs = [o for o in doc["outputs"] if type(o) is dict]
    named = [o for o in outputs if o.get("name") == output_name]
    if named:
        tensor = named[0]
    elif len(outputs) == 1:
        tensor = outputs[0]
    else:
        raise ValueError(f"no output {output_name!r} in the shadow's response")
    shape, data = tensor.get("shape"), tensor.get("data")
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape) or type(data) is not list:
        raise ValueError("output without a valid shape and data")
    array = np.asarray(data, dtype=np.float64)  # raises on nested/ragged or non-numeric data
    if array.ndim != 1 or array.size != int(np.prod(shape)):
        raise ValueError(f"output data of {array.size} values does not fit shape {shape}")
    return array.reshape(shape)


@dataclass(slots=True)
class _Mirrored:
    body: bytes
    live: np.ndarray


class ShadowMirror(QueuedSender[_Mirrored]):
    kind = "shadow-sender"

    def __init__(
        self, config: ShadowConfig, metrics: Metrics, live_output_name: str, decision_threshold: float | None = None
    ) -> None:
        super().__init__(config.queue_size, config.senders, config.timeout)
        self._threshold = decision_threshold
        self.config = config
        self._metrics = metrics
        self._output_name = live_output_name
        self._warned: set[str] = set()
        # after a connection failure the mirror pauses (1 s, doubling to 30 s while it keeps failing): a
        # down shadow costs one attempt per pause, not one per request
        self._paused_until = 0.0
        self._pause = BACKOFF_MIN
        metrics.shadow_init()  # every series exists (at 0) from the start: rates work from the first scrape

    def mirror(self, body: bytes, live_out: np.ndarray) -> None:
        """Queue one answered inference for the shadow (sampled); never blocks, never raises."""
        rate = self.config.sample_rate
        if rate < 1.0 and random.random() >= rate:
            return
        if self._paused():
            self._dropped(1)
            return
        self._offer(_Mirrored(body, live_out))

    def _paused(self) -> bool:
        return bool(self._paused_until) and time.monotonic() < self._paused_until

    def _dropped(self, n: int) -> None:
        self._metrics.shadow_request("dropped", n)

    def _failed_unexpectedly(self) -> None:
        self._metrics.shadow_request("error")

    async def _handle(self, item: _Mirrored) -> None:
        if self._paused():  # queued before the failure
            self._dropped(1)
            return
        await self._send(item)

    async def _send(self, item: _Mirrored) -> None:
        assert self._session is not None
        started = time.perf_counter()
        try:
            async with self._session.post(
                self.config.url, data=item.body, headers={"content-type": "application/json"}
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            self._paused_until = time.monotonic() + self._pause
            self._pause = min(self._pause * 2, BACKOFF_MAX)
            return
        self._paused_until, self._pause = 0.0, BACKOFF_MIN
        self._metrics.shadow_duration(time.perf_counter() - started)
        if not 200 <= status < 300:
            self._failed(f"HTTP {status}: {payload[:200].decode(errors='replace')}")
            return
        try:
            agree = compare_rows(
                item.live, parse_output(payload, self._output_name), self.config.tolerance, self._threshold
            )
        except ValueError as exc:  # unparsable answer or shape mismatch (ShadowMismatchError)
            self._failed(str(exc), "shadow answer not comparable")
            return
        self._metrics.shadow_request("ok")
        n_agree = int(agree.sum())
        self._metrics.shadow_predictions(n_agree, len(agree) - n_agree)

    def _failed(self, reason: str, event: str = "shadow unreachable") -> None:
        self._metrics.shadow_request("error")
        if event not in self._warned:
            # once per kind: a down shadow must not flood the log; the metric counts every failure
            self._warned.add(event)
            log.warning(event, extra={"fields": {"url": self.config.url, "reason": reason}})
