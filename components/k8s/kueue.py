"""Kueue: GPU quota per team, borrowing inside a cohort, priorities.

* One `ResourceFlavor` per accelerator of the stack's GPU pools. It carries the platform's
  accelerator node label and the toleration of the GPU taint; Kueue injects both into the pods of
  an admitted workload, so a job names only its queue and its GPU count, never a node selector.
  A `cpu` flavor without node constraints carries the CPU and memory quota.
* One `ClusterQueue` per team: nominal quota per accelerator from `teams[].gpuQuota` (0 where the
  team has none: it may still borrow idle GPUs of that flavor inside the cohort), CPU and memory
  from `cpuQuota` / `memoryQuotaGib`, open only to the team's namespace.
* Preemption: a team reclaims its lent quota (`reclaimWithinCohort: Any`); inside a queue a higher
  priority preempts a lower one; a borrowing workload may preempt lower-priority borrowers.
* `WorkloadPriorityClass`es serving > training > batch, and matching scheduling `PriorityClass`es
  so the kube-scheduler agrees: a serving pod can take a GPU from a training pod, never the reverse.
* The `LocalQueue` named `default` in each team namespace is created by the tenancy component.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.foundation import LABEL_ACCELERATOR
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext
from infra.config import TeamSpec

CHART = Chart("oci://registry.k8s.io/kueue/charts/kueue", "0.16.1")
IMAGE = Image("registry.k8s.io/kueue/kueue", "v0.16.1")
API = "kueue.x-k8s.io/v1beta2"

LOCAL_QUEUE = "default"  # Kueue defaults jobs without a queue-name label to the `default` LocalQueue
CPU_FLAVOR = "cpu"
GPU_RESOURCE = base.GPU_RESOURCE
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"

# name -> (value, description). Scheduling PriorityClasses use the same names with an `ml-` prefix.
PRIORITIES: dict[str, tuple[int, str]] = {
    base.PRIORITY_SERVING: (100000, "online inference: may preempt training and batch"),
    base.PRIORITY_TRAINING: (10000, "training jobs: the default for TrainJobs"),
    base.PRIORITY_BATCH: (1000, "best-effort batch and experiments: first to be preempted"),
}

# Job kinds Kueue manages. Pods of these kinds are admitted only through a LocalQueue.
FRAMEWORKS = ("batch/job", "jobset.x-k8s.io/jobset", "trainer.kubeflow.org/trainjob")


def flavor_name(accelerator: str) -> str:
    return accelerator


def cluster_queue_name(team: str) -> str:
    return f"team-{team}"


def manager_config(svc: ServicesContext) -> str:
    """Kueue's Configuration (the chart's managerConfig), as YAML."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": base.NS_KUEUE,
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443", "enableClusterQueueResources": True},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {"groupKindConcurrency": {"Job.batch": 5, "Workload.kueue.x-k8s.io": 5}},
        # Only queued jobs are managed: a job without a queue in a team namespace gets the `default` queue.
        "manageJobsWithoutQueueName": False,
        # Team namespaces only. The chart copies this selector into its Job, JobSet... admission webhooks
        # (failurePolicy Fail): selecting every namespace would route the platform's own Jobs through
        # Kueue too, the Helm hook Jobs of releases installed beside Kueue included, which fail while
        # Kueue's webhook is not yet serving (or not reachable from the control plane).
        "managedJobsNamespaceSelector": base.team_namespace_selector(),
        # All pods of a job must be ready in time, or the job is requeued: no half-started gangs holding GPUs.
        "waitForPodsReady": {
            "timeout": "10m",
            "blockAdmission": False,
            "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 5, "backoffBaseSeconds": 60},
        },
        "integrations": {"frameworks": list(FRAMEWORKS)},
    }
    return yaml.safe_dump(config, sort_keys=False)


def chart_values(svc: ServicesContext, monitoring: bool) -> dict:
    prod = svc.ctx.prod
    replicas = 2 if prod else 1
    return {
        "controllerManager": {
            "replicas": replicas,
            "manager": {
                "image": {"repository": IMAGE.repository, "tag": IMAGE.tag, "pullPolicy": "IfNotPresent"},
                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
                "podSecurityContext": base.restricted_values()["podSecurityContext"],
                "containerSecurityContext": base.restricted_values()["securityContext"],
            },
            "tolerations": base.system_tolerations(),
            "podDisruptionBudget": base.pdb_values(replicas, prod),
        },
        "managerConfig": {"controllerManagerConfigYaml": manager_config(svc)},
        "enablePrometheus": monitoring,  # the chart's ServiceMonitor for Kueue's metrics
        "enableCertManager": False,  # Kueue manages its webhook certificate itself
        "metrics": {"prometheusNamespace": base.NS_MONITORING},
    }


class Kueue(pulumi.ComponentResource):
    namespace: str
    release: k8s.helm.v3.Release
    flavors: dict[str, str]  # accelerator -> ResourceFlavor name
    cluster_queues: dict[str, str]  # team -> ClusterQueue name

    def __init__(
        self, name: str, svc: ServicesContext, *, monitoring: object | None, opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__("ml-platform:k8s:Kueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = base.NS_KUEUE
        ns = base.namespace(base.NS_KUEUE, svc, "restricted", child, component="kueue")
        monitoring_release = getattr(monitoring, "release", None)
        self.release = base.helm_release(
            "kueue",
            CHART,
            base.NS_KUEUE,
            chart_values(svc, monitoring is not None),
            pulumi.ResourceOptions(
                parent=self, depends_on=[ns, *([monitoring_release] if monitoring_release is not None else [])]
            ),
        )
        crds = pulumi.ResourceOptions(parent=self, depends_on=[self.release])

        # -- priorities ------------------------------------------------------------------------------
        for prio, (value, description) in PRIORITIES.items():
            base.CustomObject(
                f"wpc-{prio}",
                API,
                "WorkloadPriorityClass",
                k8s.meta.v1.ObjectMetaArgs(name=prio, labels=svc.labels("kueue")),
                {"value": value, "description": description},
                crds,
            )
            k8s.scheduling.v1.PriorityClass(
                f"pc-{prio}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"ml-{prio}", labels=svc.labels("kueue")),
                value=value,
                global_default=False,
                preemption_policy="PreemptLowerPriority" if prio != base.PRIORITY_BATCH else "Never",
                description=description,
                opts=child,
            )

        # -- flavors ---------------------------------------------------------------------------------
        accelerators = sorted({p.accelerator for p in svc.foundation.gpu_pools})
        self.flavors = {a: flavor_name(a) for a in accelerators}
        base.custom_resource(
            "flavor-cpu",
            API,
            "ResourceFlavor",
            k8s.meta.v1.ObjectMetaArgs(name=CPU_FLAVOR, labels=svc.labels("kueue")),
            {},
            crds,
        )
        for accel in accelerators:
            base.custom_resource(
                f"flavor-{accel}",
                API,
                "ResourceFlavor",
                k8s.meta.v1.ObjectMetaArgs(name=self.flavors[accel], labels=svc.labels("kueue")),
                {
                    "nodeLabels": {LABEL_ACCELERATOR: accel},
                    "tolerations": base.gpu_tolerations(),
                },
                crds,
            )

        # -- one ClusterQueue per team ---------------------------------------------------------------
        self.cluster_queues = {}
        for team in svc.ctx.spec.teams:
            self.cluster_queues[team.name] = cluster_queue_name(team.name)
            base.custom_resource(
                f"cq-{team.name}",
                API,
                "ClusterQueue",
                k8s.meta.v1.ObjectMetaArgs(name=cluster_queue_name(team.name), labels=svc.labels("kueue", team.name)),
                cluster_queue_spec(svc, team, accelerators),
                crds,
            )
        self.register_outputs({"flavors": self.flavors, "cluster_queues": self.cluster_queues})


def cluster_queue_spec(svc: ServicesContext, team: TeamSpec, accelerators: list[str]) -> dict:
    cfg = svc.spec.kueue
    spec: dict = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": team.name}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory"],
                "flavors": [
                    {
                        "name": CPU_FLAVOR,
                        "resources": [
                            {"name": "cpu", "nominalQuota": team.cpu_quota},
                            {"name": "memory", "nominalQuota": f"{team.memory_quota_gib}Gi"},
                        ],
                    }
                ],
            }
        ],
        # a GPU job that would have to borrow tries the next accelerator in its own quota first
        "flavorFungibility": {"whenCanBorrow": "TryNextFlavor", "whenCanPreempt": "TryNextFlavor"},
    }
    if accelerators:
        spec["resourceGroups"].append(
            {
                "coveredResources": [GPU_RESOURCE],
                "flavors": [
                    {
                        "name": flavor_name(a),
                        "resources": [{"name": GPU_RESOURCE, "nominalQuota": team.gpu_quota.get(a, 0)}],
                    }
                    for a in accelerators
                ],
            }
        )
    if cfg.borrowing:
        spec["cohortName"] = cfg.cohort
    if cfg.preemption:
        preemption: dict = {"withinClusterQueue": "LowerPriority"}
        if cfg.borrowing:
            preemption["reclaimWithinCohort"] = "Any"
            preemption["borrowWithinCohort"] = {
                "policy": "LowerPriority",
                "maxPriorityThreshold": PRIORITIES[base.PRIORITY_TRAINING][0],
            }
        spec["preemption"] = preemption
    return json.loads(json.dumps(spec))
