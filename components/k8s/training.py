"""`TrainingJob`: a Kubeflow TrainJob that runs the way the platform expects.

One job of `trainingJobs[]` in the stack becomes, in the team's namespace:

* a `TrainJob` on the platform's `torch-distributed` runtime, queued in the team's Kueue
  `LocalQueue` with its priority class; `numNodes` x `gpusPerNode` GPUs requested *and* limited;
* a runtime patch that pins the workers to the chosen pool (node selector on the pool label, the
  GPU toleration) and runs them as the team's `workload` service account (workload identity to the
  datasets/artifacts/models buckets);
* the checkpoint location (`CHECKPOINT_URI`) and the lineage the responsible-AI pack reads (dataset URI
  and version, code version, owner) as annotations, and in the environment of the trainer;
* protection from voluntary disruption: the `karpenter.sh/do-not-disrupt` and cluster-autoscaler
  `safe-to-evict: "false"` pod annotations, and a PodDisruptionBudget with no allowed disruption, so a
  consolidation or a drain never kills a step that an interruption notice would have let checkpoint.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_POOL, NodePoolRef
from components.k8s import base, kueue, mlflow, trainer
from components.k8s.base import ServicesContext
from components.k8s.governance import (
    ANN_CHECKPOINT,
    ANN_CODE_VERSION,
    ANN_CONTACT,
    ANN_DATASET,
    ANN_DATASET_VERSION,
    ANN_OWNER,
    ANN_RISK_TIER,
)
from components.k8s.tenancy import WORKLOAD_SA
from infra.config import TeamSpec, TrainingJobSpec

API = trainer.API
PATCH_MANAGER = "ml-platform/pulumi"
DO_NOT_DISRUPT = {"karpenter.sh/do-not-disrupt": "true", "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"


class TrainingJob(pulumi.ComponentResource):
    namespace: str
    job_name: str

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        job: TrainingJobSpec,
        *,
        team: TeamSpec,
        pool: NodePoolRef,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions,
        tracking_uri: str | None = None,
    ) -> None:
        super().__init__("ml-platform:k8s:TrainingJob", name, None, opts)
        self.namespace, self.job_name = team.name, job.name
        gpus = job.gpus_per_node or pool.gpus_per_node
        labels = {
            **svc.labels("training", team.name),
            kueue.QUEUE_LABEL: kueue.LOCAL_QUEUE,
            kueue.PRIORITY_LABEL: job.priority,
        }
        annotations = {
            ANN_OWNER: team.owner,
            ANN_CONTACT: team.contact or team.owner,
            ANN_RISK_TIER: job.risk_tier,
            ANN_DATASET: job.dataset_uri,
            ANN_DATASET_VERSION: job.dataset_version,
            ANN_CODE_VERSION: job.code_version,
            **({ANN_CHECKPOINT: job.checkpoint_uri} if job.checkpoint_uri else {}),
        }
        # lineage in the environment: workloads/training writes it into the model card and MLflow tags
        env = [
            {"name": "CHECKPOINT_URI", "value": job.checkpoint_uri or ""},
            {"name": "DATASET_URI", "value": job.dataset_uri},
            {"name": "DATASET_VERSION", "value": job.dataset_version},
            {"name": "ML_PLATFORM_CODE_VERSION", "value": job.code_version},
            {"name": "ML_PLATFORM_IMAGE", "value": job.image},
            {"name": "ML_PLATFORM_JOB_ID", "value": f"{team.name}/{job.name}"},
        ]
        if tracking_uri:  # the platform's MLflow (basic auth on): the job registers its model there, signed in
            # as the team's user where the team namespace has one (the pipeline's register step does the same)
            env.append({"name": "MLFLOW_TRACKING_URI", "value": tracking_uri})
            env += [
                {
                    "name": var,
                    "valueFrom": {"secretKeyRef": {"name": mlflow.CREDENTIALS_SECRET, "key": key, "optional": True}},
                }
                for var, key in (("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password"))
            ]
        resources = {
            "requests": {
                "cpu": str(job.cpu_per_node),
                "memory": f"{job.memory_gib_per_node}Gi",
                base.GPU_RESOURCE: str(gpus),
            },
            "limits": {"memory": f"{job.memory_gib_per_node}Gi", base.GPU_RESOURCE: str(gpus)},
        }
        pod_patch = {
            "metadata": {"annotations": dict(DO_NOT_DISRUPT)},
            "spec": {
                "nodeSelector": {LABEL_POOL: pool.name},
                "tolerations": base.gpu_tolerations(),
                "serviceAccountName": WORKLOAD_SA,
            },
        }
        spec = {
            "runtimeRef": {
                "name": trainer.RUNTIME,
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
            },
            "activeDeadlineSeconds": job.max_runtime_hours * 3600,
            "trainer": {
                "image": job.image,
                "command": list(job.command),
                "args": list(job.args),
                "env": env,
                "numNodes": job.num_nodes,
                "numProcPerNode": gpus,
                "resourcesPerNode": resources,
            },
            "runtimePatches": [
                {
                    "manager": PATCH_MANAGER,
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {
                                "replicatedJobs": [
                                    {"name": trainer.NODE_CONTAINER, "template": {"spec": {"template": pod_patch}}}
                                ]
                            }
                        }
                    },
                }
            ],
        }
        after = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        base.custom_resource(
            f"{name}-trainjob",
            API,
            "TrainJob",
            k8s.meta.v1.ObjectMetaArgs(name=job.name, namespace=team.name, labels=labels, annotations=annotations),
            spec,
            after,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{job.name}-no-disruption", namespace=team.name, labels=svc.labels("training", team.name)
            ),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=0,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={JOBSET_NAME_LABEL: job.name}),
            ),
            opts=after,
        )
        self.register_outputs({"namespace": team.name, "name": job.name})
