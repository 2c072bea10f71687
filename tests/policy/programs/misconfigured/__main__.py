"""A deliberately misconfigured program: `mlplat check --program` must stop each mistake.

Every resource here is wrong in one named way (see the comment on each); the policy tests assert
the rule that catches it. Plain pulumi_aws / pulumi_kubernetes resources, as a team would write.
"""

import json

import pulumi_aws as aws
import pulumi_kubernetes as k8s

# A public bucket: public-access block off, no CMK encryption, no versioning, no logging.
bucket = aws.s3.Bucket("public-data", bucket="team-public-data")
aws.s3.BucketPublicAccessBlock(
    "public-data",
    bucket=bucket.id,
    block_public_acls=False,
    block_public_policy=False,
    ignore_public_acls=False,
    restrict_public_buckets=False,
)
aws.s3.BucketPolicy(
    "public-data",
    bucket=bucket.id,
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::team-public-data/*",
                }
            ],
        }
    ),
)

# Wildcard IAM: admin on everything.
aws.iam.RolePolicy(
    "admin-everything",
    role="team-role",
    policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
)

# SSH open to the world.
aws.ec2.SecurityGroup(
    "ssh-open",
    vpc_id="vpc-123",
    ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"])],
)

# A privileged pod running as root from an unapproved registry with a `latest` tag.
k8s.apps.v1.Deployment(
    "privileged",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="privileged", namespace="team-a"),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "x"}),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "x"}),
            spec=k8s.core.v1.PodSpecArgs(
                host_network=True,
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="app",
                        image="docker.io/someone/tool:latest",
                        security_context=k8s.core.v1.SecurityContextArgs(privileged=True, run_as_user=0),
                    )
                ],
            ),
        ),
    ),
)

# A high-risk model served without a model card, owner, approval or lineage, from an unapproved source.
k8s.apiextensions.CustomResource(
    "credit-scoring",
    api_version="serving.kserve.io/v1beta1",
    kind="InferenceService",
    metadata=k8s.meta.v1.ObjectMetaArgs(
        name="credit-scoring", namespace="team-a", annotations={"ml-platform/risk-tier": "high"}
    ),
    spec={"predictor": {"model": {"modelFormat": {"name": "pytorch"}, "storageUri": "https://example.com/model.pt"}}},
)

# A prohibited use: never deployable.
k8s.apiextensions.CustomResource(
    "social-scoring",
    api_version="serving.kserve.io/v1beta1",
    kind="InferenceService",
    metadata=k8s.meta.v1.ObjectMetaArgs(
        name="social-scoring",
        namespace="team-a",
        annotations={"ml-platform/risk-tier": "prohibited", "ml-platform/owner": "a@example.com"},
    ),
    spec={"predictor": {"model": {"modelFormat": {"name": "pytorch"}, "storageUri": "s3://mlp-models/x"}}},
)
