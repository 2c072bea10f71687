"""Argo Workflows (components/k8s/pipelines.py) in the reference stacks: the pinned chart and images, the
artifact repository on the artifacts bucket through workload identity, the client-token server, each
team's `pipeline` identity and rights, and the vendored WorkflowTemplate / CronWorkflow CRD schemas."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml
from hera.workflows import DAG, Container, CronWorkflow, Parameter, Task, WorkflowTemplate
from hera.workflows.models import WorkflowTemplateRef
from hera.workflows.models.io.argoproj.workflow import v1alpha1 as argo

from components.context import PlatformContext
from components.k8s import pipelines, tenancy
from components.k8s.base import ServicesContext
from infra.config import STACKS_DIR, load_stack_file
from infra.synth import ResourceRecord, Synthesis
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.k8s_schema import helm_image_tags, is_kubernetes, manifest, validate

PIPELINES = "ml-platform:k8s:Pipelines"
RELEASE = "kubernetes:helm.sh/v3:Release"
VERSION = "1.35"
STACKS = ["aws-dev", "gcp-dev"]


def component(syn: Synthesis) -> ResourceRecord:
    return syn.one(PIPELINES)


def objects(syn: Synthesis, kind: str) -> list[dict[str, Any]]:
    return [
        manifest(r) for r in syn.descendants(component(syn).urn) if is_kubernetes(r) and manifest(r).get("kind") == kind
    ]


def one(syn: Synthesis, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    found = [
        o
        for o in objects(syn, kind)
        if o["metadata"]["name"] == name and namespace in (None, o["metadata"].get("namespace"))
    ]
    assert len(found) == 1, f"{kind}/{namespace}/{name}: {len(found)}"
    return found[0]


def values(syn: Synthesis) -> dict[str, Any]:
    (release,) = [r for r in syn.descendants(component(syn).urn) if r.type == RELEASE]
    return release.inputs["values"]


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


def services_context(stack: str) -> ServicesContext:
    spec, _ = load_stack_file(STACKS_DIR / f"Pulumi.{stack}.yaml")
    foundation = SimpleNamespace(buckets={}, online_store=None, cloud=spec.cloud, region=spec.region)
    return ServicesContext(
        ctx=PlatformContext(spec=spec, stack=stack), foundation=cast(Any, foundation), spec=spec.services
    )


# --- every object is valid; the chart and its images are pinned ---------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_objects_are_schema_valid(stack: str) -> None:
    syn = synth_stack(stack)
    records = [r for r in syn.descendants(component(syn).urn) if is_kubernetes(r)]
    kinds = {manifest(r)["kind"] for r in records}
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "NetworkPolicy"} <= kinds
    assert {"SecretStore", "ExternalSecret"} <= kinds  # the reference stacks have an online store
    errors = [e for r in records for e in validate(manifest(r), syn.spec.cluster.kubernetes_version)]
    assert errors == []
    ns = one(syn, "Namespace", "argo")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_chart_and_images_are_pinned() -> None:
    syn = synth_stack("aws-dev")
    (release,) = [r for r in syn.descendants(component(syn).urn) if r.type == RELEASE]
    args = release.inputs
    assert (args["chart"], args["version"]) == ("argo-workflows", pipelines.CHART.version)
    assert args["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    assert args["namespace"] == "argo"
    v = args["values"]
    images = {
        part: f"{v[part]['image']['registry']}/{v[part]['image']['repository']}:{v[part]['image']['tag']}"
        for part in ("controller", "executor", "server")
    }
    assert images == {
        "controller": f"quay.io/argoproj/workflow-controller:{pipelines.ARGO_VERSION}",
        "executor": f"quay.io/argoproj/argoexec:{pipelines.ARGO_VERSION}-nonroot",
        "server": f"quay.io/argoproj/argocli:{pipelines.ARGO_VERSION}",
    }
    tags = helm_image_tags(v)
    assert len(tags) == 3 and all(tag.startswith(pipelines.ARGO_VERSION) for _, tag in tags)


def test_controllers_run_restricted_on_the_system_nodes() -> None:
    v = values(synth_stack("aws-dev"))
    for part in ("controller", "server"):
        assert v[part]["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}]
        assert v[part]["nodeSelector"] == {"ml-platform/role": "system"}
        assert v[part]["podSecurityContext"]["runAsNonRoot"] is True
        assert v[part]["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for part in ("controller", "server", "executor"):
        sec = v[part]["securityContext"]
        assert sec["allowPrivilegeEscalation"] is False and sec["capabilities"] == {"drop": ["ALL"]}
        assert sec["readOnlyRootFilesystem"] is True and sec["runAsNonRoot"] is True
    assert v["executor"]["resources"]["limits"]["cpu"]  # team quotas count limits


# --- the controller ----------------------------------------------------------------------------------------


def test_controller_runs_every_workflow_with_the_platform_defaults() -> None:
    syn = synth_stack("aws-dev")
    controller = values(syn)["controller"]
    assert values(syn)["singleNamespace"] is False
    assert controller["parallelism"] == syn.spec.services.pipelines.parallelism
    assert controller["workflowRestrictions"] == {"templateReferencing": "Strict"}
    spec = controller["workflowDefaults"]["spec"]
    ttl = syn.spec.services.pipelines.archive_ttl_days * 24 * 3600  # type: ignore[operator]
    assert syn.spec.services.pipelines.archive_ttl_days == 7  # dev default
    assert spec["serviceAccountName"] == "pipeline"
    assert spec["ttlStrategy"] == {
        "secondsAfterCompletion": ttl,
        "secondsAfterSuccess": ttl,
        "secondsAfterFailure": ttl,
    }
    assert spec["podGC"] == {"strategy": "OnPodCompletion"}
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["automountServiceAccountToken"] is True
    # the defaults are a valid WorkflowSpec of the pinned Argo version
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "d"}, "spec": spec}
    assert validate(doc, VERSION) == []


def test_metrics_are_scraped_when_monitoring_is_on() -> None:
    controller = values(synth_stack("aws-dev"))["controller"]
    assert controller["metricsConfig"]["enabled"] is True
    assert controller["serviceMonitor"] == {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}}


def test_prod_runs_two_servers_and_controllers_dev_one() -> None:
    for stack, replicas in (("aws-dev", 1), ("aws-prod", 2), ("gcp-prod", 2)):
        svc = services_context(stack)
        v = pipelines.chart_values(svc, None)
        assert (v["server"]["replicas"], v["controller"]["replicas"]) == (replicas, replicas), stack
        assert v["server"]["pdb"]["enabled"] is (replicas == 2)
        assert v["controller"]["serviceMonitor"]["enabled"] is False  # no monitoring given
    prod = services_context("aws-prod")
    assert pipelines.workflow_defaults(prod)["spec"]["ttlStrategy"]["secondsAfterFailure"] == 30 * 24 * 3600


# --- the server: cluster-internal, the caller's own token ----------------------------------------------------


def test_server_is_cluster_internal_with_client_auth() -> None:
    server = values(synth_stack("aws-dev"))["server"]
    assert server["serviceType"] == "ClusterIP"
    assert server["authModes"] == ["client"]
    assert server["secure"] is True
    assert server["ingress"] == {"enabled": False}
    assert server["replicas"] == 1


# --- the artifact repository: the artifacts bucket, workload identity, the team's prefix ---------------------


def _bucket_name(syn: Synthesis, key: str) -> str:
    if syn.spec.cloud == "aws":
        buckets = [r for r in syn.of_type("aws:s3/bucket:Bucket") if r.name.endswith(f"-{key}")]
    else:
        buckets = [r for r in syn.of_type("gcp:storage/bucket:Bucket") if r.name.endswith(f"-{key}")]
    assert len(buckets) == 1, [r.name for r in buckets]
    return buckets[0].inputs.get("bucket") or buckets[0].inputs["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_artifact_repository_is_the_artifacts_bucket_without_credentials(stack: str) -> None:
    syn = synth_stack(stack)
    for team in syn.spec.teams:
        cm = one(syn, "ConfigMap", "artifact-repositories", team.name)
        key = cm["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"]
        repo = yaml.safe_load(cm["data"][key])
        assert set(repo) <= {f.alias or n for n, f in argo.ArtifactRepository.model_fields.items()}
        assert repo["archiveLogs"] is True
        driver = "s3" if syn.spec.cloud == "aws" else "gcs"
        location = repo[driver]
        model = argo.S3ArtifactRepository if driver == "s3" else argo.GCSArtifactRepository
        assert set(location) <= {f.alias or n for n, f in model.model_fields.items()}  # Argo's own field names
        assert location["bucket"] == _bucket_name(syn, "artifacts")
        assert location["keyFormat"] == "teams/{{workflow.namespace}}/pipelines/{{workflow.name}}/{{pod.name}}"
        if driver == "s3":
            assert location["useSDKCreds"] is True
            assert location["endpoint"] == f"s3.{syn.spec.region}.amazonaws.com"
            assert location["region"] == syn.spec.region
        # no access keys, key files or secret references: workload identity only
        assert not {k for k in keys_anywhere(repo) if k.endswith("Secret") or "accessKey" in k}
    v = values(syn)
    assert "artifactRepository" not in v and "artifactRepositoryRef" not in v
    assert not {k for k in keys_anywhere(v) if k.endswith("Secret") or "accessKey" in k}


def test_the_key_format_stays_inside_the_team_prefix() -> None:
    """The namespace is the team: a step's keys land under teams/<team>/, the prefix its identity may write."""
    repo = pipelines.artifact_repository("aws", "b", "us-west-2")
    key = repo["s3"]["keyFormat"].replace("{{workflow.namespace}}", "research")
    key = key.replace("{{workflow.name}}", "churn-x1").replace("{{pod.name}}", "churn-x1-train-1")
    assert key.startswith("teams/research/pipelines/churn-x1/")
    gcs = pipelines.artifact_repository("gcp", "b", "us-central1")
    assert gcs == {"archiveLogs": True, "gcs": {"bucket": "b", "keyFormat": pipelines.KEY_FORMAT}}
    with pytest.raises(Exception, match="azure"):
        pipelines.artifact_repository("azure", "b", "westeurope")


# --- each team's pipeline identity and rights --------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_team_service_account_and_role(stack: str) -> None:
    syn = synth_stack(stack)
    comp = syn.one(PIPELINES)
    for team in syn.spec.teams:
        sa = one(syn, "ServiceAccount", "pipeline", team.name)
        annotation = "eks.amazonaws.com/role-arn" if syn.spec.cloud == "aws" else "iam.gke.io/gcp-service-account"
        assert f"{team.name}-pipeline" in sa["metadata"]["annotations"][annotation]
        assert sa["automountServiceAccountToken"] is False
        role = one(syn, "Role", "pipeline", team.name)
        rules = sorted((r["apiGroups"], r["resources"], r["verbs"]) for r in role["rules"])
        assert rules == [
            (["argoproj.io"], ["workflowtaskresults"], ["create", "patch"]),
            (["serving.kserve.io"], ["inferenceservices"], ["get", "patch"]),
        ]
        binding = one(syn, "RoleBinding", "pipeline", team.name)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pipeline"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline", "namespace": team.name}]
        # the team's objects wait for the team's namespace (a dependency on the TeamNamespace component)
        tenant = syn.one("ml-platform:k8s:TeamNamespace", f"team-{team.name}")
        (namespace,) = [r for r in syn.children(tenant.urn) if r.type == "kubernetes:core/v1:Namespace"]
        sa_record = next(r for r in syn.children(comp.urn) if r.name == f"pipelines-{team.name}-sa")
        assert namespace.urn in sa_record.dependencies


def test_identity_access_is_the_team_prefixes_and_the_online_store_token() -> None:
    buckets = {k: object() for k in ("datasets", "artifacts", "models", "logs")}
    online = SimpleNamespace(auth_secret="arn:secret:online")
    svc = cast(Any, SimpleNamespace(foundation=SimpleNamespace(buckets=buckets, online_store=online)))
    access = pipelines.pipeline_access(svc, "research")
    assert {(a.bucket, a.prefix, a.mode) for a in access.buckets} == {
        ("datasets", "features/", "read-write"),
        ("datasets", "teams/research/", "read-write"),
        ("artifacts", "teams/research/", "read-write"),
        ("models", "teams/research/", "read-write"),
    }
    assert access.secrets == ("arn:secret:online",) and access.registry_pull is True
    svc.foundation.online_store = None
    assert pipelines.pipeline_access(svc, "research").secrets == ()
    del buckets["datasets"]
    with pytest.raises(Exception, match="no bucket datasets"):
        pipelines.pipeline_access(svc, "research")


def test_aws_pipeline_role_reaches_only_its_prefixes() -> None:
    syn = synth_stack("aws-dev")
    for team in syn.spec.teams:
        (policy,) = [
            r for r in syn.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"wi-{team.name}-pipeline-access"
        ]
        statements = json.loads(policy.inputs["policy"])["Statement"]
        objects = sorted(res for s in statements if s["Sid"].startswith("Objects") for res in s["Resource"])
        names = {k: _bucket_name(syn, k) for k in ("datasets", "artifacts", "models")}
        assert objects == sorted(
            [
                f"arn:aws:s3:::{names['datasets']}/features/*",
                f"arn:aws:s3:::{names['datasets']}/teams/{team.name}/*",
                f"arn:aws:s3:::{names['artifacts']}/teams/{team.name}/*",
                f"arn:aws:s3:::{names['models']}/teams/{team.name}/*",
            ]
        )
        (secrets,) = [s for s in statements if s["Sid"] == "ReadSecrets"]
        store = one(syn, "ExternalSecret", "online-store", team.name)
        assert secrets["Resource"] == [store["spec"]["data"][0]["remoteRef"]["key"]]


@pytest.mark.parametrize("stack", STACKS)
def test_online_store_token_synced_through_the_pipeline_identity(stack: str) -> None:
    syn = synth_stack(stack)
    for team in syn.spec.teams:
        store = one(syn, "SecretStore", "cloud-secrets", team.name)
        provider = next(iter(store["spec"]["provider"].values()))
        auth = json.dumps(provider["auth"])
        assert '"serviceAccountRef": {"name": "pipeline"}' in auth
        secret = one(syn, "ExternalSecret", "online-store", team.name)
        assert secret["spec"]["secretStoreRef"] == {"kind": "SecretStore", "name": "cloud-secrets"}
        assert secret["spec"]["target"]["name"] == "online-store"
        assert [d["secretKey"] for d in secret["spec"]["data"]] == ["password"]
        assert secret["spec"]["data"][0]["remoteRef"]["key"]
    # one store per team namespace: nothing else in the stack creates one there
    teams = {t.name for t in syn.spec.teams}
    stores = [
        manifest(r)
        for r in syn.resources
        if is_kubernetes(r) and r.type.endswith(":SecretStore") and manifest(r)["metadata"]["namespace"] in teams
    ]
    assert len(stores) == len(teams)


def test_team_members_may_run_the_team_templates() -> None:
    rules = {(group, resource): set(verbs) for group, resources, verbs in tenancy.TEAM_RULES for resource in resources}
    assert rules[("argoproj.io", "workflows")] == {"get", "list", "watch", "create", "delete"}
    assert rules[("argoproj.io", "workflowtemplates")] == {"get", "list", "watch"}
    assert rules[("argoproj.io", "cronworkflows")] == {"get", "list", "watch"}
    assert not [
        r for r in rules if r[0] == "argoproj.io" and r[1] not in {"workflows", "workflowtemplates", "cronworkflows"}
    ]


# --- network --------------------------------------------------------------------------------------------------


def test_network_policies() -> None:
    syn = synth_stack("aws-dev")
    deny = one(syn, "NetworkPolicy", "default-deny", "argo")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    server = one(syn, "NetworkPolicy", "argo-server", "argo")
    assert server["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    (ingress,) = server["spec"]["ingress"]
    assert ingress["from"] == [{"namespaceSelector": {}}]  # pods of the cluster, no ipBlock
    assert ingress["ports"] == [{"port": 2746, "protocol": "TCP"}]
    controller = one(syn, "NetworkPolicy", "workflow-controller", "argo")
    (scrape,) = controller["spec"]["ingress"]
    assert scrape["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert scrape["ports"] == [{"port": 9090, "protocol": "TCP"}]
    # one egress allowance for every pod of the release: controller, server and the CRD hook Job
    egress = one(syn, "NetworkPolicy", "argo-workflows-egress", "argo")
    assert egress["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": "argo-workflows"}}
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert [p["port"] for rule in egress["spec"]["egress"] for p in rule["ports"]] == [53, 53, 443]
    for team in syn.spec.teams:
        api = one(syn, "NetworkPolicy", "allow-pipeline-api-server", team.name)
        assert api["spec"]["podSelector"] == {
            "matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]
        }
        assert api["spec"]["policyTypes"] == ["Egress"]
        (rule,) = api["spec"]["egress"]
        assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]


# --- turned off -------------------------------------------------------------------------------------------------


def test_disabled_pipelines_create_nothing() -> None:
    platform = raw_platform("aws-dev")
    services = platform.setdefault("services", {})
    for key in ("gpuRuntime", "autoscaling", "kueue", "trainer", "serving", "monitoring"):
        services[key] = {"enabled": False}  # a small stack: only what this test looks at
    services["pipelines"] = {"enabled": False}
    platform["featureStore"] = {"enabled": False}
    for key in ("trainingJobs", "modelDeployments", "pipelines"):
        platform.pop(key, None)
    syn = synth_platform(platform, "aws-dev")
    assert syn.of_type(PIPELINES) == []
    assert not [r for r in syn.of_type(RELEASE) if r.inputs["chart"] == "argo-workflows"]
    names = {(manifest(r)["kind"], manifest(r)["metadata"]["name"]) for r in syn.resources if is_kubernetes(r)}
    assert ("Namespace", "argo") not in names
    assert not {n for n in names if n[1] in {"pipeline", "artifact-repositories", "allow-pipeline-api-server"}}
    assert not [r for r in syn.resources if r.name.endswith("-pipeline") and r.type.startswith("aws:iam")]
    assert ("Namespace", "research") in names  # the team is still there


# --- the vendored CRD schemas (the lead validates Hera's output against them) -------------------------------


def _workflow_template() -> dict[str, Any]:
    with WorkflowTemplate(
        name="churn",
        namespace="research",
        entrypoint="main",
        service_account_name="pipeline",
        arguments=[Parameter(name="run", value="1")],
        workflow_metadata=argo.WorkflowMetadata(annotations={"ml-platform/pipeline": "churn"}),
        pod_gc=argo.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=argo.TTLStrategy(seconds_after_success=60, seconds_after_failure=120),
    ) as wt:
        ingest = Container(
            name="ingest",
            image="registry.example/pipeline:1.0.0",
            command=["python", "-m", "workloads.pipelines", "ingest"],
            annotations={"ml-platform/pipeline-step": "ingest"},
        )
        train = Container(name="train", image="registry.example/pipeline:1.0.0")
        with DAG(name="main"):
            Task(name="ingest", template=ingest)
            Task(name="train", template=train, depends="ingest")
    doc = wt.to_dict()
    doc["spec"]["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    doc["spec"]["templates"][0]["container"]["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    return doc


def _cron_workflow() -> dict[str, Any]:
    cron = CronWorkflow(
        name="churn",
        namespace="research",
        schedules=["0 3 * * 1"],
        timezone="Europe/Berlin",
        concurrency_policy="Forbid",
        workflow_template_ref=WorkflowTemplateRef(name="churn"),
    )
    return cron.to_dict()


def test_crd_schemas_accept_hera_output() -> None:
    wt = _workflow_template()
    assert wt["spec"]["templates"][0]["metadata"] == {"annotations": {"ml-platform/pipeline-step": "ingest"}}
    assert "dag" in wt["spec"]["templates"][2] and "name" not in wt["spec"]["templates"][0]["container"]
    assert validate(wt, VERSION) == []
    cron = _cron_workflow()
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "churn"}}
    assert validate(cron, VERSION) == []


@pytest.mark.parametrize(
    ("kind", "path", "value", "message"),
    [
        ("wt", ("spec", "templates", 0, "contaner"), {}, "'contaner' was unexpected"),
        ("wt", ("spec", "ttlStrategy", "secondsAfterCompletion"), "7d", "is not of type 'integer'"),
        ("wt", ("spec", "podGC", "strategy"), ["OnPodSuccess"], "is not of type 'string'"),
        ("wt", ("spec", "workflowMetadata", "annotatons"), {}, "'annotatons' was unexpected"),
        ("wt", ("spec", "templates", 0, "metadata", "annotations", "x"), 1, "is not of type 'string'"),
        ("wt", ("spec", "securityContext", "runAsNonRot"), True, "'runAsNonRot' was unexpected"),
        (
            "wt",
            ("spec", "templates", 0, "container", "securityContext", "allowPrivilegeEscalaton"),
            False,
            "unexpected",
        ),
        ("wt", ("spec", "templates", 2, "dag", "tasks", 0, "dependencies"), "ingest", "is not of type 'array'"),
        ("wt", ("spec", "arguments", "parameters", 0, "valu"), "1", "'valu' was unexpected"),
        ("cron", ("spec", "schedule"), "0 3 * * 1", "'schedule' was unexpected"),  # removed in Argo v4
        ("cron", ("spec", "schedules"), "0 3 * * 1", "is not of type 'array'"),
        ("cron", ("spec", "timezone"), 1, "is not of type 'string'"),
        ("cron", ("spec", "workflowSpec", "workflowTemplateRef", "nam"), "churn", "'nam' was unexpected"),
    ],
)
def test_crd_schemas_reject_invalid_objects(kind: str, path: tuple[Any, ...], value: Any, message: str) -> None:
    doc = copy.deepcopy(_workflow_template() if kind == "wt" else _cron_workflow())
    target: Any = doc
    for key in path[:-1]:
        if isinstance(key, str) and key not in target:
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    errors = validate(doc, VERSION)
    assert any(message in e for e in errors), errors


def test_cron_workflow_requires_schedules_and_a_workflow_spec() -> None:
    doc = _cron_workflow()
    del doc["spec"]["schedules"]
    assert any("'schedules' is a required property" in e for e in validate(doc, VERSION))
