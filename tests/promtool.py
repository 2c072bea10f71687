"""Alert and recording rules the way Prometheus loads them: `promtool check rules` and `promtool test rules`
(Debian's prometheus package, which `make test` installs: tests/system.py), after promql_parser has parsed
every expression."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from tests import system

# one promtool unit test: (input series, evaluation time, alert name, expected alerts)
Case = tuple[list[dict[str, str]], str, str, list[dict[str, Any]]]


def binary() -> str:
    return system.require("promtool")


def check_rules(tmp_path: Path, groups: list[dict[str, Any]]) -> str:
    """`promtool check rules` on the groups (each expression parsed first); its output."""
    for group in groups:
        for rule in group["rules"]:
            promql_parser.parse(rule["expr"])
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([binary(), "check", "rules", str(path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_rule_tests(tmp_path: Path, groups: list[dict[str, Any]], cases: list[Case], interval: str = "30s") -> None:
    """`promtool test rules`: each case's series scraped every `interval`, its alerts at its time."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    tests = [
        {
            "interval": interval,
            "input_series": series,
            "alert_rule_test": [{"eval_time": at, "alertname": alertname, "exp_alerts": expected}],
        }
        for series, at, alertname, expected in cases
    ]
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": interval, "tests": tests})
    )
    result = subprocess.run(
        [binary(), "test", "rules", "test.yaml"], cwd=tmp_path, check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
