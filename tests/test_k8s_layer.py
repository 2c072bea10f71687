"""The cloud-neutral Kubernetes layer across the reference stacks: schema validity of every object,
pinned charts and images, Kueue quotas and flavors, the training operator, and team tenancy."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from components.k8s import base, kueue, tenancy, trainer
from infra.config import ConfigError, parse_platform
from infra.synth import Synthesis
from tests.conftest import STACK_NAMES, raw_platform, synth_platform, synth_stack
from tests.k8s_schema import helm_image_tags, is_kubernetes, manifest, validate

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
CQ = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"
FLAVOR = "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor"
LOCAL_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def objects(syn: Synthesis, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    out = [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]
    return [o for o in out if namespace is None or o["metadata"].get("namespace") == namespace]


# --- every object is valid for the cluster's Kubernetes version ----------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_kubernetes_object_is_schema_valid(stack: str) -> None:
    syn = synth_stack(stack)
    records = [r for r in syn.resources if is_kubernetes(r)]
    assert len(records) > 20
    errors = [e for r in records for e in validate(manifest(r), syn.spec.cluster.kubernetes_version)]
    assert errors == []


def test_the_validator_catches_a_misspelt_field(aws_prod: Synthesis) -> None:
    version = aws_prod.spec.cluster.kubernetes_version
    cq = objects(aws_prod, "ClusterQueue")[0]
    cq["spec"]["cohort"] = cq["spec"].pop("cohortName")  # the v1beta1 name: pruned silently by the API server
    assert any("'cohort' was unexpected" in e for e in validate(cq, version))
    quota = objects(aws_prod, "ResourceQuota")[0]
    quota["spec"]["hrad"] = quota["spec"].pop("hard")
    assert any("'hrad' was unexpected" in e for e in validate(quota, version))
    runtime = objects(aws_prod, "ClusterTrainingRuntime")[0]
    pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalaton"] = False
    assert any("allowPrivilegeEscalaton" in e for e in validate(runtime, version))


# --- Helm releases: exact versions, pinned images ---------------------------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_helm_releases_are_pinned_and_land_in_platform_namespaces(stack: str) -> None:
    syn = synth_stack(stack)
    releases = syn.of_type(RELEASE)
    assert releases
    namespaces = {o["metadata"]["name"] for o in objects(syn, "Namespace")} | {"kube-system"}
    for rel in releases:
        args = rel.inputs
        version = args["version"]
        assert version and not any(c in version for c in "^~*><=| "), rel.name
        assert args["chart"].startswith("oci://") or args.get("repositoryOpts", {}).get("repo"), rel.name
        assert args["atomic"] is True and args.get("createNamespace") is False, rel.name
        assert args["namespace"] in namespaces, f"{rel.name}: namespace {args['namespace']} is not created"
        for where, tag in helm_image_tags(args.get("values", {})):
            assert tag and tag != "latest", f"{rel.name}: image at {where} is not pinned"


def test_namespaces_enforce_pod_security(aws_prod: Synthesis) -> None:
    for ns in objects(aws_prod, "Namespace"):
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] in {"restricted", "baseline", "privileged"}
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    levels = {
        ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in objects(aws_prod, "Namespace")
    }
    assert levels[base.NS_KUEUE] == levels[base.NS_TRAINER] == "restricted"
    assert levels["research"] == "baseline"  # GPU team: CUDA images run as root (see tenancy.pod_security_level)


# --- Kueue -------------------------------------------------------------------------------------------------


def test_flavors_match_the_pools(aws_prod: Synthesis) -> None:
    flavors = {f["metadata"]["name"]: f["spec"] for f in objects(aws_prod, "ResourceFlavor")}
    accelerators = {p.accelerator for p in aws_prod.spec.gpu_pools}
    assert set(flavors) == accelerators | {kueue.CPU_FLAVOR}
    for accel in accelerators:
        assert flavors[accel]["nodeLabels"] == {"ml-platform/accelerator": accel}
        assert flavors[accel]["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    assert flavors[kueue.CPU_FLAVOR] == {}


def _gpu_quota(cq: dict[str, Any]) -> dict[str, int]:
    groups = [g for g in cq["spec"]["resourceGroups"] if g["coveredResources"] == ["nvidia.com/gpu"]]
    return {f["name"]: f["resources"][0]["nominalQuota"] for f in groups[0]["flavors"]}


@pytest.mark.parametrize("stack", ["aws-prod", "gcp-prod"])
def test_cluster_queue_per_team_with_its_quota(stack: str) -> None:
    syn = synth_stack(stack)
    cqs = {cq["metadata"]["name"]: cq for cq in objects(syn, "ClusterQueue")}
    accelerators = {p.accelerator for p in syn.spec.gpu_pools}
    assert set(cqs) == {f"team-{t.name}" for t in syn.spec.teams}
    for team in syn.spec.teams:
        cq = cqs[f"team-{team.name}"]
        assert _gpu_quota(cq) == {a: team.gpu_quota.get(a, 0) for a in accelerators}
        cpu = cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
        assert cpu == [
            {"name": "cpu", "nominalQuota": team.cpu_quota},
            {"name": "memory", "nominalQuota": f"{team.memory_quota_gib}Gi"},
        ]
        assert cq["spec"]["cohortName"] == "platform"
        assert cq["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": team.name}}
        assert cq["spec"]["preemption"]["reclaimWithinCohort"] == "Any"


def test_each_team_namespace_has_a_default_local_queue(aws_prod: Synthesis) -> None:
    queues = objects(aws_prod, "LocalQueue")
    assert {(q["metadata"]["namespace"], q["metadata"]["name"], q["spec"]["clusterQueue"]) for q in queues} == {
        (t.name, "default", f"team-{t.name}") for t in aws_prod.spec.teams
    }


def test_serving_outranks_training_outranks_batch(aws_prod: Synthesis) -> None:
    wpc = {o["metadata"]["name"]: o["value"] for o in objects(aws_prod, "WorkloadPriorityClass")}
    pcs = {o["metadata"]["name"]: o["value"] for o in objects(aws_prod, "PriorityClass")}
    assert wpc["serving"] > wpc["training"] > wpc["batch"]
    assert pcs == {f"ml-{k}": v for k, v in wpc.items()}


def test_kueue_manages_trainjobs_and_requeues_half_started_gangs(aws_prod: Synthesis) -> None:
    rel = aws_prod.one(RELEASE, "kueue")
    config = yaml.safe_load(rel.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert "trainer.kubeflow.org/trainjob" in config["integrations"]["frameworks"]
    assert config["waitForPodsReady"]["timeout"] == "10m"
    assert rel.inputs["values"]["enablePrometheus"] is True


def test_borrowing_off_drops_the_cohort_and_caps_namespace_gpus_at_the_own_quota() -> None:
    platform = raw_platform("aws-prod")
    platform["services"] = {"kueue": {"borrowing": False}}
    syn = synth_platform(platform, "aws-prod")
    for cq in objects(syn, "ClusterQueue"):
        assert "cohortName" not in cq["spec"]
        assert "reclaimWithinCohort" not in cq["spec"]["preemption"]
    caps = {
        q["metadata"]["namespace"]: q["spec"]["hard"]["requests.nvidia.com/gpu"]
        for q in objects(syn, "ResourceQuota")
        if q["metadata"]["name"] == "team-quota"
    }
    assert caps == {"research": "26", "recsys": "18"}


# --- training operator -------------------------------------------------------------------------------------


def test_trainer_installs_after_kueue_with_a_hardened_torch_runtime(aws_prod: Synthesis) -> None:
    rel = aws_prod.one(RELEASE, "kubeflow-trainer")
    kueue_rel = aws_prod.one(RELEASE, "kueue")
    assert kueue_rel.urn in rel.dependencies
    assert rel.inputs["values"]["runtimes"]["defaultEnabled"] is False
    runtime = objects(aws_prod, "ClusterTrainingRuntime")[0]
    assert runtime["metadata"]["name"] == trainer.RUNTIME
    job = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]
    assert job["template"]["metadata"]["labels"] == {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
    pod = job["template"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == tenancy.WORKLOAD_SA
    assert pod["priorityClassName"] == "ml-training"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]
    assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert runtime["spec"]["template"]["spec"]["failurePolicy"]["maxRestarts"] >= 1


def test_torchrun_gives_its_workers_the_grace_period_to_checkpoint(aws_prod: Synthesis) -> None:
    """On SIGTERM the pod has its grace period to checkpoint, but torchrun SIGKILLs its workers after
    TORCH_ELASTIC_SHUTDOWN_TIMEOUT (30 s unset): the runtime sets it just under the grace period."""
    from torch.distributed.launcher.api import LaunchConfig

    runtime = objects(aws_prod, "ClusterTrainingRuntime")[0]
    pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    grace = pod["terminationGracePeriodSeconds"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"])
        shutdown = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=1).shutdown_timeout
    assert 30 < shutdown < grace


# --- tenancy -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-prod", "gcp-prod"])
def test_team_quota_limits_and_network_fence(stack: str) -> None:
    syn = synth_stack(stack)
    for team in syn.spec.teams:
        quota = objects(syn, "ResourceQuota", team.name)[0]["spec"]["hard"]
        assert quota["requests.cpu"] == str(team.cpu_quota)
        assert quota["requests.memory"] == f"{team.memory_quota_gib}Gi"
        # borrowing on: the namespace cap leaves room for the whole cohort's GPUs
        assert quota["requests.nvidia.com/gpu"] == str(sum(sum(t.gpu_quota.values()) for t in syn.spec.teams))
        assert quota["services.loadbalancers"] == "0"
        policies = {p["metadata"]["name"]: p["spec"] for p in objects(syn, "NetworkPolicy", team.name)}
        assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        dns = policies["allow-dns"]["egress"][0]
        assert {"port": 53, "protocol": "UDP"} in dns["ports"]
        https = policies["allow-https-egress"]["egress"][0]
        assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
        assert "10.0.0.0/8" in https["to"][0]["ipBlock"]["except"]


@pytest.mark.parametrize(
    ("stack", "annotation"),
    [("aws-prod", "eks.amazonaws.com/role-arn"), ("gcp-prod", "iam.gke.io/gcp-service-account")],
)
def test_team_service_accounts_carry_their_cloud_identity(stack: str, annotation: str) -> None:
    syn = synth_stack(stack)
    for team in syn.spec.teams:
        sas = {sa["metadata"]["name"]: sa for sa in objects(syn, "ServiceAccount", team.name)}
        # `pipeline`: the identity of the team's Argo workflows (components/k8s/pipelines.py)
        # `drift-<model>`: the drift check's, reading the model's request log (components/k8s/model_drift.py)
        models = [m for m in syn.spec.model_deployments if m.team == team.name]
        expected = (
            {tenancy.WORKLOAD_SA, tenancy.INFERENCE_SA}
            | ({"pipeline"} if syn.spec.services.pipelines.enabled else set())
            | {f"drift-{m.name}" for m in models if m.drift is not None}
        )
        # `rollout-<model>`: the rollout analysis's, Kubernetes API only, no cloud identity (model_rollout.py)
        rollout = {f"rollout-{m.name}" for m in models if m.rollout is not None}
        assert set(sas) == expected | rollout
        for name in rollout:
            assert annotation not in (sas.pop(name)["metadata"].get("annotations") or {})
        for sa in sas.values():
            assert annotation in sa["metadata"]["annotations"]
            assert sa["automountServiceAccountToken"] is False


def _policy_for(syn: Synthesis, team: str, sa: str) -> dict[str, Any]:
    record = syn.one("aws:iam/rolePolicy:RolePolicy", f"wi-{team}-{sa}-access")
    return json.loads(record.inputs["policy"])


def test_team_identity_scopes_buckets(aws_prod: Synthesis) -> None:
    workload = _policy_for(aws_prod, "research", tenancy.WORKLOAD_SA)
    writes = {r for s in workload["Statement"] if "s3:PutObject" in s["Action"] for r in s["Resource"]}
    assert writes == {
        "arn:aws:s3:::mlp-aws-prod-artifacts-123456789012/teams/research/*",
        "arn:aws:s3:::mlp-aws-prod-models-123456789012/teams/research/*",
    }
    reads = {r for s in workload["Statement"] if "s3:GetObject" in s["Action"] for r in s["Resource"]}
    assert "arn:aws:s3:::mlp-aws-prod-datasets-123456789012/*" in reads
    # serving reads the models and writes nothing but its request logs (append-only, no delete)
    inference = _policy_for(aws_prod, "research", tenancy.INFERENCE_SA)
    writes = {r for s in inference["Statement"] if "s3:PutObject" in s["Action"] for r in s["Resource"]}
    assert writes == {"arn:aws:s3:::mlp-aws-prod-logs-123456789012/inference/research/*"}
    assert not any("s3:DeleteObject" in s["Action"] for s in inference["Statement"])


def test_team_role_has_no_wildcards(aws_prod: Synthesis) -> None:
    for role in objects(aws_prod, "Role"):
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], role["metadata"]
        assert not any("secrets" in r["resources"] and "get" in r["verbs"] for r in role["rules"])
    (binding,) = [b for b in objects(aws_prod, "RoleBinding", "research") if b["metadata"]["name"] == tenancy.TEAM_ROLE]
    assert binding["subjects"] == [
        {"kind": "Group", "name": "ml-platform:team:research", "apiGroup": "rbac.authorization.k8s.io"}
    ]


def test_layer_is_the_same_on_both_clouds() -> None:
    """One logical spec (tests/test_parity.py) on AWS and GCP: the queues, quotas, runtime, roles and
    team network fences come out identical; only identity annotations and GKE's metadata-server
    allowance differ."""
    from tests.test_parity import CLOUD, LOGICAL

    def shape(cloud: str) -> dict[tuple[str, str, str], str]:
        syn = synth_platform({**copy.deepcopy(LOGICAL), **CLOUD[cloud]}, f"{cloud}-staging")
        kinds = {
            "ClusterQueue",
            "ResourceFlavor",
            "LocalQueue",
            "WorkloadPriorityClass",
            "ResourceQuota",
            "LimitRange",
            "Role",
            "RoleBinding",
            "ClusterTrainingRuntime",
            "NetworkPolicy",
        }
        out = {}
        for r in syn.resources:
            if not (is_kubernetes(r) and r.type.rsplit(":", 1)[1] in kinds):
                continue
            obj = manifest(r)
            meta = obj.pop("metadata")
            meta["labels"].pop("ml-platform/stack", None)
            if meta.get("name") == "allow-workload-identity":
                continue
            # by design per cloud: the online store's TLS port (6379 ElastiCache, 6378 Memorystore) and GKE's
            # metadata server (workload identity) in the egress of pods that hold a cloud identity
            if obj.get("kind") == "NetworkPolicy" and "egress" in obj.get("spec", {}):
                obj["spec"]["egress"] = [
                    rule
                    for rule in obj["spec"]["egress"]
                    if not any(
                        str(p.get("ipBlock", {}).get("cidr", "")).startswith("169.254.169.") for p in rule.get("to", [])
                    )
                ]
            for rule in obj.get("spec", {}).get("egress", []) if obj.get("kind") == "NetworkPolicy" else []:
                for port in rule.get("ports", []):
                    port["port"] = "cache" if port.get("port") in (6378, 6379) else port.get("port")
            key = (r.type.rsplit(":", 1)[1], meta.get("namespace", ""), meta["name"])
            out[key] = json.dumps({**obj, "labels": meta["labels"]}, sort_keys=True)
        return out

    aws, gcp = shape("aws"), shape("gcp")
    # by design per cloud too: how the Feast registry logs in to the database (Foundation.database_login:
    # 5432 with a password on AWS; GCP's Cloud SQL Auth Proxy to 3307 and the Admin API as its identity)
    per_cloud = {("NetworkPolicy", "feast", "feast-registry-egress")}
    team_keys = {k for k in aws if k[1] not in {base.NS_MLFLOW} and k not in per_cloud}
    assert {k for k in gcp if k[1] != base.NS_MLFLOW and k not in per_cloud} == team_keys
    assert len(team_keys) > 15
    assert {k: aws[k] for k in team_keys} == {k: gcp[k] for k in team_keys}


# --- switching services off, config errors ------------------------------------------------------------------


def test_services_can_be_switched_off() -> None:
    platform = raw_platform("aws-dev")
    platform["services"] = {"kueue": {"enabled": False}, "trainer": {"enabled": False}}
    platform.pop("trainingJobs")
    syn = synth_platform(platform, "aws-dev")
    assert not objects(syn, "ClusterQueue") and not objects(syn, "LocalQueue")
    assert {r.name for r in syn.of_type(RELEASE)}.isdisjoint({"kueue", "kubeflow-trainer"})
    assert objects(syn, "ResourceQuota")  # tenancy stays


def _error(platform: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        parse_platform(platform, "stacks/Pulumi.x.yaml")
    return str(err.value)


@pytest.mark.parametrize(
    ("stack", "change", "message"),
    [
        (
            "aws-prod",
            lambda p: p["teams"][1]["gpuQuota"].update({"nvidia-h100-80gb": 16}),
            "platform.teams[1].gpuQuota.nvidia-h100-80gb: the teams' nvidia-h100-80gb quotas sum to 40 GPUs but the "
            "pools hold at most 32",
        ),
        (
            "gcp-dev",
            lambda p: p.update({"services": {"autoscaling": {"gpuProvisioner": "karpenter"}}}),
            "platform.services.autoscaling.gpuProvisioner: Karpenter is for AWS",
        ),
        (
            "aws-dev",
            lambda p: p["gpuPools"][0].update({"sharing": {"migProfile": "1g.10gb"}}),
            "platform.gpuPools[0].sharing.migProfile: nvidia-l4 does not support MIG",
        ),
        (
            "aws-prod",
            lambda p: p["gpuPools"][0].update({"sharing": {"migProfile": "1g.5gb"}}),
            "platform.gpuPools[0].sharing.migProfile: '1g.5gb' is not a MIG profile of nvidia-h100-80gb",
        ),
        (
            "aws-prod",
            lambda p: p["gpuPools"][0].update({"sharing": {"migProfile": "1g.10gb"}}),
            "platform.gpuPools[0].sharing.migProfile: on EKS, MIG is configured by the GPU Operator",
        ),
        (
            "aws-dev",
            lambda p: p.update({"services": {"kueue": {"enabled": False}}}),
            "platform.services.trainer.enabled: the training operator admits jobs through Kueue",
        ),
        (
            "aws-prod",
            lambda p: p.update({"repositories": [{"name": "training"}]}),
            "platform.repositories: serving is on: add a repository named 'serving'",
        ),
        (
            "aws-dev",
            lambda p: p.update({"services": {"kueue": {"cohrot": "x"}}}),
            "platform.services.kueue.cohrot",
        ),
    ],
)
def test_config_errors_are_one_line(stack: str, change: Any, message: str) -> None:
    platform = raw_platform(stack)
    change(platform)
    text = _error(platform)
    assert "\n" not in text
    assert message in text


def test_time_slicing_counts_towards_pool_capacity() -> None:
    platform = raw_platform("aws-dev")
    platform["gpuPools"][0]["sharing"] = {"timeSlicingReplicas": 4}
    platform["teams"][0]["gpuQuota"] = {"nvidia-l4": 8}  # 2 nodes x 1 GPU x 4 slices
    assert parse_platform(platform, "x").teams[0].gpu_quota == {"nvidia-l4": 8}


def test_eks_gets_an_encrypted_default_storage_class_and_gke_keeps_its_own() -> None:
    (sc,) = objects(synth_stack("aws-prod"), "StorageClass")
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc["provisioner"] == "ebs.csi.aws.com"
    assert sc["parameters"]["encrypted"] == "true" and sc["parameters"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert not objects(synth_stack("gcp-prod"), "StorageClass")
