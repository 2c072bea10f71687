"""An AWS program as a team writes it, with the creation-time mistakes a new account refuses.

Every resource named `bad-*` fails (or silently does nothing) on a first `pulumi up`; the `ok-*` twins are
the fix. `mlplat check --program` must flag each `bad-*` resource and none of the `ok-*` ones
(tests/policy/test_check_cli.py).
"""

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

identity = aws.get_caller_identity()
partition = aws.get_partition()

# --- S3 access logs: PutBucketLogging checks the target's grant ------------------------------------------
logs = aws.s3.Bucket("ok-logs", bucket="vision-logs-4711")
log_grant = aws.s3.BucketPolicy(
    "ok-logs-grant",
    bucket=logs.id,
    policy=logs.arn.apply(
        lambda arn: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/*",
                    }
                ],
            }
        )
    ),
)
data = aws.s3.Bucket("ok-data", bucket="vision-data-4711")
aws.s3.BucketLogging("bad-data-logging", bucket=data.id, target_bucket=logs.id, target_prefix="data/")
models = aws.s3.Bucket("ok-models", bucket="vision-models-4711")
aws.s3.BucketLogging(
    "ok-models-logging",
    bucket=models.id,
    target_bucket=logs.id,
    target_prefix="models/",
    opts=pulumi.ResourceOptions(depends_on=[log_grant]),
)

# --- a key policy naming a service-linked role a new account does not have yet ---------------------------
autoscaling_role = (
    f"arn:{partition.partition}:iam::{identity.account_id}:role/aws-service-role/"
    "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
aws.kms.Key(
    "bad-ebs-key",
    description="node volumes",
    enable_key_rotation=True,
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition.partition}:iam::{identity.account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "AutoScaling",
                    "Effect": "Allow",
                    "Principal": {"AWS": autoscaling_role},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": "*",
                },
            ],
        }
    ),
)

# --- EKS: a private endpoint nothing can reach, no NetworkPolicy enforcement, no metrics-server ----------
cluster_role = aws.iam.Role(
    "ok-cluster-role",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    ),
)
cluster = aws.eks.Cluster(
    "bad-cluster",
    name="vision",
    role_arn=cluster_role.arn,
    vpc_config=aws.eks.ClusterVpcConfigArgs(
        subnet_ids=["subnet-0f00d1", "subnet-0f00d2"], endpoint_private_access=True, endpoint_public_access=False
    ),
    access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API"),
)
aws.eks.Addon("bad-vpc-cni", cluster_name=cluster.name, addon_name="vpc-cni")
aws.cloudwatch.LogGroup("bad-audit-logs", name="/vision/audit", retention_in_days=100)
aws.eks.NodeGroup(
    "bad-gpu-nodes",
    cluster_name=cluster.name,
    node_group_name_prefix="vision-research-h100-training-pool-east-",
    node_role_arn=cluster_role.arn,
    subnet_ids=["subnet-0f00d1"],
    ami_type="AL2023_x86_64_NVIDIA",
    scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=0, max_size=2, desired_size=0),
)

kubeconfig = cluster.name.apply(
    lambda name: json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": "https://example.invalid"}}],
            "users": [{"name": name, "user": {"exec": {"command": "aws", "args": ["eks", "get-token", name]}}}],
        }
    )
)
provider = k8s.Provider("ok-kubernetes", kubeconfig=kubeconfig)
in_cluster = pulumi.ResourceOptions(provider=provider)
k8s.networking.v1.NetworkPolicy(
    "ok-default-deny",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace="vision"),
    spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector={}, policy_types=["Ingress", "Egress"]),
    opts=in_cluster,
)
k8s.autoscaling.v2.HorizontalPodAutoscaler(
    "ok-api-scaler",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="api", namespace="vision"),
    spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
        scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
            api_version="apps/v1", kind="Deployment", name="api"
        ),
        min_replicas=1,
        max_replicas=4,
        metrics=[
            k8s.autoscaling.v2.MetricSpecArgs(
                type="Resource",
                resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                    name="cpu",
                    target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=70),
                ),
            )
        ],
    ),
    opts=in_cluster,
)
