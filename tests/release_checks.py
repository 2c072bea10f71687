"""What `helm install` would do with each release of a stack, checked on a real Helm's render.

A `Release` is one `kubernetes:helm.sh/v3:Release` of a synthesized stack, frozen with everything its
render depends on (chart, name, namespace, values, CRDs or not, the cluster's version and API groups),
so two stacks that create the same release share its renders and its checks. Each check returns its
problems as one line each (empty: none), for one release or a whole cluster:

* `render_problems`: the chart renders at all (its `fail` guards, its values schema);
* `values_problems`: every values leaf the platform sets is read by the chart (`tests/values_proof`),
  except the keys `INERT` allows, and no allowance is stale;
* `schema_problems`: every object validates strictly (`tests/k8s_schema`: the cluster version's
  OpenAPI schema, or the CRD's);
* `pod_security_problems`: every pod in a namespace that enforces a Pod Security level meets it;
* `duplicate_crd_problems`: no CRD has two installers (releases, their hook Jobs, the platform);
* `image_problems`: every image a release runs is pinned (tag other than `latest`, or a digest),
  including images handed to controllers in args, env or custom resources.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import PurePosixPath
from typing import Any

import yaml

from infra import manifests
from infra.synth import Synthesis
from tests import helm, pod_security, values_proof
from tests import k8s_cluster as kc
from tests.k8s_schema import is_kubernetes, manifest, validate

PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"


# --- releases and clusters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One Helm release as a stack creates it, with what its render depends on."""

    name: str
    chart: str  # the chart's name in tests/charts
    namespace: str
    values_json: str  # canonical JSON (sorted keys)
    skip_crds: bool
    kube: str
    apis: tuple[str, ...]
    stack: str = field(default="", compare=False)  # where it was found, for messages only

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)

    def with_values(self, values: Mapping[str, Any]) -> Release:
        return replace(self, values_json=values_proof.canonical(values))

    def text(self, values: Mapping[str, Any] | None = None, *, crds: bool | None = None, cached: bool = True) -> str:
        """`helm template` of this release (other values: a mutation of it), CRDs as it installs them."""
        return helm.render_text(
            self.chart,
            self.values if values is None else values,
            namespace=self.namespace,
            release=self.name,
            kube_version=self.kube,
            include_crds=(not self.skip_crds) if crds is None else crds,
            api_versions=self.apis,
            cached=cached,
        )

    def __str__(self) -> str:
        return f"{self.stack}/{self.name}" if self.stack else self.name


@cache
def objects(release: Release) -> tuple[dict[str, Any], ...]:
    """What the release installs (hooks and CRDs included), each with its namespace. Raises helm.HelmError."""
    docs = manifests.parse(release.text())  # the product's loader (YAML 1.1 + '='), empty documents dropped
    return tuple(_namespaced(d, release.namespace) for d in docs)


def _namespaced(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    if not meta.get("namespace") and obj.get("kind") not in kc.CLUSTER_SCOPED and obj.get("kind"):
        meta["namespace"] = namespace
    return obj


@dataclass(frozen=True)
class Cluster:
    """A stack's releases, its own Kubernetes objects, and its namespaces' Pod Security labels."""

    name: str
    kube: str
    releases: tuple[Release, ...]
    platform: tuple[dict[str, Any], ...] = ()

    def namespace_labels(self) -> dict[str, dict[str, str]]:
        return {
            o["metadata"]["name"]: dict(o["metadata"].get("labels") or {})
            for o in self.platform
            if o.get("kind") == "Namespace"
        }

    def with_release(self, release: Release) -> Cluster:
        """This cluster with one release replaced (by name) or added."""
        others = tuple(r for r in self.releases if r.name != release.name)
        return replace(self, releases=(*others, release))


_HAS_API = re.compile(r"\.Capabilities\.APIVersions\.Has\s+\"([^\"]+)\"")
_ANY_API = re.compile(r"\.Capabilities\.APIVersions")


@cache
def _api_queries(chart: str) -> frozenset[str] | None:
    """The API versions a chart's templates ask about (`.Capabilities.APIVersions.Has "g/v"`), or
    None when one asks in another way (a variable, the whole list): then every API counts."""
    asked: set[str] = set()
    with tarfile.open(helm.chart_path(chart)) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            text = data.read().decode("utf-8", "replace")
            literal = _HAS_API.findall(text)
            if len(_ANY_API.findall(text)) != len(literal):
                return None
            asked.update(literal)
    return frozenset(asked)


def relevant_apis(chart: str, apis: Iterable[str]) -> tuple[str, ...]:
    """The cluster's extra API versions that can change what `chart` renders: the ones it asks about.
    Two stacks that differ only in CRDs the chart never looks for then share its renders."""
    asked = _api_queries(chart)
    return tuple(sorted(a for a in apis if asked is None or a in asked))


def from_synthesis(name: str, syn: Synthesis) -> Cluster:
    kube = syn.spec.cluster.kubernetes_version
    apis = tuple(sorted(kc.api_versions(syn)))
    releases = tuple(
        Release(
            name=r.inputs.get("name") or r.name,
            chart=helm.chart_name(r.inputs["chart"]),
            namespace=r.inputs["namespace"],
            values_json=values_proof.canonical(r.inputs.get("values") or {}),
            skip_crds=bool(r.inputs.get("skipCrds", False)),
            kube=kube,
            apis=relevant_apis(helm.chart_name(r.inputs["chart"]), apis),
            stack=name,
        )
        for r in kc.release_inputs(syn)
    )
    platform = tuple(manifest(r) for r in syn.resources if is_kubernetes(r))
    return Cluster(name, kube, releases, platform)


# --- a. it renders ------------------------------------------------------------------------------------------


def render_problems(release: Release) -> list[str]:
    try:
        objs = objects(release)
    except helm.HelmError as exc:
        return [f"{release}: does not render: {' '.join(str(exc).split())[:400]}"]
    return [] if objs or release.chart.endswith("-crds-helm") else [f"{release}: renders nothing"]


# --- b. every values key is read ------------------------------------------------------------------------------


_DETERMINISTIC: set[str] = set()  # charts whose baseline rendered the same twice
_LOCK = threading.Lock()


@cache
def proof(release: Release) -> values_proof.Proof:
    """Which of the release's values leaves its chart reads (renders without CRDs, then with them)."""

    def render(values: Mapping[str, Any]) -> str:
        return release.text(values, crds=False, cached=False)

    def with_crds(values: Mapping[str, Any]) -> str:
        return release.text(values, crds=True, cached=values == release.values)

    with _LOCK:
        twice = release.chart not in _DETERMINISTIC
    found = values_proof.prove(
        release.values, render, with_crds=None if release.skip_crds else with_crds, check_determinism=twice
    )
    with _LOCK:
        _DETERMINISTIC.add(release.chart)
    return found


def prove_all(releases: Iterable[Release], workers: int = 2) -> None:
    """Prove many releases' values at once, `workers` Helm renders at a time (the costliest first)."""
    todo = sorted(set(releases), key=lambda r: -len(r.values_json))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(proof, todo))


def render_all(releases: Iterable[Release], workers: int = 2) -> None:
    """Render (and parse) many releases at once; a refusal is left for `render_problems` to report."""

    def one(release: Release) -> None:
        with contextlib.suppress(helm.HelmError):
            objects(release)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, sorted(set(releases), key=lambda r: -len(r.values_json))))


def values_problems(release: Release, inert: Mapping[tuple[str, str], str]) -> list[str]:
    """Leaves the chart does not read, unless `inert[(chart, dotted path)]` says why that is by design;
    and allowances for leaves this release sets that the chart does read (stale)."""
    found = proof(release)
    unread = {values_proof.dotted(p) for p in found.unread}
    problems = [
        f"{release}: {path} changes nothing the chart renders (dead or inert; allow it in INERT with a reason)"
        for path in sorted(unread)
        if (release.chart, path) not in inert
    ]
    read = {values_proof.dotted(p) for p in found.read}
    problems += [
        f"{release}: {path} is allowed as inert but the chart reads it: drop the allowance"
        for chart, path in sorted(inert)
        if chart == release.chart and path in read
    ]
    return problems


# --- c. strict schemas --------------------------------------------------------------------------------------


@cache
def _validated(obj_json: str, kube: str) -> tuple[str, ...]:
    """k8s_schema.validate, once per distinct object: stacks share most objects (every CRD, most RBAC)."""
    return tuple(validate(json.loads(obj_json), kube))


def schema_problems(release: Release) -> list[str]:
    out = []
    for obj in [*objects(release), *(o for _, o in hook_applied(release))]:
        out += [f"{release}: {e}" for e in _validated(json.dumps(obj, sort_keys=True, default=str), release.kube)]
    return out


# --- d. Pod Security --------------------------------------------------------------------------------------------


def pod_templates(objs: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], dict[str, Any]]]:
    """(object, pod template) of every pod-bearing object (Pods, workloads, Jobs and CronJobs, hooks too)."""
    for obj in objs:
        template = helm.pod_template(obj)
        if template is not None:
            yield obj, template


def enforced(labels: Mapping[str, str], kube: str) -> tuple[pod_security.Level, str]:
    """The level and version a namespace enforces (no label: privileged; `latest`: the cluster's)."""
    level = labels.get(PSA_ENFORCE, "privileged")
    version = labels.get(PSA_ENFORCE_VERSION, "latest")
    return level, (kube if version == "latest" else version.lstrip("v"))  # type: ignore[return-value]


def pod_security_problems(release: Release, namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    out = []
    for obj, template in pod_templates(objects(release)):
        ns = obj["metadata"].get("namespace") or release.namespace
        level, version = enforced(namespaces.get(ns) or {}, release.kube)
        for problem in pod_security.violations(template, level, version):
            out.append(f"{release}: {obj['kind']} {ns}/{obj['metadata']['name']} violates {level}: {problem}")
    return out


# --- e. no CRD installed twice --------------------------------------------------------------------------------


def _crd_names(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objs if o.get("kind") == "CustomResourceDefinition"}


@cache
def _package_files(chart: str) -> dict[tuple[str, ...], str]:
    """Every YAML file of a packaged chart (subcharts included), by its path parts."""
    out: dict[tuple[str, ...], str] = {}
    with tarfile.open(helm.chart_path(chart)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith((".yaml", ".yml")):
                data = tar.extractfile(member)
                if data is not None:
                    out[PurePosixPath(member.name).parts] = io.TextIOWrapper(data).read()
    return out


def _package_file(chart: str, arg: str) -> str | None:
    """The chart's file a command-line argument names (a path or URL ending in the file's name): the
    one sharing the longest path suffix with it (argo's `.../crds/full/x.yaml`, not `.../minimal/x.yaml`)."""
    match = re.search(r"([\w./:-]*\.ya?ml)$", arg)
    if not match:
        return None
    wanted = PurePosixPath(match.group(1)).parts
    best, best_len = None, 0
    for parts, text in _package_files(chart).items():
        common = 0
        while common < min(len(parts), len(wanted)) and parts[-1 - common] == wanted[-1 - common]:
            common += 1
        if common > best_len:
            best, best_len = text, common
    return best


def _manifests(text: str) -> list[dict[str, Any]]:
    try:
        docs = manifests.parse(text)
    except yaml.YAMLError:
        return []
    return [d for d in docs if isinstance(d, dict) and "apiVersion" in d and "kind" in d]


@cache
def _hook_applied(release: Release) -> tuple[tuple[str, dict[str, Any]], ...]:
    found: list[tuple[str, dict[str, Any]]] = []
    objs = objects(release)
    config_maps = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "ConfigMap"}
    for obj, template in pod_templates(objs):
        if not helm.hook_phases(obj):
            continue
        job = f"{obj['kind']} {obj['metadata']['name']}"
        spec = template.get("spec") or {}
        for volume in spec.get("volumes") or []:
            name = (volume.get("configMap") or {}).get("name")
            for text in (config_maps.get(name) or {}).get("data", {}).values() if name else ():
                found += [(job, m) for m in _manifests(text)]
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
                text = _package_file(release.chart, str(arg))
                if text is not None:
                    found += [(job, m) for m in _manifests(text)]
    return tuple(found)


def hook_applied(release: Release) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(hook Job, object) of what a release's hook Jobs apply besides its own manifests: manifests
    from a ConfigMap the Job mounts (kubeflow-trainer's runtimes), or files of the chart named in its
    command line (argo-workflows' full CRDs, fetched from the chart's tag; gpu-operator's CRD upgrade)."""
    return _hook_applied(release)


def crd_sources(cluster: Cluster) -> dict[str, set[str]]:
    """CRD name -> who installs it: `platform`, a release, or a release's hook Job (counted as the release)."""
    out: dict[str, set[str]] = {}
    for name in _crd_names(cluster.platform):
        out.setdefault(name, set()).add("platform")
    for release in cluster.releases:
        crds = _crd_names(objects(release)) | _crd_names(o for _, o in hook_applied(release))
        for name in crds:
            out.setdefault(name, set()).add(f"release {release.name}")
    return out


def duplicate_crd_problems(cluster: Cluster) -> list[str]:
    return [
        f"{cluster.name}: CRD {name} is installed by {' and '.join(sorted(sources))}"
        for name, sources in sorted(crd_sources(cluster).items())
        if len(sources) > 1
    ]


# --- f. pinned images ---------------------------------------------------------------------------------------

# an image reference with a registry host (a dot or a port in its first part), as charts pass them in flags
_REGISTRY_REF = re.compile(
    r"^(?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d+)?/[a-z0-9._/-]+(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def pinned(ref: str) -> bool:
    """A digest, or a tag that is not `latest` (the tag is after the last ':' of the last path part)."""
    if "@sha256:" in ref:
        return True
    last = ref.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def _image_like(name: str, value: str) -> bool:
    """Whether a flag's or variable's value is an image: its name says so (not a pull policy or secret),
    or the value is a registry reference with a tag, a digest or a repository path (`host/org/repo`;
    `host/name` alone is as likely a label key: `nvidia.com/device-plugin.config`)."""
    named = name.lower()
    if "image" in named and not any(w in named for w in ("pull", "policy", "secret")):
        return bool(value) and " " not in value
    if not _REGISTRY_REF.match(value):
        return False
    last = value.rsplit("/", 1)[-1]
    return "@" in value or ":" in last or value.count("/") >= 2


def images(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, reference) of every image an object names: `image:` fields (an operator's split
    `repository`/`image`/`version` joined), and images in container args and env (a flag or variable
    whose name says image, or any value that is a registry reference)."""
    if isinstance(obj, dict):
        if obj.get("enabled") is False:
            return  # a component switched off runs no image (the GPU Operator's vgpuManager names none)
        image = obj.get("image")
        if isinstance(image, str):
            if "version" in obj and "repository" in obj:  # the GPU Operator's ClusterPolicy style
                yield f"{path}.image", f"{obj['repository']}/{image}:{obj.get('version') or ''}"
            else:
                yield f"{path}.image", image
        for arg in [*(obj.get("command") or []), *(obj.get("args") or [])] if "name" in obj else []:
            if isinstance(arg, str):
                flag, _, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
                if value and _image_like(flag, value):
                    yield f"{path}.args[{flag or value}]", value
        for env in obj.get("env") or [] if "name" in obj else []:
            if isinstance(env, dict) and isinstance(env.get("value"), str) and _image_like(env["name"], env["value"]):
                yield f"{path}.env[{env['name']}]", env["value"]
        for key, value in obj.items():
            if key not in ("image", "args", "command", "env"):
                yield from images(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from images(value, f"{path}[{i}]")


def image_problems(release: Release) -> list[str]:
    out = []
    for obj in [*objects(release), *(o for _, o in hook_applied(release))]:
        if obj.get("kind") == "CustomResourceDefinition":
            continue
        where = f"{obj.get('kind')} {obj['metadata'].get('name')}"
        for path, ref in images(obj):
            if not pinned(ref):
                out.append(f"{release}: {where}{path}: image {ref or '(empty)'} is not pinned")
    return out
