"""Evaluation: task metrics, fairness metrics across the sensitive groups, and the promotion gates.

Fairness metrics come from fairlearn: demographic parity difference (the largest gap in selection
rate between groups) and equalized odds difference (the larger of the largest TPR gap and the
largest FPR gap), plus a per-group breakdown. A gate is a threshold on a metric; a run whose gates
do not all pass is recorded as such and never gets the registry alias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from workloads.training.config import EvalSpec
from workloads.training.data import TabularSplit, text_eval_windows


@dataclass
class Gate:
    name: str
    value: float
    threshold: float
    op: str  # ">=" or "<="

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "passed": self.passed,
        }

    def describe(self) -> str:
        return f"{self.name} {self.value:.4f} {self.op} {self.threshold:g}: {'pass' if self.passed else 'FAIL'}"


@dataclass
class Evaluation:
    metrics: dict[str, float]
    fairness: dict[str, Any] | None
    gates: list[Gate] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def failed(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch: int, device: torch.device) -> np.ndarray:
    model.eval()
    out = [torch.sigmoid(model(x[i : i + batch].to(device))).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def evaluate_tabular(model: nn.Module, split: TabularSplit, spec: EvalSpec, device: torch.device) -> Evaluation:
    from sklearn.metrics import log_loss, roc_auc_score

    prob = _predict(model, split.x, spec.batch_size, device)
    y = split.y.numpy().astype(int)
    pred = (prob >= 0.5).astype(int)
    metrics = {
        "accuracy": float((pred == y).mean()),
        "roc_auc": float(roc_auc_score(y, prob)) if len(set(y.tolist())) == 2 else float("nan"),
        "log_loss": float(log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positive_rate": float(pred.mean()),
        "eval_rows": float(len(y)),
    }
    gates = []
    if spec.min_accuracy is not None:
        gates.append(Gate("accuracy", metrics["accuracy"], spec.min_accuracy, ">="))
    fairness = None
    groups = split.groups
    if len(groups) and groups[0] != "" and len(set(groups.tolist())) > 1:
        fairness = fairness_report(y, pred, groups)
        if spec.max_demographic_parity_difference is not None:
            gates.append(
                Gate(
                    "demographic_parity_difference",
                    fairness["demographic_parity_difference"],
                    spec.max_demographic_parity_difference,
                    "<=",
                )
            )
        if spec.max_equalized_odds_difference is not None:
            gates.append(
                Gate(
                    "equalized_odds_difference",
                    fairness["equalized_odds_difference"],
                    spec.max_equalized_odds_difference,
                    "<=",
                )
            )
    return Evaluation(metrics, fairness, gates)


def fairness_report(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "accuracy": lambda t, p: float((np.asarray(t) == np.asarray(p)).mean()),
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    table: Any = frame.by_group  # a DataFrame: one row per group
    by_group = {str(g): {k: float(v) for k, v in row.items()} for g, row in table.to_dict(orient="index").items()}
    return {
        "method": "fairlearn between_groups, worst case",
        "demographic_parity_difference": float(
            demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
        ),
        "equalized_odds_difference": float(equalized_odds_difference(y_true, y_pred, sensitive_features=groups)),
        "by_group": by_group,
    }


@torch.no_grad()
def evaluate_gpt(model: nn.Module, data: torch.Tensor, block_size: int, spec: EvalSpec, device: torch.device):
    model.eval()
    x, y = text_eval_windows(data, block_size)
    total, n = 0.0, 0
    per_batch = max(1, spec.batch_size // block_size)
    for i in range(0, len(x), per_batch):
        xb, yb = x[i : i + per_batch].to(device), y[i : i + per_batch].to(device)
        logits = model(xb).float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="sum").item()
        n += yb.numel()
    loss = total / n
    metrics = {"val_loss": loss, "perplexity": math.exp(loss), "bits_per_byte": loss / math.log(2), "eval_tokens": n}
    gates = [Gate("val_loss", loss, spec.max_val_loss, "<=")] if spec.max_val_loss is not None else []
    return Evaluation({k: float(v) for k, v in metrics.items()}, None, gates)
