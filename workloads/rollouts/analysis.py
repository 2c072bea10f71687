"""One rollout analysis: the candidate's evidence from Prometheus, a decision, and what it changes.

The evidence (over `window`, on the model server's own metrics, workloads/serving/metrics.py; the
PodMonitor adds `namespace` and the predictor's version label `ml_platform_model_version`):

* the candidate's inference requests, its 5xx ratio and its latency quantile (the model's SLO: p99
  against `latencyThresholdMs`, a histogram bound, so the comparison is exact);
* for a shadow, what the live server saw mirroring to it: the share of compared predictions that
  differ from the live answer, and the share of mirrored requests the shadow failed (a 4xx from an
  incompatible input schema counts: the candidate cannot take the live traffic);
* the stable version's figures, for the reader of the log.

The decision, in this order: too few requests -> **hold**; errors or latency over the thresholds ->
**rollback**; a shadow without comparisons, or disagreeing too often -> **hold** (a person looks: a
different answer is not a wrong one); otherwise **promote**: a shadow becomes a canary at the first
traffic step, a canary moves to the next step, and a canary at 100% becomes the stable version.

Acting: the stack owns the stable version (its approval is a reviewed change), so a promotion to
stable is always reported, never patched. A canary the continuous-training pipeline created is
delegated to automation (Pulumi ignores `spec.canary` there): with `act`, its traffic steps and its
rollback are patched. Everything else is reported as the stack change to make.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from workloads.rollouts.errors import RolloutError
from workloads.rollouts.inferenceservice import (
    SHADOW_SUFFIX,
    Candidate,
    KubernetesApi,
    api_error,
    find_candidate,
    predictor_version,
    remove_canary_patch,
    traffic_patch,
)
from workloads.rollouts.prometheus import Prometheus

VERSION = "ml_platform_model_version"  # the PodMonitor's podTargetLabels ml-platform/model-version
REQUESTS = "model_server_requests_total"
DURATION = "model_server_request_duration_seconds_bucket"
SHADOW_REQUESTS = "model_server_shadow_requests_total"
SHADOW_PREDICTIONS = "model_server_shadow_predictions_total"

Action = Literal["promote", "hold", "rollback", "none"]


@dataclass(frozen=True)
class Thresholds:
    """From the stack (modelDeployments[].rollout and .slo), passed as flags by the CronJob."""

    window: str = "15m"
    min_requests: int = 200
    max_error_ratio: float = 0.01
    latency_threshold_s: float = 0.5
    latency_quantile: float = 0.99
    max_disagreement: float = 0.05
    steps: tuple[int, ...] = (10, 25, 50, 100)


@dataclass
class Evidence:
    requests: float = 0.0
    error_ratio: float | None = None
    latency_s: float | None = None
    compared: float | None = None  # shadow: predictions the live server compared
    disagreement: float | None = None
    mirror_error_ratio: float | None = None
    stable_requests: float | None = None
    stable_error_ratio: float | None = None
    stable_latency_s: float | None = None
    queries: dict[str, str] = field(default_factory=dict)


@dataclass
class Decision:
    action: Action
    reasons: list[str]
    candidate: Candidate | None
    evidence: Evidence | None
    outcome: str = ""  # what a promotion leads to: "canary 25%", "stable", "canary 10%"
    patch: dict[str, Any] | None = None  # what was (or would be) sent to the InferenceService
    change: str | None = None  # the stack change a person makes, when not patched
    applied: bool = False

    def record(self, namespace: str, model: str, thresholds: Thresholds) -> dict[str, Any]:
        """The decision log entry: one JSON object with all the evidence."""
        return {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "inference_service": f"{namespace}/{model}",
            "decision": self.action,
            "reasons": self.reasons,
            "candidate": asdict(self.candidate) if self.candidate else None,
            "outcome": self.outcome or None,
            "evidence": asdict(self.evidence) if self.evidence else None,
            "thresholds": asdict(thresholds),
            "applied": self.applied,
            "patch": self.patch,
            "change": self.change,
        }


def _ratio(part: float | None, whole: float | None) -> float | None:
    if not whole:
        return None
    return (part or 0.0) / whole


def gather(
    prom: Prometheus, namespace: str, model: str, candidate: Candidate, stable_version: str, t: Thresholds
) -> Evidence:
    """The candidate's (and the stable version's) figures over the window."""
    w, q = t.window, t.latency_quantile
    ev = Evidence()

    def figures(sel: str) -> tuple[float | None, float | None, float | None]:
        total = f"sum(increase({REQUESTS}{{{sel}}}[{w}]))"
        errors = f'sum(increase({REQUESTS}{{{sel}, code=~"5.."}}[{w}]))'
        latency = f"histogram_quantile({q:g}, sum by (le) (rate({DURATION}{{{sel}}}[{w}])))"
        n = prom.query(total)
        return n, _ratio(prom.query(errors), n), prom.query(latency) if n else None

    infer = f'namespace="{namespace}", endpoint="infer"'
    if candidate.kind == "shadow":
        cand_sel = f'{infer}, model="{candidate.predictor}"'
    else:
        cand_sel = f'{infer}, model="{model}", {VERSION}="{candidate.version}"'
    stable_sel = f'{infer}, model="{model}", {VERSION}="{stable_version}"'
    ev.queries = {"candidate": cand_sel, "stable": stable_sel}
    requests, ev.error_ratio, ev.latency_s = figures(cand_sel)
    ev.requests = requests or 0.0
    ev.stable_requests, ev.stable_error_ratio, ev.stable_latency_s = figures(stable_sel)
    if candidate.kind == "shadow":
        live = f'namespace="{namespace}", model="{model}"'
        ev.queries["shadow"] = live
        ev.compared = prom.query(f"sum(increase({SHADOW_PREDICTIONS}{{{live}}}[{w}]))")
        ev.disagreement = _ratio(
            prom.query(f'sum(increase({SHADOW_PREDICTIONS}{{{live}, result="disagree"}}[{w}]))'), ev.compared
        )
        ev.mirror_error_ratio = _ratio(
            prom.query(f'sum(increase({SHADOW_REQUESTS}{{{live}, result="error"}}[{w}]))'),
            prom.query(f'sum(increase({SHADOW_REQUESTS}{{{live}, result=~"ok|error"}}[{w}]))'),
        )
    return ev


def decide(candidate: Candidate | None, ev: Evidence | None, t: Thresholds) -> Decision:  # noqa: PLR0911
    """promote, hold or rollback on the evidence (the module's docstring has the rules)."""
    if candidate is None or ev is None:
        return Decision("none", ["no candidate: only the stable version serves"], candidate, ev)
    if ev.requests < t.min_requests:
        reason = f"{ev.requests:.0f} candidate requests in {t.window}, fewer than {t.min_requests}: not enough evidence"
        if candidate.kind == "canary" and candidate.traffic_percent == 0:
            reason += " (a dark canary takes no traffic: give it a share, or run it as a shadow)"
        return Decision("hold", [reason], candidate, ev)
    failures = []
    if ev.error_ratio is not None and ev.error_ratio > t.max_error_ratio:
        failures.append(f"error ratio {ev.error_ratio:.2%} above {t.max_error_ratio:.2%}")
    if ev.latency_s is not None and ev.latency_s > t.latency_threshold_s:
        failures.append(
            f"p{t.latency_quantile * 100:g} latency {ev.latency_s * 1000:.1f} ms above the SLO's "
            f"{t.latency_threshold_s * 1000:g} ms"
        )
    if ev.mirror_error_ratio is not None and ev.mirror_error_ratio > t.max_error_ratio:
        failures.append(f"{ev.mirror_error_ratio:.2%} of the mirrored requests failed on the shadow")
    if failures:
        return Decision("rollback", failures, candidate, ev)
    if candidate.kind == "shadow":
        if not ev.compared:
            return Decision("hold", ["no shadow prediction was compared with the live one"], candidate, ev)
        assert ev.disagreement is not None
        if ev.disagreement > t.max_disagreement:
            return Decision(
                "hold",
                [
                    f"the shadow disagrees with the live model on {ev.disagreement:.2%} of {ev.compared:.0f} "
                    f"predictions, above {t.max_disagreement:.2%}: a person decides"
                ],
                candidate,
                ev,
            )
        healthy = f"healthy; disagreement {ev.disagreement:.2%} of {ev.compared:.0f} predictions"
        return Decision("promote", [healthy], candidate, ev, outcome=f"canary {t.steps[0]}%")
    nxt = next((s for s in t.steps if s > candidate.traffic_percent), None)
    healthy = f"healthy over {ev.requests:.0f} requests at {candidate.traffic_percent}% of the traffic"
    return Decision("promote", [healthy], candidate, ev, outcome=f"canary {nxt}%" if nxt else "stable")


def apply(
    decision: Decision,
    api: KubernetesApi,
    namespace: str,
    model: str,
    isvc: dict[str, Any],
    t: Thresholds,
    *,
    act: bool,
    owns_canary: bool,
) -> Decision:
    """Patch what automation owns (with `act`), report the stack change for everything else."""
    cand = decision.candidate
    if cand is None or decision.action == "hold":
        return decision
    at = f"modelDeployments[{namespace}/{model}]"
    if cand.kind == "shadow":
        if decision.action == "rollback":
            decision.change = f"{at}: remove the shadow block (version {cand.version})"
        else:
            decision.change = (
                f"{at}: replace the shadow block with canary: {{name: v{cand.version}, storageUri: "
                f"{cand.storage_uri}, modelVersion: '{cand.version}', trafficPercent: {t.steps[0]}}}"
            )
        return decision
    if decision.action == "rollback":
        decision.patch = remove_canary_patch()
        decision.change = f"{at}: remove the canary block (version {cand.version})"
    elif decision.outcome == "stable":
        decision.change = (
            f"{at}: promote version {cand.version}: storageUri: {cand.storage_uri}, modelVersion: '{cand.version}', "
            f"predictorName: {cand.predictor}; remove the canary block (the pipeline's canary goes once the "
            "stable predictor carries its name)"
        )
        return decision
    else:
        percent = int(decision.outcome.removeprefix("canary ").rstrip("%"))
        decision.patch = traffic_patch(isvc, percent)
        decision.change = f"{at}: canary.trafficPercent: {percent}"
    if act and owns_canary and decision.patch is not None:
        try:
            api.patch(namespace, model, decision.patch)
        except Exception as exc:
            raise RolloutError(f"patching inferenceservice {namespace}/{model} failed: {api_error(exc)}") from None
        decision.applied, decision.change = True, None
    return decision


def promoted_leftover(isvc: dict[str, Any]) -> Candidate | None:
    """A canary whose version the stable predictor now serves (the stack promoted it): a leftover."""
    spec = isvc.get("spec", {})
    cand = find_candidate(isvc, None)
    stable = spec.get("predictor", {})
    if cand is None:
        return None
    if cand.predictor == stable.get("name") or cand.version == predictor_version(stable):
        return cand
    return None


def analyze(
    prom: Prometheus,
    api: KubernetesApi,
    namespace: str,
    model: str,
    t: Thresholds,
    *,
    act: bool = False,
    owns_canary: bool = False,
) -> Decision:
    """Read the InferenceService (and its shadow), gather the evidence, decide, act or report."""
    try:
        isvc = api.get(namespace, model)
        shadow = api.find(namespace, model + SHADOW_SUFFIX)
    except Exception as exc:
        raise RolloutError(f"reading inferenceservice {namespace}/{model} failed: {api_error(exc)}") from None
    leftover = promoted_leftover(isvc)
    if leftover is not None:
        decision = Decision(
            "none",
            [f"version {leftover.version} is the stable version now: its canary entry is a leftover"],
            leftover,
            None,
            patch=remove_canary_patch(),
            change=f"modelDeployments[{namespace}/{model}]: remove the canary block",
        )
        if act and owns_canary:
            try:
                api.patch(namespace, model, remove_canary_patch())
            except Exception as exc:
                raise RolloutError(f"patching inferenceservice {namespace}/{model} failed: {api_error(exc)}") from None
            decision.applied, decision.change = True, None
        return decision
    candidate = find_candidate(isvc, shadow)
    stable_version = predictor_version(isvc.get("spec", {}).get("predictor", {}))
    evidence = gather(prom, namespace, model, candidate, stable_version, t) if candidate else None
    decision = decide(candidate, evidence, t)
    return apply(decision, api, namespace, model, isvc, t, act=act, owns_canary=owns_canary)
