"""ECR repositories for training and serving images: scan on push, immutable tags, KMS, lifecycle."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.context import PlatformContext
from infra.config import RepositorySpec


def lifecycle_policy(spec: RepositorySpec) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {spec.untagged_expiry_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": spec.untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {spec.keep_tagged_images} images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": spec.keep_tagged_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


class Registry(pulumi.ComponentResource):
    repositories: dict[str, aws.ecr.Repository]
    urls: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        kms_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:Registry", name, None, opts)
        self.repositories, self.urls = {}, {}
        for spec in ctx.spec.repositories:
            repo = aws.ecr.Repository(
                f"{name}-{spec.name}",
                name=f"{ctx.prefix}/{spec.name}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=kms_key_arn)
                ],
                force_delete=not ctx.prod,
                tags=ctx.tags(),
                opts=ctx.stateful(pulumi.ResourceOptions(parent=self)),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{spec.name}",
                repository=repo.name,
                policy=lifecycle_policy(spec),
                opts=pulumi.ResourceOptions(parent=repo, protect=False),  # not data: never the repository's protect
            )
            self.repositories[spec.name] = repo
            self.urls[spec.name] = repo.repository_url
        self.register_outputs({"urls": self.urls})
