"""The rollout analysis on real parts: the platform model server (one process per predictor, each serving
a model the training workload trained here), a real Prometheus (Debian's package) scraping them every
second with the labels the PodMonitor gives (namespace, ml_platform_model_version), and an HTTP server
playing the Kubernetes API with the InferenceService the platform renders for aws-prod.

The candidates are real artifacts: the trained model as is (healthy); wrapped in a guard that rejects
inputs outside the range it was calibrated for (a forward that raises: 5xx on about a quarter of the
requests); wrapped in extra compute (a forward of about 100 ms, above the SLO's 50 ms); and a shadow
whose answers are the live model's flipped. The live server mirrors every request to that shadow.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests import system
from tests.conftest import synth_stack
from tests.k8s_schema import manifest, validate
from tests.workloads.conftest import LOOPBACK, REPO, free_port, wait_for
from tests.workloads.helpers import cli_env, train_tabular
from tests.workloads.kube import KubeApi, merge_patch
from workloads.rollouts.analysis import Evidence, Thresholds, analyze, apply, decide
from workloads.rollouts.errors import RolloutError
from workloads.rollouts.inferenceservice import VERSION_LABEL, Candidate, canary_patch, find_candidate
from workloads.rollouts.prometheus import Prometheus

NAMESPACE, MODEL = "research", "credit-approval"
SHADOW = f"{MODEL}-shadow"
FEATURES = 7
STABLE, HEALTHY, FAILING, SLOW, SHADOWED = "7", "8", "9", "10", "11"
THRESHOLDS = Thresholds(
    window="5m", min_requests=40, max_error_ratio=0.01, latency_threshold_s=0.05, max_disagreement=0.05
)


# -- the model artifacts ---------------------------------------------------------------------------------


class Guarded(torch.nn.Module):
    """Refuses inputs outside the range it was calibrated for: the forward raises (a 5xx)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert_async((x.abs() < 2.0).all(), "input outside the calibrated range")  # pyright: ignore[reportPrivateImportUsage]
        return self.inner(x)


class Slow(torch.nn.Module):
    """The same answers after about 100 ms of extra matrix products."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        gen = torch.Generator().manual_seed(0)
        self.m = torch.nn.Buffer(torch.randn(384, 1536, generator=gen) / 40)
        self.w = torch.nn.Buffer(torch.randn(1536, 1536, generator=gen) / 40)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.as_tensor(self.m) * x.mean()
        for _ in range(6):
            h = torch.tanh(h @ torch.as_tensor(self.w))
        return self.inner(x) + 0.0 * h.mean()


class Flipped(torch.nn.Module):
    """The opposite decision on every row."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - self.inner(x)


def _wrapped(model_dir: Path, target: Path, wrapper: type[torch.nn.Module]) -> Path:
    """A copy of the artifact whose program is `wrapper` around the trained one."""
    shutil.copytree(model_dir, target)
    inner = torch.export.load(model_dir / "model.pt2").module()
    program = torch.export.export(
        wrapper(inner),
        (torch.zeros(2, FEATURES),),
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1 << 20)}},
    )
    buf = io.BytesIO()
    torch.export.save(program, buf)
    (target / "model.pt2").write_bytes(buf.getvalue())
    return target


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rollout-models")
    model = train_tabular(root) / "model"
    return {
        STABLE: model,
        HEALTHY: model,
        FAILING: _wrapped(model, root / "guarded", Guarded),
        SLOW: _wrapped(model, root / "slow", Slow),
        SHADOWED: _wrapped(model, root / "flipped", Flipped),
    }


# -- the servers and Prometheus ----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    version: str
    port: int
    proc: subprocess.Popen

    @property
    def infer(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v2/models/{self.name}/infer"


def _serve(name: str, version: str, model_dir: Path, logs: Path, *extra: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "workloads.serving", "--model_name", name, "--http_port", str(port)]
    cmd += ["--model_dir", str(model_dir), "--model_version", version, *extra]
    with (logs / f"{name}-{version}.log").open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=out, stderr=subprocess.STDOUT)
    return Server(name, version, port, proc)


def _ready(server: Server) -> None:
    def up() -> bool:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{server.port}/v2/health/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    wait_for(up, 120, f"model server {server.name} v{server.version}", server.proc)


def _prometheus(servers: list[Server], root: Path) -> tuple[subprocess.Popen, str]:
    """Scrapes each server every second, labelled as the PodMonitor labels a predictor's pods."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "model-servers",
                "static_configs": [
                    {
                        "targets": [f"{LOOPBACK}:{s.port}"],
                        "labels": {"namespace": NAMESPACE, "ml_platform_model_version": s.version},
                    }
                    for s in servers
                ],
            }
        ],
    }
    (root / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    cmd = [
        system.require("prometheus"),
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'tsdb'}",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]
    log = (root / "prometheus.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://{LOOPBACK}:{port}"


@dataclass
class Fleet:
    servers: dict[str, Server]
    prometheus: Prometheus
    sent: dict[str, int]


def _post(server: Server, rows: np.ndarray) -> int:
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(rows.shape), "data": rows.ravel().tolist()}]}
    req = urllib.request.Request(server.infer, data=json.dumps(doc).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def fleet(artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("rollout-fleet")
    shadow = _serve(SHADOW, SHADOWED, artifacts[SHADOWED], root)
    # the stable version, mirroring every request to the shadow
    live = _serve(MODEL, STABLE, artifacts[STABLE], root, "--shadow_url", shadow.infer, "--shadow_sample_rate", "1")
    servers = {
        STABLE: live,
        SHADOWED: shadow,
        **{v: _serve(MODEL, v, artifacts[v], root) for v in (HEALTHY, FAILING, SLOW)},
    }
    prom_proc, prom_url = _prometheus(list(servers.values()), root)
    try:
        for server in servers.values():
            _ready(server)
        prom = Prometheus(prom_url)
        wait_for(lambda: _up(prom) == len(servers), 60, "prometheus scraping every server", prom_proc)
        rng = np.random.default_rng(0)
        sent = dict.fromkeys(servers, 0)
        # three rounds a few scrapes apart: each counter (a 5xx one too) exists before most of its requests
        plan = {STABLE: 60, HEALTHY: 20, FAILING: 30, SLOW: 16}
        for _ in range(3):
            with ThreadPoolExecutor(4) as pool:
                for version, n in plan.items():
                    rows = [rng.normal(size=(1, FEATURES)).astype(np.float32) for _ in range(n)]
                    codes = list(pool.map(lambda r, s=servers[version]: _post(s, r), rows))
                    sent[version] += len(codes)
            time.sleep(2.5)
        sent[SHADOWED] = sent[STABLE]
        expected = sum(sent[v] for v in plan)
        wait_for(lambda: _scraped(prom) >= expected, 30, "prometheus holding every request", prom_proc)
        wait_for(lambda: _mirrored(prom) >= sent[STABLE], 30, "the shadow's comparisons scraped", prom_proc)
        yield Fleet(servers, prom, sent)
    finally:
        for proc in [prom_proc, *(s.proc for s in servers.values())]:
            proc.terminate()
        for proc in [prom_proc, *(s.proc for s in servers.values())]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _up(prom: Prometheus) -> int:
    return int(prom.query('sum(up{job="model-servers"})') or 0)


def _scraped(prom: Prometheus) -> float:
    return prom.query(f'sum(model_server_requests_total{{model="{MODEL}", endpoint="infer"}})') or 0.0


def _mirrored(prom: Prometheus) -> float:
    return prom.query(f'sum(model_server_shadow_predictions_total{{model="{MODEL}"}})') or 0.0


# -- the InferenceServices ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """The InferenceService the platform renders for aws-prod's credit-approval (stable version 7)."""
    syn = synth_stack("aws-prod")
    (isvc,) = [
        manifest(r)
        for r in syn.resources
        if r.type == "kubernetes:serving.kserve.io/v1beta1:InferenceService" and r.inputs["metadata"]["name"] == MODEL
    ]
    assert isvc["spec"]["predictor"]["labels"][VERSION_LABEL] == STABLE
    return isvc


def _with_canary(isvc: dict[str, Any], version: str, percent: int = 10) -> dict[str, Any]:
    uri = f"s3://models/teams/{NAMESPACE}/{MODEL}/runs/v{version}/model"
    return merge_patch(copy.deepcopy(isvc), canary_patch(isvc, uri, version, percent))


def _shadow(isvc: dict[str, Any], version: str) -> dict[str, Any]:
    predictor = copy.deepcopy(isvc["spec"]["predictor"])
    predictor["labels"] = {VERSION_LABEL: version}
    predictor["model"]["storageUri"] = f"s3://models/teams/{NAMESPACE}/{MODEL}/runs/v{version}/model"
    return {
        "apiVersion": isvc["apiVersion"],
        "kind": "InferenceService",
        "metadata": {"name": SHADOW, "namespace": NAMESPACE},
        "spec": {"predictor": predictor},
    }


@pytest.fixture
def kube() -> Iterator[list[KubeApi]]:
    made: list[KubeApi] = []
    yield made
    for api in made:
        api.close()


def _api(kube: list[KubeApi], *objects: dict[str, Any]) -> KubeApi:
    api = KubeApi(*objects)
    kube.append(api)
    return api


# -- the decisions -------------------------------------------------------------------------------------------


def test_a_healthy_canary_is_promoted_to_the_next_traffic_step(
    fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]
) -> None:
    api = _api(kube, _with_canary(rendered, HEALTHY, 10))
    decision = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS, act=True, owns_canary=True)

    assert decision.action == "promote", decision.reasons
    assert decision.outcome == "canary 25%" and decision.applied
    ev = decision.evidence
    assert ev is not None and ev.error_ratio == 0.0
    # the evidence is the candidate's own traffic, told apart from the stable version's by the version label
    assert ev.requests == pytest.approx(fleet.sent[HEALTHY], rel=0.35)
    assert ev.stable_requests == pytest.approx(fleet.sent[STABLE], rel=0.35)
    assert ev.latency_s is not None and ev.latency_s <= THRESHOLDS.latency_threshold_s
    isvc = api.isvc
    assert isvc["spec"]["canary"][0]["trafficPercent"] == 25
    assert isvc["spec"]["canary"][0]["predictor"]["labels"][VERSION_LABEL] == HEALTHY
    assert validate(isvc, "1.34") == []  # still a valid InferenceService
    # the record is the decision log entry: JSON, with the evidence and the thresholds
    record = json.loads(json.dumps(decision.record(NAMESPACE, MODEL, THRESHOLDS)))
    assert record["decision"] == "promote" and record["applied"] is True
    assert record["evidence"]["requests"] > 0 and record["thresholds"]["max_error_ratio"] == 0.01


def test_a_canary_at_the_last_step_is_reported_for_promotion_to_stable(
    fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]
) -> None:
    api = _api(kube, _with_canary(rendered, HEALTHY, 100))
    decision = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS, act=True, owns_canary=True)
    assert (decision.action, decision.outcome, decision.applied) == ("promote", "stable", False)
    # the stack owns the stable version: the change to make, never a patch
    assert (
        decision.change is not None
        and "modelVersion: '8'" in decision.change
        and "predictorName: v8" in decision.change
        and f"storageUri: s3://models/teams/{NAMESPACE}/{MODEL}/runs/v8/model" in decision.change
    )
    assert api.patches() == []


def test_a_canary_with_errors_is_rolled_back(fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]) -> None:
    api = _api(kube, _with_canary(rendered, FAILING, 25))
    decision = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS, act=True, owns_canary=True)

    assert decision.action == "rollback", decision.reasons
    assert decision.evidence is not None and decision.evidence.error_ratio is not None
    assert 0.1 < decision.evidence.error_ratio < 0.5  # about a quarter of the inputs leave the guarded range
    assert "error ratio" in decision.reasons[0]
    # all traffic back to the stable version: the canary and its annotation are gone
    assert decision.applied and "canary" not in api.isvc["spec"]
    assert "ml-platform/canary-model-version" not in api.isvc["metadata"]["annotations"]
    assert validate(api.isvc, "1.34") == []


def test_a_slow_canary_is_rolled_back_on_the_latency_slo(
    fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]
) -> None:
    api = _api(kube, _with_canary(rendered, SLOW, 10))
    decision = analyze(
        fleet.prometheus, api.client(), NAMESPACE, MODEL, _with(min_requests=30), act=True, owns_canary=True
    )
    assert decision.action == "rollback", decision.reasons
    assert decision.evidence is not None and decision.evidence.error_ratio == 0.0
    assert decision.evidence.latency_s is not None and decision.evidence.latency_s > 0.05
    assert "p99 latency" in decision.reasons[0] and "50 ms" in decision.reasons[0]
    assert "canary" not in api.isvc["spec"]


def test_a_shadow_with_diverging_answers_is_held(fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]) -> None:
    api = _api(kube, rendered, _shadow(rendered, SHADOWED))
    decision = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS, act=True, owns_canary=True)

    assert decision.action == "hold", (decision.reasons, decision.evidence)
    ev = decision.evidence
    assert ev is not None and decision.candidate is not None and decision.candidate.kind == "shadow"
    # the shadow itself is healthy (it answered every mirrored request), but it disagrees with the live model
    assert ev.error_ratio == 0.0 and ev.mirror_error_ratio == 0.0
    assert ev.requests == pytest.approx(fleet.sent[STABLE], rel=0.35)
    assert ev.disagreement is not None and ev.disagreement > 0.9
    assert "disagrees" in decision.reasons[0]
    assert api.patches() == []  # nothing is changed on a hold


def test_a_shadow_that_agrees_is_reported_for_promotion_to_canary(
    rendered: dict[str, Any], kube: list[KubeApi]
) -> None:
    """A healthy shadow agreeing with the live model: promotion to canary is a stack change, reported."""
    api = _api(kube, rendered, _shadow(rendered, SHADOWED))
    shadow = find_candidate(api.isvc, api.get(NAMESPACE, SHADOW))
    uri = f"s3://models/teams/{NAMESPACE}/{MODEL}/runs/v{SHADOWED}/model"
    assert shadow == Candidate("shadow", SHADOWED, SHADOW, 0, uri)
    evidence = Evidence(requests=500, error_ratio=0.0, latency_s=0.004, compared=500, disagreement=0.01)
    evidence.mirror_error_ratio = 0.0
    decision = decide(shadow, evidence, THRESHOLDS)
    assert (decision.action, decision.outcome) == ("promote", "canary 10%")
    decision = apply(decision, api.client(), NAMESPACE, MODEL, api.isvc, THRESHOLDS, act=True, owns_canary=True)
    assert not decision.applied and decision.change is not None
    assert "replace the shadow block with canary" in decision.change
    assert f"runs/v{SHADOWED}/model" in decision.change and api.patches() == []
    # the shadow failing mirrored requests (an incompatible input schema gets 4xx) is rolled back
    evidence.mirror_error_ratio = 0.2
    assert decide(shadow, evidence, THRESHOLDS).action == "rollback"


def test_too_little_traffic_holds_and_report_only_never_patches(
    fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]
) -> None:
    api = _api(kube, _with_canary(rendered, FAILING, 10))
    held = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, _with(min_requests=10_000), act=True)
    assert held.action == "hold" and "not enough evidence" in held.reasons[0]
    # without --act (or for a canary the stack declares) the rollback is reported, not applied
    reported = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS, act=True, owns_canary=False)
    assert reported.action == "rollback" and not reported.applied
    assert reported.change == f"modelDeployments[{NAMESPACE}/{MODEL}]: remove the canary block (version {FAILING})"
    assert api.patches() == [] and "canary" in api.isvc["spec"]


def test_no_candidate_and_a_promoted_leftover(fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi]) -> None:
    api = _api(kube, rendered)
    assert analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS).action == "none"
    # the stack promoted v8 (predictorName v8): the pipeline's canary entry for v8 is removed
    promoted = _with_canary(rendered, HEALTHY, 100)
    promoted["spec"]["predictor"] |= {"name": "v8", "labels": {VERSION_LABEL: HEALTHY}}
    api = _api(kube, promoted)
    decision = analyze(fleet.prometheus, api.client(), NAMESPACE, MODEL, THRESHOLDS, act=True, owns_canary=True)
    assert decision.action == "none" and decision.applied and "canary" not in api.isvc["spec"]


def _with(**changes: Any) -> Thresholds:
    return Thresholds(**{**THRESHOLDS.__dict__, **changes})


# -- the command line ---------------------------------------------------------------------------------------


def _cli(args: list[str], kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
    env = cli_env({"KUBECONFIG": str(kubeconfig)} if kubeconfig else {"KUBECONFIG": "/nonexistent"})
    return subprocess.run(
        [sys.executable, "-m", "workloads.rollouts", "analyze", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_logs_the_decision_as_json_and_acts(
    fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi], tmp_path: Path
) -> None:
    api = _api(kube, _with_canary(rendered, FAILING, 10))
    args = ["--prometheus", fleet.prometheus.url, "--namespace", NAMESPACE, "--model", MODEL, "--window", "5m"]
    args += ["--min-requests", "40", "--latency-threshold-ms", "50", "--act", "--owns-canary"]
    done = _cli([*args, "--out", str(tmp_path / "decision.json")], api.kubeconfig(tmp_path / "kubeconfig"))
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    record = json.loads(line)
    assert record["decision"] == "rollback" and record["applied"] is True
    assert record["candidate"] == {
        "kind": "canary",
        "version": FAILING,
        "predictor": "v9",
        "traffic_percent": 10,
        "storage_uri": f"s3://models/teams/{NAMESPACE}/{MODEL}/runs/v{FAILING}/model",
    }
    assert record["evidence"]["error_ratio"] > 0.1 and record["inference_service"] == f"{NAMESPACE}/{MODEL}"
    assert json.loads((tmp_path / "decision.json").read_text()) == record
    assert "rollback" in done.stderr and "applied" in done.stderr
    assert "canary" not in api.isvc["spec"]


def test_cli_errors_are_one_line(fleet: Fleet, rendered: dict[str, Any], kube: list[KubeApi], tmp_path: Path) -> None:
    api = _api(kube, _with_canary(rendered, HEALTHY, 10))  # a candidate: the analysis asks Prometheus
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    base = ["--namespace", NAMESPACE, "--model", MODEL]
    down = _cli(["--prometheus", f"http://{LOOPBACK}:{free_port()}", *base, "--window", "5m"], kubeconfig)
    missing = _cli(["--prometheus", fleet.prometheus.url, "--namespace", NAMESPACE, "--model", "nope"], kubeconfig)
    bad = _cli(["--prometheus", fleet.prometheus.url, *base, "--window", "15 minutes"], kubeconfig)
    steps = _cli(["--prometheus", fleet.prometheus.url, *base, "--steps", "50,10"], kubeconfig)
    for done, code, text in [
        (down, 1, "is unreachable"),
        (missing, 1, "reading inferenceservice research/nope failed: 404"),
        (bad, 2, "not a Prometheus range"),
        (steps, 2, "rising list"),
    ]:
        assert done.returncode == code, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and text in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
    with pytest.raises(RolloutError, match="refused the query"):
        fleet.prometheus.query("sum(")


# -- the rules, without Prometheus ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "outcome"),
    [(10, "canary 25%"), (15, "canary 25%"), (25, "canary 50%"), (50, "canary 100%"), (100, "stable")],
)
def test_a_healthy_canary_walks_the_steps(percent: int, outcome: str) -> None:
    canary = Candidate("canary", "8", "v8", percent)
    healthy = Evidence(requests=1000, error_ratio=0.001, latency_s=0.02)
    assert (decide(canary, healthy, THRESHOLDS).action, decide(canary, healthy, THRESHOLDS).outcome) == (
        "promote",
        outcome,
    )


def test_errors_and_latency_are_judged_only_with_enough_requests() -> None:
    canary = Candidate("canary", "8", "v8", 10)
    failing = Evidence(requests=39, error_ratio=0.5, latency_s=2.0)
    assert decide(canary, failing, THRESHOLDS).action == "hold"
    failing.requests = 40
    decision = decide(canary, failing, THRESHOLDS)
    assert decision.action == "rollback" and len(decision.reasons) == 2  # both reasons, in the log
    dark = decide(Candidate("canary", "8", "v8", 0), Evidence(requests=0), THRESHOLDS)
    assert dark.action == "hold" and "dark canary" in dark.reasons[0]
    assert decide(None, None, THRESHOLDS).action == "none"
