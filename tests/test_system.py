"""`make test` sets up what the tests start (tests/system.py), so no test skips on a fresh machine."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests import system

TESTS = Path(__file__).parent
# The only skips left: conditions no Debian/Ubuntu checkout can meet (a skip here never fires in CI).
ALLOWED_SKIPS = {
    ("workloads/test_readme_training.py", "skipif"): "no /proc: not Linux",
    ("workloads/test_readme_training.py", "skip"): "not a git checkout (CI runs on a clone)",
}


def _skips(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"skip", "skipif", "importorskip"}
            and ast.unparse(node.value) in {"pytest", "pytest.mark"}
        ):
            found.append(node.attr)
    return found


def test_no_test_skips_for_a_missing_program_or_extra() -> None:
    """A test that needs a program calls `system.require` (a one-line failure naming the package) and
    imports its extras plainly: `make test` installs both, so a skip would only hide a test."""
    skips = {
        (str(path.relative_to(TESTS)), kind)
        for path in TESTS.rglob("*.py")
        if path.name != "system.py"
        for kind in _skips(path)
    }
    assert skips == set(ALLOWED_SKIPS)


def test_every_program_the_tests_start_is_installed() -> None:
    """What `make test` installed before the tests (`python -m tests.system --install`) is all there."""
    assert system.missing() == []


def test_a_missing_program_is_one_line_naming_its_package(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on PATH (PostgreSQL is also looked for off PATH)
    done = subprocess.run(
        [sys.executable, "-m", "tests.system"], check=False, cwd=TESTS.parent, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("the tests need promtool, prometheus, prometheus-pushgateway, redis-server")
    hint = line.partition("sudo apt-get install -y ")[2].removesuffix(" (or: make system)").split()
    assert {"npm", "openssl", "prometheus", "prometheus-pushgateway", "redis-server"} <= set(hint)
