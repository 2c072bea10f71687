"""GKE on plain `gcp.container.Cluster` / `NodePool` (every child visible to mocks and policy packs).

A regional cluster (control plane and nodes across the region's zones) with private nodes, a
private-only endpoint in prod (elsewhere a public endpoint limited to `cluster.allowedCidrs`),
Workload Identity, Dataplane V2 (eBPF, network policy built in), shielded nodes, Binary
Authorization enforced in prod, application-layer secrets encryption with a Cloud KMS key, system
and workload logging, managed Prometheus, Gateway API, and a release channel (prod: STABLE).

The default node pool is removed; nodes run as a dedicated least-privilege service account (logs,
metrics, image pulls from the platform's repositories), never the Compute Engine default account,
with GKE_METADATA so pods see only their own Workload Identity. The system pool is tainted
`CriticalAddonsOnly` so workloads stay off it. The Kubernetes provider authenticates through
`gke-gcloud-auth-plugin`: the kubeconfig holds no token.
"""

from __future__ import annotations

import hashlib
import math

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from components.foundation import LABEL_ROLE, SYSTEM_TAINT, exec_kubeconfig
from components.gcp.kms import KmsKeys, ProjectInfo
from components.gcp.network import Network

EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
)
NODE_REGISTRY_ROLE = "roles/artifactregistry.reader"  # granted per repository (components.gcp.registry)
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is decided by IAM, not scopes
LOGGING_COMPONENTS = ["SYSTEM_COMPONENTS", "WORKLOADS"]
# WORKLOADS is not a monitoring component on current GKE versions; workload metrics go through
# Google Cloud Managed Service for Prometheus (enabled below).
MONITORING_COMPONENTS = ["SYSTEM_COMPONENTS"]
# Nodes: no legacy metadata endpoints, and no project-wide SSH keys (GKE nodes are not logged into;
# `kubectl debug node/...` covers break-glass)
NODE_METADATA = {"disable-legacy-endpoints": "true", "block-project-ssh-keys": "true"}
ADMIN_IAM_ROLE = "roles/container.clusterViewer"
RBAC_KINDS = {"user": "User", "serviceAccount": "User", "group": "Group"}


def service_account_id(base: str, salt: str = "") -> str:
    """A valid service-account id (6-30 characters, [a-z][a-z0-9-]*[a-z0-9]), unique per `base`+`salt`."""
    clean = "".join(c if c.isalnum() else "-" for c in base.lower()).strip("-")
    if not clean or not clean[0].isalpha():
        clean = f"sa-{clean}"
    if len(clean) <= 30 and not salt:
        return clean.ljust(6, "0")
    digest = hashlib.sha256(f"{base}|{salt}".encode()).hexdigest()[:6]
    return f"{clean[:23].rstrip('-')}-{digest}"


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that gets short-lived tokens from gke-gcloud-auth-plugin: nothing secret is stored."""
    return exec_kubeconfig(
        cluster_name,
        f"https://{endpoint}",
        ca_data,
        {
            "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin: "
            "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl",
            "provideClusterInfo": True,
        },
    )


def shielded_nodes() -> gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs:
    return gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
        enable_secure_boot=True, enable_integrity_monitoring=True
    )


def per_zone(total: int, zones: int) -> int:
    """Initial nodes per zone so that a regional pool starts with at least `total` nodes."""
    return math.ceil(total / max(zones, 1))


class GkeCluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    name: pulumi.Output[str]
    node_service_account: gcp.serviceaccount.Account
    node_service_account_email: pulumi.Output[str]
    node_pool_member: pulumi.Output[str]
    system_nodes: gcp.container.NodePool
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    workload_pool: str
    zones: list[str]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        *,
        network: Network,
        keys: KmsKeys,
        cluster_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:GkeCluster", name, None, opts)
        spec = ctx.spec.cluster
        child = pulumi.ResourceOptions(parent=self)
        self.zones = network.zones
        self.workload_pool = project.workload_pool

        self.node_service_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=service_account_id(f"{ctx.prefix}-nodes"),
            project=project.project_id,
            display_name=f"GKE nodes of {cluster_name}",
            description="Least-privilege node identity: logs, metrics, pulls from the platform registry",
            opts=child,
        )
        self.node_service_account_email = self.node_service_account.email
        self.node_pool_member = pulumi.Output.concat("serviceAccount:", self.node_service_account.email)
        node_roles = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[1].replace('.', '-')}",
                project=project.project_id,
                role=role,
                member=self.node_pool_member,
                opts=pulumi.ResourceOptions(parent=self.node_service_account),
            )
            for role in NODE_ROLES
        ]

        private_endpoint = spec.endpoint_access == "private"
        self.cluster = gcp.container.Cluster(
            name,
            name=cluster_name,
            project=project.project_id,
            location=project.region,
            node_locations=self.zones,
            description=f"ml-platform {ctx.stack}",
            network=network.network_id,
            subnetwork=network.subnet_id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=network.pods_range,
                services_secondary_range_name=network.services_range,
                stack_type="IPV4",
            ),
            # The default pool only exists while the cluster is created; it still runs as the node
            # service account with shielded, metadata-concealed nodes.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=self.node_service_account.email,
                oauth_scopes=OAUTH_SCOPES,
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                metadata=NODE_METADATA,
                resource_labels=ctx.labels(),
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=private_endpoint,
                master_global_access_config=gcp.container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=True
                ),
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=str(cidr), display_name=f"allowed-{i}"
                    )
                    for i, cidr in enumerate(spec.allowed_cidrs)
                ],
                gcp_public_cidrs_access_enabled=False,
            ),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            enable_legacy_abac=False,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=project.workload_pool
            ),
            datapath_provider="ADVANCED_DATAPATH",
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel="STABLE" if ctx.prod else "REGULAR"),
            min_master_version=spec.kubernetes_version,
            enable_shielded_nodes=True,
            binary_authorization=gcp.container.ClusterBinaryAuthorizationArgs(
                evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE" if ctx.prod else "DISABLED"
            ),
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=keys.key_id("cluster")
            ),
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=LOGGING_COMPONENTS),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=MONITORING_COMPONENTS,
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(disabled=False),
                gce_persistent_disk_csi_driver_config=gcp.container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=True
                ),
                gcs_fuse_csi_driver_config=gcp.container.ClusterAddonsConfigGcsFuseCsiDriverConfigArgs(enabled=True),
            ),
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            security_posture_config=gcp.container.ClusterSecurityPostureConfigArgs(
                mode="BASIC", vulnerability_mode="VULNERABILITY_BASIC"
            ),
            cost_management_config=gcp.container.ClusterCostManagementConfigArgs(enabled=True),
            maintenance_policy=gcp.container.ClusterMaintenancePolicyArgs(
                recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
                    start_time="2026-01-04T03:00:00Z",
                    end_time="2026-01-04T09:00:00Z",
                    recurrence="FREQ=WEEKLY;BYDAY=SA,SU",
                )
            ),
            deletion_protection=ctx.prod,
            resource_labels=ctx.labels(),
            opts=ctx.stateful(
                pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[*node_roles, *keys.ready("cluster")],
                    # Only the temporary default pool reads these; changing them must not replace the cluster.
                    ignore_changes=["nodeConfig", "initialNodeCount"],
                )
            ),
        )
        self.name = self.cluster.name

        # Record keeping: GKE's control-plane (audit) and system logs go to a log bucket in the
        # stack's region (the project's `_Default` bucket is `global` and keeps 30 days), kept as long
        # as the stack says; on AWS the same setting is the EKS log group's retention.
        audit_bucket = gcp.logging.ProjectBucketConfig(
            f"{name}-audit-logs",
            project=project.project_id,
            location=project.region,
            bucket_id=f"{ctx.prefix}-cluster-logs",
            retention_days=spec.log_retention_days,
            description="GKE control-plane, audit and system logs of the ML platform cluster",
            opts=pulumi.ResourceOptions(parent=self),
        )
        gcp.logging.ProjectSink(
            f"{name}-audit-logs",
            project=project.project_id,
            name=f"{ctx.prefix}-cluster-logs",
            destination=pulumi.Output.concat("logging.googleapis.com/", audit_bucket.id),
            filter=pulumi.Output.concat(
                'resource.type=("k8s_cluster" OR "gke_cluster" OR "k8s_control_plane_component") '
                'AND resource.labels.cluster_name="',
                self.cluster.name,
                '"',
            ),
            unique_writer_identity=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

        sp = ctx.spec.system_pool
        self.system_nodes = gcp.container.NodePool(
            f"{name}-system",
            name="system",
            project=project.project_id,
            cluster=self.cluster.id,
            location=project.region,
            node_locations=self.zones,
            initial_node_count=per_zone(sp.min_nodes, len(self.zones)),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=sp.min_nodes,
                total_max_node_count=sp.max_nodes,
                location_policy="BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE", max_surge=1, max_unavailable=0
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=sp.machine_type or "e2-standard-4",
                disk_size_gb=sp.disk_size_gb,
                disk_type="pd-balanced",
                boot_disk_kms_key=keys.key_id("disk"),
                image_type="COS_CONTAINERD",
                service_account=self.node_service_account.email,
                oauth_scopes=OAUTH_SCOPES,
                shielded_instance_config=shielded_nodes(),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                metadata=NODE_METADATA,
                labels={LABEL_ROLE: "system"},
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(
                        key=SYSTEM_TAINT.key, value=SYSTEM_TAINT.value, effect=EFFECTS[SYSTEM_TAINT.effect]
                    )
                ],
                resource_labels=ctx.labels(**{"ml-platform/pool": "system"}),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*keys.ready("disk")],
                # The autoscaler owns the size once the pool exists.
                ignore_changes=["initialNodeCount"],
            ),
        )

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate
            ).apply(lambda a: kubeconfig(a[0], a[1], a[2] or ""))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_nodes]),
        )
        self._admins(name, ctx, project)
        self.register_outputs({"name": self.name, "endpoint": self.cluster.endpoint})

    def _admins(self, name: str, ctx: PlatformContext, project: ProjectInfo) -> None:
        """`cluster.adminPrincipals` (`user:`/`group:`/`serviceAccount:` members): enough IAM to fetch
        credentials (`container.clusterViewer`, no in-cluster rights by itself) plus a `cluster-admin`
        RBAC binding in this cluster only; never the project-wide `container.admin`. Group subjects
        need Google Groups for RBAC on the cluster."""
        for i, principal in enumerate(ctx.spec.cluster.admin_principals):
            kind, _, subject = principal.partition(":")
            if kind not in RBAC_KINDS or not subject:
                raise ValueError(
                    f"cluster.adminPrincipals[{i}]: '{principal}' is not a GCP member "
                    "(user:EMAIL, group:EMAIL or serviceAccount:EMAIL)"
                )
            gcp.projects.IAMMember(
                f"{name}-admin-{i}",
                project=project.project_id,
                role=ADMIN_IAM_ROLE,
                member=principal,
                opts=pulumi.ResourceOptions(parent=self),
            )
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-admin-{i}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"ml-platform:admin-{i}",
                    labels={"app.kubernetes.io/managed-by": "pulumi", "ml-platform/stack": ctx.stack},
                ),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
                ),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(api_group="rbac.authorization.k8s.io", kind=RBAC_KINDS[kind], name=subject)
                ],
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
