"""Shadow mirroring of the model server over real HTTP on loopback.

Two models trained here by the training workload (A, and B: another seed, barely trained). Shadows
serve them as ``credit-shadow``; live servers of A (``credit``) mirror to them: to A (everything
agrees), to B (a subprocess configured through ``MODEL_SERVER_SHADOW_*``, the way the platform sets it:
disagreements counted), to a port where nothing listens (answers byte for byte those of a server
without a shadow; errors counted, one warning). Plus the pure comparison, the answer parsing, the
bounded queue and sampling, and the flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.workloads.conftest import LOOPBACK, REPO, free_port, wait_for
from tests.workloads.helpers import cli_env, train_tabular
from workloads.serving.metrics import Metrics
from workloads.serving.model import load_model
from workloads.serving.server import ModelServer, ServerOptions, bind
from workloads.serving.shadow import ShadowConfig, ShadowMirror, ShadowMismatchError, compare_rows, parse_output

NAME = "credit"
SHADOW = "credit-shadow"
FEATURES = 7
TOLERANCE = 1e-6  # the same model may round the last bit differently when its batch differs


# -- servers ------------------------------------------------------------------------------------------


class LoopThread:
    """An event loop in a daemon thread: the in-process servers run there, side by side."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Served:
    port: int
    server: ModelServer | None = None
    done: Future[Any] | None = None
    proc: subprocess.Popen[str] | None = None
    log: Path | None = None

    def url(self, model: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/v2/models/{model}/infer"


def serve_in_process(loops: LoopThread, run_dir: Path, name: str, shadow: ShadowConfig | None = None) -> Served:
    sock = bind(LOOPBACK, 0)
    port = sock.getsockname()[1]
    server = ModelServer(load_model(str(run_dir), name), ServerOptions(host=LOOPBACK, port=port, shadow=shadow))
    return Served(port, server, loops.submit(server.serve(sock)))


def call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ready(served: Served) -> bool:
    return call(served.port, "GET", "/v2/health/ready")[0] == 200


def metric(served: Served, name: str, **labels: str) -> float:
    """One sample of the server's /metrics (0 when absent)."""
    _, body = call(served.port, "GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith((name + "{", name + " ")):
            head, value = line.rsplit(" ", 1)
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                return float(value)
    return 0.0


def infer_body(rows: list[list[float]], rid: str) -> bytes:
    data = [v for row in rows for v in row]
    tensor = {"name": "x", "shape": [len(rows), FEATURES], "datatype": "FP32", "data": data}
    return json.dumps({"id": rid, "inputs": [tensor]}).encode()


def random_rows(n: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[round(rng.gauss(0, 3), 4) for _ in range(FEATURES)] for _ in range(n)]


def send(served: Served, requests: int, seed: int) -> tuple[list[bytes], int]:
    """`requests` inferences of 1-3 rows, one at a time: (the answers, rows in all)."""
    answers, rows = [], 0
    for i in range(requests):
        batch = random_rows(1 + i % 3, seed * 1000 + i)
        status, body = call(served.port, "POST", f"/v2/models/{NAME}/infer", infer_body(batch, f"r-{seed}-{i}"))
        assert status == 200, body
        answers.append(body)
        rows += len(batch)
    return answers, rows


def shadow_counts(served: Served) -> dict[str, float]:
    counts = {r: metric(served, "model_server_shadow_requests_total", model=NAME, result=r) for r in ("ok", "error")}
    for r in ("agree", "disagree"):
        counts[r] = metric(served, "model_server_shadow_predictions_total", model=NAME, result=r)
    return counts


class Stub:
    """A fake shadow on loopback answering every POST with a canned (status, body), after `delay` seconds."""

    def __init__(self, status: int, body: bytes, delay: float = 0.0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                time.sleep(delay)
                with contextlib.suppress(OSError):  # the mirror may have given up (shutdown) meanwhile
                    self.send_response(status)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/v2/models/m-shadow/infer"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """shadow_a / shadow_b: models A and B as ``credit-shadow``; plain: A without a shadow; same: A
    mirroring to shadow_a; down: A mirroring to a dead port; slow: A mirroring to a stub that answers
    after a second, through a queue of 2 and one sender; diff: a subprocess serving A, mirroring to
    shadow_b as the environment (MODEL_SERVER_SHADOW_*) says."""
    model_a = train_tabular(tmp_path_factory.mktemp("model-a"), rows=1000, seed=0, steps=100)
    model_b = train_tabular(tmp_path_factory.mktemp("model-b"), rows=1000, seed=1, steps=2)
    loops = LoopThread()
    fleet: dict[str, Served] = {}
    slow_stub = Stub(200, b"{}", delay=1.0)
    try:
        fleet["shadow_b"] = serve_in_process(loops, model_b, SHADOW)
        log = tmp_path_factory.mktemp("logs") / "diff.log"
        env = cli_env(
            {
                "MODEL_SERVER_SHADOW_URL": fleet["shadow_b"].url(SHADOW),
                "MODEL_SERVER_SHADOW_SAMPLE_RATE": "1",
                "MODEL_SERVER_SHADOW_TOLERANCE": str(TOLERANCE),
            }
        )
        port = free_port()
        cmd = [sys.executable, "-m", "workloads.serving", "--model_name", NAME, "--model_dir", str(model_a)]
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*cmd, "--http_port", str(port), "--host", LOOPBACK],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        fleet["diff"] = Served(port, proc=proc, log=log)  # its start-up overlaps the in-process ones
        fleet["shadow_a"] = serve_in_process(loops, model_a, SHADOW)
        fleet["plain"] = serve_in_process(loops, model_a, NAME)
        fleet["same"] = serve_in_process(
            loops, model_a, NAME, ShadowConfig(url=fleet["shadow_a"].url(SHADOW), tolerance=TOLERANCE)
        )
        dead = f"http://{LOOPBACK}:{free_port()}/v2/models/{SHADOW}/infer"  # nothing listens there
        fleet["down"] = serve_in_process(loops, model_a, NAME, ShadowConfig(url=dead, timeout=2.0))
        slow = ShadowConfig(url=slow_stub.url, queue_size=2, senders=1)
        fleet["slow"] = serve_in_process(loops, model_a, NAME, slow)
        for name, served in fleet.items():
            try:
                wait_for(lambda s=served: ready(s), 120, f"model server {name}", served.proc)
            except Exception as exc:
                raise RuntimeError(f"{exc}\n{served.log.read_text()[-3000:] if served.log else ''}") from exc
        yield fleet
    finally:
        for served in fleet.values():
            if served.server is not None:
                loops.loop.call_soon_threadsafe(served.server.shutdown)
            elif served.proc is not None and served.proc.poll() is None:
                served.proc.send_signal(signal.SIGTERM)
        for served in fleet.values():
            if served.done is not None:
                with contextlib.suppress(Exception):
                    served.done.result(timeout=30)
            elif served.proc is not None:
                try:
                    served.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    served.proc.kill()
                    served.proc.wait()
        loops.close()
        slow_stub.close()


# -- live + shadow over HTTP ------------------------------------------------------------------------


def test_the_same_model_as_shadow_agrees_on_every_row(fleet: dict[str, Served]) -> None:
    same, shadow = fleet["same"], fleet["shadow_a"]
    answers, rows = send(same, 12, seed=1)
    assert answers == send(fleet["plain"], 12, seed=1)[0]  # the live answers are those of a server without a shadow
    wait_for(lambda: shadow_counts(same)["ok"] == 12, 30, "12 compared shadow answers")
    assert shadow_counts(same) == {"ok": 12, "error": 0, "agree": rows, "disagree": 0}
    assert metric(same, "model_server_shadow_requests_total", result="dropped") == 0
    assert metric(same, "model_server_shadow_duration_seconds_count", model=NAME) == 12
    # the shadow got every body unchanged, on its own infer path
    assert metric(shadow, "model_server_requests_total", model=SHADOW, endpoint="infer", code="200") == 12
    # a server without a shadow exports no shadow series
    assert "model_server_shadow_requests_total{" not in call(fleet["plain"].port, "GET", "/metrics")[1].decode()


def test_another_model_as_shadow_disagrees_and_the_environment_configures_it(fleet: dict[str, Served]) -> None:
    diff = fleet["diff"]  # a subprocess: MODEL_SERVER_SHADOW_URL etc. went through the CLI
    answers, rows = send(diff, 9, seed=2)
    assert answers == send(fleet["plain"], 9, seed=2)[0]
    wait_for(lambda: shadow_counts(diff)["ok"] == 9, 30, "9 compared shadow answers")
    assert metric(fleet["shadow_b"], "model_server_requests_total", model=SHADOW, endpoint="infer", code="200") == 9
    # model B is barely trained: a row disagrees where its decision (P >= the artifact's decision_threshold,
    # 0.5) differs from A's, whatever the probabilities
    disagree = 0
    for i, answer in enumerate(answers):
        batch = random_rows(1 + i % 3, 2000 + i)
        status, body = call(fleet["shadow_b"].port, "POST", f"/v2/models/{SHADOW}/infer", infer_body(batch, "x"))
        assert status == 200, body
        live_p, shadow_p = (np.array(json.loads(b)["outputs"][0]["data"]) for b in (answer, body))
        disagree += int(((live_p >= 0.5) != (shadow_p >= 0.5)).sum())
    assert disagree > 0
    assert shadow_counts(diff) == {"ok": 9, "error": 0, "agree": rows - disagree, "disagree": disagree}
    assert diff.log is not None
    serving = [json.loads(line) for line in diff.log.read_text().splitlines() if '"event":"serving"' in line]
    assert serving[0]["shadow"] == fleet["shadow_b"].url(SHADOW)


def test_a_dead_shadow_changes_nothing_and_the_mirror_backs_off(
    fleet: dict[str, Served], caplog: pytest.LogCaptureFixture
) -> None:
    down, plain = fleet["down"], fleet["plain"]
    with caplog.at_level(logging.WARNING, logger="workloads.serving.shadow"):
        answers, _ = send(down, 6, seed=3)
        assert answers == send(plain, 6, seed=3)[0]  # byte for byte

        def dropped() -> float:
            return metric(down, "model_server_shadow_requests_total", model=NAME, result="dropped")

        wait_for(lambda: shadow_counts(down)["error"] + dropped() == 6, 30, "6 mirrors failed or dropped")
        # the first refused connection pauses the mirror (1 s): the requests after it are not even attempted
        errors = shadow_counts(down)["error"]
        assert 1 <= errors <= 2 and shadow_counts(down)["ok"] == 0
        time.sleep(1.2)  # the pause is over: the next request is tried again, and fails again
        assert send(down, 1, seed=5)[0] == send(plain, 1, seed=5)[0]
        wait_for(lambda: shadow_counts(down)["error"] == errors + 1, 30, "one more attempt")
        send(down, 3, seed=6)  # within the doubled pause (2 s): dropped, not attempted
        wait_for(lambda: dropped() == 6 - errors + 3, 30, "3 more dropped")
    assert shadow_counts(down)["error"] == errors + 1
    assert metric(down, "model_server_requests_total", model=NAME, endpoint="infer", code="200") == 10
    warnings = [r for r in caplog.records if r.name == "workloads.serving.shadow"]
    assert [r.getMessage() for r in warnings] == ["shadow unreachable"]  # once, not once per request
    fields = warnings[0].__dict__["fields"]
    assert fields["url"].endswith(f"/v2/models/{SHADOW}/infer")
    assert "ConnectionRefused" in fields["reason"] or "Cannot connect" in fields["reason"], fields


def test_a_slow_shadow_never_delays_the_answer_and_overflow_is_dropped(fleet: dict[str, Served]) -> None:
    slow, plain = fleet["slow"], fleet["plain"]  # the shadow takes 1 s an answer; one sender, a queue of 2
    started = time.perf_counter()
    answers, _ = send(slow, 8, seed=4)
    assert time.perf_counter() - started < 0.9  # all 8 answered before the shadow answered once
    assert answers == send(plain, 8, seed=4)[0]
    # one request is at the shadow, two wait in the queue: the other five are dropped, and counted
    dropped = metric(slow, "model_server_shadow_requests_total", model=NAME, result="dropped")
    assert 4 <= dropped <= 5, dropped


# -- the comparison and the shadow's answer ---------------------------------------------------------


def test_one_value_per_row_agrees_within_the_tolerance() -> None:
    live = np.array([0.5, 0.25, 0.9], dtype=np.float32)
    assert compare_rows(live, live.copy(), 0.0).tolist() == [True, True, True]
    shadow = np.array([0.5, 0.26, 0.9001], dtype=np.float64)
    assert compare_rows(live, shadow, 0.0).tolist() == [True, False, False]
    assert compare_rows(live, shadow, 0.001).tolist() == [True, False, True]
    assert compare_rows(live, shadow, 0.02).tolist() == [True, True, True]
    assert compare_rows(live, np.array([np.nan, 0.25, 0.9]), 1.0).tolist() == [False, True, True]
    # a binary classifier's probabilities: the decisions at its decision_threshold compare, not the values
    assert compare_rows(live, np.array([0.7, 0.01, 0.4]), 0.0, 0.5).tolist() == [True, True, False]
    assert compare_rows(live, np.array([0.5, np.nan, 0.9]), 0.0, 0.5).tolist() == [True, False, True]
    # a row of several values with a last dimension of 1: every value must be within the tolerance
    live2 = np.array([[[0.1], [0.2]], [[0.3], [0.4]]])
    shifted = live2 + np.array([[[0.0], [0.5]], [[0.0], [0.0]]])
    assert compare_rows(live2, shifted, 0.1).tolist() == [False, True]


def test_class_scores_agree_on_the_argmax() -> None:
    live = np.array([[0.1, 0.7, 0.2], [2.0, -1.0, 0.0], [0.3, 0.3, 0.4]])
    shadow = np.array([[0.0, 0.9, 0.1], [0.0, 3.0, 0.0], [0.1, 0.2, 0.7]])
    assert compare_rows(live, shadow, 0.0).tolist() == [True, False, True]  # values differ; the argmax decides
    # logits [batch, sequence, vocabulary]: a row agrees when every position has the same argmax
    logits = np.zeros((2, 3, 5))
    logits[:, :, 1] = 1.0
    other = logits.copy()
    other[1, 2, 4] = 9.0
    assert compare_rows(logits, other, 0.0).tolist() == [True, False]


def test_a_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ShadowMismatchError, match=r"shadow output shape \[2\] != live \[3\]"):
        compare_rows(np.zeros(3), np.zeros(2), 0.0)
    with pytest.raises(ShadowMismatchError, match="shape"):
        compare_rows(np.zeros((2, 3)), np.zeros((2, 4)), 0.0)


def test_parsing_the_shadows_answer() -> None:
    def answer(*outputs: dict[str, Any]) -> bytes:
        return json.dumps({"model_name": SHADOW, "id": "1", "outputs": list(outputs)}).encode()

    out = {"name": "probability", "datatype": "FP32", "shape": [2], "data": [0.5, 0.25]}
    assert parse_output(answer(out), "probability").tolist() == [0.5, 0.25]
    assert parse_output(answer({**out, "name": "p"}), "probability").tolist() == [0.5, 0.25]  # the only output
    logits = {"name": "logits", "shape": [1, 2, 2], "data": [1, 2, 3, 4]}
    assert parse_output(answer({**out, "name": "p"}, logits), "logits").shape == (1, 2, 2)
    cases: list[tuple[bytes, str | None]] = [
        (b"not json", None),
        (b"[]", "no 'outputs'"),
        (answer(), "no 'outputs'"),
        (answer({**out, "name": "a"}, {**out, "name": "b"}), "no output 'probability'"),
        (answer({**out, "shape": [3]}), "does not fit shape"),
        (answer({**out, "shape": "2"}), "valid shape"),
        (answer({**out, "data": ["x", "y"]}), None),
    ]
    for body, message in cases:
        with pytest.raises(ValueError, match=message):
            parse_output(body, "probability")


def test_refusals_bad_answers_and_shape_mismatches_are_errors(caplog: pytest.LogCaptureFixture) -> None:
    good = json.dumps({"outputs": [{"name": "y", "shape": [2], "data": [1.0, 2.0]}]}).encode()
    stubs = [Stub(503, b"busy"), Stub(200, b"<html>"), Stub(200, good)]
    metrics = Metrics("m")

    async def scenario() -> None:
        for stub, live in zip(stubs, (np.zeros(2), np.zeros(2), np.zeros(3)), strict=True):  # the last: 3 rows != 2
            mirror = ShadowMirror(ShadowConfig(url=stub.url, senders=1), metrics, "y")
            await mirror.start()
            mirror.mirror(b"{}", live)
            await mirror.close(flush_timeout=15)  # generous: a loaded machine must not turn this into a drop

    try:
        with caplog.at_level(logging.WARNING, logger="workloads.serving.shadow"):
            asyncio.run(scenario())
    finally:
        for stub in stubs:
            stub.close()
    text = metrics.render().decode()
    assert 'model_server_shadow_requests_total{model="m",result="error"} 3.0' in text
    assert 'model_server_shadow_requests_total{model="m",result="ok"} 0.0' in text
    assert 'model_server_shadow_predictions_total{model="m",result="disagree"} 0.0' in text
    assert 'model_server_shadow_duration_seconds_count{model="m"} 3.0' in text  # each stub answered
    reasons = [r.__dict__["fields"]["reason"] for r in caplog.records]
    assert reasons[0] == "HTTP 503: busy"
    assert "shadow output shape [2] != live [3]" in reasons[-1]


def test_sampling_and_the_bounded_queue() -> None:
    metrics = Metrics("m")

    async def scenario() -> None:
        # senders not started: nothing drains the queue
        full = ShadowMirror(ShadowConfig(url="http://127.0.0.1:9/", queue_size=3), metrics, "y")
        for _ in range(5):
            full.mirror(b"{}", np.zeros(1))
        assert full._queue.qsize() == 3
        await full.close(flush_timeout=0.1)  # what is still queued at shutdown is dropped too

        random.seed(0)
        sampled = ShadowMirror(
            ShadowConfig(url="http://127.0.0.1:9/", sample_rate=0.25, queue_size=10_000), metrics, "y"
        )
        for _ in range(2000):
            sampled.mirror(b"{}", np.zeros(1))
        assert 400 < sampled._queue.qsize() < 600

    asyncio.run(scenario())
    assert 'model_server_shadow_requests_total{model="m",result="dropped"} 5.0' in metrics.render().decode()


class _Clock:
    """The shadow module's `time`, with a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now


class _Session:
    """Stands in for the mirror's aiohttp session: each post fails with the next exception, or answers."""

    status = 200

    def __init__(self) -> None:
        self.outcomes: list[BaseException | None] = []
        self.posts = 0
        self._next: BaseException | None = None

    def post(self, url: str, **kwargs: Any) -> _Session:
        self.posts += 1
        self._next = self.outcomes.pop(0)
        return self

    async def __aenter__(self) -> _Session:
        if self._next is not None:
            raise self._next
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return json.dumps({"outputs": [{"name": "y", "shape": [1], "data": [0.0]}]}).encode()


def test_the_pause_after_a_refusal_or_timeout_doubles_from_1_s_to_a_30_s_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused connections and timeouts in a row: the mirror pauses 1, 2, 4, 8, 16 s, then 30 s and stays
    there; during a pause mirrored requests are dropped without an attempt, at its end the next is tried;
    an answer resets the pause to 1 s."""
    from workloads.serving import shadow as shadow_mod

    clock = _Clock()
    monkeypatch.setattr(shadow_mod, "time", clock)
    metrics = Metrics("m")
    session = _Session()
    pauses: list[float] = []

    async def attempt(outcome: BaseException | None) -> None:
        """One mirrored request, sent as a sender task sends it, ending in `outcome`."""
        session.outcomes.append(outcome)
        mirror.mirror(b"{}", np.zeros(1))
        assert mirror._queue.qsize() == 1, "a request after the pause must be queued"
        await mirror._handle(mirror._queue.get_nowait())
        assert not session.outcomes, "it must have been sent"

    async def scenario() -> None:
        failures = [ConnectionRefusedError(111, "Connection refused"), TimeoutError()] * 5
        for failure in failures:
            started = clock.now
            await attempt(failure)
            pause = mirror._paused_until - started
            pauses.append(pause)
            # within the pause: dropped, never sent
            clock.now = started + pause - 0.01
            mirror.mirror(b"{}", np.zeros(1))
            assert mirror._queue.qsize() == 0 and session.posts == len(pauses)
            clock.now = started + pause  # the pause is over
        await attempt(None)  # the shadow answers: the pause starts again at 1 s
        started = clock.now
        await attempt(TimeoutError())
        pauses.append(mirror._paused_until - started)

    mirror = ShadowMirror(ShadowConfig(url="http://127.0.0.1:9/", senders=1), metrics, "y")
    mirror._session = session  # type: ignore[assignment]
    asyncio.run(scenario())
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0, 1.0]
    text = metrics.render().decode()
    assert 'model_server_shadow_requests_total{model="m",result="error"} 11.0' in text
    assert 'model_server_shadow_requests_total{model="m",result="dropped"} 10.0' in text
    assert 'model_server_shadow_requests_total{model="m",result="ok"} 1.0' in text


# -- flags ------------------------------------------------------------------------------------------


def test_shadow_flags_and_environment() -> None:
    from workloads.serving.cli import parse_args, shadow_config

    base = {"MODEL_SERVER_MODEL_NAME": "m", "MODEL_SERVER_MODEL_DIR": "x", "PROTOCOL": "v2"}
    assert shadow_config(parse_args([], base)) is None
    url = "http://m-shadow-predictor.team-a.svc.cluster.local/v2/models/m-shadow/infer"
    env = {
        **base,
        "MODEL_SERVER_SHADOW_URL": url,
        "MODEL_SERVER_SHADOW_SAMPLE_RATE": "0.1",
        "MODEL_SERVER_SHADOW_TOLERANCE": "0.001",
    }
    config = shadow_config(parse_args([], env))
    assert config is not None
    assert (config.url, config.sample_rate, config.tolerance) == (url, 0.1, 0.001)
    config = shadow_config(parse_args(["--shadow_sample_rate", "1", "--shadow-tolerance", "0"], env))  # a flag wins
    assert config is not None and (config.sample_rate, config.tolerance) == (1.0, 0.0)
    config = shadow_config(parse_args(["--shadow_url", url], base))
    assert config is not None and (config.sample_rate, config.tolerance) == (1.0, 0.0)  # the defaults


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--shadow_url", "ftp://x"], {}, "error: --shadow_url: 'ftp://x' is not an http(s) URL"),
        (["--shadow_sample_rate", "0"], {}, "error: --shadow_sample_rate: invalid value '0'"),
        (["--shadow_sample_rate", "1.5"], {}, "error: --shadow_sample_rate: invalid value '1.5'"),
        (
            [],
            {"MODEL_SERVER_SHADOW_SAMPLE_RATE": "half"},
            "error: MODEL_SERVER_SHADOW_SAMPLE_RATE: invalid value 'half'",
        ),
        (["--shadow_tolerance", "-0.1"], {}, "error: --shadow_tolerance: invalid value '-0.1'"),
        ([], {"MODEL_SERVER_SHADOW_TOLERANCE": "nan"}, "error: MODEL_SERVER_SHADOW_TOLERANCE: invalid value 'nan'"),
        (["--shadow_tolerance", "inf"], {}, "error: --shadow_tolerance: invalid value 'inf'"),
    ],
)
def test_bad_shadow_flags_are_one_line_errors(
    args: list[str],
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workloads.serving.cli import main

    monkeypatch.delenv("PROTOCOL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--model_name", "m", "--model_dir", "x", *args]) == 2
    assert capsys.readouterr().err.strip() == message
