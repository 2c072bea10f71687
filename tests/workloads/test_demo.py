"""`mlplat demo` as a user runs it: a real process that starts moto's S3, an MLflow server, the trainer
and the model server, and talks to them over HTTP. The demo runs once for the module; the tests read
its JSON summary, its work directory and the process table.

Also: Ctrl-C or SIGTERM in the middle leaves no process behind; a child that fails mid-run ends the demo with
the tail of its log and one line; `--keep-serving` keeps the servers up, its curl answered, until Ctrl-C;
and the errors a user can hit before anything starts are one line with a non-zero exit. The two extra demo
runs (kept serving, failing) add about one demo's time.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.workloads.conftest import REPO, base_env

DEMO = [sys.executable, "-m", "infra.cli", "demo"]
ROWS = 4
CASES = ("workdir-under-a-file", "workdir-not-empty", "bad-format", "no-rows", "extras-missing")
BUCKETS = ("mlp-demo-datasets", "mlp-demo-artifacts", "mlp-demo-models", "mlp-demo-logs")


def run_demo(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*DEMO, *args],
        cwd=REPO,
        env=env or base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Demo:
    proc: subprocess.CompletedProcess
    summary: dict[str, Any]
    workdir: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    workdir = tmp_path_factory.mktemp("demo") / "work"
    proc = run_demo("--format", "json", "--workdir", str(workdir), "--rows", str(ROWS))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Demo(proc, json.loads(proc.stdout), workdir)


def test_demo_runs_every_step_without_a_traceback(demo: Demo) -> None:
    steps = [t["step"] for t in demo.summary["timings"]]
    assert set(steps) == {"s3", "data", "mlflow", "train", "resolve", "direct", "serve", "infer", "stop"}
    assert all(t["seconds"] >= 0 for t in demo.summary["timings"])
    assert demo.summary["elapsed_seconds"] >= max(t["started_at"] + t["seconds"] for t in demo.summary["timings"]) - 0.1
    assert "Traceback" not in demo.proc.stderr
    assert f"work directory {demo.workdir}" in demo.proc.stderr
    assert demo.summary["ok"] is True and demo.summary["serving"] is False
    # the summary in the work directory is what was printed
    assert json.loads((demo.workdir / "summary.json").read_text()) == demo.summary


def test_predictions_over_http_equal_the_models_direct_output(demo: Demo) -> None:
    predictions = demo.summary["predictions"]
    assert len(predictions) == ROWS
    assert [p["id"] for p in predictions] == [f"demo-{i}" for i in range(ROWS)]
    for p in predictions:
        assert 0.0 <= p["probability"] <= 1.0
        assert p["probability"] == p["direct"] and p["equal"] is True
        assert p["model_version"] == demo.summary["model"]["version"]
        assert p["decision"] == ("approve" if p["probability"] >= 0.5 else "refer to a person")
    assert demo.summary["all_equal"] is True
    # the requests carried the first held-out rows (the copy in the work directory), in the model's feature order
    heldout = list(csv.DictReader(io.StringIO((demo.workdir / "data" / "heldout.csv").read_text())))
    features = demo.summary["model_card"]["model"]["inputs"]
    for p, row in zip(predictions, heldout, strict=False):
        assert list(p["features"]) == features
        assert p["features"] == {f: float(row[f]) for f in features}
        assert (p["label"], p["group"]) == (int(row["label"]), row["group"])
    train = (demo.workdir / "data" / "train.csv").read_text().splitlines()
    assert not {",".join(r.values()) for r in heldout[:ROWS]} & set(train), "held-out rows must not be training rows"
    # the server's own metadata, over HTTP
    metadata = demo.summary["model"]["server_metadata"]
    assert metadata["name"] == "credit-approval" and metadata["versions"] == [demo.summary["model"]["version"]]
    assert metadata["inputs"][0]["shape"] == [-1, len(features)]


def test_model_card_carries_governance_and_lineage(demo: Demo) -> None:
    card = demo.summary["model_card"]
    assert card["risk_tier"] == "high"
    assert card["status"] == "candidate"
    assert card["owner"] == {"team": "team-credit", "contact": "credit-ml@example.com"}
    assert card["intended_use"]["primary"].startswith("Rank consumer credit applications")
    assert card["intended_use"]["out_of_scope"]
    assert card["gates"]["passed"] is True
    assert {c["name"] for c in card["gates"]["checks"]} == {
        "accuracy",
        "demographic_parity_difference",
        "equalized_odds_difference",
    }
    assert all(c["passed"] for c in card["gates"]["checks"])
    assert card["metrics"]["accuracy"] >= 0.85
    fairness = card["fairness"]
    assert fairness["sensitive_attribute"] == "group" and fairness["passed"] is True
    assert 0 <= fairness["demographic_parity_difference"] <= fairness["thresholds"]["demographic_parity_difference"]
    assert 0 <= fairness["equalized_odds_difference"] <= fairness["thresholds"]["equalized_odds_difference"]
    assert set(fairness["by_group"]) == {"a", "b"}
    assert card["training"]["steps"] == 300 and card["training"]["device"] == "cpu"
    assert card["code_version"]["training_job"] == "local/mlplat-demo"
    # lineage: the dataset the card names is the one the demo made (same bytes, same hash)
    (dataset,) = card["training_datasets"]
    assert dataset["uri"] == demo.summary["locations"]["train_data"]
    assert dataset["sha256"] == hashlib.sha256((demo.workdir / "data" / "train.csv").read_bytes()).hexdigest()


def test_registered_version_and_alias_come_from_mlflow(demo: Demo) -> None:
    model = demo.summary["model"]
    assert model["name"] == "credit-approval"
    assert model["version"] == "1" and model["alias"] == "candidate" and "candidate" in model["aliases"]
    assert model["gates_tag"] == "passed" and model["risk_tier_tag"] == "high"
    assert model["run_id"]
    registry = demo.summary["model_card"]["registry"]
    assert registry["version"] == model["version"] and registry["alias"] == "candidate"
    assert registry["run_id"] == model["run_id"]
    assert registry["tracking_uri"] == demo.summary["locations"]["mlflow_url"]
    assert demo.summary["locations"]["mlflow_source"].startswith(f"mlflow-artifacts:/1/{model['run_id']}/")
    assert (demo.workdir / "mlflow.db").is_file()


def test_locations_are_in_the_demo_buckets(demo: Demo) -> None:
    loc = demo.summary["locations"]
    assert loc["s3_endpoint"].startswith("http://127.0.0.1:")
    assert sorted(loc["buckets"].values()) == sorted(f"s3://{b}" for b in BUCKETS)
    assert loc["train_data"] == "s3://mlp-demo-datasets/credit-approval/train.csv"
    assert loc["heldout_data"].startswith("s3://mlp-demo-datasets/")
    base = "s3://mlp-demo-models/credit-approval"
    assert loc["model_artifact"] == f"{base}/model/model.pt2"
    assert loc["model_dir"] == f"{base}/model"
    assert loc["model_card"] == f"{base}/model_card.json"
    assert loc["weights"] == f"{base}/model/model.safetensors"
    assert loc["checkpoints"] == [f"{base}/checkpoints/step-000000200", f"{base}/checkpoints/step-000000300"]
    assert loc["mlflow_artifacts"] == "s3://mlp-demo-artifacts/"
    assert loc["mlflow_url"].startswith("http://127.0.0.1:") and loc["server_url"].startswith("http://127.0.0.1:")
    assert loc["infer_url"] == f"{loc['server_url']}/v2/models/credit-approval/infer"
    assert loc["curl"].startswith("curl ") and loc["curl"].endswith(loc["infer_url"])
    # payload logging: a request and a response record per inference, in the platform's layout
    prefix = "s3://mlp-demo-logs/inference/team-credit/credit-approval/predictor/"
    assert loc["inference_logs"] == "s3://mlp-demo-logs/inference/"
    assert sorted(loc["inference_log_objects"]) == sorted(
        f"{prefix}demo-{i}-{kind}.json" for i in range(ROWS) for kind in ("request", "response")
    )
    assert demo.summary["payload_log_failures"] == []


def test_no_child_process_is_left_running(demo: Demo) -> None:
    processes = demo.summary["processes"]
    assert [p["name"] for p in processes] == ["mlflow", "training", "model-server"]
    for p in processes:
        assert p["exit_code"] is not None
        assert not group_alive(p["pgid"]), f"{p['name']} (process group {p['pgid']}) is still running"
        assert Path(p["log"]).is_file() and Path(p["log"]).parent == demo.workdir / "logs"
    assert json.loads((demo.workdir / "processes.json").read_text()) == processes
    assert processes[1]["exit_code"] == 0  # the trainer finished on its own


@pytest.mark.parametrize(
    ("signum", "code", "how"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_or_sigterm_stops_every_child(tmp_path: Path, signum: int, code: int, how: str) -> None:
    workdir = tmp_path / "work"
    proc = subprocess.Popen(
        [*DEMO, "--workdir", str(workdir)],
        cwd=REPO,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    registry = workdir / "processes.json"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (registry.is_file() and registry.read_text().strip()):
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        started = json.loads(registry.read_text())
        assert [p["name"] for p in started] == ["mlflow"] and group_alive(started[0]["pgid"])
        # a second demo may not take over a work directory in use
        second = run_demo("--workdir", str(workdir), timeout=60)
        assert second.returncode == 2
        assert second.stderr.startswith(f"mlplat demo: --workdir {workdir} is in use by a demo that is still running")
        assert second.stderr.count("\n") == 1
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code
    assert err.strip().splitlines()[-1] == f"mlplat demo: {how}; every service it started is stopped"
    assert "Traceback" not in err
    for p in json.loads(registry.read_text()):
        assert not group_alive(p["pgid"]), f"{p['name']} survived {how}"


def _get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as resp:
        return resp.status, resp.read()


def test_keep_serving_leaves_the_servers_up_with_a_curl_that_works_until_ctrl_c(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen(
            [*DEMO, "--keep-serving", "--workdir", str(workdir), "--rows", "1"],
            cwd=REPO,
            env=base_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout or ():
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 300  # the whole demo runs first (28 s when the machine is idle)
        while not (printed and printed[-1].startswith("export ")):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()[-3000:]
            with contextlib.suppress(queue.Empty):
                printed.append(lines.get(timeout=1))
        # the curl the demo prints, pasted into a shell as it stands, is answered by the model server
        (curl,) = [line.strip() for line in printed if line.startswith("curl ")]
        answered = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30, check=False)
        assert answered.returncode == 0, answered.stderr
        answer = json.loads(answered.stdout)
        assert answer["model_name"] == "credit-approval" and len(answer["outputs"][0]["data"]) == 1
        # and the settings it prints reach the S3 and MLflow servers
        settings = dict(word.split("=", 1) for word in printed[-1].split()[1:])
        assert _get(f"{settings['MLFLOW_TRACKING_URI']}/health")[0] == 200
        assert b"<Name>mlp-demo-models</Name>" in _get(settings["AWS_ENDPOINT_URL"] + "/")[1]  # ListBuckets
        serving = json.loads((workdir / "processes.json").read_text())
        assert {p["name"] for p in serving if group_alive(p["pgid"])} == {"mlflow", "model-server"}
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 0, err[-3000:]  # Ctrl-C is how a kept demo ends
    assert err.rstrip().splitlines()[-1].startswith("✓ stopped every service") and "Traceback" not in err
    for p in serving:
        assert not group_alive(p["pgid"]), f"{p['name']} survived Ctrl-C"
    assert subprocess.run(shlex.split(curl), capture_output=True, timeout=30, check=False).returncode != 0


def test_a_child_failing_mid_run_shows_its_log_tail_and_one_line_and_stops_the_rest(tmp_path: Path) -> None:
    """The trainer crashes once MLflow is up (here on a WORLD_SIZE it cannot read, which it inherits as any
    child inherits the demo's environment): the tail of its log, then one line, a non-zero exit, and MLflow
    stopped with it."""
    workdir = tmp_path / "work"
    proc = run_demo("--workdir", str(workdir), env={**base_env(), "WORLD_SIZE": "not-a-number"})
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.rstrip().splitlines()
    log = workdir / "logs" / "training.log"
    assert lines[-1] == f"mlplat demo: training failed: exited with status 1 (log: {log})"
    tail = [line.removeprefix("  | ") for line in lines if line.startswith("  | ")]
    assert tail and tail == log.read_text().rstrip().splitlines()[-len(tail) :]
    # every service stopped, then the tail of the trainer's log, then the one error line
    assert lines[-2 - len(tail)].startswith("✓ stopped every service")
    assert lines[-1 - len(tail) : -1] == [f"  | {line}" for line in tail]
    assert tail[-1] == "ValueError: invalid literal for int() with base 10: 'not-a-number'"
    assert all(line.startswith("  | ") for line in lines if "Traceback" in line)  # the child's, never the demo's
    children = json.loads((workdir / "processes.json").read_text())
    assert [p["name"] for p in children] == ["mlflow", "training"]  # the model server never started
    assert children[1]["exit_code"] == 1 and children[0]["exit_code"] is not None
    for p in children:
        assert not group_alive(p["pgid"]), f"{p['name']} survived the failure"


@pytest.mark.parametrize(
    ("case", "message", "code"),
    [
        ("workdir-under-a-file", "mlplat demo: cannot use --workdir ", 2),
        ("workdir-not-empty", "mlplat demo: --workdir ", 2),
        ("bad-format", "mlplat: Invalid value for '--format'", 2),
        ("no-rows", "mlplat: Invalid value for '--rows'", 2),
        (
            "extras-missing",
            "mlplat demo: missing moto[server]: install the demo extra with `pip install -e '.[demo]'`",
            2,
        ),
    ],
    ids=CASES,
)
def test_user_errors_are_one_line(tmp_path: Path, case: str, message: str, code: int) -> None:
    env = base_env()
    args: list[str] = []
    if case == "workdir-under-a-file":
        (tmp_path / "file").write_text("x")
        args = ["--workdir", str(tmp_path / "file" / "work")]
    elif case == "workdir-not-empty":
        (tmp_path / "notes.txt").write_text("mine")
        args = ["--workdir", str(tmp_path)]
    elif case == "bad-format":
        args = ["--format", "xml"]
    elif case == "no-rows":
        args = ["--rows", "0"]
    else:  # a `moto` without its server module first on the path: as if moto[server] were not installed
        (tmp_path / "shadow" / "moto").mkdir(parents=True)
        (tmp_path / "shadow" / "moto" / "__init__.py").write_text("")
        env["PYTHONPATH"] = f"{tmp_path / 'shadow'}{os.pathsep}{env['PYTHONPATH']}"
    proc = run_demo(*args, env=env, timeout=60)
    assert proc.returncode == code
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(message), proc.stderr
    assert proc.stdout == ""
    if case == "workdir-not-empty":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"], "the user's directory must be untouched"
