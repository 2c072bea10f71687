"""The GCP foundation: Cloud KMS, VPC, GKE with GPU pools, GCS, Artifact Registry, Cloud SQL,
Memorystore (the feature store's online store) and Workload Identity.

Implements `components.foundation.Foundation`, the only thing the layers above see. Every resource
goes through one explicit `gcp.Provider` (project + region); labels are set on each labelable
resource explicitly (no provider `default_labels`), so the synthesized graph shows what the policy
packs will read. The APIs the foundation calls are enabled first, and every `gcp:` resource below it
depends on the Service of its API (components/gcp/apis.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.foundation import DatabaseLogin, Foundation, IdentityAccess, IdentityBinding
from components.gcp.apis import ProjectApis, stack_apis
from components.gcp.binauthz import ImagePolicy
from components.gcp.cache import OnlineStore
from components.gcp.cluster import GkeCluster, service_account_id
from components.gcp.database import Database
from components.gcp.gpu_pool import GpuNodePool
from components.gcp.kms import KmsKeys, ProjectInfo
from components.gcp.network import Network
from components.gcp.registry import Registry, registry_url
from components.gcp.storage import Buckets
from components.gcp.worker_pool import WorkerNodePool

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
# append: objectCreator creates objects but cannot read, overwrite or delete them
BUCKET_ROLES = {
    "read": "roles/storage.objectViewer",
    "read-write": "roles/storage.objectUser",
    "append": "roles/storage.objectCreator",
}
ANNOTATION = "iam.gke.io/gcp-service-account"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
# Service annotation of GKE's internal passthrough network load balancer.
INTERNAL_LB = {"networking.gke.io/load-balancer-type": "Internal"}


def workload_member(workload_pool: str, namespace: str, service_account: str) -> str:
    """The IAM principal of exactly one Kubernetes service account of this project's clusters."""
    return f"serviceAccount:{workload_pool}[{namespace}/{service_account}]"


def prefix_condition(bucket: str, prefix: str) -> str:
    """CEL that limits object access to `prefix/` and listing to prefixes under it."""
    p = prefix.strip("/") + "/"
    return (
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{p}") || '
        f'(resource.type == "storage.googleapis.com/Bucket" && '
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{p}"))'
    )


class GcpFoundation(pulumi.ComponentResource, Foundation):
    gateway_api_crds_managed = True  # the cluster's Gateway API channel (components.gcp.cluster) installs them
    workload_identity_endpoints = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))  # GKE metadata server
    project: ProjectInfo
    apis: ProjectApis
    image_policy: ImagePolicy | None
    keys: KmsKeys
    network: Network
    gke: GkeCluster
    storage: Buckets
    registry: Registry
    db: Database
    cache: OnlineStore | None
    pools: list[GpuNodePool]
    workers: WorkerNodePool | None

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Foundation", name, None, opts)
        self._ctx = ctx
        spec = ctx.spec
        if not spec.project:
            raise ValueError("a GCP stack needs platform.project")
        self.cloud, self.region = "gcp", spec.region

        provider = gcp.Provider(
            f"{name}-provider",
            project=spec.project,
            region=spec.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.apis = ProjectApis(
            f"{name}-apis",
            ctx,
            spec.project,
            stack_apis(ctx),
            opts=pulumi.ResourceOptions(parent=self, providers={"gcp": provider}),
        )
        # Every gcp: resource created below (in any child component) waits for its API.
        child = pulumi.ResourceOptions(
            parent=self, providers={"gcp": provider}, transformations=[self.apis.transformation]
        )
        invoke = pulumi.InvokeOptions(provider=provider, parent=self)
        self._invoke = invoke
        self._offerings: dict[tuple[str, str], bool] = {}
        info = gcp.organizations.get_project(project_id=spec.project, opts=invoke)
        self.project = ProjectInfo(project_id=spec.project, number=str(info.number), region=spec.region)

        az_count = spec.network.az_count or 2
        zones = gcp.compute.get_zones(project=spec.project, region=spec.region, status="UP", opts=invoke).names
        if len(zones) < az_count:
            raise pulumi.RunError(f"{spec.region} has {len(zones)} zones up; network.azCount asks for {az_count}")
        zones = sorted(zones)[:az_count]
        cluster_name = ctx.prefix

        self.keys = KmsKeys(f"{name}-kms", ctx, self.project, self.apis, opts=child)
        self.network = Network(f"{name}-network", ctx, self.project, zones, opts=child)
        # Binary Authorization: the project policy exists before a cluster that enforces it (prod).
        self.image_policy = None
        if ctx.prod:
            self.image_policy = ImagePolicy(
                f"{name}-image-policy",
                ctx,
                spec.project,
                registries={
                    r.name: registry_url(spec.region, spec.project, Registry.repository_id(ctx, r.name))
                    for r in spec.repositories
                },
                opts=child,
            )
        self.gke = GkeCluster(
            f"{name}-gke",
            ctx,
            self.project,
            network=self.network,
            keys=self.keys,
            cluster_name=cluster_name,
            image_policy=self.image_policy,
            opts=child,
        )
        self.pools = [
            GpuNodePool(
                f"{name}-gpu-{pool.name}",
                ctx,
                pool,
                cluster=self.gke,
                keys=self.keys,
                offered=self._offered,
                opts=child,
            )
            for pool in spec.gpu_pools
        ]
        # Team workloads without GPUs (CPU models, pipeline steps) run on the untainted workers.
        self.workers = None
        if spec.worker_pool.enabled:
            self.workers = WorkerNodePool(
                f"{name}-workers", ctx, spec.worker_pool, cluster=self.gke, keys=self.keys, opts=child
            )
        self.worker_node_selector = self.workers.node_selector if self.workers else None
        self.storage = Buckets(
            f"{name}-buckets",
            ctx,
            self.project,
            kms_key=self.keys.key_id("storage"),
            key_ready=self.keys.ready("storage"),
            opts=child,
        )
        self.registry = Registry(
            f"{name}-registry",
            ctx,
            self.project,
            kms_key=self.keys.key_id("registry"),
            key_ready=self.keys.ready("registry"),
            readers={"nodes": self.gke.node_pool_member},
            opts=child,
        )
        self.db = Database(f"{name}-db", ctx, self.project, network=self.network, keys=self.keys, opts=child)
        # The feature store's online store, on the database's private services access peering.
        self.cache = None
        if spec.feature_store.enabled:
            self.cache = OnlineStore(
                f"{name}-online-store",
                ctx,
                self.project,
                network=self.network,
                keys=self.keys,
                peering=self.db.psa_connection,
                opts=child,
            )

        self.kube_provider = self.gke.provider
        self.cluster_name = self.gke.name
        self.kubeconfig = self.gke.kubeconfig
        self.buckets = self.storage.refs
        self.registry_urls = self.registry.urls
        self.database = self.db.ref
        self.online_store = self.cache.ref if self.cache else None
        self.gpu_pools = [p.ref for p in self.pools]
        self.node_autoscalers = ()  # GKE's cluster autoscaler scales the node pools (autoscaling blocks)
        self._child = child
        self.register_outputs({"cluster_name": self.cluster_name})

    def _offered(self, machine: str, zone: str) -> bool:
        """Whether Compute Engine offers `machine` in `zone` (one lookup per pair per program run)."""
        if (machine, zone) not in self._offerings:
            found = gcp.compute.get_machine_types(
                zone=zone, project=self._ctx.spec.project, filter=f'name = "{machine}"', opts=self._invoke
            )
            self._offerings[(machine, zone)] = any(m.name == machine for m in found.machine_types)
        return self._offerings[(machine, zone)]

    def bind_identity(self, namespace: str, service_account: str, access: IdentityAccess) -> IdentityBinding:
        """A Google service account that exactly `namespace/service_account` can impersonate, with only
        `access`: object roles on the named buckets (a prefix becomes an IAM condition), payload access
        to exactly the named Secret Manager secrets, and image pulls from the platform's repositories."""
        for grant in access.buckets:
            if grant.bucket not in self.storage.buckets:
                known = ", ".join(self.storage.buckets)
                raise ValueError(f"bind_identity: unknown bucket '{grant.bucket}' (buckets: {known})")
        ctx, project = self._ctx, self.project
        name = f"wi-{namespace}-{service_account}"
        gsa = gcp.serviceaccount.Account(
            name,
            account_id=self._account_id(namespace, service_account),
            project=project.project_id,
            display_name=f"{namespace}/{service_account}"[:100],
            description=f"Workload Identity of {namespace}/{service_account} in {ctx.stack}",
            opts=self._child,
        )
        member = pulumi.Output.concat("serviceAccount:", gsa.email)
        on_gsa = pulumi.ResourceOptions(parent=gsa)
        # The `P.svc.id.goog` pool exists only once the project's first Workload Identity cluster does:
        # before that, IAM refuses the member ("Identity Pool does not exist",
        # terraform-google-modules/terraform-google-kubernetes-engine#916).
        grants: list[pulumi.Resource] = [
            gcp.serviceaccount.IAMMember(
                f"{name}-wi",
                service_account_id=gsa.name,
                role=WORKLOAD_IDENTITY_USER,
                member=workload_member(project.workload_pool, namespace, service_account),
                opts=pulumi.ResourceOptions(parent=gsa, depends_on=[self.gke.cluster]),
            )
        ]
        for i, grant in enumerate(access.buckets):
            bucket = self.storage.buckets[grant.bucket]
            prefix = grant.prefix.strip("/")
            condition = None
            if prefix:
                condition = gcp.storage.BucketIAMMemberConditionArgs(
                    title=f"prefix-{prefix}"[:100],
                    description=f"only objects under {prefix}/",
                    expression=prefix_condition(bucket.physical_name, prefix),
                )
            digest = hashlib.sha256(f"{grant.bucket}/{prefix}/{grant.mode}".encode()).hexdigest()[:6]
            grants.append(
                gcp.storage.BucketIAMMember(
                    f"{name}-{grant.bucket}-{i}-{digest}",
                    bucket=bucket.bucket.name,
                    role=BUCKET_ROLES[grant.mode],
                    member=member,
                    condition=condition,
                    opts=on_gsa,
                )
            )
        for i, secret in enumerate(access.secrets):
            # Exactly this secret, read-only (payload access); nothing project-wide.
            grants.append(
                gcp.secretmanager.SecretIamMember(
                    f"{name}-secret-{i}",
                    project=project.project_id,
                    secret_id=secret,
                    role=SECRET_ACCESSOR,
                    member=member,
                    opts=on_gsa,
                )
            )
        if access.registry_pull:
            for repo_name, repo in self.registry.repositories.items():
                grants.append(self.registry.grant_reader(f"{name}-pull-{repo_name}", repo, member))
        if access.database:
            # IAM database authentication: this identity is a Cloud SQL user (components/gcp/database.py)
            grants += self.db.iam_user(name, gsa.email, on_gsa)
        # The annotation carries every grant as a dependency: the Kubernetes service account, and the
        # pods that run as it, come after the identity can do what it is bound for.
        annotations = pulumi.Output.all(gsa.email, *[g.urn for g in grants]).apply(lambda a: {ANNOTATION: a[0]})
        return IdentityBinding(
            namespace=namespace,
            service_account=service_account,
            principal=gsa.email,
            annotations=annotations,
        )

    def _account_id(self, namespace: str, service_account: str) -> str:
        return service_account_id(f"wi-{namespace}-{service_account}", salt=self._ctx.stack)

    def database_login(self, namespace: str, service_account: str) -> DatabaseLogin:
        """The Cloud SQL IAM user of `namespace/service_account`'s Google service account, through the
        Cloud SQL Auth Proxy sidecar: no password exists."""
        email = self.project.service_account_email(self._account_id(namespace, service_account))
        return self.db.login(email)

    def secret_store_provider(self, service_account: str) -> dict[str, Any]:
        """Secret Manager of the stack's project; ESO exchanges a token of `service_account` through
        the cluster's Workload Identity pool and impersonates the Google service account its
        annotation names (which `bind_identity` granted `secretAccessor` on each secret)."""
        project = self.project.project_id
        return {
            "gcpsm": {
                "projectID": project,
                "auth": {
                    "workloadIdentity": {
                        "clusterLocation": self.region,  # a regional cluster
                        "clusterName": self.cluster_name,
                        "clusterProjectID": project,
                        "serviceAccountRef": {"name": service_account},
                    }
                },
            }
        }

    def secret_remote_ref(self, secret: pulumi.Input[str], field: str | None = None) -> dict[str, Any]:
        # ESO wants the secret's name; the id may be the full `projects/<p>/secrets/<name>`.
        key = pulumi.Output.from_input(secret).apply(lambda s: s.rsplit("/", 1)[-1])
        return {"key": key, **({"property": field} if field else {})}

    def load_balancer_annotations(self, internal: bool) -> dict[str, str]:
        return dict(INTERNAL_LB) if internal else {}
