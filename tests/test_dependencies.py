"""What `pulumi install` installs is enough to run the program.

`pulumi install` installs the project with its base dependencies only (requirements.txt: `-e .`), not the
extras the tests use. Every third-party module the Pulumi program and the policy packs import (infra/,
components/, policy/, and the workload module the program renders the pipeline templates with) must
therefore come from a base dependency or from what one of them requires.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from tests.workloads.images import REPO, norm, third_party_imports

PROGRAM = [
    *(REPO / "infra").rglob("*.py"),
    *(REPO / "components").rglob("*.py"),
    *(REPO / "policy").rglob("*.py"),
    REPO / "workloads" / "pipelines" / "workflow.py",  # components/k8s/training_pipeline.py renders with it
]
OWN = {"infra", "components", "policy", "workloads", "tests"}


def closure(requirements: list[str]) -> set[str]:
    """The distributions `requirements` install: themselves and, recursively, what they require (no extras)."""
    seen: set[str] = set()
    stack = [re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0] for r in requirements]
    while stack:
        name = norm(stack.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        stack += [re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return seen


def test_the_program_imports_only_what_the_base_dependencies_install() -> None:
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = closure(base)
    dists = metadata.packages_distributions()
    modules = third_party_imports(PROGRAM) - OWN
    assert {"pulumi", "pulumi_kubernetes", "hera"} <= modules  # the check sees the program's imports
    missing = {m: dists.get(m) for m in modules if not any(norm(d) in installed for d in dists.get(m, []))}
    assert not missing, f"imported by the program but not installed by pyproject's dependencies: {missing}"


def test_the_check_catches_a_module_outside_the_base_dependencies(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("import feast\n")  # an extra (features), not a base dependency
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    dists = metadata.packages_distributions()
    (module,) = third_party_imports([stray])
    assert not any(norm(d) in closure(base) for d in dists[module])
