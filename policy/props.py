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
    JobSet-style replicated jobs, KServe ServingRuntimes (their spec *is* a pod spec) and the
    predictor/transformer/explainer components and canary predictors of an InferenceService.
    """
    kind = k8s_kind(resource_type)
    if kind is None:
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


def containers(pod: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`containers[0]`-style path, container) for every container, init and ephemeral included.

    An InferenceService component may carry its container inline under `model` (a predictor spec).
    """
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(items(pod, key)):
            if is_map(container):
                yield f"{key}[{i}]", container
    model = get(pod, "model")
    if is_map(model):
        yield "model", model


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
