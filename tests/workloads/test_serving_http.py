"""The sample model server over real HTTP on loopback: a model trained here by the training workload,
served by ``python -m workloads.serving`` in a subprocess (from a local directory and from the moto S3).

Covers health and metadata, inference equal to the model's own output, a 4xx for every class of bad
request (and a fuzz that never gets a 5xx), a 2,000-request load at concurrency 16, graceful shutdown
under load, payload logging to a real receiver, micro-batching, and one-line start-up errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import torch

from tests.workloads.conftest import LOOPBACK, REPO, S3Server, free_port, wait_for
from tests.workloads.helpers import cli_env, gpt_config, train_tabular
from workloads.serving.batcher import Batcher, ForwardError
from workloads.serving.errors import RequestError, UsageError
from workloads.serving.metrics import Metrics
from workloads.serving.model import decode_infer_request, load_model
from workloads.serving.payload import REQUEST_TYPE, RESPONSE_TYPE, LoggerConfig, PayloadLogger
from workloads.serving.server import bind
from workloads.training.config import parse_config
from workloads.training.outputs import export_artifact

NAME = "credit"
FEATURES = 7
MAX_BODY = 16 * 1024  # the test server's --max_body_bytes


# -- servers and clients ------------------------------------------------------------------------------


@dataclass
class Served:
    port: int
    proc: subprocess.Popen
    log: Path

    def path(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    @property
    def infer_url(self) -> str:
        return self.path(f"/v2/models/{NAME}/infer")

    def stop(self, timeout: float = 60) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def launch(args: list[str], log: Path, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    cmd = [sys.executable, "-m", "workloads.serving", "--model_name", NAME, "--http_port", str(port), *args]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env or cli_env(), stdout=out, stderr=subprocess.STDOUT)
    return Served(port, proc, log)


def wait_ready(served: Served) -> Served:
    try:
        wait_for(lambda: get(served, "/v2/health/ready")[0] == 200, 120, "model server", served.proc)
    except Exception as exc:
        served.proc.kill()
        served.proc.wait()
        raise RuntimeError(f"{exc}\n{served.log.read_text()[-4000:]}") from exc
    return served


def call(
    served: Served, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, served.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get(served: Served, path: str) -> tuple[int, Any]:
    status, _, body = call(served, "GET", path)
    return status, json.loads(body) if body.startswith((b"{", b"[")) else body.decode()


def infer_doc(rows: list[list[float]], rid: str | None = None, nested: bool = False) -> dict[str, Any]:
    data: Any = rows if nested else [v for row in rows for v in row]
    doc: dict[str, Any] = {"inputs": [{"name": "x", "shape": [len(rows), FEATURES], "datatype": "FP32", "data": data}]}
    if rid is not None:
        doc["id"] = rid
    return doc


def post(served: Served, doc: Any, path: str | None = None) -> tuple[int, Any]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    status, _, out = call(
        served, "POST", path or f"/v2/models/{NAME}/infer", body, {"content-type": "application/json"}
    )
    return status, json.loads(out)


def metric(served: Served, name: str, **labels: str) -> float:
    """The value of one sample of /metrics (0 when absent)."""
    _, text = get(served, "/metrics")
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


def random_rows(n: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[round(rng.gauss(0, 3), 4) for _ in range(FEATURES)] for _ in range(n)]


class Receiver:
    """A CloudEvents sink on loopback: records (headers, body) of every POST."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], bytes]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                events.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _upload(s3: S3Server, run_dir: Path, bucket: str, prefix: str) -> str:
    client = s3.client()
    s3.bucket(bucket)
    for path in [*sorted((run_dir / "model").iterdir()), run_dir / "model_card.json"]:
        key = f"{prefix}/{path.relative_to(run_dir).as_posix()}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return f"s3://{bucket}/{prefix}"


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tabular model trained by the training workload (CPU, a second or two)."""
    return train_tabular(tmp_path_factory.mktemp("serving-model"))


@pytest.fixture(scope="module")
def direct(run_dir: Path) -> Any:
    """The exported program, loaded the way the training README says: the reference outputs."""
    return torch.export.load(run_dir / "model" / "model.pt2").module()


def reference(direct: Any, rows: list[list[float]]) -> np.ndarray:
    with torch.inference_mode():
        return direct(torch.tensor(rows, dtype=torch.float32)).numpy()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    sink = Receiver()
    yield sink
    with contextlib.suppress(Exception):
        sink.close()


@pytest.fixture(scope="module")
def servers(
    run_dir: Path, s3: S3Server, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Served]]:
    """Three servers of the same model, started together (their start-ups overlap):
    main: from the local run directory, a 16 KiB body limit; logged: with payload logging to `receiver`;
    s3: from the moto S3, with a drain period (the graceful-shutdown test stops it)."""
    logs = tmp_path_factory.mktemp("servers")
    uri = _upload(s3, run_dir, "serving-models", "credit/run-1")
    fleet = {
        "main": launch(["--model_dir", str(run_dir), "--max_body_bytes", str(MAX_BODY)], logs / "main.log"),
        "logged": launch(
            ["--model_dir", str(run_dir), "--logger_url", receiver.url, "--access_log_sample_rate", "1"],
            logs / "logged.log",
            {**cli_env(), "POD_NAMESPACE": "team-a"},
        ),
        "s3": launch(["--model_dir", uri, "--drain_seconds", "0.5"], logs / "s3.log", cli_env(s3.env)),
    }
    try:
        for served in fleet.values():
            wait_ready(served)
        yield fleet
    finally:
        for served in fleet.values():
            if served.proc.poll() is None:
                served.stop()
    assert fleet["main"].proc.returncode == 0, fleet["main"].log.read_text()[-3000:]


@pytest.fixture
def server(servers: dict[str, Served]) -> Served:
    return servers["main"]


# -- health, metadata, inference ----------------------------------------------------------------------


def test_health_and_metadata(server: Served, run_dir: Path) -> None:
    assert get(server, "/v2/health/live") == (200, {"live": True})
    assert get(server, "/v2/health/ready") == (200, {"ready": True})
    assert get(server, f"/v2/models/{NAME}/ready") == (200, {"ready": True})
    status, meta = get(server, "/v2")
    assert status == 200 and meta["name"] == "ml-platform-model-server" and meta["extensions"] == []

    config = json.loads((run_dir / "model" / "config.json").read_text())
    status, model = get(server, f"/v2/models/{NAME}")
    assert status == 200
    version = model["versions"][0]
    assert model == {
        "name": NAME,
        "versions": [version],
        "platform": "pytorch_torchexport",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, FEATURES]}],
        "outputs": [{"name": "probability", "datatype": "FP32", "shape": [-1]}],
        "parameters": {"features": config["features"]},
    }
    # not registered: the version is the artifact's content hash
    import hashlib

    assert version == hashlib.sha256((run_dir / "model" / "model.pt2").read_bytes()).hexdigest()[:12]
    assert get(server, f"/v2/models/{NAME}/versions/{version}")[0] == 200
    assert get(server, f"/v2/models/{NAME}/versions/{version}/ready")[0] == 200


def test_infer_equals_the_models_own_output(server: Served, direct: Any) -> None:
    version = get(server, f"/v2/models/{NAME}")[1]["versions"][0]
    for i, n in enumerate([1, 3, 17]):
        rows = random_rows(n, seed=i)
        for nested in (False, True):
            status, out = post(server, infer_doc(rows, rid=f"req-{i}", nested=nested))
            assert status == 200, out
            assert out["model_name"] == NAME and out["model_version"] == version and out["id"] == f"req-{i}"
            [tensor] = out["outputs"]
            assert tensor["name"] == "probability" and tensor["datatype"] == "FP32" and tensor["shape"] == [n]
            # FP32 values survive JSON exactly: the server's answer is the model's output, bit for bit
            np.testing.assert_array_equal(np.array(tensor["data"], dtype=np.float32), reference(direct, rows))
    # the versioned path, integer features, and a generated id when none is given
    rows: list[list[float]] = [[1, 2, 3, 4, 5, 6, 7]]
    status, out = post(server, infer_doc(rows), f"/v2/models/{NAME}/versions/{version}/infer")
    assert status == 200 and isinstance(out["id"], str) and out["id"]
    np.testing.assert_array_equal(np.array(out["outputs"][0]["data"], dtype=np.float32), reference(direct, rows))
    status, out = post(server, {**infer_doc(rows), "outputs": [{"name": "probability"}], "parameters": {"a": 1}})
    assert status == 200


# -- bad requests -------------------------------------------------------------------------------------


def _tensor(**fields: Any) -> bytes:
    tensor = {"name": "x", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.5] * FEATURES, **fields}
    return json.dumps({"inputs": [tensor]}).encode()


INFER = f"/v2/models/{NAME}/infer"
BAD_REQUESTS: list[tuple[str, str, str, bytes, int, str]] = [
    ("malformed JSON", "POST", INFER, b'{"inputs": [', 400, "malformed JSON"),
    ("empty body", "POST", INFER, b"", 400, "malformed JSON"),
    ("not UTF-8", "POST", INFER, b"\xff\xfe{}", 400, "malformed JSON"),
    ("NaN literal", "POST", INFER, _tensor().replace(b"0.5", b"NaN", 1), 400, "malformed JSON"),
    ("infinite number", "POST", INFER, _tensor().replace(b"0.5", b"1e400", 1), 400, "malformed JSON"),
    ("body is a list", "POST", INFER, b"[1, 2]", 400, "JSON object"),
    ("missing inputs", "POST", INFER, b"{}", 400, "missing input 'x'"),
    ("empty inputs", "POST", INFER, b'{"inputs": []}', 400, "missing input 'x'"),
    ("inputs not a list", "POST", INFER, b'{"inputs": {"name": "x"}}', 400, "'inputs' must be a list"),
    ("tensor not an object", "POST", INFER, b'{"inputs": [3]}', 400, "must be an object"),
    ("unknown input", "POST", INFER, _tensor(name="features"), 400, "unknown input 'features'"),
    (
        "input twice",
        "POST",
        INFER,
        json.dumps({"inputs": json.loads(_tensor())["inputs"] * 2}).encode(),
        400,
        "more than once",
    ),
    ("wrong datatype", "POST", INFER, _tensor(datatype="INT64"), 400, "datatype 'INT64' is not supported"),
    ("no datatype", "POST", INFER, _tensor(datatype=None), 400, "datatype None"),
    ("shape not a list", "POST", INFER, _tensor(shape="1,7"), 400, "shape must be a list"),
    ("shape rank", "POST", INFER, _tensor(shape=[FEATURES]), 400, "has 1 dimensions"),
    (
        "wrong feature count",
        "POST",
        INFER,
        _tensor(shape=[1, 6], data=[0.5] * 6),
        400,
        "does not fit FP32 [1..1048576, 7]",
    ),
    ("zero rows", "POST", INFER, _tensor(shape=[0, FEATURES], data=[]), 400, "dimension 0"),
    ("negative dimension", "POST", INFER, _tensor(shape=[-1, FEATURES]), 400, "dimension 0"),
    ("float dimension", "POST", INFER, _tensor(shape=[1.0, FEATURES]), 400, "shape must be a list of integers"),
    ("data shorter than shape", "POST", INFER, _tensor(shape=[2, FEATURES]), 400, "needs 14 values; data has 7"),
    ("data not a list", "POST", INFER, _tensor(data="0.5"), 400, "data must be a list"),
    ("string in data", "POST", INFER, _tensor(data=["0.5"] * FEATURES), 400, "data must be numbers"),
    ("bool in data", "POST", INFER, _tensor(data=[True] * FEATURES), 400, "data must be numbers"),
    ("null in data", "POST", INFER, _tensor(data=[None] * FEATURES), 400, "data must be numbers"),
    (
        "ragged nested data",
        "POST",
        INFER,
        _tensor(shape=[2, FEATURES], data=[[0.5] * 7, [0.5] * 6]),
        400,
        "nested data",
    ),
    ("FP32 overflow", "POST", INFER, _tensor(data=[1e39] * FEATURES), 400, "finite FP32"),
    ("id not a string", "POST", INFER, b'{"id": 5, "inputs": []}', 400, "'id' must be a string"),
    ("unknown output", "POST", INFER, b'{"outputs": [{"name": "logits"}], %s' % _tensor()[1:], 400, "unknown output"),
    ("unknown model", "POST", "/v2/models/other/infer", _tensor(), 404, "model 'other' is not served here"),
    ("unknown version", "POST", f"/v2/models/{NAME}/versions/999/infer", _tensor(), 404, "no version '999'"),
    ("unknown model metadata", "GET", "/v2/models/other", b"", 404, "not served here"),
    ("unknown endpoint", "GET", "/v1/models/credit", b"", 404, "no such endpoint"),
    ("unknown model endpoint", "POST", f"/v2/models/{NAME}/explain", _tensor(), 404, "no such endpoint"),
    ("GET infer", "GET", INFER, b"", 405, "use POST"),
    ("POST metadata", "POST", f"/v2/models/{NAME}", b"{}", 405, "use GET"),
    ("DELETE health", "DELETE", "/v2/health/live", b"", 405, "use GET"),
    ("oversized body", "POST", INFER, b"[" + b"0.5," * (MAX_BODY // 4) + b"0]", 413, f"limit of {MAX_BODY} bytes"),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "status", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_request_gets_a_clear_4xx(
    server: Served, case: str, method: str, path: str, body: bytes, status: int, message: str
) -> None:
    got, headers, out = call(server, method, path, body or None, {"content-type": "application/json"})
    assert got == status, (case, out)
    assert headers["content-type"] == "application/json"
    error = json.loads(out)["error"]
    assert message in error, error


def test_oversized_chunked_body_and_broken_http_get_4xx(server: Served) -> None:
    # no Content-Length: the limit applies while the body streams in (sent whole, then the answer read)
    payload = b"0.5," * (MAX_BODY // 3)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + 4096]), payload[i : i + 4096]) for i in range(0, len(payload), 4096)
    )
    head = (
        f"POST {INFER} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        sock.sendall(head.encode() + chunks + b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert "exceeds the limit" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    # bytes that are not HTTP at all: the HTTP parser answers 400
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01 not http\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")


def test_fuzzed_requests_never_get_a_5xx(server: Served) -> None:
    rng = random.Random(7)
    values: list[Any] = [None, True, 0, -1, 2**63, 1.5, -1e308, "x", "", [], {}, [1, 2], {"a": 1}, [[1] * 7], "FP32"]

    def mutate(doc: Any, depth: int = 0) -> Any:
        if isinstance(doc, dict):
            doc = dict(doc)
            for key in list(doc):
                if rng.random() < 0.3:
                    doc[key] = rng.choice(values) if rng.random() < 0.5 else mutate(doc[key], depth + 1)
                elif rng.random() < 0.1:
                    del doc[key]
            if rng.random() < 0.1:
                doc[rng.choice(["extra", "name", "shape", "data"])] = rng.choice(values)
            return doc
        if isinstance(doc, list):
            doc = [mutate(v, depth + 1) if rng.random() < 0.2 else v for v in doc]
            if doc and rng.random() < 0.2:
                doc.pop(rng.randrange(len(doc)))
            return doc
        return rng.choice(values) if rng.random() < 0.5 else doc

    base = json.loads(_tensor(shape=[2, FEATURES], data=[0.5] * 14))
    statuses: dict[int, int] = {}
    for i in range(300):
        body = json.dumps(mutate(base)).encode()
        if i % 10 == 0:  # cut JSON
            body = body[: rng.randrange(len(body))]
        status, _, _ = call(server, "POST", INFER, body, {"content-type": "application/json"})
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400), (status, body)
    assert statuses.get(400, 0) > 50  # many mutations are invalid; each was refused cleanly
    assert get(server, "/v2/health/ready")[0] == 200


# -- load -----------------------------------------------------------------------------------------


async def _load(url: str, docs: list[bytes], concurrency: int) -> list[tuple[int, Any]]:
    results: list[tuple[int, Any]] = [(0, None)] * len(docs)
    next_index = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(docs):
                i = next_index
                next_index += 1
                async with session.post(url, data=docs[i], headers={"content-type": "application/json"}) as resp:
                    results[i] = (resp.status, await resp.json(content_type=None))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def test_load_2000_requests_at_concurrency_16(server: Served, direct: Any) -> None:
    before_200 = metric(server, "model_server_requests_total", endpoint="infer", code="200")
    before_batches = metric(server, "model_server_batch_size_count")
    rows = random_rows(2000, seed=42)
    docs = [json.dumps(infer_doc([row], rid=f"load-{i}")).encode() for i, row in enumerate(rows)]
    results = asyncio.run(_load(server.infer_url, docs, 16))

    assert [status for status, _ in results] == [200] * 2000  # no 5xx, no 4xx, none lost
    assert [out["id"] for _, out in results] == [f"load-{i}" for i in range(2000)]  # each answer to its request
    got = np.array([out["outputs"][0]["data"][0] for _, out in results], dtype=np.float32)
    # batched rows come back to the right request (a forward of other rows in the same batch may round
    # differently in the last bit: the kernels depend on the batch size)
    np.testing.assert_allclose(got, reference(direct, rows), rtol=1e-5, atol=1e-7)
    assert metric(server, "model_server_requests_total", endpoint="infer", code="200") == before_200 + 2000
    rows_forwarded = metric(server, "model_server_batch_size_sum")
    assert rows_forwarded >= 2000 and metric(server, "model_server_batch_size_count") > before_batches
    for code in ("500", "502", "503"):
        assert metric(server, "model_server_requests_total", code=code) == 0


def test_metrics_endpoint(server: Served) -> None:
    post(server, infer_doc(random_rows(2, 1)))
    post(server, infer_doc(random_rows(2, 1)), "/v2/models/other/infer")
    status, headers, body = call(server, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    for name in (
        'model_server_requests_total{code="200",endpoint="infer",model="credit"}',
        'model_server_request_duration_seconds_bucket{endpoint="infer",le="0.001",model="credit"}',
        'model_server_batch_size_bucket{le="1.0",model="credit"}',
        'model_server_forward_duration_seconds_count{model="credit"}',
        'model_server_queue_depth{model="credit"}',
        'model_server_in_flight_requests{model="credit"}',
        'model_server_requests_total{code="404",endpoint="infer",model="unknown"}',
        "process_resident_memory_bytes",
    ):
        assert name in text, name


# -- graceful shutdown ----------------------------------------------------------------------------


def test_graceful_shutdown_under_load(servers: dict[str, Served]) -> None:
    served = servers["s3"]  # loaded from s3://, with --drain_seconds 0.5
    records: list[tuple[float, int | None, str | None]] = []  # (started, status, connection error)
    body = json.dumps(infer_doc(random_rows(1, 3))).encode()

    async def scenario() -> tuple[float, int | None]:
        connector = aiohttp.TCPConnector(limit=16)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for _ in range(3000):  # bounded; ends at the first refused / closed connection
                    started = time.monotonic()
                    try:
                        async with session.post(served.infer_url, data=body) as resp:
                            await resp.read()
                            records.append((started, resp.status, None))
                    except (aiohttp.ClientConnectionError, OSError) as exc:
                        records.append((started, None, type(exc).__name__))
                        return

            workers = [asyncio.create_task(worker()) for _ in range(16)]
            while len(records) < 400 and not all(w.done() for w in workers):
                await asyncio.sleep(0.005)
            signalled = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            ready_status = None  # polled on fresh connections until the shutdown shows (or the port closes)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as probe:
                for _ in range(200):
                    try:
                        async with probe.get(served.path("/v2/health/ready")) as resp:
                            ready_status = resp.status
                    except (aiohttp.ClientConnectionError, OSError):
                        break
                    if ready_status == 503:
                        break
                    await asyncio.sleep(0.01)
            await asyncio.gather(*workers)
            return signalled, ready_status

    signalled, ready_status = asyncio.run(scenario())
    rc = served.proc.wait(timeout=60)
    log = served.log.read_text()
    assert rc == 0, log[-3000:]
    before = [r for r in records if r[0] < signalled]
    after = [r for r in records if r[0] >= signalled]
    assert len(before) >= 400
    assert all(status == 200 for _, status, _ in before), "a request sent before SIGTERM was not answered 200"
    assert all(status in (200, None) for _, status, _ in after)  # after it: answered, or connection refused/closed
    assert ready_status == 503  # readiness fails as soon as the shutdown begins, while requests are still served
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    assert events.index("shutdown started") < events.index("stopped")
    assert "Traceback" not in log


# -- payload logging ------------------------------------------------------------------------------


def test_payload_logging_sends_cloudevents_and_survives_a_dead_logger(
    servers: dict[str, Served], receiver: Receiver
) -> None:
    served = servers["logged"]  # --logger_url to the receiver, POD_NAMESPACE=team-a, access log on
    docs = {f"p-{i}": infer_doc(random_rows(1, i), rid=f"p-{i}") for i in range(3)}
    answers = {rid: post(served, doc) for rid, doc in docs.items()}
    assert all(status == 200 for status, _ in answers.values())
    wait_for(lambda: len(receiver.events) == 6, 30, "6 CloudEvents")
    by_key = {(h["ce-id"], h["ce-type"]): (h, body) for h, body in receiver.events}
    for rid, doc in docs.items():
        for ce_type, payload in ((REQUEST_TYPE, doc), (RESPONSE_TYPE, answers[rid][1])):
            headers, body = by_key[(rid, ce_type)]
            assert headers["ce-specversion"] == "1.0"
            assert headers["ce-source"] == f"http://localhost:{served.port}/"
            assert headers["ce-inferenceservicename"] == NAME
            assert headers["ce-namespace"] == "team-a"
            assert headers["ce-component"] == "predictor"
            assert headers["ce-time"].endswith("Z")
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == payload
    wait_for(lambda: metric(served, "model_server_payload_log_events_total", result="sent") == 6, 30, "sent")

    receiver.close()  # the logger goes down: inference goes on, the lost events are counted
    for i in range(5):
        assert post(served, infer_doc(random_rows(1, i)))[0] == 200
    wait_for(
        lambda: metric(served, "model_server_payload_log_events_total", result="failed") == 10, 30, "failed events"
    )
    assert served.stop() == 0
    # structured logs: one JSON object a line, here with every request in the access log
    records = [json.loads(line) for line in served.log.read_text().splitlines()]
    access = [r for r in records if r["logger"] == "workloads.serving.access" and r["path"] == INFER]
    assert len(access) >= 8 and {a["status"] for a in access} == {200} and access[0]["method"] == "POST"
    assert any(r["event"] == "payload logger unreachable" and r["level"] == "warning" for r in records)


def test_payload_logger_structured_mode_sampling_and_bounded_queue() -> None:
    receiver = Receiver()
    metrics = Metrics("m")

    async def scenario() -> None:
        structured = PayloadLogger(LoggerConfig(url=receiver.url, format="structured", mode="request"), metrics)
        await structured.start()
        structured.log("r1", b'{"inputs": []}', b'{"outputs": []}')
        await structured.close()

        never = PayloadLogger(LoggerConfig(url=receiver.url, sample_rate=0.0), metrics)
        for i in range(100):
            never.log(str(i), b"{}", b"{}")
        assert never._queue.qsize() == 0

        # a full queue drops (senders not started: nothing drains it)
        full = PayloadLogger(LoggerConfig(url=receiver.url, queue_size=2), metrics)
        for i in range(5):
            full.log(str(i), b"{}", b"{}")
        assert full._queue.qsize() == 2

    try:
        asyncio.run(scenario())
        [(headers, body)] = receiver.events
        assert headers["content-type"] == "application/cloudevents+json"
        event = json.loads(body)
        assert event["specversion"] == "1.0" and event["id"] == "r1" and event["type"] == REQUEST_TYPE
        assert event["data"] == {"inputs": []} and event["datacontenttype"] == "application/json"
        text = metrics.render().decode()
        assert 'model_server_payload_log_events_total{model="m",result="dropped"} 6.0' in text  # 3 records x 2
        assert 'model_server_payload_log_events_total{model="m",result="sent"} 1.0' in text
    finally:
        receiver.close()


# -- micro-batching -----------------------------------------------------------------------------------


def _batcher_run(inline: bool, max_batch_size: int, active: Any, n: int) -> tuple[list[int], list[np.ndarray]]:
    calls: list[int] = []

    def forward(x: np.ndarray) -> np.ndarray:
        calls.append(x.shape[0])
        return x[:, 0] * 2

    async def scenario() -> list[np.ndarray]:
        batcher = Batcher(forward, Metrics("m"), max_batch_size=max_batch_size, inline=inline, active_requests=active)
        batcher.start()
        for _ in range(n):
            batcher.expect()
        arrays = [np.full((1 + i % 2, 3), float(i), dtype=np.float32) for i in range(n)]
        outs = await asyncio.gather(*(batcher.infer(a) for a in arrays))
        await batcher.stop()
        return list(outs)

    return calls, asyncio.run(scenario())


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "worker-thread"])
def test_concurrent_requests_share_a_forward_and_get_their_own_rows(inline: bool) -> None:
    calls, outs = _batcher_run(inline, 32, None, 10)
    assert calls == [15]  # 10 requests of 1 or 2 rows: one forward
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, np.full(1 + i % 2, 2.0 * i, dtype=np.float32))
    calls, _ = _batcher_run(inline, 4, None, 10)
    assert max(calls) <= 4 and sum(calls) == 15  # never past max_batch_size


def test_a_lone_request_runs_at_once() -> None:
    calls, outs = _batcher_run(True, 32, lambda: 1, 3)  # the server holds no other request
    assert calls == [1, 2, 1] and [o.tolist() for o in outs] == [[0.0], [2.0, 2.0], [4.0]]


def test_a_failing_forward_is_a_server_error() -> None:
    async def scenario() -> None:
        def forward(x: np.ndarray) -> np.ndarray:
            raise ZeroDivisionError

        batcher = Batcher(forward, Metrics("m"), inline=True)
        batcher.start()
        batcher.expect()
        with pytest.raises(ForwardError):
            await batcher.infer(np.zeros((1, 3), dtype=np.float32))
        await batcher.stop()

    asyncio.run(scenario())


# -- loading: S3, the storage-initializer layout, the GPT sample -------------------------------------


def test_loads_from_s3_and_from_a_storage_initializer_copy(
    run_dir: Path, s3: S3Server, s3_env: S3Server, direct: Any
) -> None:
    uri = _upload(s3, run_dir, "serving-models", "credit/run-2")
    from_s3 = load_model(uri, NAME)
    assert from_s3.source == f"{uri}/model/model.pt2"
    # KServe's storage initializer copies storageUri (here OUTPUT_URI/model) to /mnt/models
    local = load_model(str(run_dir / "model"), NAME)
    assert local.version == from_s3.version and local.card is not None  # the card is found beside model/
    x = np.array(random_rows(4, 9), dtype=np.float32)
    np.testing.assert_array_equal(from_s3.forward(x), reference(direct, x.tolist()))
    assert load_model(uri, NAME, version="7").version == "7"
    card = json.loads((run_dir / "model_card.json").read_text())
    card["registry"] = {"version": "12", "model_name": "credit"}
    s3.client().put_object(Bucket="serving-models", Key="credit/run-2/model_card.json", Body=json.dumps(card))
    assert load_model(uri, NAME).version == "12"  # a registered model reports its registry version


def test_the_gpt_sample_is_served_too(tmp_path: Path) -> None:
    from workloads.training.models import GPT

    cfg = parse_config(gpt_config(str(tmp_path), str(tmp_path / "t.txt"), model={"block_size": 8, "n_layer": 1}))
    torch.manual_seed(0)
    net = GPT(8, 1, 2, 32).eval()
    program, io_spec = export_artifact(cfg, net, 0)
    (tmp_path / "model.pt2").write_bytes(program)
    (tmp_path / "config.json").write_text(json.dumps({"kind": "gpt", **io_spec}))
    model = load_model(str(tmp_path), "gpt")
    assert model.input.describe() == "INT64 [1..4096, 1..8]"
    tokens = list(b"the cat")
    doc = {"inputs": [{"name": "idx", "shape": [1, len(tokens)], "datatype": "INT64", "data": tokens}]}
    request = decode_infer_request(json.dumps(doc).encode(), model.input, model.output.name)
    out = model.forward(request.array)
    with torch.inference_mode():
        expected = net(torch.tensor([tokens])).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    for data, shape, message in (
        ([300] * 3, [1, 3], "values must be in [0, 255]"),
        ([1.0] * 3, [1, 3], "data must be integers"),
        ([1] * 9, [1, 9], "does not fit"),  # longer than the context
    ):
        bad = {"inputs": [{"name": "idx", "shape": shape, "datatype": "INT64", "data": data}]}
        with pytest.raises(RequestError, match=message.replace("[", r"\[")):
            decode_infer_request(json.dumps(bad).encode(), model.input, model.output.name)


# -- start-up errors ------------------------------------------------------------------------------


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workloads.serving", "--model_name", NAME, *args],
        cwd=REPO,
        env=env or cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_user_errors_are_one_line_with_an_exit_status(s3: S3Server, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.pt2").write_bytes(b"not a zip file")
    io = {"input": {"name": "x", "dtype": "float32", "shape": ["batch", 7]}}
    (broken / "config.json").write_text(
        json.dumps({**io, "output": {"name": "y", "dtype": "float32", "shape": ["batch"]}})
    )
    dead = {**s3.env, "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{free_port()}"}  # nothing listens there
    no_keys = {k: v for k, v in s3.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    no_keys |= {"HOME": str(tmp_path), "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    # (args, environment, exit status, the error line or its start); the processes run side by side
    cases: list[tuple[list[str], dict[str, str] | None, int, str]] = [
        (
            ["--model_dir", str(missing)],
            None,
            4,
            f"error: no model.pt2 in {missing} (nor in {missing}/model): "
            "point --model_dir at a training run's output_uri",
        ),
        (
            ["--model_dir", "s3://no-such-bucket/run"],
            cli_env(s3.env),
            4,
            "error: no model.pt2 in s3://no-such-bucket/run",
        ),
        (
            ["--model_dir", "s3://models/run"],
            cli_env(dead),
            4,
            "error: cannot check s3://models/run/model.pt2: Could not connect",
        ),
        (
            ["--model_dir", "s3://models/run"],
            cli_env(no_keys),
            4,
            "error: cannot check s3://models/run/model.pt2: Unable to locate credentials",
        ),
        (["--model_dir", str(broken)], None, 3, f"error: cannot load {broken}/model.pt2: File is not a zip file"),
        (["--model_dir", "x", "--max_batch_size", "many"], None, 2, "error: --max_batch_size: invalid value 'many'"),
        (
            ["--model_dir", "x"],
            {**cli_env(), "PROTOCOL": "v1"},
            2,
            "error: PROTOCOL=v1: this server speaks the Open Inference Protocol v2 only",
        ),
    ]
    procs = [_serve(args, env) for args, env, _, _ in cases]
    for proc, (args, _, status, message) in zip(procs, cases, strict=True):
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == status, (args, stderr)
        assert _one_line_error(stderr).startswith(message), (args, stderr)


def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from workloads.serving.cli import main

    monkeypatch.delenv("PROTOCOL", raising=False)
    for args, env, message in (
        (["--model_dir", "x"], {}, "error: --model_name is required (or MODEL_SERVER_MODEL_NAME)"),
        (["--model_name", "m"], {}, "error: --model_dir is required (or MODEL_SERVER_MODEL_DIR)"),
        (
            ["--model_name", "m", "--model_dir", "x", "--http_port", "99999"],
            {},
            "error: --http_port: invalid value '99999'",
        ),
        (
            ["--model_name", "m", "--model_dir", "x"],
            {"MODEL_SERVER_LOGGER_MODE": "some"},
            "error: --logger_mode: 'some' is not one of all, request, response",
        ),
        (
            ["--model_name", "m", "--model_dir", "x", "--logger_url", "ftp://x"],
            {},
            "error: --logger_url: 'ftp://x' is not an http(s) URL",
        ),
        (
            ["--model_name", "m", "--model_dir", "x", "--logger_sample_rate", "2"],
            {},
            "error: --logger_sample_rate: invalid value '2'",
        ),
        (
            ["--model_name", "m", "--model_dir", "x", "--forward_thread", "maybe"],
            {},
            "error: --forward_thread: 'maybe' is not one of auto, always, never",
        ),
        (["--model_name", "a/b", "--model_dir", "x"], {}, "error: --model_name: 'a/b' is not a valid model name"),
        (
            ["--model_name", "m", "--model_dir", "x", "--no-such-flag"],
            {},
            "error: unrecognized arguments: --no-such-flag",
        ),
    ):
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            assert main(args) == 2
        assert capsys.readouterr().err.strip() == message


def test_a_taken_port_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot listen on {LOOPBACK}:{port}: Address already in use"):
            bind(LOOPBACK, port)


def test_environment_variables_configure_the_server() -> None:
    from workloads.serving.cli import parse_args

    args = parse_args(
        ["--max_batch_size", "8"],
        {
            "MODEL_SERVER_MODEL_NAME": "m",
            "MODEL_SERVER_MODEL_DIR": "s3://b/r",
            "MODEL_SERVER_MAX_BATCH_SIZE": "64",
            "MODEL_SERVER_MAX_BATCH_WAIT_MS": "0.5",
            "PROTOCOL": "v2",
        },
    )
    assert (args.model_name, args.model_dir, args.max_batch_size, args.max_batch_wait_ms) == ("m", "s3://b/r", 8, 0.5)
