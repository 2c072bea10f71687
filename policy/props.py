"""Reading resource inputs as the engine hands them to a policy pack.

Properties arrive in engine form: camelCase keys, every number a float, and, behind
`pulumi_policy.proxy.unknown_checking_proxy`, `Mapping` / `Sequence` proxies rather than dicts and
lists (reading a value that is unknown at preview raises, and the engine reports that rule as
"can't run during preview"). These helpers accept either form and never mutate.
"""

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

MISSING: Any = None


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def get(obj: Any, *path: str | int, default: Any = MISSING) -> Any:
    """`obj[path[0]][path[1]]...`, or `default` where a step is missing or null."""
    for step in path:
        if isinstance(step, int):
            if not is_list(obj) or not -len(obj) <= step < len(obj):
                return default
            obj = obj[step]
        else:
            if not is_map(obj) or step not in obj:
                return default
            obj = obj[step]
        if obj is None:
            return default
    return obj


def items(obj: Any, *path: str | int) -> list[Any]:
    """The list at `path` (empty when missing)."""
    value = get(obj, *path)
    return list(value) if is_list(value) else []


def mapping(obj: Any, *path: str | int) -> dict[str, Any]:
    """The mapping at `path` as a dict (empty when missing)."""
    value = get(obj, *path)
    return {k: value[k] for k in value} if is_map(value) else {}


def truthy(value: Any) -> bool:
    """Booleans may arrive as strings from some providers' schemas ("true")."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def number(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


# --- tags and labels --------------------------------------------------------------------------------


def cloud_tags(props: Any) -> dict[str, str]:
    """AWS `tags` or GCP `labels` / `resourceLabels`."""
    for key in ("tags", "labels", "resourceLabels"):
        value = mapping(props, key)
        if value:
            return {str(k): str(v) for k, v in value.items()}
    return {}


def metadata(props: Any) -> dict[str, Any]:
    return mapping(props, "metadata")


def labels(props: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping(props, "metadata", "labels").items()}


def annotations(props: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping(props, "metadata", "annotations").items()}


# --- Kubernetes types and pod specs -----------------------------------------------------------------

K8S_PREFIX = "kubernetes:"
WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")


def k8s_kind(resource_type: str) -> str | None:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`; None for non-Kubernetes types."""
    if not resource_type.startswith(K8S_PREFIX):
        return None
    return resource_type.rsplit(":", 1)[-1]


def k8s_group(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `apps`; core types -> `core`."""
    return resource_type.split(":")[1].split("/", maxsplit=1)[0]


def is_k8s(resource_type: str, *kinds: str) -> bool:
    kind = k8s_kind(resource_type)
    return kind is not None and (not kinds or kind in kinds)


def pod_specs(resource_type: str, props: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every pod spec a Kubernetes object carries, with the path it sits at.

    Covers core workloads, CronJobs, Kubeflow Trainer runtimes and TrainJob pod-template overrides,
    JobSet-style replicated jobs, KServe ServingRuntimes (their spec *is* a pod spec), the
    predictor/transformer/explainer components and canary predictors of an InferenceService, and the
    pods of Argo Workflows' container templates (`argo_pods`).
    """
    kind = k8s_kind(resource_type)
    if kind is None:
        return
    if kind in ARGO_KINDS and k8s_group(resource_type) == ARGO_GROUP:
        yield from argo_pods(resource_type, props)
        return
    spec = get(props, "spec")
    if kind == "Pod":
        if is_map(spec):
            yield "spec", spec
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        pod = get(spec, "template", "spec")
        if is_map(pod):
            yield "spec.template.spec", pod
    elif kind == "CronJob":
        pod = get(spec, "jobTemplate", "spec", "template", "spec")
        if is_map(pod):
            yield "spec.jobTemplate.spec.template.spec", pod
    elif kind in ("ClusterTrainingRuntime", "TrainingRuntime"):
        for i, job in enumerate(items(spec, "template", "spec", "replicatedJobs")):
            pod = get(job, "template", "spec", "template", "spec")
            if is_map(pod):
                yield f"spec.template.spec.replicatedJobs[{i}].template.spec.template.spec", pod
    elif kind == "JobSet":
        for i, job in enumerate(items(spec, "replicatedJobs")):
            pod = get(job, "template", "spec", "template", "spec")
            if is_map(pod):
                yield f"spec.replicatedJobs[{i}].template.spec.template.spec", pod
    elif kind in ("ClusterServingRuntime", "ServingRuntime"):
        if is_map(spec):
            yield "spec", spec
    elif kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            part = get(spec, component)
            if is_map(part):
                yield f"spec.{component}", part
        for i, canary in enumerate(items(spec, "canary")):  # raw-mode canaries: pods of their own
            part = get(canary, "predictor")
            if is_map(part):
                yield f"spec.canary[{i}].predictor", part
    elif kind == "TrainJob":
        for i, override in enumerate(items(spec, "podTemplateOverrides")):
            pod = get(override, "spec")
            if is_map(pod):
                yield f"spec.podTemplateOverrides[{i}].spec", pod


# --- Argo Workflows ---------------------------------------------------------------------------------

ARGO_GROUP = "argoproj.io"
ARGO_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
# Pod-level settings a template sets for its own pod; where it does not, `templateDefaults`, else the
# workflow spec. Argo takes each field whole from the first level that sets it (no deeper merge).
ARGO_POD_FIELDS = (
    "securityContext",
    "serviceAccountName",
    "automountServiceAccountToken",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
    "schedulerName",
)
ARGO_WORKFLOW_POD_FIELDS = ("hostNetwork", "dnsPolicy", "imagePullSecrets")  # set for the whole workflow only
ARGO_MAIN_CONTAINERS = ("container", "script")  # a template's main container (Argo names it `main`)
ARGO_POD_TEMPLATES = (*ARGO_MAIN_CONTAINERS, "containerSet")  # template types that run the user's containers


def argo_workflow_spec(resource_type: str, props: Any) -> tuple[str, Any]:
    """(path, workflow spec) of an Argo object: a CronWorkflow's is `spec.workflowSpec`, the others' `spec`."""
    if k8s_kind(resource_type) == "CronWorkflow":
        return "spec.workflowSpec", get(props, "spec", "workflowSpec")
    return "spec", get(props, "spec")


def _argo_set(value: Any) -> bool:
    """Argo's "is set" for a pod-level field: not null, not an empty string, map or list."""
    if value is None or value == "":
        return False
    return not ((is_map(value) or is_list(value)) and len(value) == 0)


def argo_pods(resource_type: str, props: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The pod each container template of an Argo Workflow, WorkflowTemplate, ClusterWorkflowTemplate or
    CronWorkflow (`spec.workflowSpec`) runs, at the template's path (`spec.templates[2]`).

    The pod is a pod spec assembled as the Argo controller builds it: the pod-level fields of
    `ARGO_POD_FIELDS` from the template, else `spec.templateDefaults`, else the workflow spec; the
    workflow-wide `hostNetwork`, `dnsPolicy` and `imagePullSecrets`; the workflow's `volumes` followed by
    the template's; and the template's containers under their own keys (`container` / `script` (over
    `templateDefaults`' one, key by key), `containerSet`, `initContainers`, `sidecars`; `containers`
    reads them). Templates that run no container of the user's (steps, dag, suspend, resource, http,
    data, plugin) yield nothing, and so does an object that only references a template
    (`workflowTemplateRef`): the referenced template is checked on its own. The executor containers
    Argo injects (init, wait) are not in the manifest, and `podSpecPatch` is not applied.
    """
    base, spec = argo_workflow_spec(resource_type, props)
    if not is_map(spec):
        return
    defaults = get(spec, "templateDefaults")
    for i, template in enumerate(items(spec, "templates")):
        if not is_map(template) or not any(is_map(get(template, key)) for key in ARGO_POD_TEMPLATES):
            continue
        pod: dict[str, Any] = {}
        for key in ARGO_POD_FIELDS:
            for source in (template, defaults, spec):
                value = get(source, key)
                if _argo_set(value):
                    pod[key] = value
                    break
        for key in ARGO_WORKFLOW_POD_FIELDS:
            value = get(spec, key)
            if _argo_set(value):
                pod[key] = value
        volumes = items(spec, "volumes") + items(template, "volumes")
        if volumes:
            pod["volumes"] = volumes
        for key in ARGO_MAIN_CONTAINERS:
            main, default = get(template, key), get(defaults, key)
            if is_map(main):
                pod[key] = {**mapping(default), **mapping(main)} if is_map(default) else main
        for key in ("containerSet", "initContainers", "sidecars"):
            value = get(template, key)
            if value is not None:
                pod[key] = value
        yield f"{base}.templates[{i}]", pod


def containers(pod: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`containers[0]`-style path, container) for every container, init and ephemeral included.

    An InferenceService component may carry its container inline under `model` (a predictor spec); an
    Argo template's pod (`argo_pods`) carries its containers under the template's own keys (`container`,
    `script`, `containerSet.containers`, `sidecars`), so the paths are the manifest's.
    """
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(items(pod, key)):
            if is_map(container):
                yield f"{key}[{i}]", container
    model = get(pod, "model")
    if is_map(model):
        yield "model", model
    for key in ARGO_MAIN_CONTAINERS:
        main = get(pod, key)
        if is_map(main):
            yield key, main
    for path, listed in (
        ("containerSet.containers", items(pod, "containerSet", "containers")),
        ("sidecars", items(pod, "sidecars")),
    ):
        for i, container in enumerate(listed):
            if is_map(container):
                yield f"{path}[{i}]", container


def gpu_limit(container: Any, resource: str = "nvidia.com/gpu") -> float:
    return number(get(container, "resources", "limits", resource), 0.0) or 0.0


def gpu_request(container: Any, resource: str = "nvidia.com/gpu") -> float:
    return number(get(container, "resources", "requests", resource), 0.0) or 0.0


def image_reference(image: str) -> tuple[str, str, str | None, str | None]:
    """Split an image reference into (registry, repository, tag, digest).

    `nginx` -> ("docker.io", "library/nginx", None, None); the registry is the first component when
    it looks like a host (has a dot or a port, or is `localhost`).
    """
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag, digest
    repository = image if "/" in image else f"library/{image}"
    return "docker.io", repository, tag, digest


# --- IAM documents ----------------------------------------------------------------------------------


def policy_document(value: Any) -> dict[str, Any] | None:
    """An AWS IAM policy document from a JSON string or a mapping; None when absent or unparsable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not is_map(value):
        return None
    return json.loads(json.dumps(_plain(value)))


def statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    body = document.get("Statement", [])
    if is_map(body):
        body = [body]
    return [s for s in body if is_map(s)]


def as_strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if is_list(value):
        return [str(v) for v in value]
    return [str(value)]


def principals(statement: Mapping[str, Any]) -> list[str]:
    """Every principal value of a statement (`"*"` for the public)."""
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    if isinstance(principal, Mapping):
        return [p for values in principal.values() for p in as_strings(values)]
    return []


def _plain(value: Any) -> Any:
    if is_map(value):
        return {str(k): _plain(value[k]) for k in value}
    if is_list(value):
        return [_plain(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """A proxy tree as plain dicts and lists (for messages and JSON); reads every value."""
    return _plain(value)


def glob(pattern: str) -> re.Pattern[str]:
    """A shell-style pattern (`*`, `?`) as an anchored regular expression."""
    return re.compile("^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$")
