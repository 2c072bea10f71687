"""The model registry: the MLflow tracking server, on the foundation's database and models bucket.

* Image: the official `ghcr.io/mlflow/mlflow:v<version>-full`. The plain image carries MLflow alone;
  the `-full` variant (published since MLflow 3.9) adds the PostgreSQL drivers (psycopg2, psycopg),
  boto3, google-cloud-storage and the `auth` extra, which is exactly what this server needs, so the
  platform builds no image of its own.
* Backend store: the foundation's PostgreSQL, logged in to as `Foundation.database_login` says: host,
  port, database and user in the URI and no password in it. AWS: TLS to RDS, libpq reads `PGPASSWORD`
  from the Kubernetes Secret `mlflow-db`, synced by External Secrets from the RDS-managed master secret
  (JSON field `password`) through the `mlflow` service account's workload identity. GCP: IAM database
  authentication as that identity through the Cloud SQL Auth Proxy sidecar, and no password at all.
* Artifacts: `--serve-artifacts` with `--artifacts-destination` = the `models` bucket (clients
  never need bucket credentials); the server reaches the bucket as the same identity, read-write
  on that bucket and nothing else. A team's experiments should set `artifact_location`
  `mlflow-artifacts:/teams/<team>/...`: its `inference` identity reads exactly that prefix.
* Authentication: MLflow's basic-auth app (`--app-name basic-auth`); its user store lives in the
  same database (its own tables and `alembic_version_auth`). The admin password and the Flask
  session key are random values ESO generates once inside the cluster (Secret `mlflow-auth`).
* Availability: `services.mlflow.replicas` (prod 2) on the system nodes, spread across zones, a
  PodDisruptionBudget in prod, startup/readiness/liveness probes on `/health`.
* Network: default deny; in: port 5000 from team namespaces and from the monitoring namespace; out:
  DNS, PostgreSQL (5432), HTTPS (object store, STS/KMS), and the cloud's workload-identity endpoint.

RDS rotates its managed master password (every 7 days by default). ESO refreshes `mlflow-db`
hourly, but a running pod keeps the `PGPASSWORD` it started with: restart the deployment after a
rotation (`kubectl -n mlflow rollout restart deploy/mlflow`) or let a reloader do it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_ROLE, BucketAccess, DatabaseLogin, IdentityAccess
from components.k8s import base
from components.k8s.base import Image, ServicesContext
from components.k8s.secrets import ExternalSecrets
from components.k8s.serving import monitoring_dependencies, release_label

# MLflow 3.18.0 (PyPI, 2026-11); the `-full` image variant of the same release.
IMAGE = Image("ghcr.io/mlflow/mlflow", "v3.18.0-full")
NAMESPACE = base.NS_MLFLOW
NAME = "mlflow"
SERVICE_ACCOUNT = "mlflow"
PORT = 5000
POSTGRES_PORT = 5432
HTTPS = 443
UID = 65532
ADMIN_USER = "admin"
DB_SECRET = "mlflow-db"
# The team's MLflow user (keys `username`, `password`), a Secret the platform team creates in a team namespace:
# training jobs and the pipeline's register step sign in with it (basic auth is on).
CREDENTIALS_SECRET = "mlflow-credentials"
AUTH_SECRET = "mlflow-auth"
AUTH_CONFIG = "mlflow-auth-config"
AUTH_CONFIG_PATH = "/etc/mlflow/basic_auth.ini"
WORKERS = 2
SYSTEM_NODES = {LABEL_ROLE: "system"}
POD_LABELS = {base.LABEL_NAME: NAME, "app.kubernetes.io/instance": NAME}


def service_url() -> str:
    return f"http://{NAME}.{NAMESPACE}.svc.cluster.local:{PORT}"


def backend_uri(sslmode: str = "require") -> str:
    """The store URI, from the container's environment: no password (libpq reads PGPASSWORD, if any)."""
    return f"postgresql+psycopg2://$(DB_USER)@$(DB_HOST):$(DB_PORT)/$(DB_NAME)?sslmode={sslmode}"


def database_login(svc: ServicesContext) -> DatabaseLogin:
    return svc.foundation.database_login(NAMESPACE, SERVICE_ACCOUNT)


def auth_config(svc: ServicesContext) -> pulumi.Output[str]:
    """basic_auth.ini: the user store in the same database; the admin password comes from the
    environment (MLFLOW_AUTH_ADMIN_PASSWORD), never from this file."""
    login = database_login(svc)

    def render(args: list[Any]) -> str:
        user, host, port = args
        return "\n".join(
            [
                "[mlflow]",
                f"default_permission = {svc.spec.mlflow.default_permission}",
                f"database_uri = postgresql+psycopg2://{user}@{host}:{int(port)}/{login.database}"
                f"?sslmode={login.sslmode}",
                f"admin_username = {ADMIN_USER}",
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
                "",
            ]
        )

    return pulumi.Output.all(login.username, login.host, login.port).apply(render)


def allowed_hosts() -> str:
    """Host headers the server answers (MLflow's DNS-rebinding guard): the service's names, and the
    private address ranges kubelet probes and Prometheus use (pod IPs)."""
    names = [NAME, f"{NAME}.{NAMESPACE}", f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.cluster.local"]
    private = ["10.*", *(f"172.{i}.*" for i in range(16, 32)), "192.168.*", "localhost", "localhost:*"]
    return ",".join([*names, *(f"{n}:{PORT}" for n in names), *private])


def server_args(svc: ServicesContext, monitoring: Any) -> list[str]:
    args = [
        "server",
        "--host=0.0.0.0",
        f"--port={PORT}",
        f"--workers={WORKERS}",
        f"--backend-store-uri={backend_uri(database_login(svc).sslmode)}",
        "--serve-artifacts",
        "--artifacts-destination=$(ARTIFACTS_DESTINATION)",
        "--app-name=basic-auth",
        f"--allowed-hosts={allowed_hosts()}",
    ]
    if monitoring is not None:
        args.append("--expose-prometheus=/tmp/prometheus")
    return args


def _env(svc: ServicesContext, monitoring: Any) -> list[k8s.core.v1.EnvVarArgs]:
    login = database_login(svc)

    def secret(name: str, key: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=name, key=key))

    password = (
        [k8s.core.v1.EnvVarArgs(name="PGPASSWORD", value_from=secret(DB_SECRET, "password"))]
        if login.password_secret is not None
        else []
    )
    env = [
        k8s.core.v1.EnvVarArgs(name="DB_HOST", value=login.host),
        k8s.core.v1.EnvVarArgs(name="DB_PORT", value=pulumi.Output.from_input(login.port).apply(lambda p: str(int(p)))),
        k8s.core.v1.EnvVarArgs(name="DB_NAME", value=login.database),
        k8s.core.v1.EnvVarArgs(name="DB_USER", value=login.username),
        *password,
        k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value=login.sslmode),
        k8s.core.v1.EnvVarArgs(name="ARTIFACTS_DESTINATION", value=svc.foundation.buckets["models"].uri),
        k8s.core.v1.EnvVarArgs(name="MLFLOW_AUTH_CONFIG_PATH", value=AUTH_CONFIG_PATH),
        k8s.core.v1.EnvVarArgs(name="MLFLOW_AUTH_ADMIN_USERNAME", value_from=secret(AUTH_SECRET, "admin-username")),
        k8s.core.v1.EnvVarArgs(name="MLFLOW_AUTH_ADMIN_PASSWORD", value_from=secret(AUTH_SECRET, "admin-password")),
        k8s.core.v1.EnvVarArgs(
            name="MLFLOW_FLASK_SERVER_SECRET_KEY", value_from=secret(AUTH_SECRET, "flask-secret-key")
        ),
        k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
    ]
    if monitoring is not None:
        env.append(k8s.core.v1.EnvVarArgs(name="PROMETHEUS_MULTIPROC_DIR", value="/tmp/prometheus"))
    return env


class ModelRegistry(pulumi.ComponentResource):
    """MLflow with its identity, secrets, service, disruption budget, metrics and network policies."""

    namespace: str
    service_url: str
    port: int
    pod_labels: dict[str, str]

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        *,
        secrets: ExternalSecrets,
        monitoring: Any = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:k8s:ModelRegistry", name, None, opts)
        f = svc.foundation
        if "models" not in f.buckets:
            raise pulumi.RunError("the model registry needs the foundation's 'models' bucket")
        self.namespace = NAMESPACE
        self.service_url = service_url()
        self.port = PORT
        self.pod_labels = dict(POD_LABELS)
        component = "model-registry"
        labels = {**svc.labels(component), **POD_LABELS}
        prod = svc.ctx.prod
        child = pulumi.ResourceOptions(parent=self)

        ns = base.namespace(NAMESPACE, svc, "restricted", child, component=component)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

        def meta(obj: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=obj, namespace=NAMESPACE, labels=labels, annotations=svc.annotations()
            )

        # -- identity: the models bucket read-write and the database login, nothing else --------------
        login = database_login(svc)
        self.identity = f.bind_identity(
            NAMESPACE,
            SERVICE_ACCOUNT,
            IdentityAccess(
                buckets=(BucketAccess(bucket="models", mode="read-write"),),
                secrets=() if login.password_secret is None else (login.password_secret,),
                database=True,
                registry_pull=False,  # the image comes from ghcr.io, not the platform's registry
            ),
        )
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT, namespace=NAMESPACE, labels=labels, annotations=self.identity.annotations
            ),
            automount_service_account_token=False,  # the server never calls the Kubernetes API
            opts=in_ns,
        )

        # -- secrets: the database password from the cloud, the auth secrets generated in the cluster --
        store = secrets.store(
            f"{name}-store",
            NAMESPACE,
            SERVICE_ACCOUNT,
            pulumi.ResourceOptions(parent=self, depends_on=[sa]),
            component=component,
        )
        db_secrets = []
        if login.password_secret is not None:
            db_secrets.append(
                secrets.sync(
                    f"{name}-db",
                    NAMESPACE,
                    DB_SECRET,
                    {"password": f.secret_remote_ref(login.password_secret, login.password_property)},
                    pulumi.ResourceOptions(parent=self, depends_on=[store]),
                    component=component,
                )
            )
        auth_secret = secrets.generate(
            f"{name}-auth",
            NAMESPACE,
            AUTH_SECRET,
            ["admin-password", "flask-secret-key"],
            in_ns,
            component=component,
            literals={"admin-username": ADMIN_USER},
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-auth-config", metadata=meta(AUTH_CONFIG), data={"basic_auth.ini": auth_config(svc)}, opts=in_ns
        )

        # -- the server ----------------------------------------------------------------------------------
        replicas = svc.spec.mlflow.replicas or (2 if prod else 1)
        probe_get = k8s.core.v1.HTTPGetActionArgs(path="/health", port="http")
        container = k8s.core.v1.ContainerArgs(
            name="mlflow",
            image=IMAGE.ref,
            image_pull_policy="IfNotPresent",
            command=["mlflow"],
            args=server_args(svc, monitoring),
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
            env=_env(svc, monitoring),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "2Gi"}
            ),
            # The first start creates the schema (migrations): give it time before liveness counts.
            startup_probe=k8s.core.v1.ProbeArgs(http_get=probe_get, period_seconds=10, failure_threshold=60),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=probe_get, period_seconds=10, failure_threshold=3),
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=probe_get, period_seconds=20, failure_threshold=3, timeout_seconds=5
            ),
            security_context=base.restricted_container_security(uid=UID),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(name="auth-config", mount_path="/etc/mlflow", read_only=True),
            ],
        )
        spread = (
            [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key="topology.kubernetes.io/zone",
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(POD_LABELS)),
                )
            ]
            if replicas > 1
            else None
        )
        k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=meta(NAME),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(POD_LABELS)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=SERVICE_ACCOUNT,
                        automount_service_account_token=False,
                        security_context=base.restricted_pod_security(UID),
                        init_containers=list(login.sidecars) or None,  # e.g. the database proxy
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="auth-config",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=AUTH_CONFIG),
                            ),
                        ],
                        tolerations=base.system_toleration_args(),
                        node_selector=dict(SYSTEM_NODES),
                        topology_spread_constraints=spread,
                        termination_grace_period_seconds=30,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, sa, *db_secrets, auth_secret, config]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=dict(POD_LABELS),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")],
            ),
            opts=in_ns,
        )
        if prod:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta(NAME),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    min_available=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(POD_LABELS))
                ),
                opts=in_ns,
            )
        if monitoring is not None:
            base.custom_resource(
                f"{name}-metrics",
                "monitoring.coreos.com/v1",
                "ServiceMonitor",
                k8s.meta.v1.ObjectMetaArgs(
                    name=NAME, namespace=NAMESPACE, labels={**labels, **release_label(monitoring)}
                ),
                {
                    "selector": {"matchLabels": dict(POD_LABELS)},
                    "endpoints": [
                        {
                            "port": "http",
                            "path": "/metrics",
                            "interval": "30s",
                            # /metrics sits behind basic auth like every route but /health
                            "basicAuth": {
                                "username": {"name": AUTH_SECRET, "key": "admin-username"},
                                "password": {"name": AUTH_SECRET, "key": "admin-password"},
                            },
                        }
                    ],
                },
                pulumi.ResourceOptions(parent=self, depends_on=[ns, *monitoring_dependencies(monitoring)]),
            )

        # -- network policies ------------------------------------------------------------------------------
        np = k8s.networking.v1
        base.default_deny(f"{name}-default-deny", NAMESPACE, svc, in_ns, component=component)
        sources = [np.NetworkPolicyPeerArgs(namespace_selector=team_namespaces())]
        if monitoring is not None:
            sources.append(base.peer(getattr(monitoring, "namespace", base.NS_MONITORING)))
        base.network_policy(
            f"{name}-ingress",
            NAMESPACE,
            svc,
            in_ns,
            component=component,
            policy_name="mlflow-ingress",
            pod_labels=POD_LABELS,
            ingress=[np.NetworkPolicyIngressRuleArgs(from_=sources, ports=base.ports(PORT))],
        )
        egress = [
            base.dns_egress(),
            # The database (RDS endpoint; GCP: the Auth Proxy to the instance's 3307 and the Cloud SQL
            # Admin API), addresses the program cannot pin here.
            np.NetworkPolicyEgressRuleArgs(
                ports=[
                    np.NetworkPolicyPortArgs(port=pulumi.Output.from_input(p).apply(int), protocol="TCP")
                    for p in login.egress_ports
                ]
            ),
            # The object store and the cloud's token/KMS endpoints.
            np.NetworkPolicyEgressRuleArgs(ports=base.ports(HTTPS)),
        ]
        for cidr, port in f.workload_identity_endpoints:
            egress.append(
                np.NetworkPolicyEgressRuleArgs(
                    to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=cidr))], ports=base.ports(port)
                )
            )
        base.network_policy(
            f"{name}-egress",
            NAMESPACE,
            svc,
            in_ns,
            component=component,
            policy_name="mlflow-egress",
            pod_labels=POD_LABELS,
            egress=egress,
        )
        self.register_outputs(
            {"namespace": self.namespace, "service_url": self.service_url, "identity": self.identity.principal}
        )


def team_namespaces() -> k8s.meta.v1.LabelSelectorArgs:
    """The team namespaces (tenancy labels them part-of ml-platform with their team), not the platform's."""
    return k8s.meta.v1.LabelSelectorArgs(
        match_labels={"app.kubernetes.io/part-of": base.PART_OF},
        match_expressions=[
            k8s.meta.v1.LabelSelectorRequirementArgs(key=base.LABEL_TEAM, operator="Exists"),
            k8s.meta.v1.LabelSelectorRequirementArgs(key=base.LABEL_TEAM, operator="NotIn", values=["platform"]),
        ],
    )
