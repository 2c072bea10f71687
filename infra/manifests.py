"""What `pulumi up` applies to the cluster, as manifests: every Helm release rendered by a real Helm, and
the platform's own Kubernetes objects from the offline synthesis (`mlplat render`, `mlplat check --render`).

A synthesized `kubernetes:helm.sh/v3:Release` carries everything `helm install` reads: the chart (a name
with `repositoryOpts.repo`, or an `oci://` reference), the exact version, the namespace, the release name,
the values and `skipCrds`. Rendering it is

    helm template NAME CHART.tgz --namespace NS --values VALUES.json --kube-version 1.35.0 \\
        [--include-crds] [--api-versions GROUP/VERSION ...] --skip-tests

with `--api-versions` set to the API groups of every CRD the stack's releases install, so a chart's
`.Capabilities.APIVersions.Has "monitoring.coreos.com/v1"` sees the cluster a real install sees after
the CRD releases (a first pass renders every release to find them; the charts whose templates ask are
rendered again), and `--skip-tests` because `pulumi up` never runs a chart's test hooks. Hooks (their
`helm.sh/hook` annotation says so) are kept: they run during the install.

Charts come from a directory of packaged charts (`NAME-VERSION.tgz`, as `helm package` names them; the
file's own Chart.yaml must say the same name and version), else from Helm's repositories through the
user's Helm (`helm pull`, with its cache and registry logins), when there is a network.

This module is the one Helm wrapper of the project: `tests/helm.py` renders through `helm_template`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from infra.synth import ResourceRecord, Synthesis

RELEASE = "kubernetes:helm.sh/v3:Release"
ROOT = Path(__file__).resolve().parent.parent
MISSING_HELM = "helm not found: install Helm v4 (https://helm.sh/docs/intro/install/) or run make .venv/bin/helm"
HEADER_MARK = "# Rendered by mlplat render"  # files that carry it are ours to replace

# Kinds the API server keeps outside namespaces (Kubernetes 1.35), besides CRD-defined ones (whose CRDs say
# `scope: Cluster`): a namespaced object Helm renders without metadata.namespace lands in the release's.
CLUSTER_SCOPED = frozenset(
    (
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "DeviceClass",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    )
)


class ManifestError(Exception):
    """Something the user can fix (a missing Helm or chart, a chart refusing its values)."""

    def one_line(self) -> str:
        lines = str(self).strip().splitlines()
        return lines[0] if lines else type(self).__name__


class HelmNotFoundError(ManifestError):
    def __init__(self) -> None:
        super().__init__(MISSING_HELM)


class ChartNotFoundError(ManifestError):
    """A pinned chart that is neither in the charts directory nor fetchable."""


class HelmError(ManifestError, RuntimeError):
    """`helm template` refused the chart with these values (the chart's own message)."""

    def __init__(self, chart: str, stderr: str, release: str = "") -> None:
        self.chart, self.stderr, self.release = chart, stderr.strip(), release
        where = f"release {release}: " if release else ""
        super().__init__(f"{where}helm template {chart}: {self.stderr}")

    def one_line(self) -> str:
        """`[release R: ]helm template CHART: Error: ...`, without the warnings Helm may print before it."""
        errors = [line.strip() for line in self.stderr.splitlines() if line.strip().startswith("Error:")]
        where = f"release {self.release}: " if self.release else ""
        return f"{where}helm template {self.chart}: {errors[0] if errors else _first_line(self.stderr)}"


# --- the binary ------------------------------------------------------------------------------------------


def helm_binary() -> str | None:
    """Helm: the project's `.venv/bin/helm` (`make .venv/bin/helm`), next to the running Python, or on PATH."""
    for candidate in (ROOT / ".venv" / "bin" / "helm", Path(sys.executable).parent / "helm"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("helm")


def require_helm() -> str:
    found = helm_binary()
    if found is None:
        raise HelmNotFoundError
    return found


def helm_version(helm: str) -> str:
    done = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=False, timeout=30)
    return done.stdout.strip().split("+", 1)[0] or "unknown"


def kube_version(version: str) -> str:
    """`1.35` -> `1.35.0`, as `--kube-version` wants it."""
    parts = version.lstrip("v").split(".")
    return ".".join([*parts, "0", "0"][:3])


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def helm_template(
    helm: str,
    release: str,
    chart: str | Path,
    *,
    namespace: str,
    kube: str,
    values: Mapping[str, Any] | str,
    include_crds: bool,
    api_versions: Iterable[str] = (),
    skip_tests: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """`helm template` of one chart (a packaged .tgz or a directory) with exactly `values` (a mapping, or
    its JSON): the manifest stream Helm would install. Raises `HelmError` with the chart's message."""
    with tempfile.TemporaryDirectory(prefix="mlplat-helm-") as tmp:
        values_file = Path(tmp) / "values.json"  # JSON is YAML: exactly the dict given, no re-quoting
        values_file.write_text(values if isinstance(values, str) else json.dumps(values, default=str))
        cmd = [helm, "template", release, str(chart), "--namespace", namespace, "--kube-version", kube]
        cmd += ["--values", str(values_file)]
        if include_crds:
            cmd.append("--include-crds")
        if skip_tests:
            cmd.append("--skip-tests")
        for api in sorted(set(api_versions)):
            cmd += ["--api-versions", api]
        done = subprocess.run(
            cmd, check=False, capture_output=True, text=True, env=dict(env) if env else None, timeout=300
        )
    if done.returncode != 0:
        raise HelmError(Path(str(chart)).name, done.stderr)
    return done.stdout


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1's safe loader, plus the `=` scalar (a "value" tag) that CRD schemas contain as an enum."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def parse(text: str) -> list[dict[str, Any]]:
    """The objects of a manifest stream; empty documents dropped."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if isinstance(doc, dict)]


# --- releases and their charts ---------------------------------------------------------------------------


def chart_name(chart: str) -> str:
    """The chart's name in a Release's `chart` input (a name, or an oci:// reference)."""
    return chart.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Release:
    """A synthesized Helm release: what `helm install` is given."""

    urn: str
    name: str  # the Helm release name
    chart: str  # as the program gives it: a chart name, or an oci:// reference
    version: str
    repo: str
    namespace: str
    values: Mapping[str, Any]
    skip_crds: bool

    @classmethod
    def from_record(cls, record: ResourceRecord) -> Release:
        i = record.inputs
        return cls(
            urn=record.urn,
            name=str(i.get("name") or record.name),
            chart=str(i["chart"]),
            version=str(i.get("version") or ""),
            repo=str((i.get("repositoryOpts") or {}).get("repo") or ""),
            namespace=str(i.get("namespace") or "default"),
            values=i.get("values") or {},
            skip_crds=bool(i.get("skipCrds", False)),
        )

    @property
    def chart_name(self) -> str:
        return chart_name(self.chart)

    @property
    def origin(self) -> str:
        """Where `helm install` takes the chart from."""
        return self.chart if self.chart.startswith("oci://") else f"{self.repo or '(no repository)'} {self.chart}"

    @property
    def package(self) -> str:
        return f"{self.chart_name}-{self.version}.tgz"


def _chart_meta(path: Path) -> dict[str, Any]:
    """Chart.yaml of a packaged chart (its top-level `<name>/Chart.yaml`)."""
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml":
                    data = tar.extractfile(member)
                    return yaml.safe_load(data.read()) if data else {}
    except (tarfile.TarError, OSError, yaml.YAMLError):
        pass
    return {}


class ChartSource:
    """Finds the packaged chart of a release at its exact pinned version.

    `charts_dir`: a directory of `NAME-VERSION.tgz` files (a chart mirror, or tests/charts); else Helm
    pulls the chart from its repository or OCI registry (`helm pull`, the user's Helm configuration and
    cache) into `workdir`.
    """

    def __init__(self, helm: str, charts_dir: Path | None, workdir: Path) -> None:
        self.helm = helm
        self.charts_dir = charts_dir
        self.workdir = workdir
        self._found: dict[tuple[str, str, str], Path] = {}

    def locate(self, release: Release) -> Path:
        key = (release.chart, release.repo, release.version)
        if key not in self._found:
            self._found[key] = self._local(release) if self.charts_dir is not None else self._pull(release)
        return self._found[key]

    def _local(self, release: Release) -> Path:
        assert self.charts_dir is not None
        path = self.charts_dir / release.package
        where = f"release {release.name}: chart {release.chart_name} {release.version}"
        if not path.is_file():
            others = sorted(p.name for p in self.charts_dir.glob(f"{release.chart_name}-*.tgz"))
            has = f" (it has {', '.join(others)})" if others else ""
            raise ChartNotFoundError(f"{where}: no {release.package} in {self.charts_dir}{has}")
        meta = _chart_meta(path)
        if (meta.get("name"), str(meta.get("version"))) != (release.chart_name, release.version):
            raise ChartNotFoundError(
                f"{where}: {path} holds chart {meta.get('name')} {meta.get('version')}, not the pinned version"
            )
        return path

    def _pull(self, release: Release) -> Path:
        target = self.workdir / f"pull-{len(self._found)}"
        target.mkdir(parents=True)
        cmd = [self.helm, "pull", release.chart, "--version", release.version, "--destination", str(target)]
        if not release.chart.startswith("oci://"):
            cmd += ["--repo", release.repo]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
        found = sorted(target.glob("*.tgz"))
        if done.returncode != 0 or not found:
            raise ChartNotFoundError(
                f"release {release.name}: chart {release.chart_name} {release.version}: Helm could not fetch it "
                f"from {release.origin} ({_first_line(done.stderr)}); give --charts DIR with {release.package}"
            )
        return found[0]


# --- rendering a stack -----------------------------------------------------------------------------------


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)  # Helm's document separator (column 0: never inside a value)
_KIND = re.compile(r"^kind:[ \t]*([A-Za-z0-9]+)[ \t]*$", re.MULTILINE)


def documents(text: str) -> list[str]:
    """The documents of a manifest stream that hold an object (Helm's `# Source:` comment kept with each)."""
    return [d for d in _SEPARATOR.split(text) if _KIND.search(d)]


def _kind(doc: str) -> str:
    found = _KIND.search(doc)
    return found.group(1) if found else ""


def _load(doc: str) -> Any:
    return yaml.load(doc, Loader=_Loader)  # a safe loader, one tag more


@dataclass
class RenderedRelease:
    """One release as Helm renders it. The objects are parsed when asked for: CRDs are megabytes of OpenAPI
    that writing the manifests or checking the workloads never needs as Python objects."""

    release: Release
    chart_file: Path
    text: str  # Helm's output, as `helm template` prints it (`# Source:` comments included)
    cluster_scoped: frozenset[str] = CLUSTER_SCOPED

    @cached_property
    def documents(self) -> list[str]:
        return documents(self.text)

    def _parse(self, docs: Iterable[str]) -> list[dict[str, Any]]:
        objs = [o for o in map(_load, docs) if isinstance(o, dict)]
        return [in_namespace(o, self.release.namespace, self.cluster_scoped) for o in objs]

    @cached_property
    def objects(self) -> list[dict[str, Any]]:
        """Every object, hooks and CRDs included; namespaced objects without a namespace in the release's."""
        return self._parse(self.documents)

    @cached_property
    def workload_objects(self) -> list[dict[str, Any]]:
        """Every object but the CustomResourceDefinitions."""
        return self._parse(d for d in self.documents if _kind(d) != "CustomResourceDefinition")


@dataclass
class Rendering:
    """What `pulumi up` applies: the platform's own objects (with the resource each comes from) and every
    release's objects, rendered once with the cluster's CRD API groups."""

    stack: str
    kube_version: str
    helm_version: str
    charts: str  # where the charts came from, in words
    platform: list[tuple[ResourceRecord, dict[str, Any]]]
    releases: list[RenderedRelease]
    api_versions: frozenset[str] = field(default_factory=frozenset)
    seconds: float = 0.0


def hook_phases(obj: Mapping[str, Any]) -> set[str]:
    """The Helm hook phases of an object (`pre-install`, ...); empty for an ordinary manifest."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return {p.strip() for p in str(annotations.get("helm.sh/hook", "")).split(",") if p.strip()}


def crd_api_versions(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    """`group/version` and `group/version/Kind` of every CRD, as `.Capabilities.APIVersions` lists them."""
    apis = set()
    for o in objs:
        if o.get("kind") != "CustomResourceDefinition":
            continue
        spec = o.get("spec") or {}
        for v in spec.get("versions") or []:
            apis.add(f"{spec['group']}/{v['name']}")
            apis.add(f"{spec['group']}/{v['name']}/{spec['names']['kind']}")
    return apis


def _cluster_scoped(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    kinds: set[str] = set(CLUSTER_SCOPED)
    for o in objs:
        spec = o.get("spec") or {}
        if o.get("kind") == "CustomResourceDefinition" and spec.get("scope") == "Cluster":
            kinds.add((spec.get("names") or {}).get("kind", ""))
    return kinds


def in_namespace(obj: dict[str, Any], namespace: str, cluster_scoped: set[str] | frozenset[str]) -> dict[str, Any]:
    """Where Helm creates a namespaced object that names no namespace: the release's (a copy; `obj` as is)."""
    meta = obj.get("metadata") or {}
    if meta.get("namespace") or obj.get("kind") in cluster_scoped:
        return obj
    return {**obj, "metadata": {**meta, "namespace": namespace}}


def platform_objects(syn: Synthesis) -> list[tuple[ResourceRecord, dict[str, Any]]]:
    """The platform's own Kubernetes objects (typed resources and custom resources), as the provider sends
    them: the resource's inputs (`apiVersion`, `kind`, `metadata`, ... first)."""
    out = []
    for r in syn.resources:
        if not (r.custom and r.type.startswith("kubernetes:")) or r.type.startswith("kubernetes:helm.sh/"):
            continue
        obj = _sorted(r.inputs)  # the engine's maps come in no particular order: a stable file to diff
        head = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
        out.append((r, {**head, **{k: v for k, v in obj.items() if k not in head}}))
    return out


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def releases(syn: Synthesis) -> list[Release]:
    return [Release.from_record(r) for r in syn.of_type(RELEASE)]


def crd_summary(doc: str) -> dict[str, Any]:
    """A CRD document without its versions' schemas (what `.Capabilities` and scoping need), parsed
    quickly: block-style YAML, the lines under each `schema:` key dropped."""
    kept, skip_below = [], None
    for line in doc.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if skip_below is not None:
            if not line.strip() or indent > skip_below:
                continue
            skip_below = None
        if line.strip() == "schema:":
            skip_below = indent
        kept.append(line)
    obj = _load("\n".join(kept))
    return obj if isinstance(obj, dict) else {}


def asks_api_versions(chart: Path) -> bool:
    """Whether a packaged chart's templates (its subcharts' included) read `.Capabilities.APIVersions`: only
    then can the CRDs other releases install change what it renders."""
    try:
        with tarfile.open(chart) as tar:
            for member in tar:
                data = tar.extractfile(member) if member.isfile() and "/templates/" in member.name else None
                if data is not None and b"Capabilities.APIVersions" in data.read():
                    return True
    except (tarfile.TarError, OSError):
        return True  # cannot tell: render it again
    return False


def render_stack(
    syn: Synthesis,
    charts_dir: Path | None = None,
    *,
    helm: str | None = None,
    workers: int | None = None,
) -> Rendering:
    """Render every release of a synthesized stack as `pulumi up` installs it (see the module docstring).

    Each release is rendered once to learn the CRDs the stack installs; the charts whose templates read
    `.Capabilities.APIVersions` are rendered again with those CRDs' API groups, as a real install after the
    CRD releases sees them. Raises `HelmNotFoundError`, `ChartNotFoundError`, `HelmError`.
    """
    import time

    started = time.perf_counter()
    helm = helm or require_helm()
    kube = kube_version(syn.spec.cluster.kubernetes_version)
    wanted = releases(syn)
    with tempfile.TemporaryDirectory(prefix="mlplat-charts-") as tmp:
        source = ChartSource(helm, charts_dir, Path(tmp))
        files = [source.locate(r) for r in wanted]  # every chart first: a missing one fails before any render

        def render(i: int, apis: frozenset[str]) -> str:
            r = wanted[i]
            try:
                return helm_template(
                    helm,
                    r.name,
                    files[i],
                    namespace=r.namespace,
                    kube=kube,
                    values=r.values,
                    include_crds=not r.skip_crds,
                    api_versions=apis,
                    skip_tests=True,
                )
            except HelmError as exc:
                raise HelmError(exc.chart, exc.stderr, release=r.name) from None

        def each(indexes: list[int], apis: frozenset[str]) -> list[str]:
            with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 2)) as pool:
                return list(pool.map(lambda i: render(i, apis), indexes))

        texts = each(list(range(len(wanted))), frozenset())
        crds = [crd_summary(d) for t in texts for d in documents(t) if _kind(d) == "CustomResourceDefinition"]
        apis = frozenset(crd_api_versions(crds))
        again = [i for i, f in enumerate(files) if apis and asks_api_versions(f)]
        for i, text in zip(again, each(again, apis), strict=True):
            texts[i] = text
        version = helm_version(helm)
    scoped = frozenset(_cluster_scoped(crds))
    rendered = [RenderedRelease(r, f, t, scoped) for r, f, t in zip(wanted, files, texts, strict=True)]
    return Rendering(
        stack=syn.stack,
        kube_version=kube,
        helm_version=version,
        charts=str(charts_dir) if charts_dir is not None else "Helm's repositories (helm pull)",
        platform=platform_objects(syn),
        releases=rendered,
        api_versions=apis,
        seconds=time.perf_counter() - started,
    )


# --- writing manifests -----------------------------------------------------------------------------------


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(obj: Mapping[str, Any]) -> str:
    return yaml.dump(
        dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True
    )


def _values_note() -> list[str]:
    return [
        "# Values and inputs are the offline synthesis's: cloud outputs (ARNs, ids, endpoints) are the",
        '# Pulumi mocks\' stand-ins for what the real stack resolves, and a secret shows as "[secret]".',
    ]


def release_manifest(rendering: Rendering, rendered: RenderedRelease) -> str:
    r = rendered.release
    crds = "without CRDs (skipCrds)" if r.skip_crds else "with its CRDs"
    lines = [
        f"{HEADER_MARK} --stack {rendering.stack}: Helm release '{r.name}' in namespace {r.namespace}",
        f"# chart {r.chart_name} {r.version} from {r.origin}, {crds}",
        f"# `helm template` of {rendered.chart_file.name} by Helm {rendering.helm_version} for Kubernetes "
        f"{rendering.kube_version}, with the CRD API groups the stack installs; hooks kept (helm.sh/hook).",
        f"# Helm creates the objects that name no namespace in {r.namespace}.",
        *_values_note(),
    ]
    body = rendered.text if rendered.text.startswith("---") else "---\n" + rendered.text
    return "\n".join(lines) + "\n" + body


def platform_manifest(rendering: Rendering) -> str:
    lines = [
        f"{HEADER_MARK} --stack {rendering.stack}: the platform's own Kubernetes objects",
        "# (the typed pulumi_kubernetes resources and custom resources of the program, not Helm releases)",
        *_values_note(),
    ]
    docs = [
        f"# {record.type} {record.name} (in {_component(record)})\n{_dump(obj)}" for record, obj in rendering.platform
    ]
    return "\n".join(lines) + "\n---\n" + "---\n".join(docs)


def _component(record: ResourceRecord) -> str:
    """The type of the component a resource belongs to, from its URN's qualified type."""
    qualified = record.urn.split("::")[2] if record.urn.count("::") >= 3 else ""
    chain = qualified.split("$")
    return chain[-2] if len(chain) > 1 else "the stack"


def file_names(rendering: Rendering) -> list[str]:
    """One file per release (`<release>.yaml`; `<release>.<namespace>.yaml` where two share a name)."""
    counts: dict[str, int] = {}
    for rr in rendering.releases:
        counts[rr.release.name] = counts.get(rr.release.name, 0) + 1
    return [
        f"{rr.release.name}.yaml" if counts[rr.release.name] == 1 else f"{rr.release.name}.{rr.release.namespace}.yaml"
        for rr in rendering.releases
    ]


@dataclass(frozen=True)
class Written:
    file: Path
    objects: int
    what: str


PLATFORM_FILE = "platform.yaml"


def write(rendering: Rendering, out_dir: Path) -> list[Written]:
    """`platform.yaml` and one `<release>.yaml` per release under `out_dir`; files an earlier render
    wrote there (they start with its header) that this one does not write are removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [Written(out_dir / PLATFORM_FILE, len(rendering.platform), "the platform's own objects")]
    (out_dir / PLATFORM_FILE).write_text(platform_manifest(rendering))
    for name, rr in zip(file_names(rendering), rendering.releases, strict=True):
        path = out_dir / name
        path.write_text(release_manifest(rendering, rr))
        r = rr.release
        written.append(Written(path, len(rr.documents), f"{r.chart_name} {r.version} -> {r.namespace}"))
    keep = {w.file.name for w in written}
    for stale in out_dir.glob("*.yaml"):
        if stale.name not in keep and _ours(stale):
            stale.unlink()
    return written


def _ours(path: Path) -> bool:
    try:
        with path.open() as fh:
            return fh.readline().startswith(HEADER_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def stream(rendering: Rendering) -> str:
    """Everything as one manifest stream (the platform's objects, then each release's)."""
    parts = [platform_manifest(rendering)] + [release_manifest(rendering, rr) for rr in rendering.releases]
    return "---\n".join(part if part.endswith("\n") else part + "\n" for part in parts)


# --- rendered objects as policy resources ----------------------------------------------------------------


def type_token(obj: Mapping[str, Any]) -> str:
    """`apps/v1` + `Deployment` -> `kubernetes:apps/v1:Deployment`; the core group is `core/v1`."""
    api = str(obj.get("apiVersion") or "")
    group_version = api if "/" in api else f"core/{api or 'v1'}"
    return f"kubernetes:{group_version}:{obj.get('kind') or 'Unknown'}"


def object_name(release: str, obj: Mapping[str, Any]) -> str:
    """`<release>/<Kind>/<namespace>/<name>` (`<release>/<Kind>/<name>` when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{release}/{obj.get('kind')}/{where}{meta.get('name', '?')}"


def policy_resources(syn: Synthesis, rendering: Rendering) -> list[Any]:
    """The releases' objects (hooks included; CRDs left out) as `policy.runner.Resource`s of their Pulumi type
    token, each parented to its release (URN under it), so a violation names the release and the object."""
    from policy import runner

    release_resources = {r.urn: r for r in runner.from_synthesis(syn) if r.type == RELEASE}
    out = []
    for rr in rendering.releases:
        parent = release_resources.get(rr.release.urn)
        prefix, _, rest = rr.release.urn.partition("::")  # urn:pulumi:STACK :: PROJECT::TYPE::NAME
        project, qualified = rest.split("::")[:2]
        for obj in rr.workload_objects:  # CRDs are schemas (megabytes) that no rule reads
            token = type_token(obj)
            name = object_name(rr.release.name, obj)
            out.append(
                runner.Resource(
                    type=token,
                    name=name,
                    urn=f"{prefix}::{project}::{qualified}${token}::{name}",
                    inputs=obj,
                    parent=rr.release.urn,
                    provider=parent.provider if parent else None,
                )
            )
    return out
