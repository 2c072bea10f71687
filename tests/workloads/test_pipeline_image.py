"""The continuous-training pipeline image: hadolint-clean Dockerfile, pinned base, the pipeline pods' UID
and command, a fully pinned requirements set matching the `workloads`, `features` and `pipelines` extras
(and the training image's lock), every imported package in it, and every module the entrypoint reaches
copied into the image."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

from tests.workloads.images import (
    REPO,
    assert_installed_and_locked,
    hadolint,
    norm,
    pins,
    third_party_imports,
)

IMAGE_DIR = REPO / "workloads" / "pipelines"
ENTRYPOINT = ["python", "-m", "workloads.pipelines"]
# name, [extras], version: requirements.in and pyproject name Feast with its extras
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([A-Za-z0-9_,.-]+)\])?==([0-9][0-9A-Za-z.!+-]*)$")


def requirement(spec: str) -> tuple[str, tuple[str, frozenset[str]]]:
    match = REQUIREMENT.match(spec)
    assert match, f"not an exact pin: {spec!r}"
    name, extras, version = match.groups()
    return norm(name), (version, frozenset(norm(e) for e in (extras or "").split(",") if e))


def direct_requirements() -> dict[str, tuple[str, frozenset[str]]]:
    out = {}
    for raw in (IMAGE_DIR / "requirements.in").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, pin = requirement(line)
            out[name] = pin
    return out


def extra_requirements(extra: str) -> dict[str, tuple[str, frozenset[str]]]:
    """The pins of a pyproject extra, with the extras it includes (`ml-platform[a,b]`) expanded."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    out = {}
    for spec in project["optional-dependencies"][extra]:
        if spec.startswith(project["name"] + "["):
            for included in spec[len(project["name"]) + 1 : -1].split(","):
                out.update(extra_requirements(included))
        else:
            name, pin = requirement(spec)
            out[name] = pin
    return out


def dockerfile() -> str:
    return (IMAGE_DIR / "Dockerfile").read_text()


def copied_paths() -> list[Path]:
    """What the Dockerfile's COPY lines put under /app (sources under workloads/)."""
    paths = []
    for line in dockerfile().replace("\\\n", " ").splitlines():
        if line.startswith("COPY workloads") and "requirements" not in line:
            paths += [REPO / src for src in line.split()[1:-1]]
    return paths


def image_files() -> list[Path]:
    files: list[Path] = []
    for path in copied_paths():
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [f for f in files if "__pycache__" not in f.parts]


def module_file(module: str) -> Path | None:
    base = REPO / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def workloads_imports(path: Path) -> set[str]:
    """The workloads modules a file imports, at the top or inside functions (lazy imports run too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workloads"):
            found.add(node.module)
            # `from workloads.features import store` imports the submodule workloads.features.store
            found |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("workloads")}
    return found


def test_dockerfile_passes_hadolint() -> None:
    proc = hadolint(IMAGE_DIR / "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_user_and_entrypoint_fit_the_pipeline_pods() -> None:
    from workloads.pipelines.workflow import UID, PipelineParams, render

    text = dockerfile()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["${PYTHON_IMAGE}"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    assert args["TORCH_INDEX_URL"] == "https://pypi.org/simple"  # the CUDA build: the train step may get a GPU
    assert re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE) == [f"{UID}:{UID}"]
    assert f"ENTRYPOINT {json.dumps(ENTRYPOINT)}" in text  # exec form: SIGTERM reaches python
    assert "HOME=/tmp" in text  # the only writable path under readOnlyRootFilesystem (an emptyDir)

    template, _ = render(
        PipelineParams(
            name="ct",
            namespace="research",
            image="registry.example/pipeline:1",
            settings={},
            source_uri="s3://datasets/new",
            reference_uri="s3://datasets/reference",
            registered_model="credit-approval",
            owner="research",
            contact="research@example.com",
            risk_tier="high",
            code_version="0123abc",
        )
    )
    assert template["spec"]["securityContext"]["runAsUser"] == UID
    containers = [t["container"] for t in template["spec"]["templates"] if "container" in t]
    assert containers
    for container in containers:  # every step runs the image's entrypoint with its step name
        assert container["command"][:3] == ENTRYPOINT, container["command"]
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_image_holds_every_module_the_entrypoint_reaches() -> None:
    copied = {p.relative_to(REPO).as_posix() for p in image_files()}
    needed, todo = set(), ["workloads.pipelines.__main__"]
    while todo:
        module = todo.pop()
        if module in needed:
            continue
        needed.add(module)
        path = module_file(module)
        assert path is not None, module
        assert path.relative_to(REPO).as_posix() in copied, f"{module} is imported but not copied into the image"
        todo += sorted(workloads_imports(path))
    assert {"workloads.features.store", "workloads.training.trainer", "workloads.training.registry"} <= needed

    # the training config the train step reads by default (relative to WORKDIR /app)
    from workloads.pipelines.config import PipelineSettings

    assert "WORKDIR /app" in dockerfile()
    assert PipelineSettings.model_fields["train_config"].default in copied

    # and the build context lets each of them in
    admitted = [
        line[1:] for line in (IMAGE_DIR / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    for rel in sorted(copied):
        assert any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in admitted), rel


def test_requirements_are_fully_pinned_and_match_the_extras() -> None:
    locked = pins(IMAGE_DIR / "requirements.txt")
    direct = direct_requirements()
    for name, (version, _) in direct.items():
        assert locked.get(name) == version, name

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = extra_requirements("pipelines")
    declared |= {name: pin for name, pin in map(requirement, project["dependencies"])}
    for name, pin in direct.items():
        assert declared.get(name) == pin, f"{name}: image {pin}, pyproject {declared.get(name)}"
    for name in extra_requirements("pipelines"):  # workloads + features + pipelines: all in the image
        assert name in direct, name
    assert direct["feast"][1] == {"redis", "postgres"}


def test_the_train_step_runs_on_the_training_images_versions() -> None:
    """The train step runs the training workload: the same versions as the training image, except what
    Feast constrains (pandas < 3)."""
    locked = pins(IMAGE_DIR / "requirements.txt")
    training = pins(REPO / "workloads" / "training" / "requirements.txt")
    differ = {name: (v, locked.get(name)) for name, v in training.items() if locked.get(name) != v}
    assert set(differ) <= {"pandas"}, differ


def test_every_imported_package_is_in_the_image() -> None:
    sources = [f for f in image_files() if f.suffix == ".py"]
    third_party = third_party_imports(sources)
    locked = pins(IMAGE_DIR / "requirements.txt")
    assert_installed_and_locked(third_party, locked)
    assert {"torch", "mlflow", "feast", "pandas", "pyarrow", "kubernetes", "hera"} <= third_party
    # what Feast loads by configuration, never imported here: the Redis online store (redis, hiredis), the
    # SQL registry (psycopg), the registry server's gRPC client (grpcio), and fsspec's s3:// and gs://
    assert {"redis", "hiredis", "psycopg", "psycopg-binary", "grpcio", "s3fs", "gcsfs"} <= set(locked)
