"""The TrainingJob component: a TrainJob in a team namespace, queued, pinned to its pool, protected."""

from __future__ import annotations

from typing import Any

import pytest

from components.k8s import training
from infra.config import ConfigError, parse_platform
from infra.synth import Synthesis
from tests.conftest import raw_platform, synth_stack
from tests.k8s_schema import is_kubernetes, manifest


def _one(syn: Synthesis, kind: str) -> dict[str, Any]:
    found = [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]
    assert len(found) == 1, kind
    return found[0]


@pytest.fixture(scope="module", params=["aws-dev", "gcp-dev"])
def dev(request: pytest.FixtureRequest) -> Synthesis:
    return synth_stack(request.param)


def test_sample_job_is_queued_in_the_team_namespace(dev: Synthesis) -> None:
    job = _one(dev, "TrainJob")
    meta = job["metadata"]
    assert meta["namespace"] == "research"
    assert meta["labels"]["kueue.x-k8s.io/queue-name"] == "default"
    assert meta["labels"]["kueue.x-k8s.io/priority-class"] == "training"
    assert job["spec"]["runtimeRef"]["name"] == "torch-distributed"


def test_gpus_requested_and_limited_and_pinned_to_the_pool(dev: Synthesis) -> None:
    spec = _one(dev, "TrainJob")["spec"]
    res = spec["trainer"]["resourcesPerNode"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "1"
    assert spec["trainer"]["numProcPerNode"] == 1
    patch = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    pod = patch["template"]["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"ml-platform/pool": "l4"}
    assert pod["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["spec"]["serviceAccountName"] == "workload"
    assert pod["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"


def test_lineage_and_checkpoint_travel_with_the_job(dev: Synthesis) -> None:
    job = _one(dev, "TrainJob")
    ann = job["metadata"]["annotations"]
    cfg = dev.spec.training_jobs[0]
    assert ann[training.ANN_DATASET] == cfg.dataset_uri
    assert ann[training.ANN_DATASET_VERSION] == cfg.dataset_version
    assert ann[training.ANN_CODE_VERSION] == cfg.code_version
    assert ann[training.ANN_CHECKPOINT] == cfg.checkpoint_uri
    # governance the responsible-AI pack reads: who answers for it, and its EU AI Act tier
    team = next(t for t in dev.spec.teams if t.name == "research")
    assert ann[training.ANN_OWNER] == team.owner and ann[training.ANN_CONTACT] == (team.contact or team.owner)
    assert ann[training.ANN_RISK_TIER] == cfg.risk_tier == "high"
    env = {e["name"]: e["value"] for e in job["spec"]["trainer"]["env"] if "value" in e}
    assert env["CHECKPOINT_URI"] == cfg.checkpoint_uri
    assert env["ML_PLATFORM_CODE_VERSION"] == cfg.code_version  # read by workloads/training into the model card
    assert env["ML_PLATFORM_JOB_ID"] == f"research/{cfg.name}"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"


def test_the_sample_job_reads_and_writes_where_its_identity_may(dev: Synthesis) -> None:
    """The job's arguments, parsed by the trainer as it runs in the image: the data and every output are in the
    platform's buckets (the image carries no data and its working directory is read-only to UID 10001), the
    outputs under the team's prefix of the buckets its `workload` identity may write, and the lineage
    annotation names the file the job reads."""
    from workloads.training.cli import build_parser
    from workloads.training.config import load_config

    job = _one(dev, "TrainJob")
    argv = job["spec"]["trainer"]["args"]
    args = build_parser().parse_args(argv[argv.index("workloads.training") + 1 :])
    cfg = load_config(args.config, {k: v for k, v in vars(args).items() if "." in k})
    buckets = {
        key: f"{'s3' if dev.spec.cloud == 'aws' else 'gs'}://{name}/" for key, name in dev.outputs["buckets"].items()
    }
    assert cfg.data.train_uri.startswith(buckets["datasets"])
    assert cfg.run.output_uri.startswith(f"{buckets['models']}teams/research/")
    assert cfg.run.checkpoint_uri and cfg.run.checkpoint_uri.startswith(f"{buckets['artifacts']}teams/research/")
    assert job["metadata"]["annotations"]["ml-platform/dataset"] == cfg.data.train_uri


def test_the_job_signs_in_to_mlflow_as_the_team(dev: Synthesis) -> None:
    """MLflow runs with basic auth on: a job that registers its model there takes the team's user from the
    `mlflow-credentials` Secret of its namespace (optional: without it the job still trains and reports)."""
    job = _one(dev, "TrainJob")
    env = {e["name"]: e for e in job["spec"]["trainer"]["env"]}
    assert env["MLFLOW_TRACKING_URI"]["value"].startswith("http://mlflow.")
    for var, key in (("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password")):
        ref = env[var]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "mlflow-credentials", "key": key, "optional": True}


def test_no_voluntary_disruption_of_the_workers(dev: Synthesis) -> None:
    pdb = _one(dev, "PodDisruptionBudget")
    assert pdb["metadata"]["namespace"] == "research"
    assert pdb["spec"]["maxUnavailable"] == 0
    assert pdb["spec"]["selector"]["matchLabels"] == {"jobset.sigs.k8s.io/jobset-name": "tabular-fairness"}


def test_job_waits_for_its_namespace_and_the_operator(dev: Synthesis) -> None:
    record = next(r for r in dev.resources if r.type.endswith(":TrainJob"))
    deps = set(record.dependencies)
    team = next(r for r in dev.resources if r.type == "ml-platform:k8s:TeamNamespace" and r.name == "team-research")
    operator = next(r for r in dev.resources if r.type == "ml-platform:k8s:Trainer")
    # depending on a component waits for all of its children: the namespace, its queue, the runtime
    assert {r.urn for r in dev.descendants(team.urn) if r.custom} <= deps
    assert {r.urn for r in dev.descendants(operator.urn) if r.custom} <= deps


def test_prod_stacks_run_no_sample_job() -> None:
    assert not [r for r in synth_stack("aws-prod").resources if r.type.endswith(":TrainJob")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda j: j.update(team="nobody"), "platform.trainingJobs[0].team: no team 'nobody'"),
        (lambda j: j.update(pool="h100"), "platform.trainingJobs[0].pool: no GPU pool 'h100'"),
        (lambda j: j.pop("checkpointUri"), "platform.trainingJobs[0].checkpointUri: pool 'l4' is spot"),
        (lambda j: j.update(checkpointUri="/tmp/ckpt"), "is not an s3:// or gs:// URI"),
        (lambda j: j.update(gpusPerNode=4), "platform.trainingJobs[0].gpusPerNode: 4 GPUs do not fit a 'l4' node (1)"),
        (lambda j: j.update(numNodes=3), "platform.trainingJobs[0].numNodes: 3 nodes exceed pool 'l4' maxNodes (2)"),
        (
            lambda j: j.update(image="pytorch/pytorch:latest"),
            "platform.trainingJobs[0].image: 'pytorch/pytorch:latest' is not pinned",
        ),
        (lambda j: j.update(image="pytorch/pytorch"), "is not pinned"),
    ],
)
def test_training_job_config_errors(change: Any, message: str) -> None:
    platform = raw_platform("aws-dev")
    change(platform["trainingJobs"][0])
    with pytest.raises(ConfigError) as err:
        parse_platform(platform, "stacks/Pulumi.aws-dev.yaml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)
