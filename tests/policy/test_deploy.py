"""Cases for the deploy-readiness pack (policy/deploy/), in engine form, with the dependency edges the engine
hands stack rules: `dependencies` (explicit and from outputs), `property_dependencies` and `parent`.

Each stack here is the smallest program that shows one creation-time rule of a cloud API: the violating
one is what the mocks accept and the real `pulumi up` fails on (or silently leaves off); the compliant
one is the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from policy import runner
from policy.deploy import ordering
from policy.rule import StackRule
from tests.policy.cases import Case, check_case

KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
API = "gcp:projects/service:Service"
GKE = "gcp:container/cluster:Cluster"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
COMPONENT = "ml-platform:test:Component"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
KMS_KEY = "aws:kms/key:Key"
SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
NETWORK = "gcp:compute/network:Network"
BINAUTHZ = "gcp:binaryauthorization/policy:Policy"
EKS = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
RELEASE = "kubernetes:helm.sh/v3:Release"
FIREWALL = "gcp:compute/firewall:Firewall"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
NAMESPACE = "kubernetes:core/v1:Namespace"

SQL_AGENT = "serviceAccount:service-987654321098@gcp-sa-cloud-sql.iam.gserviceaccount.com"
GKE_AGENT = "serviceAccount:service-987654321098@container-engine-robot.iam.gserviceaccount.com"
GCS_AGENT = "serviceAccount:service-987654321098@gs-project-accounts.iam.gserviceaccount.com"
POOL = "mlp-prod-4711.svc.id.goog"
SLR_ARN = "arn:aws:iam::210987654321:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def res(
    type_: str,
    name: str,
    props: Mapping[str, Any] | None = None,
    *,
    after: Sequence[runner.Resource] = (),
    feeds: Mapping[str, Sequence[runner.Resource]] | None = None,
    parent: runner.Resource | None = None,
) -> runner.Resource:
    """A resource as the engine sends it to a stack rule: `after` its explicit depends_on, `feeds` the
    resources whose outputs flow into each input."""
    fed = {key: tuple(r.urn for r in deps) for key, deps in (feeds or {}).items()}
    deps = {r.urn for r in after} | {urn for urns in fed.values() for urn in urns}
    return runner.resource(
        type_,
        dict(props or {}),
        name=name,
        dependencies=tuple(sorted(deps)),
        property_dependencies=fed,
        parent=parent.urn if parent else None,
        custom=not type_.startswith("ml-platform:"),
    )


def case(policy: str, id_: str, violates: bool, *stack: runner.Resource, **extra: Any) -> Case:
    return Case(policy=policy, id=id_, violates=violates, stack=stack, **extra)


# --- ordering: service agents ---------------------------------------------------------------------------

_sql_identity = res(SERVICE_IDENTITY, "sql-agent", {"service": "sqladmin.googleapis.com"})
_container_api = res(API, "container-api", {"service": "container.googleapis.com"})
_foundation = res(COMPONENT, "foundation", after=[_container_api])
_gcs_grant = res(KEY_MEMBER, "storage-key", {"member": GCS_AGENT, "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter"})

AGENT_CASES = [
    case(
        "deploy-gcp-service-agent-created",
        "lazy-agent-spelled-out",
        True,
        res(KEY_MEMBER, "db-key", {"member": SQL_AGENT}),
        contains="gcp.projects.ServiceIdentity(service='sqladmin.googleapis.com')",
    ),
    case(
        "deploy-gcp-service-agent-created",
        "identity-created-in-parallel",
        True,
        _sql_identity,
        res(KEY_MEMBER, "db-key", {"member": SQL_AGENT}),
        contains="before ServiceIdentity 'sql-agent' creates it",
    ),
    case(
        "deploy-gcp-service-agent-created",
        "member-from-identity-email",
        False,
        _sql_identity,
        res(KEY_MEMBER, "db-key", {"member": SQL_AGENT}, feeds={"member": [_sql_identity]}),
    ),
    case(
        "deploy-gcp-service-agent-created",
        "api-agent-before-api",
        True,
        _container_api,
        res(KEY_MEMBER, "cluster-key", {"member": GKE_AGENT}),
    ),
    case(
        "deploy-gcp-service-agent-created",
        "api-agent-after-api-through-parent-component",
        False,
        _container_api,
        _foundation,
        res(KEY_MEMBER, "cluster-key", {"member": GKE_AGENT}, parent=_foundation),
    ),
    case(
        "deploy-gcp-service-agent-created",
        "storage-agent-without-its-lookup",
        True,
        _gcs_grant,
        config={"lookups": ["gcp:organizations/getProject:getProject"]},
        contains="get_project_service_account",
    ),
    case(
        "deploy-gcp-service-agent-created",
        "storage-agent-from-its-lookup",
        False,
        _gcs_grant,
        config={"lookups": [ordering.STORAGE_AGENT_LOOKUP]},
    ),
    # under the CLI no lookup is visible: the rule cannot tell, and says nothing
    case("deploy-gcp-service-agent-created", "storage-agent-lookups-unknown", False, _gcs_grant),
]

# --- ordering: Workload Identity ------------------------------------------------------------------------

_cluster = res(GKE, "gke", {"name": "mlp", "workloadIdentityConfig": {"workloadPool": POOL}})
_wi = {"member": f"serviceAccount:{POOL}[mlflow/mlflow]", "role": "roles/iam.workloadIdentityUser"}
_services = res(COMPONENT, "services", after=[_cluster])

WI_CASES = [
    case(
        "deploy-gcp-workload-identity-after-cluster",
        "binding-in-parallel-with-cluster",
        True,
        _cluster,
        res(SA_MEMBER, "mlflow-wi", _wi),
        contains="make it depend on Cluster 'gke'",
    ),
    case(
        "deploy-gcp-workload-identity-after-cluster",
        "binding-after-cluster",
        False,
        _cluster,
        res(SA_MEMBER, "mlflow-wi", _wi, after=[_cluster]),
    ),
    case(
        "deploy-gcp-workload-identity-after-cluster",
        "binding-under-a-component-that-waits-for-the-cluster",
        False,
        _cluster,
        _services,
        res(SA_MEMBER, "mlflow-wi", _wi, parent=_services),
    ),
    case(
        "deploy-gcp-workload-identity-after-cluster",
        "principal-format-in-parallel",
        True,
        _cluster,
        res(
            SA_MEMBER,
            "wi-principal",
            {
                "member": f"principal://iam.googleapis.com/projects/987654321098/locations/global/"
                f"workloadIdentityPools/{POOL}/subject/ns/mlflow/sa/mlflow"
            },
        ),
    ),
]

# --- ordering: S3 access logging ------------------------------------------------------------------------

_logs = res(BUCKET, "logs", {"bucket": "mlp-logs"})
_data = res(BUCKET, "data", {"bucket": "mlp-data"})
_log_policy = res(
    BUCKET_POLICY,
    "logs",
    {
        "bucket": "mlp-logs",
        "policy": json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": "arn:aws:s3:::mlp-logs/*",
                    }
                ]
            }
        ),
    },
    feeds={"bucket": [_logs]},
)
_tls_only = res(BUCKET_POLICY, "logs", {"bucket": "mlp-logs", "policy": json.dumps({"Statement": []})})

LOGGING_CASES = [
    case(
        "deploy-aws-s3-logging-after-target-grant",
        "logging-in-parallel-with-the-grant",
        True,
        _logs,
        _data,
        _log_policy,
        res(
            BUCKET_LOGGING, "data", {"bucket": "mlp-data", "targetBucket": "mlp-logs"}, feeds={"targetBucket": [_logs]}
        ),
        contains="make the logging depend on it",
    ),
    case(
        "deploy-aws-s3-logging-after-target-grant",
        "logging-after-the-grant",
        False,
        _logs,
        _data,
        _log_policy,
        res(
            BUCKET_LOGGING,
            "data",
            {"bucket": "mlp-data", "targetBucket": "mlp-logs"},
            feeds={"targetBucket": [_logs]},
            after=[_log_policy],
        ),
    ),
    case(
        "deploy-aws-s3-logging-after-target-grant",
        "target-grants-no-log-delivery",
        True,
        _logs,
        _data,
        _tls_only,
        res(BUCKET_LOGGING, "data", {"bucket": "mlp-data", "targetBucket": "mlp-logs"}, after=[_tls_only]),
        contains="PutBucketLogging refuses it",
    ),
    case(
        "deploy-aws-s3-logging-after-target-grant",
        "target-outside-the-stack",
        False,
        _data,
        res(BUCKET_LOGGING, "data", {"bucket": "mlp-data", "targetBucket": "central-logs"}),
    ),
]

# --- ordering: KMS key policies -------------------------------------------------------------------------


def _key_policy(*principals: str) -> str:
    return json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "kms:Decrypt", "Resource": "*"}
            ]
        }
    )


_slr = res(SLR, "autoscaling", {"awsServiceName": "autoscaling.amazonaws.com"})

KMS_CASES = [
    case(
        "deploy-aws-kms-policy-principals-exist",
        "service-linked-role-not-created",
        True,
        res(KMS_KEY, "ebs", {"policy": _key_policy(SLR_ARN)}),
        contains="AWSServiceRoleForAutoScaling",
    ),
    case(
        "deploy-aws-kms-policy-principals-exist",
        "service-linked-role-an-account-prerequisite",
        False,
        res(KMS_KEY, "ebs", {"policy": _key_policy(SLR_ARN)}),
        config={"accountPrerequisites": ["AWSServiceRoleForAutoScaling"]},
    ),
    case(
        "deploy-aws-kms-policy-principals-exist",
        "service-linked-role-declared-on-the-key",
        False,
        res(
            KMS_KEY,
            "ebs",
            {
                "policy": _key_policy(SLR_ARN),
                "tags": {"ml-platform/account-prerequisites": "AWSServiceRoleForAutoScaling"},
            },
        ),
    ),
    case(
        "deploy-aws-kms-policy-principals-exist",
        "service-linked-role-created-in-parallel",
        True,
        _slr,
        res(KMS_KEY, "ebs", {"policy": _key_policy(SLR_ARN)}),
        contains="before ServiceLinkedRole 'autoscaling' creates it",
    ),
    case(
        "deploy-aws-kms-policy-principals-exist",
        "service-linked-role-created-first",
        False,
        _slr,
        res(KMS_KEY, "ebs", {"policy": _key_policy(SLR_ARN)}, after=[_slr]),
    ),
]

# --- ordering: APIs -------------------------------------------------------------------------------------

_compute_api = res(API, "compute", {"service": "compute.googleapis.com"})

API_CASES = [
    case("deploy-gcp-api-enabled-first", "api-never-enabled", True, res(NETWORK, "vpc", {"name": "vpc"})),
    case(
        "deploy-gcp-api-enabled-first",
        "api-a-declared-prerequisite",
        False,
        res(NETWORK, "vpc", {"name": "vpc"}),
        config={"prerequisiteApis": ["compute.googleapis.com"]},
    ),
    case(
        "deploy-gcp-api-enabled-first",
        "api-enabled-in-parallel",
        True,
        _compute_api,
        res(NETWORK, "vpc", {"name": "vpc"}),
        contains="in parallel with Service 'compute'",
    ),
    case(
        "deploy-gcp-api-enabled-first",
        "api-enabled-first",
        False,
        _compute_api,
        res(NETWORK, "vpc", {"name": "vpc"}, after=[_compute_api]),
    ),
    case(
        "deploy-gcp-api-enabled-first",
        "default-api-needs-nothing",
        False,
        res("gcp:storage/bucket:Bucket", "b", {"name": "b"}),
    ),
]

# --- companions -----------------------------------------------------------------------------------------

_enforcing_gke = res(
    GKE, "gke", {"name": "mlp", "binaryAuthorization": {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}}
)

BINAUTHZ_CASES = [
    case("deploy-gcp-binauthz-has-policy", "enforced-without-policy", True, _enforcing_gke),
    case(
        "deploy-gcp-binauthz-has-policy",
        "enforced-with-allow-all-policy",
        True,
        _enforcing_gke,
        res(BINAUTHZ, "policy", {"defaultAdmissionRule": {"evaluationMode": "ALWAYS_ALLOW"}}),
    ),
    case(
        "deploy-gcp-binauthz-has-policy",
        "enforced-with-allowlist",
        False,
        _enforcing_gke,
        res(
            BINAUTHZ,
            "policy",
            {
                "defaultAdmissionRule": {
                    "evaluationMode": "ALWAYS_DENY",
                    "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
                },
                "admissionWhitelistPatterns": [{"namePattern": "us-docker.pkg.dev/mlp/*"}],
            },
        ),
    ),
    case("deploy-gcp-binauthz-has-policy", "not-enforced", False, res(GKE, "gke", {"name": "mlp"})),
]

_eks = res(EKS, "eks", {"name": "mlp-aws-dev", "vpcConfig": {"endpointPublicAccess": True}})
_netpol = res(NETPOL, "deny", {"metadata": {"name": "default-deny", "namespace": "team-a"}})

NETPOL_CASES = [
    case(
        "deploy-network-policies-enforced",
        "vpc-cni-without-network-policy",
        True,
        _eks,
        res(ADDON, "vpc-cni", {"addonName": "vpc-cni", "clusterName": "mlp-aws-dev"}),
        _netpol,
        contains="enableNetworkPolicy",
    ),
    case(
        "deploy-network-policies-enforced",
        "vpc-cni-enforcing",
        False,
        _eks,
        res(
            ADDON,
            "vpc-cni",
            {
                "addonName": "vpc-cni",
                "clusterName": "mlp-aws-dev",
                "configurationValues": json.dumps({"enableNetworkPolicy": "true"}),
            },
            feeds={"clusterName": [_eks]},
        ),
        _netpol,
    ),
    case(
        "deploy-network-policies-enforced",
        "gke-dataplane-v2",
        False,
        res(GKE, "gke", {"name": "mlp", "datapathProvider": "ADVANCED_DATAPATH"}),
        _netpol,
    ),
    case(
        "deploy-network-policies-enforced",
        "gke-legacy-datapath",
        True,
        res(GKE, "gke", {"name": "mlp", "datapathProvider": "LEGACY_DATAPATH"}),
        _netpol,
    ),
]

_hpa = res(HPA, "model", {"metadata": {"name": "model", "namespace": "team-a"}, "spec": {"maxReplicas": 4}})
_raw_isvc = res(
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "credit",
    {
        "metadata": {"name": "credit", "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
        "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 3}},
    },
)

HPA_CASES = [
    case("deploy-hpa-metrics-pipeline", "eks-without-metrics-server", True, _eks, _hpa),
    case("deploy-hpa-metrics-pipeline", "eks-kserve-raw-without-metrics-server", True, _eks, _raw_isvc),
    case(
        "deploy-hpa-metrics-pipeline",
        "eks-with-metrics-server-addon",
        False,
        _eks,
        res(ADDON, "metrics-server", {"addonName": "metrics-server", "clusterName": "mlp-aws-dev"}),
        _hpa,
    ),
    case("deploy-hpa-metrics-pipeline", "gke-has-its-own", False, res(GKE, "gke", {"name": "mlp"}), _hpa),
]

_private_gke = res(
    GKE,
    "gke",
    {"name": "mlp", "privateClusterConfig": {"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.0/28"}},
)
_kueue = res(RELEASE, "kueue", {"chart": "oci://registry.k8s.io/kueue/charts/kueue", "version": "0.16.1"})


def _firewall(source: str, ports: list[str]) -> runner.Resource:
    return res(
        FIREWALL,
        "webhooks",
        {
            "name": "mlp-webhooks",
            "direction": "INGRESS",
            "sourceRanges": [source],
            "allows": [{"protocol": "tcp", "ports": ports}],
        },
    )


WEBHOOK_CASES = [
    case(
        "deploy-gke-webhook-ports-reachable",
        "kueue-without-firewall",
        True,
        _private_gke,
        _kueue,
        contains="tcp:9443",
    ),
    case(
        "deploy-gke-webhook-ports-reachable",
        "kueue-with-webhook-firewall",
        False,
        _private_gke,
        _kueue,
        _firewall("172.16.0.0/28", ["8082", "9443"]),
    ),
    case(
        "deploy-gke-webhook-ports-reachable",
        "firewall-from-another-range",
        True,
        _private_gke,
        _kueue,
        _firewall("10.0.0.0/8", ["8082", "9443"]),
    ),
    case(
        "deploy-gke-webhook-ports-reachable",
        "cert-manager-on-10250",
        False,
        _private_gke,
        res(RELEASE, "cert-manager", {"chart": "cert-manager"}),
    ),
]

_argo = {"chart": "argo-workflows", "version": "1.0.18", "name": "argo-workflows", "namespace": "argo"}
_deny_all = res(
    NETPOL,
    "argo-default-deny",
    {
        "metadata": {"name": "default-deny", "namespace": "argo"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    },
)
_hooks_out = res(
    NETPOL,
    "argo-release-egress",
    {
        "metadata": {"name": "argo-workflows-egress", "namespace": "argo"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "argo-workflows"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}, {"ports": [{"port": 443, "protocol": "TCP"}]}],
        },
    },
)

HOOK_CASES = [
    case(
        "deploy-helm-hooks-reach-the-api", "hook-job-under-default-deny", True, _deny_all, res(RELEASE, "argo", _argo)
    ),
    case(
        "deploy-helm-hooks-reach-the-api",
        "egress-created-in-parallel",
        True,
        _deny_all,
        _hooks_out,
        res(RELEASE, "argo", _argo),
        contains="make the release depend on it",
    ),
    case(
        "deploy-helm-hooks-reach-the-api",
        "egress-before-the-release",
        False,
        _deny_all,
        _hooks_out,
        res(RELEASE, "argo", _argo, after=[_deny_all, _hooks_out]),
    ),
    case("deploy-helm-hooks-reach-the-api", "no-default-deny", False, res(RELEASE, "argo", _argo)),
]

_private_eks = res(EKS, "eks", {"name": "mlp-aws-prod", "vpcConfig": {"endpointPublicAccess": False}})
_ns = res(NAMESPACE, "team-a", {"metadata": {"name": "team-a"}})

REACHABLE_CASES = [
    case("deploy-cluster-api-reachable", "private-eks-no-ingress", True, _private_eks, _ns),
    case(
        "deploy-cluster-api-reachable",
        "private-eks-runner-cidr",
        False,
        _private_eks,
        res(
            SG_INGRESS,
            "api-from-runners",
            {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.60.0.0/16"},
            feeds={"securityGroupId": [_private_eks]},
        ),
        _ns,
    ),
    case(
        "deploy-cluster-api-reachable",
        "private-gke-no-way-in",
        True,
        res(GKE, "gke", {"name": "mlp", "privateClusterConfig": {"enablePrivateEndpoint": True}}),
        _ns,
    ),
    case(
        "deploy-cluster-api-reachable",
        "private-gke-dns-endpoint",
        False,
        res(
            GKE,
            "gke",
            {
                "name": "mlp",
                "privateClusterConfig": {"enablePrivateEndpoint": True},
                "controlPlaneEndpointsConfig": {"dnsEndpointConfig": {"allowExternalTraffic": True}},
            },
        ),
        _ns,
    ),
    case("deploy-cluster-api-reachable", "private-eks-no-kubernetes-objects", False, _private_eks),
]

# --- values ---------------------------------------------------------------------------------------------

VALUE_CASES = [
    Case(
        policy="deploy-removed-values",
        id="gke-vulnerability-basic",
        violates=True,
        type=GKE,
        props={"securityPostureConfig": {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_BASIC"}},
    ),
    Case(
        policy="deploy-removed-values",
        id="gke-vulnerability-disabled",
        violates=False,
        type=GKE,
        props={"securityPostureConfig": {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_DISABLED"}},
    ),
    Case(
        policy="deploy-removed-values",
        id="eks-al2-nodes",
        violates=True,
        type="aws:eks/nodeGroup:NodeGroup",
        props={"amiType": "AL2_x86_64_GPU"},
    ),
    Case(
        policy="deploy-gcp-sql-user-password",
        id="built-in-user-without-password",
        violates=True,
        type="gcp:sql/user:User",
        props={"name": "postgres", "instance": "mlp"},
    ),
    Case(
        policy="deploy-gcp-sql-user-password",
        id="built-in-user-write-only-password",
        violates=False,
        type="gcp:sql/user:User",
        props={"name": "postgres", "instance": "mlp", "passwordWo": "[secret]", "passwordWoVersion": "1"},
    ),
    Case(
        policy="deploy-gcp-sql-user-password",
        id="iam-service-account-user",
        violates=False,
        type="gcp:sql/user:User",
        props={"name": "mlflow@p.iam", "instance": "mlp", "type": "CLOUD_IAM_SERVICE_ACCOUNT"},
    ),
    Case(
        policy="deploy-name-limits",
        id="node-group-prefix-too-long",
        violates=True,
        type="aws:eks/nodeGroup:NodeGroup",
        props={"nodeGroupNamePrefix": "mlp-aws-research-platform-prod-h100-train-"},
        contains="37",
    ),
    Case(
        policy="deploy-name-limits",
        id="node-group-prefix-fits",
        violates=False,
        type="aws:eks/nodeGroup:NodeGroup",
        props={"nodeGroupNamePrefix": "mlp-aws-dev-h100-"},
    ),
    Case(
        policy="deploy-name-limits",
        id="service-account-id-too-long",
        violates=True,
        type="gcp:serviceaccount/account:Account",
        props={"accountId": "mlp-gcp-prod-research-pipeline-x"},
    ),
    Case(
        policy="deploy-log-retention-values",
        id="retention-cloudwatch-refuses",
        violates=True,
        type="aws:cloudwatch/logGroup:LogGroup",
        props={"retentionInDays": 100},
    ),
    Case(
        policy="deploy-log-retention-values",
        id="retention-allowed",
        violates=False,
        type="aws:cloudwatch/logGroup:LogGroup",
        props={"retentionInDays": 731},
    ),
    case(
        "deploy-aws-eks-zones-supported",
        "subnet-in-a-refused-zone",
        True,
        _refused := res("aws:ec2/subnet:Subnet", "private-c", {"availabilityZoneId": "use1-az3"}),
        res(EKS, "eks", {"name": "mlp"}, feeds={"vpcConfig": [_refused]}),
    ),
    case(
        "deploy-aws-eks-zones-supported",
        "subnets-in-supported-zones",
        False,
        _supported := res("aws:ec2/subnet:Subnet", "private-a", {"availabilityZoneId": "use1-az1"}),
        res(EKS, "eks", {"name": "mlp"}, feeds={"vpcConfig": [_supported]}),
    ),
    case(
        "deploy-aws-eks-access-entries-unique",
        "deployer-listed-twice",
        True,
        res(
            "aws:eks/accessEntry:AccessEntry",
            "admin-0",
            {"clusterName": "mlp", "principalArn": "arn:aws:iam::210987654321:role/ci"},
        ),
        res(
            "aws:eks/accessEntry:AccessEntry",
            "deployer",
            {"clusterName": "mlp", "principalArn": "arn:aws:iam::210987654321:role/ci"},
        ),
    ),
    case(
        "deploy-aws-eks-access-entries-unique",
        "one-entry-each",
        False,
        res(
            "aws:eks/accessEntry:AccessEntry",
            "admin-0",
            {"clusterName": "mlp", "principalArn": "arn:aws:iam::210987654321:role/ci"},
        ),
        res(
            "aws:eks/accessEntry:AccessEntry",
            "admin-1",
            {"clusterName": "mlp", "principalArn": "arn:aws:iam::210987654321:role/ops"},
        ),
    ),
    Case(
        policy="deploy-destroy-scoped-to-the-stack",
        id="api-disabled-on-destroy-by-default",
        violates=True,
        type=API,
        props={"service": "redis.googleapis.com"},
    ),
    Case(
        policy="deploy-destroy-scoped-to-the-stack",
        id="api-kept-on-destroy",
        violates=False,
        type=API,
        props={"service": "redis.googleapis.com", "disableOnDestroy": False},
    ),
    Case(
        policy="deploy-destroy-scoped-to-the-stack",
        id="peering-deleted-on-destroy",
        violates=True,
        type="gcp:servicenetworking/connection:Connection",
        props={"service": "servicenetworking.googleapis.com"},
    ),
    Case(
        policy="deploy-destroy-scoped-to-the-stack",
        id="peering-removed-on-destroy",
        violates=False,
        type="gcp:servicenetworking/connection:Connection",
        props={"service": "servicenetworking.googleapis.com", "deletionPolicy": "REMOVE_PEERING"},
    ),
    case(
        "deploy-no-placeholders",
        "example-account-cidr-and-owner",
        True,
        res(
            EKS,
            "eks",
            {
                "name": "mlp",
                "roleArn": "arn:aws:iam::123456789012:role/eks",
                "vpcConfig": {"publicAccessCidrs": ["203.0.113.0/24"]},
                "tags": {"owner": "platform-team@example.com"},
            },
        ),
        contains="123456789012",
    ),
    case(
        "deploy-no-placeholders",
        "made-up-reservation",
        True,
        res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            "h100",
            {
                "capacityReservationSpecification": {
                    "capacityReservationTarget": {"capacityReservationId": "cr-0a1b2c3d4e5f67890"}
                }
            },
        ),
    ),
    case(
        "deploy-no-placeholders",
        "real-values",
        False,
        res(
            EKS,
            "eks",
            {
                "name": "mlp",
                "roleArn": "arn:aws:iam::210987654321:role/eks",
                "vpcConfig": {"publicAccessCidrs": ["100.64.10.0/24"]},
                "tags": {"owner": "platform-team@acme.io"},
            },
        ),
    ),
]

CASES = [
    *AGENT_CASES,
    *WI_CASES,
    *LOGGING_CASES,
    *KMS_CASES,
    *API_CASES,
    *BINAUTHZ_CASES,
    *NETPOL_CASES,
    *HPA_CASES,
    *WEBHOOK_CASES,
    *HOOK_CASES,
    *REACHABLE_CASES,
    *VALUE_CASES,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.param_id)
def test_rule(case: Case) -> None:
    check_case(case)


def test_placeholders_block_only_a_stack_about_to_be_deployed() -> None:
    """Reviewing an example stack, placeholders are advisory; deploying it (`--deploy`, or the CLI), they block."""
    stack = [
        res(EKS, "eks", {"name": "mlp", "roleArn": "arn:aws:iam::123456789012:role/eks"}),
    ]
    deploy = next(p for p in runner.load_packs() if p.name == "ml-platform-deploy")

    def level(deploying: bool) -> set[str]:
        report = runner.check_resources("s", "prod", stack, packs=[deploy], deploying=deploying)
        return {v.level for v in report.violations if v.policy == "deploy-no-placeholders"}

    assert level(False) == {"advisory"}
    assert level(True) == {"mandatory"}


def test_a_graph_rule_sees_every_resource_and_the_properties_only_of_the_types_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A graph rule (`StackRule(graph=True)`) gets every resource with its URN, parent and dependencies, since
    an ordering edge may pass through any of them; offline, only the types it reads (`types`) come with their
    properties. Here the logging waits for the grant only through a component of another type."""
    from policy import waivers

    deploy = next(p for p in runner.load_packs() if p.name == "ml-platform-deploy")
    rule = deploy.policy("deploy-aws-s3-logging-after-target-grant")
    assert isinstance(rule, StackRule) and rule.graph and rule.types == ("aws:s3/",)
    only = runner.Pack(deploy.name, deploy.module, deploy.directory, deploy.version, [rule])
    sent: list[Any] = []
    real = runner.stack_request

    def spy(resources: Any, with_properties: Any = None) -> Any:
        sent.append(real(resources, with_properties))
        return sent[-1]

    monkeypatch.setattr(runner, "stack_request", spy)
    waivers.use(waivers.WaiverSet())
    storage = res(COMPONENT, "storage", after=[_log_policy])  # its children are created after the grant
    team = res(NAMESPACE, "team-a", {"metadata": {"name": "team-a"}})
    logging = {"bucket": "mlp-data", "targetBucket": "mlp-logs"}

    def violations(parent: runner.Resource | None) -> list[str]:
        stack = [_logs, _data, _log_policy, storage, team, res(BUCKET_LOGGING, "data", logging, parent=parent)]
        analyzer = runner.PackAnalyzer(only, runner.resolve_pack_config(only, {}, "test"))
        found = analyzer.analyze_stack(stack)
        (request,) = sent[-1:]
        items = {item.urn: item for item in request.resources}
        assert set(items) == {r.urn for r in stack}
        for r in stack:
            item = items[r.urn]
            assert (item.type, item.name, item.parent, list(item.dependencies)) == (
                r.type,
                r.name,
                r.parent or "",
                list(r.dependencies),
            )
            assert bool(item.properties.fields) == (r.type.startswith("aws:s3/") and bool(r.inputs)), r.type
        return [v.message for v in found]

    assert violations(parent=storage) == []  # ordered through the component's edge
    assert violations(parent=None) != []  # without it, the logging races the grant
