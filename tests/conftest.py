"""Shared fixtures: stacks synthesized once per session under Pulumi mocks (preview=False)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import CONFIG_KEY, STACKS_DIR, load_stack_file, parse_platform
from infra.synth import Synthesis, synthesize

STACK_FILES = sorted(STACKS_DIR.glob("Pulumi.*.yaml"))
STACK_NAMES = [p.name[len("Pulumi.") : -len(".yaml")] for p in STACK_FILES]


@cache
def synth_stack(name: str) -> Synthesis:
    spec, config = load_stack_file(STACKS_DIR / f"Pulumi.{name}.yaml")
    return synthesize(name, spec, config)


def raw_platform(stack: str) -> dict[str, Any]:
    """A deep copy of a stack's `ml-platform:platform` mapping, to modify in a test."""
    doc = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(doc["config"][CONFIG_KEY])


def synth_platform(platform: dict[str, Any], stack: str = "test") -> Synthesis:
    spec = parse_platform(platform, f"stacks/Pulumi.{stack}.yaml")
    return synthesize(stack, spec, {CONFIG_KEY: platform})


@pytest.fixture(scope="session")
def aws_dev() -> Synthesis:
    return synth_stack("aws-dev")


@pytest.fixture(scope="session")
def aws_prod() -> Synthesis:
    return synth_stack("aws-prod")


def write_stack(tmp_path: Path, platform: Any, name: str = "x", extra: dict | None = None) -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {CONFIG_KEY: platform, **(extra or {})}}))
    return path
