"""Artifact Registry Docker repositories for training and serving images.

CMEK with the registry key, immutable tags (a tag names one image forever: what was evaluated is what
is served), vulnerability scanning (inherited from the project's Container Scanning API, which the
foundation enables), and
cleanup policies equivalent to the ECR lifecycle: delete untagged images after
`untaggedExpiryDays`, keep the newest `keepTaggedImages` versions and delete older ones. Nodes pull
through a reader grant on these repositories only (no project-wide registry access).

`urls[name]` is an image path, `<region>-docker.pkg.dev/<project>/<repository>/<name>`, to which a
consumer appends `:<tag>`: Artifact Registry refuses an image directly under the repository
(`.../<repository>:<tag>`), so the logical name is the image name, as in the stacks' examples
(`.../mlp-gcp-prod-pipelines/pipelines:0.1.0`) and as ECR's repository URLs are on AWS.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.gcp.kms import ProjectInfo
from infra.config import RepositorySpec

READER = "roles/artifactregistry.reader"


def cleanup_policies(spec: RepositorySpec) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgs]:
    return [
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-untagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED", older_than=f"{spec.untagged_expiry_days * 86400}s"
            ),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-old-tagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(tag_state="TAGGED"),
        ),
        # A KEEP policy wins over DELETE: the newest versions survive the rule above.
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-most-recent",
            action="KEEP",
            most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=spec.keep_tagged_images
            ),
        ),
    ]


def registry_url(region: str, project_id: str, repository: str) -> str:
    return f"{region}-docker.pkg.dev/{project_id}/{repository}"


class Registry(pulumi.ComponentResource):
    repositories: dict[str, gcp.artifactregistry.Repository]
    urls: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        *,
        kms_key: pulumi.Input[str],
        key_ready: list[pulumi.Resource],
        readers: dict[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`readers`: logical name -> IAM member given `roles/artifactregistry.reader` on every repository."""
        super().__init__("ml-platform:gcp:Registry", name, None, opts)
        self.repositories, self.urls = {}, {}
        self._project = project
        for spec in ctx.spec.repositories:
            repo_id = self.repository_id(ctx, spec.name)
            repo = gcp.artifactregistry.Repository(
                f"{name}-{spec.name}",
                repository_id=repo_id,
                project=project.project_id,
                location=project.region,
                format="DOCKER",
                mode="STANDARD_REPOSITORY",
                description=f"ml-platform {ctx.stack}: {spec.name} images",
                kms_key_name=kms_key,
                docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
                cleanup_policies=cleanup_policies(spec),
                cleanup_policy_dry_run=False,
                vulnerability_scanning_config=gcp.artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                    enablement_config="INHERITED"
                ),
                labels=ctx.labels(),
                opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=key_ready)),
            )
            for reader, member in readers.items():
                self.grant_reader(f"{name}-{spec.name}-{reader}", repo, member)
            self.repositories[spec.name] = repo
            self.urls[spec.name] = pulumi.Output.from_input(
                f"{registry_url(project.region, project.project_id, repo_id)}/{spec.name}"
            )
        self.register_outputs({"urls": self.urls})

    @staticmethod
    def repository_id(ctx: PlatformContext, name: str) -> str:
        """The Artifact Registry repository id of the logical repository `name`."""
        return f"{ctx.prefix}-{name}"[:63]

    def grant_reader(
        self, name: str, repo: gcp.artifactregistry.Repository, member: pulumi.Input[str]
    ) -> gcp.artifactregistry.RepositoryIamMember:
        return gcp.artifactregistry.RepositoryIamMember(
            name,
            project=self._project.project_id,
            location=repo.location,
            repository=repo.name,
            role=READER,
            member=member,
            opts=pulumi.ResourceOptions(parent=repo),
        )
