"""GKE on plain `gcp.container.Cluster` / `NodePool` (every child visible to mocks and policy packs).

A regional cluster (control plane and nodes across the region's zones) with private nodes, a
private-only IP endpoint in prod (elsewhere a public IP endpoint limited to `cluster.allowedCidrs`),
Workload Identity, Dataplane V2 (eBPF, network policy built in), shielded nodes, Binary
Authorization enforced in prod (against the project policy of components/gcp/binauthz.py),
application-layer secrets encryption with a Cloud KMS key, system and workload logging, managed
Prometheus, Gateway API, and a release channel (prod: STABLE).

Reaching the API: the cluster's DNS-based control-plane endpoint (`<id>.<region>.gke.goog`) accepts
traffic from any network, and only callers whose IAM grants `container.clusters.connect` get through
(GKE network isolation docs; `roles/container.clusterViewer` carries it, with `get` and `list`), then
Kubernetes RBAC decides. The Kubernetes provider and the exported kubeconfig use that endpoint, so a
CI runner outside the VPC (GitHub-hosted, Workload Identity Federation) deploys without an IP
allowlist; Kubernetes service-account tokens and client certificates are refused there. The IP
endpoint is unchanged: private-only in prod, limited to `cluster.allowedCidrs` elsewhere.

Admission webhooks: on private nodes GKE lets the control plane reach nodes on 443 and 10250 only
(its `gke-<cluster>-<id>-master` rule); the platform's charts serve webhooks and an aggregated API on
other ports, so a firewall rule opens exactly those (`WEBHOOK_PORTS`) from the control plane to the
nodes, as terraform-google-modules/kubernetes-engine's `master_webhooks` rule does.

The default node pool is removed; nodes run as a dedicated least-privilege service account (logs,
metrics, image pulls from the platform's repositories), never the Compute Engine default account,
with GKE_METADATA so pods see only their own Workload Identity. The system pool is tainted
`CriticalAddonsOnly` so workloads stay off it. The Kubernetes provider authenticates through
`gke-gcloud-auth-plugin`: the kubeconfig holds no token.
"""

from __future__ import annotations

import hashlib
import json
import math

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from components.foundation import LABEL_ROLE, SYSTEM_TAINT, exec_kubeconfig
from components.gcp.binauthz import ImagePolicy
from components.gcp.kms import KmsKeys, ProjectInfo
from components.gcp.network import Network

EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
# Google's least-privilege role for node service accounts (GKE hardening guide: "Kubernetes Engine
# Default Node Service Account"): log and metric writes, resource metadata; no read of the project's
# monitoring data (monitoring.viewer, which the four-role recipe it replaces granted).
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
NODE_REGISTRY_ROLE = "roles/artifactregistry.reader"  # granted per repository (components.gcp.registry)
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is decided by IAM, not scopes
LOGGING_COMPONENTS = ["SYSTEM_COMPONENTS", "WORKLOADS"]
# WORKLOADS is not a monitoring component on current GKE versions; workload metrics go through
# Google Cloud Managed Service for Prometheus (enabled below).
MONITORING_COMPONENTS = ["SYSTEM_COMPONENTS"]
# Nodes: no legacy metadata endpoints, and no project-wide SSH keys (GKE nodes are not logged into;
# `kubectl debug node/...` covers break-glass)
NODE_METADATA = {"disable-legacy-endpoints": "true", "block-project-ssh-keys": "true"}
# get/list the cluster and `container.clusters.connect`, the permission the DNS-based endpoint checks
# (IAM roles reference, "Kubernetes Engine Cluster Viewer"); in-cluster rights come from RBAC only.
ADMIN_IAM_ROLE = "roles/container.clusterViewer"
RBAC_KINDS = {"user": "User", "serviceAccount": "User", "group": "Group"}
# GKE security posture: BASIC configuration auditing. Vulnerability scanning of workloads stays off:
# VULNERABILITY_BASIC was removed for Standard clusters (GKE deprecations, July 2025) and Enterprise is
# a paid tier; images are scanned in Artifact Registry (containerscanning, components/gcp/registry.py).
VULNERABILITY_MODE = "VULNERABILITY_DISABLED"
# Gateway API CRDs: GKE's managed `gateway-api-crds` (standard channel). GKE does not let a cluster
# replace them (it reconciles its own copy, envoyproxy/gateway#2301), and Envoy Gateway v1.9 starts on
# an older bundle: GatewayClass, Gateway, HTTPRoute and ReferenceGrant are required, every newer kind
# (ListenerSet, GRPCRoute, TLSRoute, TCPRoute, UDPRoute, BackendTLSPolicy) is optional and skipped when
# absent (internal/provider/kubernetes/controller.go at v1.9.0, which names GKE's addon). The platform
# uses only the required kinds (Gateway, HTTPRoute), so it runs on GKE's bundle.
GATEWAY_API_CHANNEL = "CHANNEL_STANDARD"
# Ports the control plane must reach on nodes beyond 443/10250, for the admission webhooks and
# aggregated APIs of the platform's charts (read from the charts at their pins):
#   9443: Kueue's webhook (manager.yaml containerPort), KServe's webhook server (kserve-webhook-server-
#         service -> webhook-server), Kubeflow Trainer's and JobSet's webhooks (manager/controller
#         containerPort), Envoy Gateway's topology injector (envoy-gateway service port "webhook");
#   8082: Kueue's visibility API server, an aggregated APIService (visibility/service.yaml targetPort).
# cert-manager's, External Secrets' and prometheus-operator's webhooks listen on 10250 by default for
# exactly this reason (their values.yaml), and the platform keeps those defaults.
WEBHOOK_PORTS = (8082, 9443)


def service_account_id(base: str, salt: str = "") -> str:
    """A valid service-account id (6-30 characters, [a-z][a-z0-9-]*[a-z0-9]), unique per `base`+`salt`."""
    clean = "".join(c if c.isalnum() else "-" for c in base.lower()).strip("-")
    if not clean or not clean[0].isalpha():
        clean = f"sa-{clean}"
    if len(clean) <= 30 and not salt:
        return clean.ljust(6, "0")
    digest = hashlib.sha256(f"{base}|{salt}".encode()).hexdigest()[:6]
    return f"{clean[:23].rstrip('-')}-{digest}"


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str = "") -> str:
    """A kubeconfig that gets short-lived tokens from gke-gcloud-auth-plugin: nothing secret is stored.

    Without `ca_data` the server's certificate is checked against the system roots: the DNS-based
    endpoint presents a publicly trusted certificate (Google Trust Services), not one of the cluster CA,
    which `gcloud container clusters get-credentials --dns-endpoint` leaves out as well."""
    doc = json.loads(
        exec_kubeconfig(
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
    )
    if not ca_data:
        for cluster in doc["clusters"]:
            cluster["cluster"].pop("certificate-authority-data", None)
    return json.dumps(doc)


def security_group(spec_group: str | None, principals: list[str]) -> str | None:
    """The Google Groups for RBAC group (`gke-security-groups@DOMAIN`) a cluster needs for `group:`
    admins: the configured one, else the one of the domain of the first group principal."""
    if spec_group:
        return spec_group
    groups = [p.split(":", 1)[1] for p in principals if p.startswith("group:")]
    if not groups:
        return None
    return f"gke-security-groups@{groups[0].rsplit('@', 1)[-1]}"


def admin_key(principal: str) -> str:
    """A short, stable name part for one admin principal (names survive reordering the list)."""
    return hashlib.sha256(principal.encode()).hexdigest()[:8]


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
    kubeconfig: pulumi.Output[str]  # the DNS-based endpoint, IAM-gated
    dns_endpoint: pulumi.Output[str]
    webhook_firewall: gcp.compute.Firewall | None
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
        image_policy: ImagePolicy | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`image_policy`: the project's Binary Authorization policy, required where the cluster enforces
        it (prod): the cluster is created after it."""
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
        enforce_images = ctx.prod
        if enforce_images and image_policy is None:
            raise ValueError("a cluster that enforces Binary Authorization needs the project's image policy")
        group = security_group(spec.gke_security_group, spec.admin_principals)
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
            control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=True,
                    # IAM-authenticated Google credentials only (what gke-gcloud-auth-plugin sends)
                    enable_k8s_tokens_via_dns=False,
                    enable_k8s_certs_via_dns=False,
                ),
                ip_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigIpEndpointsConfigArgs(enabled=True),
            ),
            authenticator_groups_config=(
                gcp.container.ClusterAuthenticatorGroupsConfigArgs(security_group=group) if group else None
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
                evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE" if enforce_images else "DISABLED"
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
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel=GATEWAY_API_CHANNEL),
            security_posture_config=gcp.container.ClusterSecurityPostureConfigArgs(
                mode="BASIC", vulnerability_mode=VULNERABILITY_MODE
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
                    depends_on=[
                        *node_roles,
                        *keys.ready("cluster"),
                        *([image_policy.policy] if enforce_images and image_policy else []),
                    ],
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

        # Control plane -> admission webhooks on the nodes (owned network only: nothing is created in a
        # network the platform does not own; its owner opens WEBHOOK_PORTS, components/gcp/network.py).
        # Source: the node subnet, where a Private Service Connect control plane has its endpoint (the
        # cluster sets no masterIpv4CidrBlock), as terraform-google-modules' private-cluster module
        # computes `cluster_endpoint_for_nodes`. Target: the node service account, so every pool of
        # this cluster and nothing else in the VPC.
        self.webhook_firewall = None
        if network.owned and network.nodes_cidr:
            self.webhook_firewall = gcp.compute.Firewall(
                f"{name}-webhooks",
                name=f"{ctx.prefix}-gke-webhooks"[:63].rstrip("-"),
                project=project.project_id,
                network=network.network_id,
                description="GKE control plane to the admission webhooks and aggregated APIs of the platform's charts",
                direction="INGRESS",
                priority=1000,
                source_ranges=[network.nodes_cidr],
                target_service_accounts=[self.node_service_account.email],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in WEBHOOK_PORTS])],
                opts=pulumi.ResourceOptions(parent=self),
            )

        admins = self._admin_grants(name, ctx, project)
        # The DNS endpoint: reachable from outside the VPC, gated by IAM (module docstring).
        dns_endpoint = self.cluster.control_plane_endpoints_config.apply(
            lambda c: (c.dns_endpoint_config.endpoint if c and c.dns_endpoint_config else None) or ""
        )
        self.dns_endpoint = dns_endpoint
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, dns_endpoint).apply(lambda a: kubeconfig(a[0], a[1]))
        )
        # Everything the first Kubernetes call needs: nodes to run on, the admins' IAM (the CI identity
        # is one of them), the webhook ports open before any chart registers a webhook.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    self.system_nodes,
                    *admins,
                    *([self.webhook_firewall] if self.webhook_firewall else []),
                ],
            ),
        )
        self._admin_bindings(name, ctx)
        self.register_outputs({"name": self.name, "endpoint": self.cluster.endpoint, "dns_endpoint": dns_endpoint})

    def _principals(self, ctx: PlatformContext) -> list[tuple[int, str, str, str]]:
        out = []
        for i, principal in enumerate(ctx.spec.cluster.admin_principals):
            kind, _, subject = principal.partition(":")
            if kind not in RBAC_KINDS or not subject:
                raise ValueError(
                    f"cluster.adminPrincipals[{i}]: '{principal}' is not a GCP member "
                    "(user:EMAIL, group:EMAIL or serviceAccount:EMAIL)"
                )
            out.append((i, principal, kind, subject))
        return out

    def _admin_grants(self, name: str, ctx: PlatformContext, project: ProjectInfo) -> list[pulumi.Resource]:
        """`cluster.adminPrincipals` (`user:`/`group:`/`serviceAccount:` members): `container.clusterViewer`
        (fetch the cluster, connect through the DNS endpoint; no in-cluster rights by itself), never the
        project-wide `container.admin`. Named by principal, not by position, so removing one admin
        touches only that admin; the alias keeps the names of stacks created before."""
        grants: list[pulumi.Resource] = []
        for i, principal, _kind, _subject in self._principals(ctx):
            grants.append(
                gcp.projects.IAMMember(
                    f"{name}-admin-{admin_key(principal)}",
                    project=project.project_id,
                    role=ADMIN_IAM_ROLE,
                    member=principal,
                    opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=f"{name}-admin-{i}")]),
                )
            )
        return grants

    def _admin_bindings(self, name: str, ctx: PlatformContext) -> None:
        """A `cluster-admin` RBAC binding per admin in this cluster only. Group subjects work through
        Google Groups for RBAC (`authenticatorGroupsConfig`, set when a group is listed)."""
        for i, principal, kind, subject in self._principals(ctx):
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-admin-{admin_key(principal)}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"ml-platform:admin-{admin_key(principal)}",
                    labels={"app.kubernetes.io/managed-by": "pulumi", "ml-platform/stack": ctx.stack},
                    annotations={"ml-platform/principal": principal},
                ),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
                ),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(api_group="rbac.authorization.k8s.io", kind=RBAC_KINDS[kind], name=subject)
                ],
                opts=pulumi.ResourceOptions(
                    parent=self, provider=self.provider, aliases=[pulumi.Alias(name=f"{name}-admin-{i}")]
                ),
            )
