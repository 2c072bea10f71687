"""The demo's local services: child processes in their own process groups, the moto S3 server, the
MLflow server, the model server, and a tiny CloudEvents collector that writes inference logs to S3.

Every child runs in a new session (its own process group) with its output in a log file of the work
directory; `Children.stop_all()` stops each group (SIGTERM, then SIGKILL after a grace period), so
nothing is left running after success, failure or Ctrl-C. ``processes.json`` in the work directory
lists the children (name, pid, process group, log) while they run.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
REGION = "us-east-1"
# moto accepts any credentials; these only keep the AWS SDKs from looking for real ones
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "mlplat-demo", "AWS_SECRET_ACCESS_KEY": "mlplat-demo"}

# loopback requests never go through a proxy the user's environment may name
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DemoError(Exception):
    """A failure the user sees as one line (after the tail of a child's log, where one failed)."""

    def __init__(self, message: str, exit_code: int = 1, log_tail: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.log_tail = log_tail


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post_json(url: str, doc: Any, timeout: float = 10.0) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        with contextlib.suppress(ValueError):
            return exc.code, json.loads(body)
        return exc.code, {"error": body.decode(errors="replace")}


def child_env(s3_endpoint: str, repo_root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: this one without settings that point at real clouds or servers,
    plus the local S3 endpoint, fake credentials, no proxy for loopback and no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env.update(CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONPATH": os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
        }
    )
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(p for p in (env.get(key, ""), LOOPBACK, "localhost") if p)
    env.update(extra or {})
    return env


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def last_error(self) -> str | None:
        """The child's own one-line ``error: …`` message, when it printed one."""
        with contextlib.suppress(OSError):
            for line in reversed(self.log.read_text(errors="replace").splitlines()):
                if line.startswith("error: "):
                    return line.removeprefix("error: ").strip()
        return None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


@dataclass
class Children:
    """The child processes of one demo run; recorded in `registry_file` while they run."""

    logs_dir: Path
    registry_file: Path
    started: list[Child] = field(default_factory=list)

    def spawn(self, name: str, cmd: Sequence[str], env: dict[str, str], cwd: Path) -> Child:
        log = self.logs_dir / f"{name}.log"
        with log.open("wb") as out:
            try:
                proc = subprocess.Popen(
                    list(cmd),
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: Ctrl-C here does not reach it, we stop it
                )
            except OSError as exc:
                raise DemoError(f"cannot start {name}: {exc.strerror or exc}") from None
        child = Child(name, proc, log)
        self.started.append(child)
        self._record()
        return child

    def records(self) -> list[dict[str, Any]]:
        return [
            {"name": c.name, "pid": c.pid, "pgid": c.pid, "log": str(c.log), "exit_code": c.proc.returncode}
            for c in self.started
        ]

    def _record(self) -> None:
        with contextlib.suppress(OSError):
            self.registry_file.write_text(json.dumps(self.records(), indent=2) + "\n")

    def stop_all(self, grace: float = 15.0) -> None:
        """SIGTERM to every running child's process group at once (the model server then finishes its
        requests and flushes its payload log), SIGKILL to whatever is left after `grace` seconds or at
        a second Ctrl-C; every group gets a final SIGKILL (workers a leader left behind)."""
        running = [c for c in self.started if c.running()]
        for child in running:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        try:
            for child in running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, kill
            pass
        finally:
            for child in self.started:  # also the groups of children that exited by themselves
                child.signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=5)
            self._record()


def wait_until(
    ready: Callable[[], bool],
    child: Child,
    what: str,
    timeout: float,
    progress: Callable[[], None] | None = None,
) -> None:
    """Poll `ready` until it holds; a child that exits first or a timeout is a DemoError with its log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running():
            detail = child.last_error() or f"exited with status {child.proc.returncode}"
            raise DemoError(f"{what} did not start: {detail} (log: {child.log})", log_tail=child.tail())
        with contextlib.suppress(OSError, ValueError):
            if ready():
                return
        if progress is not None:
            progress()
        time.sleep(0.1)
    raise DemoError(f"{what} was not ready after {timeout:.0f}s (log: {child.log})", log_tail=child.tail())


def port_taken(child: Child) -> bool:
    with contextlib.suppress(OSError):
        text = child.log.read_text(errors="replace").lower()
        return "address already in use" in text or "errno 98" in text
    return False


# -- S3 -----------------------------------------------------------------------------------------------


class LocalS3:
    """moto's S3 server on loopback, in a thread of this process (gone when the demo ends)."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise DemoError(f"cannot start moto's S3 server ({exc}): `pip install -e '.[demo]'`", exit_code=2) from None

        # werkzeug's access log would interleave with the demo's output
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = free_port()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        self._server.start()
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                config=Config(proxies={}, retries={"max_attempts": 2}),
            )
        return self._client

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def put(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        bucket, key = split_uri(uri)
        self.client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, uri: str) -> bytes:
        bucket, key = split_uri(uri)
        try:
            return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore's ClientError and transport errors alike
            raise DemoError(f"cannot read {uri}: {exc}") from None

    def list(self, uri: str) -> list[str]:
        """Every object under the s3:// prefix, as URIs."""
        bucket, prefix = split_uri(uri)
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._server.stop()


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise DemoError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


# -- the inference-log collector ----------------------------------------------------------------------


class LogCollector:
    """Receives the model server's CloudEvents (binary or structured mode) and writes each one to
    ``s3://LOGS/inference/<namespace>/<model>/<component>/<id>-<request|response>.json`` — the layout
    the platform's request logger uses in the logs bucket."""

    def __init__(self, s3: LocalS3, base_uri: str) -> None:
        self.s3 = s3
        self.base_uri = base_uri.rstrip("/")
        self.written: list[str] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="log-collector", daemon=True
        )
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 200
                try:
                    collector.store(dict(self.headers.items()), body)
                except Exception as exc:  # reported in the demo's summary, never a crash of this thread
                    with collector._lock:
                        collector.failures.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def store(self, headers: dict[str, str], body: bytes) -> str:
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("content-type", "").startswith("application/cloudevents+json"):
            event = json.loads(body)
            attrs = {k: v for k, v in event.items() if k != "data"}
            data = event.get("data")
        else:
            attrs = {k.removeprefix("ce-"): v for k, v in lower.items() if k.startswith("ce-")}
            data = json.loads(body) if body else None
        kind = "response" if str(attrs.get("type", "")).endswith(".response") else "request"
        parts = [
            attrs.get("namespace") or "default",
            attrs.get("inferenceservicename") or "model",
            attrs.get("component") or "predictor",
            f"{attrs.get('id') or 'unknown'}-{kind}.json",
        ]
        uri = "/".join([self.base_uri, *(p.replace("/", "_") for p in parts)])
        record = {
            "attributes": attrs,
            "received_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "data": data,
        }
        self.s3.put(uri, json.dumps(record, indent=2).encode(), "application/json")
        with self._lock:
            self.written.append(uri)
        return uri

    def count(self) -> int:
        with self._lock:
            return len(self.written)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._server.shutdown()
            self._server.server_close()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
