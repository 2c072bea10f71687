"""Data validation of a new batch against the reference the live model was trained on.

Four checks, each a gate of the pipeline's `validate` step:
* schema: every column the model and its fairness evaluation need is there, numeric where it must be,
  the label is 0/1;
* nulls: at most `max_null_fraction` missing values per column;
* ranges: at most `max_out_of_range_fraction` of a feature's values outside the reference's range
  (widened by 10% of its span on each side);
* distribution shift: the population stability index (PSI) of every feature, over ten quantile bins of
  the reference, at most `max_psi` (0.1: small change, 0.2: a shift worth stopping for, by convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workloads.monitoring.stats import psi
from workloads.pipelines.config import Gates
from workloads.training.synthetic import FEATURES

SENSITIVE = "group"
LABEL = "label"


@dataclass
class Check:
    name: str
    column: str | None
    value: float | str
    threshold: float | str
    passed: bool

    def describe(self) -> str:
        where = f" {self.column}" if self.column else ""
        return f"{self.name}{where}: {self.value} (limit {self.threshold}): {'pass' if self.passed else 'FAIL'}"


@dataclass
class ValidationReport:
    rows: int
    reference_rows: int
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "checks": [asdict(c) for c in self.checks],
        }


def validate(batch: pd.DataFrame, reference: pd.DataFrame, gates: Gates) -> ValidationReport:
    report = ValidationReport(rows=len(batch), reference_rows=len(reference))
    checks = report.checks
    checks.append(Check("rows", None, len(batch), gates.min_rows, len(batch) >= gates.min_rows))

    required = [*FEATURES, SENSITIVE, LABEL]
    missing = [c for c in required if c not in batch.columns]
    checks.append(Check("schema", None, ", ".join(missing) or "all columns", "none missing", not missing))
    if missing:
        return report
    for column in FEATURES:
        numeric = pd.api.types.is_numeric_dtype(batch[column])
        checks.append(Check("numeric", column, str(batch[column].dtype), "a number", bool(numeric)))
    labels = set(batch[LABEL].dropna().unique().tolist())
    checks.append(Check("label values", LABEL, str(sorted(labels)), "[0, 1]", labels <= {0, 1}))
    if not report.passed:
        return report

    for column in required:
        share = float(batch[column].isna().mean()) if len(batch) else 1.0
        checks.append(
            Check("nulls", column, round(share, 4), gates.max_null_fraction, share <= gates.max_null_fraction)
        )
    for column in FEATURES:
        ref = reference[column].to_numpy(dtype=float)
        cur = batch[column].to_numpy(dtype=float)
        lo, hi = np.nanmin(ref), np.nanmax(ref)
        margin = 0.1 * (hi - lo)
        present = cur[~np.isnan(cur)]
        outside = float(np.mean((present < lo - margin) | (present > hi + margin))) if present.size else 1.0
        checks.append(
            Check(
                "range",
                column,
                round(outside, 4),
                gates.max_out_of_range_fraction,
                outside <= gates.max_out_of_range_fraction,
            )
        )
        value = psi(ref, cur)
        checks.append(Check("psi", column, round(value, 4), gates.max_psi, value <= gates.max_psi))
    return report
