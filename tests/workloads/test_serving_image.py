"""The model server image: hadolint-clean Dockerfile, pinned base, the platform runtime's UID and port,
a fully pinned requirements set matching the `workloads` and `serving` extras, every imported package in
it, and every module the server imports copied into the image."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from components.k8s.serving import INFERENCE_PORT, MODEL_SERVER_UID
from tests.workloads.images import (
    REPO,
    assert_installed_and_locked,
    declared_pins,
    hadolint,
    pins,
    third_party_imports,
)

IMAGE_DIR = REPO / "workloads" / "serving"


def image_modules() -> list[Path]:
    """The Python files the Dockerfile copies (COPY lines under workloads/)."""
    text = (IMAGE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    files: list[Path] = []
    for line in text.splitlines():
        if not line.startswith("COPY workloads"):
            continue
        for src in line.split()[1:-1]:
            path = REPO / src
            files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f.suffix == ".py"]


def test_dockerfile_passes_hadolint() -> None:
    proc = hadolint(IMAGE_DIR / "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_user_port_and_entrypoint_fit_the_platform_runtime() -> None:
    text = (IMAGE_DIR / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["${PYTHON_IMAGE}"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert f"USER {MODEL_SERVER_UID}:{MODEL_SERVER_UID}" in text  # runAsUser of the ClusterServingRuntime
    assert f"EXPOSE {INFERENCE_PORT}" in text
    assert 'ENTRYPOINT ["python", "-m", "workloads.serving"]' in text  # exec form: SIGTERM reaches python


def test_the_image_holds_every_module_the_server_imports() -> None:
    copied = {p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".") for p in image_modules()}
    copied = {m.removesuffix(".__init__") for m in copied}
    needed = set()
    for path in image_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workloads"):
                needed.add(node.module)
            elif isinstance(node, ast.Import):
                needed |= {a.name for a in node.names if a.name.startswith("workloads")}
    needed -= {"workloads.training.trainer"}  # imported only under TYPE_CHECKING / lazily for training
    assert needed <= copied, sorted(needed - copied)
    ignore = (IMAGE_DIR / "Dockerfile.dockerignore").read_text()
    for path in image_modules():
        rel = path.relative_to(REPO).as_posix()
        assert f"!{rel}" in ignore or f"!{rel.rsplit('/', 1)[0]}/" in ignore, rel


def test_requirements_are_fully_pinned_and_match_the_extras() -> None:
    locked = pins(IMAGE_DIR / "requirements.txt")
    direct = pins(IMAGE_DIR / "requirements.in")
    for name, version in direct.items():
        assert locked.get(name) == version, name
    declared = declared_pins("workloads", "serving")
    for name, version in direct.items():
        assert declared.get(name) == version, f"{name}: image {version}, pyproject {declared.get(name)}"
    for name in declared_pins("serving", dependencies=False):
        assert name in direct, name


def test_every_imported_package_is_in_the_image() -> None:
    third_party = third_party_imports(image_modules())
    locked = pins(IMAGE_DIR / "requirements.txt")
    assert_installed_and_locked(third_party, locked)
    assert {"torch", "uvicorn", "orjson", "prometheus_client", "aiohttp", "fsspec"} <= third_party
    # fsspec loads these by URI scheme, never by import
    assert {"s3fs", "gcsfs", "uvloop", "httptools"} <= set(locked)
