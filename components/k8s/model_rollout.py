"""The rollout analysis of a model deployment: a CronJob, its Kubernetes permissions and its network.

For every model with `modelDeployments[].rollout` (monitoring on, the platform runtime: infra/config.py
`_check_delivery`), in the team namespace:

* a ServiceAccount `rollout-<model>` with no cloud identity, and a Role letting it get the model's
  InferenceService and its shadow `<model>-shadow` (resourceNames: nothing else), and patch the model's
  only where it may act (a pipeline's canary, `rollout.act`);
* a CronJob `rollout-<model>` (`rollout.schedule`) running `python -m workloads.rollouts analyze` from
  `rollout.image` (the pipeline image): the candidate's evidence from the platform's Prometheus over
  `rollout.window`, the thresholds of `rollout` and of the model's SLO (`slo.latencyThresholdMs` at
  `slo.latencyTarget`), one JSON decision per run in the Job's log. It patches only the canary a
  continuous-training pipeline created (`--owns-canary`, with `rollout.act`); everything else is
  reported as the change to make to the stack (workloads/rollouts/analysis.py);
* a NetworkPolicy letting those pods reach Prometheus (9090) and the Kubernetes API server (443; its
  addresses, EKS's control-plane ENIs or GKE's endpoint, are not known to the program).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import base, scheduled
from components.k8s.base import ServicesContext
from components.k8s.model_drift import LABEL_MODEL
from components.k8s.monitoring import PROMETHEUS_POD_LABELS
from components.k8s.scheduled import period_seconds
from infra.config import ModelDeploymentSpec, TeamSpec

COMPONENT = "rollout-analysis"
PROMETHEUS_PORT = 9090
HTTPS = 443
SHADOW_SUFFIX = "-shadow"  # workloads/rollouts/inferenceservice.py SHADOW_SUFFIX


def command(model: ModelDeploymentSpec, prometheus_url: str, *, owns_canary: bool) -> list[str]:
    """The CronJob's command line: the thresholds of `rollout` and of the model's SLO."""
    rollout, slo = model.rollout, model.slo
    assert rollout is not None
    cmd = ["python", "-m", "workloads.rollouts", "analyze", "--prometheus", prometheus_url]
    cmd += ["--namespace", model.team, "--model", model.name, "--window", rollout.window]
    cmd += ["--min-requests", str(rollout.min_requests), "--max-error-ratio", f"{rollout.max_error_ratio:g}"]
    cmd += ["--latency-threshold-ms", f"{slo.latency_threshold_ms:g}", "--latency-quantile", f"{slo.latency_target:g}"]
    cmd += ["--max-disagreement", f"{rollout.max_disagreement:g}", "--steps", ",".join(map(str, rollout.steps))]
    if rollout.act:
        cmd.append("--act")
        if owns_canary:
            cmd.append("--owns-canary")
    return cmd


def create(
    name: str,
    svc: ServicesContext,
    model: ModelDeploymentSpec,
    *,
    team: TeamSpec,
    labels: dict[str, str],
    monitoring: Any,
    owns_canary: bool,
    opts: pulumi.ResourceOptions,
) -> None:
    """The rollout analysis of `model` (module docstring); `owns_canary`: a pipeline rolls its versions out."""
    rollout = model.rollout
    if rollout is None:
        return
    ns, job_name = team.name, f"rollout-{model.name}"
    pod_labels = {**svc.labels(COMPONENT, ns), LABEL_MODEL: model.name}
    meta_labels = {**labels, **pod_labels}
    meta = k8s.meta.v1.ObjectMetaArgs(name=job_name, namespace=ns, labels=meta_labels)

    # -- permissions: this model's InferenceService (and its shadow), nothing else --------------------------
    sa = k8s.core.v1.ServiceAccount(f"{name}-rollout-sa", metadata=meta, opts=opts)
    rbac = k8s.rbac.v1
    role = rbac.Role(
        f"{name}-rollout-role",
        metadata=meta,
        rules=[
            rbac.PolicyRuleArgs(
                api_groups=["serving.kserve.io"],
                resources=["inferenceservices"],
                resource_names=[model.name],
                # patch only where it may act: on a pipeline's canary, with `act`
                verbs=["get", "patch"] if rollout.act and owns_canary else ["get"],
            ),
            rbac.PolicyRuleArgs(
                api_groups=["serving.kserve.io"],
                resources=["inferenceservices"],
                resource_names=[model.name + SHADOW_SUFFIX],
                verbs=["get"],
            ),
        ],
        opts=opts,
    )
    binding = rbac.RoleBinding(
        f"{name}-rollout-binding",
        metadata=meta,
        role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=job_name),
        subjects=[rbac.SubjectArgs(kind="ServiceAccount", name=job_name, namespace=ns)],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )

    # -- the CronJob (components/k8s/scheduled.py) -----------------------------------------------------------
    period = period_seconds(rollout.schedule)
    scheduled.team_cron_job(
        f"{name}-rollout",
        svc,
        metadata=meta,
        pod_labels=pod_labels,
        service_account=job_name,
        automount_token=True,  # the analysis reads (and patches) the InferenceService
        container="analyze",
        image=rollout.image,
        command=command(model, monitoring.prometheus_url, owns_canary=owns_canary),
        schedule=rollout.schedule,
        requests={"cpu": "100m", "memory": "256Mi"},
        limits={"cpu": "500m", "memory": "512Mi"},
        starting_deadline_seconds=min(300, period),
        active_deadline_seconds=max(60, min(period // 2, 600)),
        backoff_limit=0,  # a failed analysis is not retried: the next run decides on fresh evidence
        successful_jobs_history=3,  # the last decisions stay readable with kubectl logs
        tmp_size="64Mi",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[sa, binding])),
    )

    # -- the network: Prometheus and the API server (DNS: tenancy.py) -----------------------------------------
    np = k8s.networking.v1
    base.network_policy(
        f"{name}-rollout-egress",
        ns,
        svc,
        opts,
        component=COMPONENT,
        team=ns,
        policy_name=f"allow-rollout-{model.name}",
        pod_labels={base.LABEL_COMPONENT: COMPONENT, LABEL_MODEL: model.name},
        egress=[
            np.NetworkPolicyEgressRuleArgs(
                to=[base.peer(base.NS_MONITORING, PROMETHEUS_POD_LABELS)], ports=base.ports(PROMETHEUS_PORT)
            ),
            np.NetworkPolicyEgressRuleArgs(
                to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr="0.0.0.0/0"))], ports=base.ports(HTTPS)
            ),
        ],
    )
