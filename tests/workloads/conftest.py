"""Real services for the workload tests, started by the tests themselves on loopback.

Session fixtures, reusable by every workload test (training, serving, the demo):

- ``s3``: a moto S3 server (``ThreadedMotoServer``) on 127.0.0.1 with fake credentials; ``s3.env`` is
  the environment a subprocess needs (``AWS_ENDPOINT_URL`` etc.), ``s3.client()`` a boto3 client,
  ``s3.bucket(name)`` creates a bucket once.
- ``postgres``: a throwaway PostgreSQL cluster (initdb + pg_ctl from the machine, run as the
  ``postgres`` user when the tests run as root), ``postgres.dsn(db)`` creates a database.
- ``mlflow_server``: a real ``mlflow server`` on that PostgreSQL with artifacts proxied to the moto S3
  (``--serve-artifacts``); ``mlflow_server.env`` carries ``MLFLOW_TRACKING_URI`` and the S3 settings.
- ``redis_server``: Debian's ``redis-server`` on a free loopback port with AUTH (``--requirepass``,
  like the managed caches) and no persistence; skipped only when the binary is absent.

Nothing here patches the code under test: it talks to these servers over TCP.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import system

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")


def base_env() -> dict[str, str]:
    """The current environment without settings that would point tools at real clouds or servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "GOOGLE_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]
    _buckets: set[str] = field(default_factory=set)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def bucket(self, name: str) -> str:
        if name not in self._buckets:
            self.client().create_bucket(Bucket=name)
            self._buckets.add(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    endpoint = f"http://{LOOPBACK}:{port}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    try:
        yield S3Server(endpoint, env)
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The moto endpoint in this process's environment, for code under test that runs in-process."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    return s3


@dataclass
class Postgres:
    host: str
    port: int
    user: str

    def dsn(self, database: str) -> str:
        """Create `database` (once) and return its SQLAlchemy URL (psycopg2 driver: SQLAlchemy 2.1
        defaults `postgresql://` to psycopg 3, which the test extra does not install)."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{database}"')
        finally:
            conn.close()
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    initdb, pg_ctl = system.require("initdb"), system.require("pg_ctl")
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="mlp-pg-"))
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = free_port()
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses={LOOPBACK} -p {port} -k {root} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "-t", "60", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield Postgres(LOOPBACK, port, "postgres")
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class MlflowServer:
    url: str
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="session")
def mlflow_server(s3: S3Server, postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    bucket = s3.bucket("mlflow-artifacts")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {**base_env(), **s3.env, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}
    log = tmp_path_factory.mktemp("mlflow") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        postgres.dsn("mlflow"),
        "--artifacts-destination",
        f"s3://{bucket}/",
        "--serve-artifacts",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200, 120, "mlflow server", proc)
    except Exception as exc:
        proc.kill()
        raise RuntimeError(f"{exc}\n{log.read_text()[-4000:]}") from exc
    client_env = {**s3.env, "MLFLOW_TRACKING_URI": url, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}
    try:
        yield MlflowServer(url, client_env, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@dataclass
class RedisServer:
    """A real redis-server on loopback with AUTH (``requirepass``), like the managed caches."""

    host: str
    port: int
    password: str


def redis_binary() -> str:
    """Debian's redis-server; the test fails in one line where it is absent (`make test` installs it)."""
    return system.require("redis-server")


@contextlib.contextmanager
def run_redis(root: Path, password: str, *listen: str, **client: Any) -> Iterator[None]:
    """redis-server with AUTH and no persistence in `root`, listening as `listen` says (`--port N`, or
    `--port 0 --tls-port N ...`); ready once a client built with `client` (port, ssl, ...) gets PONG."""
    import redis

    cmd = [
        redis_binary(),
        "--bind",
        LOOPBACK,
        *listen,
        "--dir",
        str(root),
        "--requirepass",
        password,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--logfile",
        str(root / "redis.log"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    probe = redis.Redis(host=LOOPBACK, password=password, socket_timeout=2, **client)
    try:
        wait_for(probe.ping, 20, "redis-server", proc)
    except Exception as exc:
        proc.kill()
        log = root / "redis.log"
        raise RuntimeError(f"{exc}\n{log.read_text()[-2000:] if log.exists() else ''}") from exc
    finally:
        probe.close()
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    redis_binary()
    root = Path(tempfile.mkdtemp(prefix="mlp-redis-"))
    port, password = free_port(), "test-auth-token"
    try:
        with run_redis(root, password, "--port", str(port), port=port):
            yield RedisServer(LOOPBACK, port, password)
    finally:
        shutil.rmtree(root, ignore_errors=True)
