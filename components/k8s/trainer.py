"""Kubeflow Trainer (v2: TrainJob on JobSet) and the platform's torch-distributed runtime.

Teams submit `TrainJob`s that reference the `torch-distributed` ClusterTrainingRuntime below; Kueue
admits them (the `trainer.kubeflow.org/trainjob` integration is on in Kueue's configuration) into the
team's ClusterQueue and injects the accelerator's node label and GPU toleration. The runtime carries
what every distributed PyTorch job on GPUs needs and people forget: shared memory for NCCL and data
loaders, the team's workload identity, restarts on node loss (spot) so the job resumes from its
latest checkpoint, and a hardened container security context.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_ROLE
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext
from components.k8s.kueue import Kueue
from components.k8s.tenancy import WORKLOAD_SA

CHART = Chart("oci://ghcr.io/kubeflow/charts/kubeflow-trainer", "2.3.0")
IMAGE = Image("ghcr.io/kubeflow/trainer/trainer-controller-manager", "v2.3.0")
API = "trainer.kubeflow.org/v1alpha1"
RUNTIME = "torch-distributed"
# The default image of the runtime: a TrainJob normally overrides it with the team's training image.
TORCH_IMAGE = Image("docker.io/pytorch/pytorch", "2.10.0-cuda12.8-cudnn9-runtime")  # full name: Binary Authorization
NODE_CONTAINER = "node"  # the Trainer injects torchrun's PET_* environment into this container
MAX_RESTARTS = 5  # JobSet restarts after a lost node (spot interruption); training resumes from checkpoint
SHM_SIZE = "16Gi"
# On SIGTERM (a drained or reclaimed node) the workers checkpoint before the pod's grace period ends. torchrun
# itself SIGKILLs its workers after TORCH_ELASTIC_SHUTDOWN_TIMEOUT seconds (30 by default, torch's
# LaunchConfig), which would cut a large checkpoint short: give them the grace period less a margin.
GRACE_SECONDS = 120
WORKER_SHUTDOWN_SECONDS = GRACE_SECONDS - 10
SYSTEM_NODES = {LABEL_ROLE: "system"}


def chart_values(svc: ServicesContext) -> dict:
    prod = svc.ctx.prod
    return {
        "crds": {"enabled": True},
        # the JobSet controller (a subchart) is a controller like the others: on the system nodes, not
        # on the CPU workers (which a stack may turn off: it would then have no node at all)
        "jobset": {
            "install": True,
            "fullnameOverride": "jobset",
            "controller": {"tolerations": base.system_tolerations(), "nodeSelector": dict(SYSTEM_NODES)},
        },
        "image": {"registry": "ghcr.io", "repository": IMAGE.repository.removeprefix("ghcr.io/"), "tag": IMAGE.tag},
        "manager": {
            "replicas": 2 if prod else 1,
            "tolerations": base.system_tolerations(),
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            "securityContext": base.restricted_values()["securityContext"],
        },
        "webhook": {"failurePolicy": "Fail"},
        "dataCache": {"enabled": False},
        # the platform ships its own runtime (below); the chart's samples pull unpinned images
        "runtimes": {"defaultEnabled": False, "torchDistributed": {"enabled": False}},
    }


def runtime_spec() -> dict:
    """The ClusterTrainingRuntime spec: one replicated job `node`, torchrun per node."""
    return {
        "mlPolicy": {"numNodes": 1, "torch": {}},
        "template": {
            "spec": {
                "failurePolicy": {"maxRestarts": MAX_RESTARTS},
                "replicatedJobs": [
                    {
                        "name": NODE_CONTAINER,
                        "replicas": 1,
                        "template": {
                            "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                            "spec": {
                                "template": {
                                    "spec": {
                                        "serviceAccountName": WORKLOAD_SA,
                                        "priorityClassName": f"ml-{base.PRIORITY_TRAINING}",
                                        "terminationGracePeriodSeconds": GRACE_SECONDS,  # to checkpoint on SIGTERM
                                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                                        "containers": [
                                            {
                                                "name": NODE_CONTAINER,
                                                "image": TORCH_IMAGE.ref,
                                                "env": [
                                                    {"name": "TORCH_NCCL_ASYNC_ERROR_HANDLING", "value": "1"},
                                                    {"name": "NCCL_DEBUG", "value": "WARN"},
                                                    {"name": "PYTHONUNBUFFERED", "value": "1"},
                                                    {
                                                        "name": "TORCH_ELASTIC_SHUTDOWN_TIMEOUT",
                                                        "value": str(WORKER_SHUTDOWN_SECONDS),
                                                    },
                                                ],
                                                "securityContext": {
                                                    "allowPrivilegeEscalation": False,
                                                    "privileged": False,
                                                    "capabilities": {"drop": ["ALL"]},
                                                    "seccompProfile": {"type": "RuntimeDefault"},
                                                },
                                                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                                            }
                                        ],
                                        # NCCL and DataLoader workers exchange tensors through /dev/shm;
                                        # the container default (64 MiB) crashes multi-GPU jobs.
                                        "volumes": [
                                            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}}
                                        ],
                                    }
                                }
                            },
                        },
                    }
                ],
            }
        },
    }


class Trainer(pulumi.ComponentResource):
    namespace: str
    release: k8s.helm.v3.Release
    runtime: str

    def __init__(self, name: str, svc: ServicesContext, *, kueue: Kueue, opts: pulumi.ResourceOptions) -> None:
        super().__init__("ml-platform:k8s:Trainer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = base.NS_TRAINER
        ns = base.namespace(base.NS_TRAINER, svc, "restricted", child, component="trainer")
        # Kueue first: its webhook must see TrainJobs from the first one on
        self.release = base.helm_release(
            "kubeflow-trainer",
            CHART,
            base.NS_TRAINER,
            chart_values(svc),
            pulumi.ResourceOptions(parent=self, depends_on=[ns, kueue.release]),
        )
        self.runtime = RUNTIME
        base.custom_resource(
            "runtime-torch",
            API,
            "ClusterTrainingRuntime",
            k8s.meta.v1.ObjectMetaArgs(
                name=RUNTIME, labels={**svc.labels("trainer"), "trainer.kubeflow.org/framework": "torch"}
            ),
            runtime_spec(),
            pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.register_outputs({"runtime": RUNTIME})
