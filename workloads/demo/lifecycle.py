"""The demo's steps, in order: local S3, MLflow, data, training and registration, the alias, serving,
inference over HTTP, and the summary the report renders.

Nothing here trains or serves by itself: the trainer (``python -m workloads.training``) and the model
server (``python -m workloads.serving``) run as child processes, exactly as a user or the platform
runs them; the demo only wires them to the local services and checks what they produce.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

import workloads
from workloads.demo.services import (
    Child,
    Children,
    DemoError,
    LocalS3,
    LogCollector,
    child_env,
    free_port,
    http_get,
    http_post_json,
    port_taken,
    python_module,
    wait_until,
)

MODEL_NAME = "credit-approval"  # run.name of configs/tabular.yaml: the registered model's name
ALIAS = "candidate"  # registry.alias of configs/tabular.yaml
# the platform's logical buckets (components/foundation.py BucketRef keys), local names
BUCKETS = {
    "datasets": "mlp-demo-datasets",
    "artifacts": "mlp-demo-artifacts",
    "models": "mlp-demo-models",
    "logs": "mlp-demo-logs",
}
TRAIN_ROWS = 4000
HELDOUT_SEED = 1  # the training data uses seed 0: these rows were never seen in training
MARKER = ".mlplat-demo"  # marks a work directory the demo may clean and reuse

REPO_ROOT = Path(workloads.__file__).resolve().parent.parent
TABULAR_CONFIG = REPO_ROOT / "workloads" / "training" / "configs" / "tabular.yaml"

# import name -> what to install; the demo extra brings all of them
REQUIRED = {
    "torch": "torch",
    "numpy": "numpy",
    "safetensors": "safetensors",
    "s3fs": "s3fs",
    "fairlearn": "fairlearn",
    "boto3": "boto3",
    "uvicorn": "uvicorn",
    "orjson": "orjson",
    "aiohttp": "aiohttp",
    "prometheus_client": "prometheus-client",
    "mlflow": "mlflow",
    "sqlalchemy": "mlflow",  # the full mlflow (its server), not mlflow-skinny
    "alembic": "mlflow",
    "flask": "mlflow",
    "moto.server": "moto[server]",  # imports moto itself (0.5 s), which the demo does next anyway
    "flask_cors": "moto[server]",
}

MLFLOW_START_TIMEOUT = 120.0
SERVER_START_TIMEOUT = 90.0
TRAIN_TIMEOUT = 600.0


@dataclass
class DemoOptions:
    workdir: Path | None = None
    keep_serving: bool = False
    rows: int = 5  # held-out rows sent to the model server, one request each
    steps: int = 300  # training steps (configs/tabular.yaml has 600; 300 passes every gate)
    payload_logging: bool = True


@dataclass
class Timing:
    step: str
    title: str
    started_at: float  # seconds since the demo started
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "title": self.title,
            "started_at": round(self.started_at, 2),
            "seconds": round(self.seconds, 2),
        }


class Progress:
    """One line per finished step (with its wall time) on stderr; a spinner on a terminal meanwhile."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.monotonic()
        self.timings: list[Timing] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    @contextlib.contextmanager
    def step(self, key: str, title: str, started: float | None = None) -> Iterator[Callable[[str], None]]:
        start = time.monotonic() if started is None else started
        status = self.console.status(title) if self.console.is_terminal else contextlib.nullcontext()
        with status as live:

            def update(text: str) -> None:
                if live is not None:
                    live.update(f"{title}: {text}")

            yield update
        seconds = time.monotonic() - start
        self.timings.append(Timing(key, title, start - self.t0, seconds))
        self.console.print(f"[green]✓[/] {title} [dim]({seconds:.1f} s)[/]", highlight=False)

    def note(self, text: str) -> None:
        self.console.print(f"  [dim]{text}[/]", highlight=False)


# -- preparation -------------------------------------------------------------------------------------


def check_requirements() -> None:
    """Every package the demo's processes import, found without importing them (fast)."""
    import importlib.util

    def found(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ImportError:  # the parent package of a submodule is missing
            return False

    missing = sorted({pkg for module, pkg in REQUIRED.items() if not found(module)})
    if missing:
        raise DemoError(
            f"missing {', '.join(missing)}: install the demo extra with `pip install -e '.[demo]'` "
            "(from the repository root)",
            exit_code=2,
        )


def _running_children(registry: Path) -> list[str]:
    """The children a previous demo recorded in `registry` whose process group still exists."""
    try:
        records = json.loads(registry.read_text())
    except (OSError, ValueError):
        return []
    alive = []
    for record in records if isinstance(records, list) else []:
        try:
            os.killpg(int(record["pgid"]), 0)
        except (ProcessLookupError, KeyError, TypeError, ValueError):
            continue
        except PermissionError:
            pass
        alive.append(f"{record.get('name')} pid {record.get('pid')}")
    return alive


def prepare_workdir(path: Path | None) -> Path:
    """A fresh temporary directory, or the given one (created; emptied if a previous demo used it)."""
    try:
        if path is None:
            workdir = Path(tempfile.mkdtemp(prefix="mlplat-demo-"))
        else:
            workdir = path.expanduser().absolute()
            workdir.mkdir(parents=True, exist_ok=True)
            entries = [p for p in workdir.iterdir() if p.name != MARKER]
            if entries and not (workdir / MARKER).exists():
                raise DemoError(
                    f"--workdir {workdir} is not empty and was not made by a previous demo: "
                    "give a new or empty directory",
                    exit_code=2,
                )
            busy = _running_children(workdir / "processes.json")
            if busy:
                raise DemoError(
                    f"--workdir {workdir} is in use by a demo that is still running ({', '.join(busy)}): "
                    "stop it or give another directory",
                    exit_code=2,
                )
            for entry in entries:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        (workdir / MARKER).write_text("made by `mlplat demo`; the demo empties this directory when it reuses it\n")
        for sub in ("logs", "data"):
            (workdir / sub).mkdir(exist_ok=True)
    except OSError as exc:
        where = f"--workdir {path}" if path is not None else f"a temporary directory in {tempfile.gettempdir()}"
        raise DemoError(f"cannot use {where}: {exc.strerror or exc}", exit_code=2) from None
    return workdir


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class Session:
    """Everything one demo run starts, so that one place stops it all."""

    workdir: Path
    children: Children
    s3: LocalS3 | None = None
    collector: LogCollector | None = None
    mlflow: Child | None = None
    server: Child | None = None
    urls: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.children.stop_all()
        if self.collector is not None:
            self.collector.stop()
        if self.s3 is not None:
            self.s3.stop()


def _uri(bucket: str, *parts: str) -> str:
    return "/".join([f"s3://{BUCKETS[bucket]}", *parts])


def _spawn_listening(
    session: Session, name: str, what: str, command: Callable[[int], list[str]], env: dict[str, str]
) -> tuple[Child, str, float]:
    """Start a server on a free loopback port; another port when it was taken meanwhile (3 tries)."""
    tail = ""
    for _attempt in range(3):
        port = free_port()
        started = time.monotonic()
        child = session.children.spawn(name, command(port), env, session.workdir)
        time.sleep(0.2)  # long enough to fail on a taken port
        if child.running() or not port_taken(child):
            return child, f"http://127.0.0.1:{port}", started
        tail = child.tail()
    raise DemoError(f"cannot start {what}: no free port on 127.0.0.1 after 3 tries", log_tail=tail)


def _start_mlflow(session: Session, s3: LocalS3) -> tuple[Child, str, float]:
    def command(port: int) -> list[str]:
        return python_module(
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{session.workdir / 'mlflow.db'}",
            "--artifacts-destination",
            _uri("artifacts") + "/",
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        )

    # no job runner: its half a dozen huey consumer processes (GenAI evaluation jobs) would take the CPU
    # the demo needs, and nothing here uses them
    extra = {"MLFLOW_S3_ENDPOINT_URL": s3.endpoint, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return _spawn_listening(session, "mlflow", "MLflow", command, child_env(s3.endpoint, REPO_ROOT, extra))


def _wait_mlflow(child: Child, url: str, progress: Callable[[str], None]) -> None:
    wait_until(
        lambda: http_get(f"{url}/health")[0] == 200,
        child,
        "the MLflow server",
        MLFLOW_START_TIMEOUT,
        lambda: progress("creating its sqlite database"),
    )


def _make_data(s3: LocalS3, workdir: Path, rows: int) -> dict[str, Any]:
    from workloads.training.synthetic import make_tabular

    train = make_tabular(TRAIN_ROWS, seed=0)
    heldout = make_tabular(max(rows, 50), seed=HELDOUT_SEED)
    uris = {"train": _uri("datasets", MODEL_NAME, "train.csv"), "heldout": _uri("datasets", MODEL_NAME, "heldout.csv")}
    for name, data in (("train", train), ("heldout", heldout)):
        s3.put(uris[name], data, "text/csv")
        (workdir / "data" / f"{name}.csv").write_bytes(data)
    return {"uris": uris, "heldout": heldout, "train_rows": TRAIN_ROWS}


_LOG_PREFIX = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING) ")
_GATES_FAILED = re.compile(r"gates failed \((.*)\)")


def _train(
    session: Session, s3: LocalS3, mlflow_url: str, train_uri: str, steps: int, progress: Callable[[str], None]
) -> str:
    output_uri = _uri("models", MODEL_NAME)
    env = child_env(
        s3.endpoint,
        REPO_ROOT,
        {"MLFLOW_TRACKING_URI": mlflow_url, "ML_PLATFORM_JOB_ID": "local/mlplat-demo"},
    )
    child = session.children.spawn(
        "training",
        python_module(
            "workloads.training",
            "--config",
            str(TABULAR_CONFIG),
            "--run.output_uri",
            output_uri,
            "--data.train_uri",
            train_uri,
            "--train.steps",
            str(steps),
            "--train.device",
            "cpu",
            "--eval.fail_on_gate",
            "true",
            "--registry.mode",
            "always",
        ),
        env,
        session.workdir,
    )
    deadline = time.monotonic() + TRAIN_TIMEOUT
    seen = 0
    while child.running():
        if time.monotonic() > deadline:
            raise DemoError(
                f"training did not finish in {TRAIN_TIMEOUT:.0f}s (log: {child.log})", log_tail=child.tail()
            )
        with contextlib.suppress(OSError):
            text = child.log.read_text(errors="replace")
            if len(text) != seen and text.strip():  # the spinner shows the trainer's latest log line
                seen = len(text)
                progress(_LOG_PREFIX.sub("", text.rstrip().splitlines()[-1])[:100])
        time.sleep(0.2)
    code = child.proc.returncode
    if code == 3:
        found = _GATES_FAILED.findall(child.log.read_text(errors="replace"))
        detail = found[-1] if found else "see the log"
        raise DemoError(
            f"the model failed its gates ({detail}): it is registered as rejected, without the '{ALIAS}' alias, "
            f"so there is nothing to serve; try more --steps (log: {child.log})",
            exit_code=1,
        )
    if code != 0:
        detail = child.last_error() or f"exited with status {code}"
        raise DemoError(f"training failed: {detail} (log: {child.log})", log_tail=child.tail())
    return output_uri


def _resolve(s3: LocalS3, mlflow_url: str) -> dict[str, Any]:
    """The version the alias points at, from MLflow's REST API, and the model card its tags name."""
    query = urllib.parse.urlencode({"name": MODEL_NAME, "alias": ALIAS})
    status, body = http_get(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias?{query}", timeout=10)
    if status != 200:
        raise DemoError(f"MLflow has no version of {MODEL_NAME} with the alias '{ALIAS}' (HTTP {status})")
    version = json.loads(body)["model_version"]
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    card_uri = tags.get("ai.model-card-uri")
    if not card_uri:
        raise DemoError(f"{MODEL_NAME} version {version['version']} has no ai.model-card-uri tag")
    card = json.loads(s3.get(card_uri))
    registered = (card.get("registry") or {}).get("version")
    if str(registered) != str(version["version"]):
        raise DemoError(f"the model card {card_uri} records version {registered}, MLflow's alias {version['version']}")
    inference_uri = card["model"]["artifacts"]["inference"]
    return {
        "name": MODEL_NAME,
        "version": str(version["version"]),
        "alias": ALIAS,
        "aliases": version.get("aliases", []),
        "run_id": version.get("run_id"),
        "source": version.get("source"),
        "tags": tags,
        "card_uri": card_uri,
        "card": card,
        "inference_uri": inference_uri,
        "model_dir": inference_uri.rsplit("/", 1)[0],
    }


def _start_server(session: Session, s3: LocalS3, registered: dict[str, Any]) -> tuple[Child, str, float]:
    logger = ["--logger_url", session.collector.url] if session.collector is not None else []

    def command(port: int) -> list[str]:
        return python_module(
            "workloads.serving",
            "--model_name",
            MODEL_NAME,
            "--model_dir",
            registered["model_dir"],
            "--model_version",
            registered["version"],
            "--host",
            "127.0.0.1",
            "--http_port",
            str(port),
            *logger,
        )

    # the platform deploys a model in its owner's namespace; the payload log records carry it
    env = child_env(s3.endpoint, REPO_ROOT, {"POD_NAMESPACE": registered["card"]["owner"]["team"]})
    return _spawn_listening(session, "model-server", "the model server", command, env)


def _heldout_rows(data: bytes, features: list[str], label: str, group: str, count: int) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(data.decode()))
    rows = []
    for i, record in enumerate(reader):
        if i >= count:
            break
        rows.append(
            {
                "row": i,
                "features": {f: float(record[f]) for f in features},
                "label": int(record[label]),
                "group": record[group],
            }
        )
    return rows


def _fp32(value: float) -> float:
    """`value` rounded to FP32 and written the shortest way that reads back as the same FP32 number (as the
    server's JSON writes it), so that two such floats are equal exactly when their FP32 values are."""
    import numpy as np

    return float(str(np.float32(value)))


def _direct_outputs(program: bytes, rows: list[dict[str, Any]], features: list[str]) -> list[float]:
    """The exported model's own output, in this process, on the same rows with the same batch shape."""
    import torch

    torch.set_num_threads(1)  # as the model server (--torch_threads 1)
    module = torch.export.load(io.BytesIO(program)).module()
    out = []
    with torch.inference_mode():
        for row in rows:
            x = torch.tensor([[row["features"][f] for f in features]], dtype=torch.float32)
            out.append(_fp32(float(module(x).reshape(-1)[0])))
    return out


def _infer(server_url: str, rows: list[dict[str, Any]], features: list[str]) -> tuple[dict[str, Any], list[dict]]:
    status, body = http_get(f"{server_url}/v2/models/{MODEL_NAME}", timeout=5)
    if status != 200:
        raise DemoError(f"the model server's metadata answered HTTP {status}")
    metadata = json.loads(body)
    spec = metadata["inputs"][0]
    responses = []
    for i, row in enumerate(rows):
        request = {
            "id": f"demo-{i}",
            "inputs": [
                {
                    "name": spec["name"],
                    "datatype": spec["datatype"],
                    "shape": [1, len(features)],
                    "data": [row["features"][f] for f in features],
                }
            ],
        }
        status, answer = http_post_json(f"{server_url}/v2/models/{MODEL_NAME}/infer", request)
        if status != 200:
            raise DemoError(f"infer answered HTTP {status}: {answer.get('error', answer)}")
        responses.append({"request": request, "response": answer})
    return metadata, responses


def _curl(server_url: str, input_name: str, values: list[float]) -> str:
    body = json.dumps(
        {"inputs": [{"name": input_name, "datatype": "FP32", "shape": [1, len(values)], "data": values}]},
        separators=(",", ":"),
    )
    return f"curl -s -H 'Content-Type: application/json' -d '{body}' {server_url}/v2/models/{MODEL_NAME}/infer"


def _checkpoints(s3: LocalS3, output_uri: str) -> list[str]:
    steps = {uri.rsplit("/", 1)[0] for uri in s3.list(output_uri + "/checkpoints/") if "/step-" in uri}
    return sorted(steps)


def _lifecycle(session: Session, options: DemoOptions, progress: Progress) -> dict[str, Any]:
    with progress.step("s3", "local S3 (moto) with the platform's buckets"):
        s3 = session.s3 = LocalS3()
        for bucket in BUCKETS.values():
            s3.create_bucket(bucket)
    progress.note(f"S3 endpoint {s3.endpoint}; buckets {', '.join(BUCKETS.values())}")

    mlflow, mlflow_url, mlflow_started = _start_mlflow(session, s3)
    session.mlflow = mlflow
    with progress.step("data", "synthetic credit data in the datasets bucket"):
        data = _make_data(s3, session.workdir, options.rows)
    with progress.step("mlflow", "MLflow tracking server and model registry", started=mlflow_started) as update:
        _wait_mlflow(mlflow, mlflow_url, update)
    progress.note(f"MLflow {mlflow_url} (sqlite in the work directory, artifacts in s3://{BUCKETS['artifacts']})")

    with progress.step("train", f"training ({options.steps} steps on CPU), evaluation, gates, registration") as update:
        output_uri = _train(session, s3, mlflow_url, data["uris"]["train"], options.steps, update)

    with progress.step("resolve", f"MLflow alias '{ALIAS}' -> version -> model card"):
        registered = _resolve(s3, mlflow_url)
    progress.note(f"{MODEL_NAME} version {registered['version']} (alias '{ALIAS}'), artifact {registered['model_dir']}")

    if options.payload_logging:
        session.collector = LogCollector(s3, _uri("logs", "inference"))
    server, server_url, server_started = _start_server(session, s3, registered)
    session.server = server

    card = registered["card"]
    features: list[str] = card["model"]["inputs"]
    rows = _heldout_rows(data["heldout"], features, "label", "group", options.rows)
    with progress.step("direct", "the model's own output in this process (torch.export program from S3)"):
        program = s3.get(registered["inference_uri"])
        direct = _direct_outputs(program, rows, features)

    with progress.step("serve", "model server (OIP v2) ready", started=server_started):
        wait_until(
            lambda: http_get(f"{server_url}/v2/models/{MODEL_NAME}/ready")[0] == 200,
            server,
            "the model server",
            SERVER_START_TIMEOUT,
        )

    with progress.step("infer", f"{len(rows)} inference requests over HTTP"):
        metadata, exchanges = _infer(server_url, rows, features)
        logs: list[str] = []
        if session.collector is not None:
            deadline = time.monotonic() + 10
            while session.collector.count() < 2 * len(rows) and time.monotonic() < deadline:
                time.sleep(0.05)
            logs = s3.list(_uri("logs", "inference") + "/")

    model_config = json.loads(s3.get(card["model"]["artifacts"]["config"]))
    threshold = float(model_config.get("decision_threshold", 0.5))
    predictions = []
    for row, exchange, own in zip(rows, exchanges, direct, strict=True):
        answer = exchange["response"]
        served = _fp32(float(answer["outputs"][0]["data"][0]))
        predictions.append(
            {
                "id": answer.get("id"),
                "row": row["row"],
                "group": row["group"],
                "label": row["label"],
                "features": row["features"],
                "probability": served,
                "direct": own,
                "equal": served == own,
                "decision": "approve" if served >= threshold else "refer to a person",
                "model_version": answer.get("model_version"),
            }
        )

    input_name = metadata["inputs"][0]["name"]
    first = [rows[0]["features"][f] for f in features] if rows else [0.0] * len(features)
    mv = registered["version"]
    locations = {
        "workdir": str(session.workdir),
        "s3_endpoint": s3.endpoint,
        "buckets": {k: f"s3://{v}" for k, v in BUCKETS.items()},
        "train_data": data["uris"]["train"],
        "heldout_data": data["uris"]["heldout"],
        "output": output_uri,
        "checkpoints": _checkpoints(s3, output_uri),
        "weights": card["model"]["artifacts"]["weights"],
        "model_artifact": registered["inference_uri"],
        "model_dir": registered["model_dir"],
        "model_card": registered["card_uri"],
        "metrics": card["model"]["artifacts"]["metrics"],
        "mlflow_url": mlflow_url,
        "mlflow_artifacts": f"s3://{BUCKETS['artifacts']}/",
        "mlflow_model_version_url": f"{mlflow_url}/#/models/{MODEL_NAME}/versions/{mv}",
        "mlflow_source": registered["source"],
        "server_url": server_url,
        "infer_url": f"{server_url}/v2/models/{MODEL_NAME}/infer",
        "curl": _curl(server_url, input_name, first),
        "inference_logs": _uri("logs", "inference") + "/" if session.collector is not None else None,
        "inference_log_objects": logs,
        "logs": {c.name: str(c.log) for c in session.children.started},
    }
    return {
        "ok": True,
        "model": {
            "name": MODEL_NAME,
            "version": mv,
            "alias": ALIAS,
            "aliases": registered["aliases"],
            "run_id": registered["run_id"],
            "gates_tag": registered["tags"].get("ai.gates"),
            "risk_tier_tag": registered["tags"].get("ai.risk-tier"),
            "server_metadata": metadata,
        },
        "predictions": predictions,
        "all_equal": bool(predictions) and all(p["equal"] for p in predictions),
        "model_card": card,
        "locations": locations,
        "payload_log_failures": list(session.collector.failures) if session.collector is not None else [],
    }


def _wait_for_interrupt(session: Session, console: Console) -> None:
    console.print("[bold]Serving until Ctrl-C[/] (the S3, MLflow and model server above stay up).", highlight=False)
    try:
        while all(c.running() for c in (session.mlflow, session.server) if c is not None):
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
    gone = next(c for c in (session.mlflow, session.server) if c is not None and not c.running())
    raise DemoError(f"{gone.name} exited with status {gone.proc.returncode} (log: {gone.log})", log_tail=gone.tail())


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: stop every child, then exit (status 143)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def run(options: DemoOptions, console: Console, render: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run the demo; `render(summary)` shows the result (before waiting, with keep_serving).
    Every child process is stopped before this returns or raises."""
    check_requirements()
    workdir = prepare_workdir(options.workdir)
    console.print(f"[bold]mlplat demo[/]: work directory {workdir}", highlight=False)
    progress = Progress(console)
    session = Session(workdir, Children(workdir / "logs", workdir / "processes.json"))
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    summary: dict[str, Any] = {}
    try:
        summary = _lifecycle(session, options, progress)
        summary["workdir"] = str(workdir)
        if options.keep_serving:
            summary["elapsed_seconds"] = round(progress.elapsed(), 2)
            summary["timings"] = [t.as_dict() for t in progress.timings]
            summary["processes"] = session.children.records()
            summary["serving"] = True
            render(summary)
            _wait_for_interrupt(session, console)
    finally:
        with progress.step("stop", "stopped every service"):
            session.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    summary["elapsed_seconds"] = round(progress.elapsed(), 2)
    summary["timings"] = [t.as_dict() for t in progress.timings]
    summary["processes"] = session.children.records()
    summary["serving"] = False
    with contextlib.suppress(OSError):
        (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not options.keep_serving:
        render(summary)
    return summary
