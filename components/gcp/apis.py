"""The Google APIs the platform calls, enabled by the program and ordered before their consumers.

A new project has few APIs on, and a resource whose API is off fails with `SERVICE_DISABLED` (or,
worse, half-succeeds: a Workload Identity binding before `iamcredentials`/`sts` are on). So the
foundation enables each API it uses with `gcp.projects.Service` (never disabled on destroy: other
things in the project may use it) and every `gcp:` resource of the foundation depends on the Service
of its own API. The ordering is applied in one place, a resource transformation on the foundation
(`ProjectApis.transformation`), from the table below: a resource type with no API in the table is an
error at synthesis, so a resource added later cannot silently skip it.

Three APIs must already be on before the first `pulumi preview`, because the program reads from them
while it plans (lookups run before any resource is created): Service Usage (to enable the others),
Cloud Resource Manager (the project number) and Compute Engine (zones, machine types). They are in
`PREREQUISITES`; the program declares them too, which is a no-op where they are on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext

SERVICE_TYPE = "gcp:projects/service:Service"
SERVICE_IDENTITY_TYPE = "gcp:projects/serviceIdentity:ServiceIdentity"
PREREQUISITES: tuple[str, ...] = (
    "serviceusage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
)

# APIs every GCP stack uses. iamcredentials and sts: Workload Identity token exchange (pods through the
# GKE metadata server; CI through Workload Identity Federation). containerscanning: Artifact Registry's
# vulnerability scanning, which the repositories inherit from the project (components/gcp/registry.py).
# monitoring: Managed Service for Prometheus and the node metrics.
BASE_APIS: tuple[str, ...] = (
    *PREREQUISITES,
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",
    "storage.googleapis.com",
    "artifactregistry.googleapis.com",
    "containerscanning.googleapis.com",
    "sqladmin.googleapis.com",
    "servicenetworking.googleapis.com",
    "secretmanager.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)
REDIS_API = "redis.googleapis.com"  # the feature store's online store
BINARY_AUTHORIZATION_API = "binaryauthorization.googleapis.com"  # where the cluster enforces it

# Resource type token (prefix) -> the API that serves it. Longest prefix wins.
RESOURCE_APIS: dict[str, str] = {
    "gcp:compute/": "compute.googleapis.com",
    "gcp:container/": "container.googleapis.com",
    "gcp:kms/": "cloudkms.googleapis.com",
    "gcp:storage/": "storage.googleapis.com",
    "gcp:artifactregistry/": "artifactregistry.googleapis.com",
    "gcp:sql/": "sqladmin.googleapis.com",
    "gcp:servicenetworking/": "servicenetworking.googleapis.com",
    "gcp:secretmanager/": "secretmanager.googleapis.com",
    "gcp:redis/": REDIS_API,
    "gcp:serviceaccount/": "iam.googleapis.com",
    "gcp:projects/iAMMember:": "cloudresourcemanager.googleapis.com",
    "gcp:logging/": "logging.googleapis.com",
    "gcp:binaryauthorization/": BINARY_AUTHORIZATION_API,
}


def api_of(resource_type: str, props: Mapping[str, Any] | None = None) -> str | None:
    """The API a `gcp:` resource type is served by; None for types that are not `gcp:` resources.

    A `ServiceIdentity` belongs to the API whose agent it creates. Raises for an unknown `gcp:` type."""
    if not resource_type.startswith("gcp:") or resource_type == SERVICE_TYPE:
        return None
    if resource_type == SERVICE_IDENTITY_TYPE:
        return str((props or {}).get("service"))
    matches = [prefix for prefix in RESOURCE_APIS if resource_type.startswith(prefix)]
    if not matches:
        raise pulumi.RunError(
            f"{resource_type}: no Google API is known for this resource type; add it to "
            "components/gcp/apis.py RESOURCE_APIS so it is created after its API is enabled"
        )
    return RESOURCE_APIS[max(matches, key=len)]


def stack_apis(ctx: PlatformContext) -> list[str]:
    """The APIs this stack's foundation uses."""
    apis: list[str] = list(BASE_APIS)
    if ctx.spec.feature_store.enabled:
        apis.append(REDIS_API)
    if ctx.prod:
        apis.append(BINARY_AUTHORIZATION_API)
    return apis


class ProjectApis(pulumi.ComponentResource):
    services: dict[str, gcp.projects.Service]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project_id: str,
        apis: Iterable[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:ProjectApis", name, None, opts)
        self.services = {}
        for api in apis:
            self.services[api] = gcp.projects.Service(
                f"{name}-{api.split('.', maxsplit=1)[0]}",
                project=project_id,
                service=api,
                # The project outlives the stack, and other workloads in it may use the API.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"apis": sorted(self.services)})

    def after(self, *apis: str) -> list[pulumi.Resource]:
        """Depend on these before calling `apis`."""
        return [self.services[a] for a in apis]

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """Makes every `gcp:` resource below the foundation depend on the Service of its API."""
        api = api_of(args.type_, args.props)
        if api is None:
            return None
        if api not in self.services:
            raise pulumi.RunError(f"{args.type_} '{args.name}' needs {api}, which this stack does not enable")
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=[self.services[api]]))
        return pulumi.ResourceTransformationResult(props=args.props, opts=opts)
