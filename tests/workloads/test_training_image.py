"""The training image: hadolint-clean Dockerfile, pinned base image, a fully pinned requirements set that
matches the `workloads` extra the tests run with, and holds every package the code imports."""

from __future__ import annotations

import re

from tests.workloads.images import (
    REPO,
    assert_installed_and_locked,
    declared_pins,
    hadolint,
    pins,
    third_party_imports,
)

IMAGE_DIR = REPO / "workloads" / "training"


def test_dockerfile_passes_hadolint() -> None:
    proc = hadolint(IMAGE_DIR / "Dockerfile")
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
    declared = declared_pins("workloads")
    for name, version in direct.items():
        assert declared.get(name) == version, f"{name}: image {version}, pyproject {declared.get(name)}"
    for name in ("torch", "numpy", "safetensors", "fsspec", "s3fs", "gcsfs", "fairlearn", "mlflow-skinny"):
        assert name in direct


def test_every_imported_package_is_in_the_image() -> None:
    third_party = third_party_imports(IMAGE_DIR.rglob("*.py"))
    assert_installed_and_locked(third_party, pins(IMAGE_DIR / "requirements.txt"))
    assert {"torch", "fairlearn", "mlflow", "safetensors", "fsspec"} <= third_party
