"""Every image the platform pins in a chart's values is the image that chart ships at the pinned version.

The platform pins each controller image by tag in the release values (`Image` constants in
components/k8s/*.py: visible to the policy packs and GKE's Binary Authorization allowlist), but a chart
is tested upstream with its own images. So a pin must not drift from the chart: for each release of the
reference stacks and the GPU Operator + Karpenter variant, the chart is rendered twice, with the stack's
values and with the same values less every image setting (`IMAGE_VALUES`), and the two renders must be
the same objects, up to the commented exceptions in `DELIBERATE`. A chart bump that leaves an image
behind (or an image bump without its chart) fails here, naming the object, the field and both values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import pytest

from components.k8s import autoscaling, base, pipelines, serving
from tests import helm
from tests.conftest import STACK_NAMES
from tests.k8s_cluster import GPU_OPERATOR_STACK, RELEASE
from tests.k8s_cluster import stack as k8s_stack

Path = tuple[str, ...]

_IMAGE = ("image",)
_REPO_IMAGE_VERSION = (("repository",), ("image",), ("version",))  # the GPU Operator's form


def _under(prefix: Path, *leaves: Path) -> tuple[Path, ...]:
    return tuple(prefix + leaf for leaf in leaves)


# release name -> the values paths where the platform pins an image (each removed: the chart's default
# renders in its place). Every key named `image` the platform sets must be under one of these.
IMAGE_VALUES: dict[str, tuple[Path, ...]] = {
    "external-secrets": (_IMAGE, ("webhook", "image"), ("certController", "image")),
    "argo-workflows": (("controller", "image"), ("executor", "image"), ("server", "image")),
    "kube-prometheus-stack": (
        ("prometheusOperator", "image"),
        ("prometheusOperator", "prometheusConfigReloader", "image"),
        ("prometheusOperator", "admissionWebhooks", "patch", "image"),
        ("prometheus", "prometheusSpec", "image"),
        ("alertmanager", "alertmanagerSpec", "image"),
        ("grafana", "image"),
        ("grafana", "sidecar", "image"),
        ("kube-state-metrics", "image"),
        ("prometheus-node-exporter", "image"),
    ),
    "pushgateway": (_IMAGE,),
    "cert-manager": (
        _IMAGE,
        ("webhook", "image"),
        ("cainjector", "image"),
        ("startupapicheck", "image"),
        ("acmesolver", "image"),
    ),
    "envoy-gateway": (
        ("deployment", "envoyGateway", "image"),
        ("config", "envoyGateway", "provider", "kubernetes", "shutdownManager", "image"),
    ),
    "kserve": (
        ("kserve", "version"),  # the chart's default tag of every KServe image
        *_under(("kserve", "controller"), ("image",), ("tag",)),
        *_under(("kserve", "agent"), ("image",), ("tag",)),
        *_under(("kserve", "router"), ("image",), ("tag",)),
        *_under(("kserve", "storage"), ("image",), ("tag",)),
    ),
    "karpenter": (("controller", "image"),),
    "cluster-autoscaler": (_IMAGE,),
    "nvidia-device-plugin": (_IMAGE, ("nfd", "image")),
    "gpu-operator": (
        *(
            (component, *leaf)
            for component in ("operator", "devicePlugin", "gfd", "migManager", "dcgmExporter")
            for leaf in _REPO_IMAGE_VERSION
        ),
        ("node-feature-discovery", "image"),
    ),
    "kubeflow-trainer": (_IMAGE,),
    "kueue": (("controllerManager", "manager", "image"),),
}

# Where the platform deliberately pins something else than the chart's default: the pinned reference
# -> the chart's, each with why. Nothing else may differ.
DELIBERATE: dict[str, dict[str, str]] = {
    # The executor runs in every workflow pod, which the teams' namespaces hold to the restricted Pod
    # Security level: Argo publishes a non-root variant of the same release (`-nonroot`), the chart's
    # default is the root one. Same version, same binary.
    "argo-workflows": {pipelines.EXECUTOR_IMAGE.ref: pipelines.EXECUTOR_IMAGE.ref.removesuffix("-nonroot")},
    # The same images named in full: the chart's defaults are Docker Hub short names (`kserve/agent`), and
    # GKE's Binary Authorization allowlist matches full names (components/gcp/binauthz.py).
    "kserve": {i.ref: i.ref.removeprefix("docker.io/") for i in serving.KSERVE_IMAGES.values()},
    # cluster-autoscaler follows the cluster's Kubernetes minor (autoscaling.CLUSTER_AUTOSCALER_IMAGES,
    # upstream's own rule); chart 9.59.0 defaults to 1.35.0, which is the minor every reference stack
    # runs, so no difference shows here. A 1.34 or 1.36 stack would differ on purpose.
}


def _stacks() -> list[str]:
    return [*STACK_NAMES, GPU_OPERATOR_STACK]


def _get(values: Mapping[str, Any], path: Path) -> tuple[bool, Any]:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _without(values: Mapping[str, Any], paths: tuple[Path, ...]) -> dict[str, Any]:
    out = copy.deepcopy(dict(values))
    for path in paths:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def _image_keys(values: Any, path: Path = ()) -> Iterator[Path]:
    """Every path of the values whose key is `image` (a reference, a repository or a registry/repo/tag map)."""
    if isinstance(values, Mapping):
        for key, sub in values.items():
            if key == "image":
                yield (*path, key)
            else:
                yield from _image_keys(sub, (*path, key))
    elif isinstance(values, list):
        for i, sub in enumerate(values):
            yield from _image_keys(sub, (*path, str(i)))


@cache
def _releases() -> list[tuple[str, str, dict[str, Any], str]]:
    """(release name, stacks, record inputs, kube version), one per distinct image setting of a release."""
    seen: dict[tuple[str, str], tuple[list[str], dict[str, Any], str]] = {}
    for name in _stacks():
        syn = k8s_stack(name)
        for rel in syn.of_type(RELEASE):
            values = rel.inputs.get("values") or {}
            pinned = {"/".join(p): _get(values, p)[1] for p in IMAGE_VALUES.get(rel.name, ())}
            key = (rel.name, json.dumps(pinned, sort_keys=True, default=str))
            entry = seen.setdefault(key, ([], dict(rel.inputs), syn.spec.cluster.kubernetes_version))
            entry[0].append(name)
    return [(rel, ",".join(stacks), inputs, kube) for (rel, _), (stacks, inputs, kube) in seen.items()]


def _differences(pinned: Any, default: Any, where: str) -> Iterator[str]:
    if isinstance(pinned, Mapping) and isinstance(default, Mapping):
        for key in sorted(set(pinned) | set(default), key=str):
            yield from _differences(pinned.get(key), default.get(key), f"{where}.{key}")
    elif isinstance(pinned, list) and isinstance(default, list) and len(pinned) == len(default):
        for i, (a, b) in enumerate(zip(pinned, default, strict=True)):
            yield from _differences(a, b, f"{where}[{i}]")
    elif pinned != default:
        yield f"{where}: pinned {pinned!r}, chart {default!r}"


def _swap(obj: Any, swaps: Mapping[str, str]) -> Any:
    """`obj` with each deliberate pinned reference replaced by the chart's (in any string)."""
    if isinstance(obj, Mapping):
        return {k: _swap(v, swaps) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_swap(v, swaps) for v in obj]
    if isinstance(obj, str):
        for mine, theirs in swaps.items():
            obj = obj.replace(mine, theirs)
    return obj


def _keyed(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o.get('kind')} {o.get('metadata', {}).get('name')}": o for o in objs}


def test_every_release_is_covered_and_every_image_setting_listed() -> None:
    releases = {rel for rel, *_ in _releases()}
    assert releases == set(IMAGE_VALUES) | {"gateway-crds", "kserve-crd", "karpenter-crd"}  # CRD charts: no image
    for rel, stacks, inputs, _ in _releases():
        listed = IMAGE_VALUES.get(rel, ())
        values = inputs.get("values") or {}
        unlisted = [p for p in _image_keys(values) if not any(p[: len(q)] == q for q in listed)]
        assert unlisted == [], f"{rel} ({stacks}): image settings not in IMAGE_VALUES"
    for rel, paths in IMAGE_VALUES.items():  # no stale entry: each path is set by some stack
        for path in paths:
            assert any(_get(i.get("values") or {}, path)[0] for r, _, i, _ in _releases() if r == rel), (rel, path)


@pytest.mark.parametrize("case", range(len(_releases())), ids=lambda i: "-".join(_releases()[i][:2]))
def test_pinned_images_are_the_charts_own(case: int) -> None:
    """The stack's render equals the render without the platform's image settings (the chart's defaults
    at the pinned version: its values.yaml, else its appVersion), but for `DELIBERATE`."""
    rel, stacks, inputs, kube = _releases()[case]
    if rel not in IMAGE_VALUES:
        return  # a CRD chart: nothing to pin
    stripped = {**inputs, "values": _without(inputs.get("values") or {}, IMAGE_VALUES[rel])}
    pinned = _keyed(_swap(helm.release_objects(inputs, kube_version=kube), DELIBERATE.get(rel, {})))
    default = _keyed(helm.release_objects(stripped, kube_version=kube))
    assert set(pinned) == set(default)
    diffs = [d for key in sorted(pinned) for d in _differences(pinned[key], default[key], key)]
    assert diffs == [], f"{rel} ({stacks}) pins images the chart does not ship"


def test_karpenter_pins_tag_and_digest_of_the_chart() -> None:
    """The Karpenter chart renders `tag@digest`, and the runtime pulls by digest: a tag bumped without its
    digest (1.15.0 over the chart's 1.14.1 digest, before issue 18) silently runs the old controller."""
    image = autoscaling.KARPENTER_IMAGE
    assert image.tag == autoscaling.KARPENTER_VERSION and image.digest.startswith("sha256:")
    assert image.ref == f"{image.repository}:{image.tag}@{image.digest}"
    syn = k8s_stack(GPU_OPERATOR_STACK)
    objs = helm.release_objects(syn.one(RELEASE, "karpenter").inputs, kube_version=syn.spec.cluster.kubernetes_version)
    (deploy,) = helm.of_kind(objs, "Deployment")
    assert [c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]] == [image.ref]


def test_an_image_pin_takes_a_tag_and_only_a_sha256_digest() -> None:
    assert base.Image("r/x", "1.0").ref == "r/x:1.0"
    assert base.Image("r/x", "1.0", "sha256:" + "a" * 64).ref == f"r/x:1.0@sha256:{'a' * 64}"
    for tag, digest in (("latest", ""), ("", ""), ("1.0", "sha256:abc"), ("1.0", "md5:" + "a" * 64)):
        with pytest.raises(ValueError):
            base.Image("r/x", tag, digest)
