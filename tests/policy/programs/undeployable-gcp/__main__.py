"""A GCP program as a team writes it, with the creation-time mistakes a new project refuses.

Every resource named `bad-*` fails (or silently does nothing) on a first `pulumi up`; the `ok-*` twins are
the fix. `mlplat check --program` must flag each `bad-*` resource and none of the `ok-*` ones
(tests/policy/test_check_cli.py).
"""

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

project = gcp.organizations.get_project()
compute = gcp.projects.Service("ok-compute-api", service="compute.googleapis.com", disable_on_destroy=False)
container = gcp.projects.Service("ok-container-api", service="container.googleapis.com", disable_on_destroy=False)
kms_api = gcp.projects.Service("ok-kms-api", service="cloudkms.googleapis.com", disable_on_destroy=False)
iam_api = gcp.projects.Service("ok-iam-api", service="iam.googleapis.com", disable_on_destroy=False)
after_apis = pulumi.ResourceOptions(depends_on=[compute, container, kms_api, iam_api])

ring = gcp.kms.KeyRing("ok-ring", name="vision", location="europe-west4", opts=after_apis)
key = gcp.kms.CryptoKey("ok-key", name="vision", key_ring=ring.id, opts=after_apis)

# The Cloud Storage service agent spelled out: it exists only once read through its API.
gcp.kms.CryptoKeyIAMMember(
    "bad-storage-agent-grant",
    crypto_key_id=key.id,
    role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
    member=f"serviceAccount:service-{project.number}@gs-project-accounts.iam.gserviceaccount.com",
    opts=after_apis,
)
# The Cloud SQL agent is created on first use only.
gcp.kms.CryptoKeyIAMMember(
    "bad-sql-agent-grant",
    crypto_key_id=key.id,
    role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
    member=f"serviceAccount:service-{project.number}@gcp-sa-cloud-sql.iam.gserviceaccount.com",
    opts=after_apis,
)
# Cloud SQL's API is never enabled.
instance = gcp.sql.DatabaseInstance(
    "bad-database",
    database_version="POSTGRES_16",
    region="europe-west4",
    settings=gcp.sql.DatabaseInstanceSettingsArgs(tier="db-custom-2-7680"),
    deletion_protection=False,
)
network = gcp.compute.Network("ok-network", name="vision", auto_create_subnetworks=False, opts=after_apis)

cluster = gcp.container.Cluster(
    "bad-cluster",  # basic vulnerability scanning was removed; enforcement with no policy allows everything
    name="vision",
    location="europe-west4",
    network=network.id,
    initial_node_count=1,
    workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
        workload_pool="team-vision-4711.svc.id.goog"
    ),
    private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
        enable_private_nodes=True, enable_private_endpoint=False, master_ipv4_cidr_block="172.16.0.0/28"
    ),
    datapath_provider="ADVANCED_DATAPATH",
    binary_authorization=gcp.container.ClusterBinaryAuthorizationArgs(
        evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE"
    ),
    security_posture_config=gcp.container.ClusterSecurityPostureConfigArgs(
        mode="BASIC", vulnerability_mode="VULNERABILITY_BASIC"
    ),
    opts=after_apis,
)

trainer = gcp.serviceaccount.Account("ok-trainer", account_id="vision-trainer", opts=after_apis)
# The Workload Identity pool exists only once the cluster does.
gcp.serviceaccount.IAMMember(
    "bad-workload-identity",
    service_account_id=trainer.name,
    role="roles/iam.workloadIdentityUser",
    member="serviceAccount:team-vision-4711.svc.id.goog[vision/trainer]",
    opts=after_apis,
)
gcp.serviceaccount.IAMMember(
    "ok-workload-identity",
    service_account_id=trainer.name,
    role="roles/iam.workloadIdentityUser",
    member="serviceAccount:team-vision-4711.svc.id.goog[vision/serving]",
    opts=pulumi.ResourceOptions(depends_on=[cluster, iam_api]),
)
# PostgreSQL users need a password.
gcp.sql.User("bad-database-user", instance=instance.name, name="vision")

kubeconfig = pulumi.Output.all(cluster.name, cluster.endpoint).apply(
    lambda a: f"apiVersion: v1\nkind: Config\nclusters: [{{name: {a[0]}, cluster: {{server: https://{a[1]}}}}}]\n"
)
provider = k8s.Provider("ok-kubernetes", kubeconfig=kubeconfig)
# Kueue's webhook (9443) and visibility API (8082): private nodes take only 443 and 10250 from the control plane.
k8s.helm.v3.Release(
    "bad-kueue",
    chart="oci://registry.k8s.io/kueue/charts/kueue",
    version="0.16.1",
    namespace="kueue-system",
    create_namespace=True,
    opts=pulumi.ResourceOptions(provider=provider),
)
