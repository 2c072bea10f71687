"""The feature store: Feast in the cluster, on the foundation's database, cache and datasets bucket.

* Image: Feast's official feature-server image `quay.io/feastdev/feature-server:<version>` (Feast
  publishes on Quay since 0.47; the image is `feast[minimal]` on UBI 9 Python 3.11 with the Redis,
  PostgreSQL (psycopg 3), AWS and GCP extras, so the platform builds no image). It runs as the platform's
  UID 65532 rather than the image's 1001 (UBI images run under any UID).
* Registry: Feast's SQL registry in the `feast` schema of the platform database (`DatabaseRef`),
  served by `feast serve_registry` (gRPC, Service `feast-registry.feast.svc:6570`). Team pipelines,
  notebooks and the feature server itself use it as a "remote" registry and never hold a database
  login; only the registry server does, as `Foundation.database_login` says (AWS: the shared user and
  its password; GCP: its own IAM identity through the Cloud SQL Auth Proxy sidecar, no password). An
  init container creates the schema
  (`CREATE SCHEMA IF NOT EXISTS feast`, idempotent) with the image's own Python and psycopg; the
  registry's engine sets `search_path=feast`, so Feast creates its tables there on first start.
* Online store: the foundation's managed Redis-compatible cache (`OnlineStoreRef`), TLS, AUTH token
  from the cloud's secret manager. Where the cache's CA is a per-instance one (Memorystore), its PEM
  is mounted from a ConfigMap and pinned (`ssl_ca_certs`); only that instance holds a certificate it
  signed, so the host name is not checked as well (the certificate names no IP address to match).
* Offline store: Feast's file offline store; the feature repository's `FileSource`s point at Parquet
  under `<datasets bucket>/features/<project>/` (`FeatureStore.offline_store_uri`), read through
  pyarrow/fsspec with the pod's workload identity.
* Feature server: `feast serve` (HTTP 6566, Service `feast-feature-server.feast.svc`), with Feast's
  Prometheus metrics (`--metrics`, port 8000) scraped by a PodMonitor where monitoring is on.

No secret is in any ConfigMap: Feast reads `feature_store.yaml` through `os.path.expandvars`, so
`${REDIS_PASSWORD}` is substituted from the pod's environment (a Kubernetes Secret synced by External
Secrets). The database password is not in the registry URL at all: libpq reads `PGPASSWORD`, so a
password with URL-special characters (RDS-generated ones have `#`, `%`, `:`) cannot break the URL.
The cache's AUTH token, substituted into Feast's comma-separated connection string, must not contain
`,` or whitespace: the foundations generate it from letters and digits.

Identities, least privilege (the feature server runs the on-demand transformations any team
registers, as Feast deserializes them; the registry server does not, it reads them `skip_udf`):
* `feast-secrets`: no pod runs as it; the namespace's SecretStore reads as it exactly the cache's AUTH
  token and, where the database login has one (AWS), the database password.
* `feast` (feature server): read of `<datasets>/features/` only; it mounts the cache token only.
* `feast-registry` (registry server): it mounts the database password only (AWS); where the database
  login is the workload's own IAM identity (GCP) it has that identity, with the database and nothing else.

Network: default deny; in: the feature server (6566) and the registry (6570) from team namespaces,
the registry also from the feature server, metrics (8000) from the monitoring namespace; out: DNS,
the registry server to PostgreSQL, the feature server to the registry, the cache, HTTPS (object
store, STS) and the cloud's workload-identity endpoint.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.foundation import LABEL_ROLE, BucketAccess, DatabaseLogin, IdentityAccess, OnlineStoreRef
from components.k8s import base
from components.k8s.base import Image, ServicesContext
from components.k8s.mlflow import team_namespaces
from components.k8s.secrets import ExternalSecrets
from components.k8s.serving import monitoring_dependencies, release_label

# Feast 0.67.0 (PyPI feast==0.67.0, the version pinned in pyproject's `features` extra); the image of the
# same release on Quay (quay.io/feastdev/feature-server, tags without a `v`).
FEAST_VERSION = "0.67.0"
IMAGE = Image("quay.io/feastdev/feature-server", FEAST_VERSION)
NAMESPACE = base.NS_FEAST
SERVER = "feast-feature-server"
REGISTRY = "feast-registry"
SERVER_PORT = 6566  # Feast's default `feast serve` port
REGISTRY_PORT = 6570  # Feast's default `feast serve_registry` port
METRICS_PORT = 8000  # Feast's metrics server (fixed in Feast)
HTTPS = 443
SERVER_SA = "feast"
REGISTRY_SA = "feast-registry"
SECRETS_SA = "feast-secrets"
DB_SECRET = "feast-db"
ONLINE_SECRET = "feast-online-store"
CA_CONFIG = "feast-online-store-ca"
SCHEMA = "feast"
# The platform's UID, not the image's 1001: UBI images are built to run as an arbitrary UID (OpenShift's
# convention: files group-0 readable), and a UID above 10000 cannot collide with a host user.
UID = 65532
CONFIG_DIR = "/etc/feast"
CA_DIR = "/etc/feast-ca"
CA_FILE = "ca.crt"
CACHE_TTL_SECONDS = 60  # registry cache of every reader: a new feature view is served within a minute
SERVER_WORKERS = 2
PRIORITY_CLASS = f"ml-{base.PRIORITY_SERVING}"  # online features are on the serving path
SYSTEM_NODES = {LABEL_ROLE: "system"}
SERVER_LABELS = {base.LABEL_NAME: SERVER, "app.kubernetes.io/instance": SERVER}
REGISTRY_LABELS = {base.LABEL_NAME: REGISTRY, "app.kubernetes.io/instance": REGISTRY}
REGISTRY_ADDRESS = f"{REGISTRY}.{NAMESPACE}.svc.cluster.local:{REGISTRY_PORT}"
FEATURE_SERVER_URL = f"http://{SERVER}.{NAMESPACE}.svc.cluster.local:{SERVER_PORT}"
PASSWORD_VAR = "REDIS_PASSWORD"
COMPONENT = "feature-store"

# Runs in the registry pod before the server: libpq takes host, port, database, user and password from
# the PG* environment; autocommit, so the DDL needs no transaction.
CREATE_SCHEMA = (
    "import psycopg\n"
    "with psycopg.connect(autocommit=True) as conn:\n"
    f"    conn.execute('CREATE SCHEMA IF NOT EXISTS {SCHEMA}')\n"
    f"print('schema {SCHEMA} ready')\n"
)

HEADER = (
    "# Rendered by ml-platform (components/k8s/feature_store.py). Feast expands environment variables\n"
    "# in this file when it loads it: secrets come from the pod's environment, never from here.\n"
)


# --- feature_store.yaml ---------------------------------------------------------------------------------


def registry_database_url(user: str, host: str, port: int, database: str, sslmode: str = "require") -> str:
    """The SQL registry's SQLAlchemy URL (psycopg 3), TLS required (or a local proxy that encrypts),
    without a password: libpq reads it from PGPASSWORD where there is one."""
    return f"postgresql+psycopg://{user}@{host}:{int(port)}/{database}?sslmode={sslmode}"


def online_connection_string(
    host: str, port: int, *, tls: bool, ca_file: str | None = None, password: bool = True
) -> str:
    """Feast's Redis connection string (`host:port,key=value,...`; each pair becomes a redis-py
    argument). The AUTH token is `${REDIS_PASSWORD}`, substituted by Feast from the environment."""
    parts = [f"{host}:{int(port)}"]
    if tls:
        parts.append("ssl=true")
        if ca_file:
            parts += [f"ssl_ca_certs={ca_file}", "ssl_check_hostname=false"]
    if password:
        parts.append(f"password=${{{PASSWORD_VAR}}}")
    return ",".join(parts)


def sql_registry(url: str) -> dict[str, Any]:
    return {
        "registry_type": "sql",
        "path": url,
        "cache_ttl_seconds": CACHE_TTL_SECONDS,
        # a materialization marks the view MATERIALIZING in the shared registry; readers keep serving the
        # last values instead of refusing until it ends
        "serve_features_while_materializing": True,
        "sqlalchemy_config_kwargs": {
            "echo": False,
            "pool_pre_ping": True,  # a failover (Multi-AZ, Cloud SQL HA) drops connections
            # the `feast` schema: Feast's tables are created and read there, nowhere else
            "connect_args": {"options": f"-csearch_path={SCHEMA}", "connect_timeout": 10},
        },
    }


def remote_registry() -> dict[str, Any]:
    return {"registry_type": "remote", "path": REGISTRY_ADDRESS, "cache_ttl_seconds": CACHE_TTL_SECONDS}


def render_feature_store_yaml(project: str, registry: dict[str, Any], online_connection: str) -> str:
    doc = {
        "project": project,
        "provider": "local",
        "registry": registry,
        "online_store": {"type": "redis", "connection_string": online_connection},
        # Parquet files under <datasets>/features/<project>/, named by the repository's FileSources
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False)


def _ca_file(online: OnlineStoreRef) -> str | None:
    return f"{CA_DIR}/{CA_FILE}" if online.tls and online.ca_certificate is not None else None


def client_feature_store_yaml(svc: ServicesContext, online: OnlineStoreRef) -> pulumi.Output[str]:
    """feature_store.yaml of a registry client (the feature server, team pipelines): the remote
    registry, the cache with `${REDIS_PASSWORD}`, the file offline store. A pod using it sets
    REDIS_PASSWORD and, where the cache has its own CA, mounts it at `/etc/feast-ca/ca.crt`."""
    project = svc.ctx.spec.feature_store.project
    ca_file = _ca_file(online)

    def render(args: list[Any]) -> str:
        host, port = args
        conn = online_connection_string(host, port, tls=online.tls, ca_file=ca_file)
        return render_feature_store_yaml(project, remote_registry(), conn)

    return pulumi.Output.all(online.host, online.port).apply(render)


def registry_login(svc: ServicesContext) -> DatabaseLogin:
    """How the registry server logs in to the platform database."""
    return svc.foundation.database_login(NAMESPACE, REGISTRY_SA)


def registry_feature_store_yaml(svc: ServicesContext, online: OnlineStoreRef) -> pulumi.Output[str]:
    """feature_store.yaml of the registry server: the SQL registry. The server never opens the online
    store (it serves metadata only), so the cache appears without a password."""
    project = svc.ctx.spec.feature_store.project
    login = registry_login(svc)

    def render(args: list[Any]) -> str:
        db_user, db_host, db_port, cache_host, cache_port = args
        url = registry_database_url(db_user, db_host, db_port, login.database, login.sslmode)
        conn = online_connection_string(cache_host, cache_port, tls=online.tls, password=False)
        return render_feature_store_yaml(project, sql_registry(url), conn)

    return pulumi.Output.all(login.username, login.host, login.port, online.host, online.port).apply(render)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the component ---------------------------------------------------------------------------------------


class FeatureStore(pulumi.ComponentResource):
    """Feast's registry server and feature server with their identities, secrets, services, disruption
    budgets, metrics and network policies."""

    namespace: str
    project: str
    feature_server_url: str
    registry_address: str  # host:port, a Feast `registry_type: remote` path
    registry_url: str
    server_pod_labels: dict[str, str]
    registry_pod_labels: dict[str, str]
    ports: dict[str, int]  # feature_server, registry, metrics
    offline_store_uri: pulumi.Output[str]
    client_config: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        *,
        secrets: ExternalSecrets,
        monitoring: Any = None,
        kueue: Any = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:k8s:FeatureStore", name, None, opts)
        f = svc.foundation
        online = f.online_store
        if online is None:
            raise pulumi.RunError("the feature store needs the foundation's online store (featureStore.enabled)")
        if "datasets" not in f.buckets:
            raise pulumi.RunError("the feature store needs the foundation's 'datasets' bucket")
        fs_spec = svc.ctx.spec.feature_store
        self.namespace = NAMESPACE
        self.project = fs_spec.project
        self.feature_server_url = FEATURE_SERVER_URL
        self.registry_address = REGISTRY_ADDRESS
        self.registry_url = f"grpc://{REGISTRY_ADDRESS}"
        self.server_pod_labels = dict(SERVER_LABELS)
        self.registry_pod_labels = dict(REGISTRY_LABELS)
        self.ports = {"feature_server": SERVER_PORT, "registry": REGISTRY_PORT, "metrics": METRICS_PORT}
        self.offline_store_uri = f.buckets["datasets"].uri.apply(
            lambda uri: f"{uri.rstrip('/')}/features/{fs_spec.project}/"
        )
        self.client_config = client_feature_store_yaml(svc, online)
        labels = svc.labels(COMPONENT)
        replicas = fs_spec.server_replicas or (2 if svc.ctx.prod else 1)
        child = pulumi.ResourceOptions(parent=self)

        ns = base.namespace(NAMESPACE, svc, "restricted", child, component=COMPONENT)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

        def meta(obj: str, pods: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=obj, namespace=NAMESPACE, labels={**labels, **(pods or {})}, annotations=svc.annotations()
            )

        def service_account(sa: str, annotations: Any = None) -> k8s.core.v1.ServiceAccount:
            return k8s.core.v1.ServiceAccount(
                f"{name}-sa-{sa}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sa, namespace=NAMESPACE, labels=labels, annotations=annotations
                ),
                automount_service_account_token=False,  # no Feast process calls the Kubernetes API
                opts=in_ns,
            )

        # -- identities --------------------------------------------------------------------------------------
        login = registry_login(svc)
        password = login.password_secret
        self.secrets_identity = f.bind_identity(
            NAMESPACE,
            SECRETS_SA,
            IdentityAccess(
                secrets=(online.auth_secret,) if password is None else (password, online.auth_secret),
                registry_pull=False,
            ),
        )
        self.identity = f.bind_identity(
            NAMESPACE,
            SERVER_SA,
            IdentityAccess(
                buckets=(BucketAccess(bucket="datasets", prefix="features/", mode="read"),),
                registry_pull=False,  # the image comes from quay.io, not the platform's registry
            ),
        )
        # Without a password the registry's login is its own identity (IAM database authentication).
        self.registry_identity = None
        if password is None:
            self.registry_identity = f.bind_identity(
                NAMESPACE, REGISTRY_SA, IdentityAccess(database=True, registry_pull=False)
            )
        secrets_sa = service_account(SECRETS_SA, self.secrets_identity.annotations)
        server_sa = service_account(SERVER_SA, self.identity.annotations)
        registry_sa = service_account(
            REGISTRY_SA, self.registry_identity.annotations if self.registry_identity else None
        )

        # -- secrets: the database password and the cache's AUTH token, from the cloud ----------------------
        store = secrets.store(
            f"{name}-store",
            NAMESPACE,
            SECRETS_SA,
            pulumi.ResourceOptions(parent=self, depends_on=[secrets_sa]),
            component=COMPONENT,
        )
        after_store = pulumi.ResourceOptions(parent=self, depends_on=[store])
        db_secrets = []
        if password is not None:
            db_secrets.append(
                secrets.sync(
                    f"{name}-db",
                    NAMESPACE,
                    DB_SECRET,
                    {"password": f.secret_remote_ref(password, login.password_property)},
                    after_store,
                    component=COMPONENT,
                )
            )
        online_secret = secrets.sync(
            f"{name}-online-store",
            NAMESPACE,
            ONLINE_SECRET,
            {"password": f.secret_remote_ref(online.auth_secret, online.auth_secret_property)},
            after_store,
            component=COMPONENT,
        )

        # -- configuration -----------------------------------------------------------------------------------
        registry_yaml = registry_feature_store_yaml(svc, online)
        registry_config = k8s.core.v1.ConfigMap(
            f"{name}-registry-config",
            metadata=meta(REGISTRY),
            data={"feature_store.yaml": registry_yaml},
            opts=in_ns,
        )
        server_config = k8s.core.v1.ConfigMap(
            f"{name}-server-config",
            metadata=meta(SERVER),
            data={"feature_store.yaml": self.client_config},
            opts=in_ns,
        )
        server_volumes = [
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")),
            k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=SERVER)),
        ]
        server_mounts = [
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
        ]
        server_deps: list[pulumi.Resource] = [ns, server_sa, online_secret, server_config]
        if _ca_file(online) is not None and online.ca_certificate is not None:
            ca = k8s.core.v1.ConfigMap(
                f"{name}-online-store-ca", metadata=meta(CA_CONFIG), data={CA_FILE: online.ca_certificate}, opts=in_ns
            )
            server_deps.append(ca)
            server_volumes.append(
                k8s.core.v1.VolumeArgs(name="ca", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CA_CONFIG))
            )
            server_mounts.append(k8s.core.v1.VolumeMountArgs(name="ca", mount_path=CA_DIR, read_only=True))

        # -- placement: the CPU worker pool; the system pool where the stack has no worker pool -------------
        if f.worker_node_selector:
            node_selector, tolerations = dict(f.worker_node_selector), None
        else:
            node_selector, tolerations = dict(SYSTEM_NODES), base.system_toleration_args()

        def env_secret(var: str, secret: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(
                name=var,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key="password")
                ),
            )

        def pod_spec(
            sa: str,
            containers: list[k8s.core.v1.ContainerArgs],
            volumes: list[k8s.core.v1.VolumeArgs],
            pods: dict[str, str],
            *,
            init: list[k8s.core.v1.ContainerArgs] | None = None,
            priority: str | None = None,
        ) -> k8s.core.v1.PodSpecArgs:
            spread = (
                [
                    k8s.core.v1.TopologySpreadConstraintArgs(
                        max_skew=1,
                        topology_key="topology.kubernetes.io/zone",
                        when_unsatisfiable="ScheduleAnyway",
                        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods)),
                    )
                ]
                if replicas > 1
                else None
            )
            return k8s.core.v1.PodSpecArgs(
                service_account_name=sa,
                automount_service_account_token=False,
                security_context=base.restricted_pod_security(UID),
                init_containers=init,
                containers=containers,
                volumes=volumes,
                node_selector=node_selector,
                tolerations=tolerations,
                topology_spread_constraints=spread,
                priority_class_name=priority,
                termination_grace_period_seconds=30,
            )

        def deployment(
            resource: str,
            obj: str,
            pods: dict[str, str],
            spec: k8s.core.v1.PodSpecArgs,
            config_yaml: pulumi.Output[str],
            deps: list[pulumi.Resource],
        ) -> k8s.apps.v1.Deployment:
            return k8s.apps.v1.Deployment(
                resource,
                metadata=meta(obj, pods),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=replicas,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods)),
                    strategy=k8s.apps.v1.DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                    ),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(
                            labels={**labels, **pods},
                            # a changed feature_store.yaml rolls the pods (a mounted ConfigMap is not re-read)
                            annotations={"ml-platform/config-digest": config_yaml.apply(_digest)},
                        ),
                        spec=spec,
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
            )

        # -- the registry server ------------------------------------------------------------------------------
        db_port = pulumi.Output.from_input(login.port).apply(lambda p: str(int(p)))
        db_password = [] if password is None else [env_secret("PGPASSWORD", DB_SECRET)]
        schema_init = k8s.core.v1.ContainerArgs(
            name="create-schema",
            image=IMAGE.ref,
            image_pull_policy="IfNotPresent",
            command=["python", "-c", CREATE_SCHEMA],
            env=[
                k8s.core.v1.EnvVarArgs(name="PGHOST", value=login.host),
                k8s.core.v1.EnvVarArgs(name="PGPORT", value=db_port),
                k8s.core.v1.EnvVarArgs(name="PGDATABASE", value=login.database),
                k8s.core.v1.EnvVarArgs(name="PGUSER", value=login.username),
                *db_password,
                k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value=login.sslmode),
                k8s.core.v1.EnvVarArgs(name="PGCONNECT_TIMEOUT", value="10"),
                k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "128Mi"}, limits={"memory": "256Mi"}
            ),
            security_context=base.restricted_container_security(uid=UID),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        grpc_probe = k8s.core.v1.GRPCActionArgs(port=REGISTRY_PORT)  # the server's grpc.health.v1 service
        registry_container = k8s.core.v1.ContainerArgs(
            name="registry",
            image=IMAGE.ref,
            image_pull_policy="IfNotPresent",
            command=["feast"],
            args=["--chdir", CONFIG_DIR, "serve_registry", "--port", str(REGISTRY_PORT)],
            ports=[k8s.core.v1.ContainerPortArgs(name="grpc", container_port=REGISTRY_PORT, protocol="TCP")],
            env=[*db_password, k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "100m", "memory": "512Mi"}, limits={"memory": "1Gi"}
            ),
            # the first start creates the registry's tables
            startup_probe=k8s.core.v1.ProbeArgs(grpc=grpc_probe, period_seconds=5, failure_threshold=60),
            readiness_probe=k8s.core.v1.ProbeArgs(grpc=grpc_probe, period_seconds=10, failure_threshold=3),
            liveness_probe=k8s.core.v1.ProbeArgs(
                grpc=grpc_probe, period_seconds=20, failure_threshold=3, timeout_seconds=5
            ),
            security_context=base.restricted_container_security(uid=UID),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
            ],
        )
        registry_deploy = deployment(
            f"{name}-registry",
            REGISTRY,
            REGISTRY_LABELS,
            pod_spec(
                REGISTRY_SA,
                [registry_container],
                [
                    k8s.core.v1.VolumeArgs(
                        name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
                    ),
                    k8s.core.v1.VolumeArgs(
                        name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=REGISTRY)
                    ),
                ],
                REGISTRY_LABELS,
                init=[*login.sidecars, schema_init],  # a database proxy first: the schema init uses it
            ),
            registry_yaml,
            [ns, registry_sa, *db_secrets, registry_config],
        )
        k8s.core.v1.Service(
            f"{name}-registry-service",
            metadata=meta(REGISTRY, REGISTRY_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=dict(REGISTRY_LABELS),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="grpc", port=REGISTRY_PORT, target_port="grpc", protocol="TCP", app_protocol="grpc"
                    )
                ],
            ),
            opts=in_ns,
        )

        # -- the feature server -------------------------------------------------------------------------------
        server_args = [
            "--chdir",
            CONFIG_DIR,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(SERVER_PORT),
            "--workers",
            str(SERVER_WORKERS),
            "--registry_ttl_sec",
            str(CACHE_TTL_SECONDS),
        ]
        ports = [k8s.core.v1.ContainerPortArgs(name="http", container_port=SERVER_PORT, protocol="TCP")]
        if monitoring is not None:
            server_args.append("--metrics")
            ports.append(k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT, protocol="TCP"))
        health = k8s.core.v1.HTTPGetActionArgs(path="/health", port="http")  # 200 once the registry answers
        server_container = k8s.core.v1.ContainerArgs(
            name="feature-server",
            image=IMAGE.ref,
            image_pull_policy="IfNotPresent",
            command=["feast"],
            args=server_args,
            ports=ports,
            env=[env_secret(PASSWORD_VAR, ONLINE_SECRET), k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "250m", "memory": "1Gi"}, limits={"memory": "2Gi"}
            ),
            startup_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=5, failure_threshold=60),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=10, failure_threshold=3),
            # liveness: the process answers; a registry outage must not restart servers that serve from cache
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="http"), period_seconds=20, failure_threshold=3
            ),
            security_context=base.restricted_container_security(uid=UID),
            volume_mounts=server_mounts,
        )
        priority = PRIORITY_CLASS if kueue is not None else None  # the ml-serving PriorityClass comes with Kueue
        server_deps.append(registry_deploy)
        if kueue is not None:
            server_deps.append(kueue)
        deployment(
            f"{name}-server",
            SERVER,
            SERVER_LABELS,
            pod_spec(SERVER_SA, [server_container], server_volumes, SERVER_LABELS, priority=priority),
            self.client_config,
            server_deps,
        )
        k8s.core.v1.Service(
            f"{name}-server-service",
            metadata=meta(SERVER, SERVER_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=dict(SERVER_LABELS),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=SERVER_PORT, target_port="http", protocol="TCP")],
            ),
            opts=in_ns,
        )
        if replicas > 1:
            for obj, pods in ((SERVER, SERVER_LABELS), (REGISTRY, REGISTRY_LABELS)):
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-pdb-{obj}",
                    metadata=meta(obj, pods),
                    spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                        min_available=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods))
                    ),
                    opts=in_ns,
                )
        if monitoring is not None:
            base.custom_resource(
                f"{name}-metrics",
                "monitoring.coreos.com/v1",
                "PodMonitor",
                k8s.meta.v1.ObjectMetaArgs(
                    name=SERVER, namespace=NAMESPACE, labels={**labels, **release_label(monitoring)}
                ),
                {
                    "selector": {"matchLabels": dict(SERVER_LABELS)},
                    "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
                },
                pulumi.ResourceOptions(parent=self, depends_on=[ns, *monitoring_dependencies(monitoring)]),
            )

        self._network_policies(name, svc, online, monitoring, in_ns)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "feature_server_url": self.feature_server_url,
                "registry_url": self.registry_url,
                "registry_address": self.registry_address,
                "offline_store_uri": self.offline_store_uri,
                "identity": self.identity.principal,
            }
        )

    def _network_policies(
        self,
        name: str,
        svc: ServicesContext,
        online: OnlineStoreRef,
        monitoring: Any,
        opts: pulumi.ResourceOptions,
    ) -> None:
        np = k8s.networking.v1
        f = svc.foundation
        login = registry_login(svc)
        teams = np.NetworkPolicyPeerArgs(namespace_selector=team_namespaces())
        server_pods = np.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SERVER_LABELS))
        registry_pods = np.NetworkPolicyPeerArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=REGISTRY_LABELS)
        )

        def policy(suffix: str, pods: dict[str, str], **rules: Any) -> None:
            base.network_policy(
                f"{name}-{suffix}",
                NAMESPACE,
                svc,
                opts,
                component=COMPONENT,
                policy_name=suffix,
                pod_labels=pods,
                **rules,
            )

        base.default_deny(f"{name}-default-deny", NAMESPACE, svc, opts, component=COMPONENT)
        server_in = [np.NetworkPolicyIngressRuleArgs(from_=[teams], ports=base.ports(SERVER_PORT))]
        if monitoring is not None:
            server_in.append(
                np.NetworkPolicyIngressRuleArgs(
                    from_=[base.peer(getattr(monitoring, "namespace", base.NS_MONITORING))],
                    ports=base.ports(METRICS_PORT),
                )
            )
        policy("feast-feature-server-ingress", SERVER_LABELS, ingress=server_in)
        policy(
            "feast-registry-ingress",
            REGISTRY_LABELS,
            ingress=[np.NetworkPolicyIngressRuleArgs(from_=[teams, server_pods], ports=base.ports(REGISTRY_PORT))],
        )

        def port_of(port: pulumi.Input[int]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
            # the database / cache: private endpoints whose addresses the program cannot pin here
            return [np.NetworkPolicyPortArgs(port=pulumi.Output.from_input(port).apply(int), protocol="TCP")]

        registry_out = [
            base.dns_egress(),
            # the database (GCP: the Auth Proxy to the instance's 3307 and the Cloud SQL Admin API)
            np.NetworkPolicyEgressRuleArgs(ports=[p for port in login.egress_ports for p in port_of(port)]),
        ]
        if login.password_secret is None:  # the registry's own identity logs in: its token endpoint
            for cidr, port in f.workload_identity_endpoints:
                registry_out.append(
                    np.NetworkPolicyEgressRuleArgs(
                        to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=cidr))], ports=base.ports(port)
                    )
                )
        policy("feast-registry-egress", REGISTRY_LABELS, egress=registry_out)
        server_out = [
            base.dns_egress(),
            np.NetworkPolicyEgressRuleArgs(to=[registry_pods], ports=base.ports(REGISTRY_PORT)),
            np.NetworkPolicyEgressRuleArgs(ports=port_of(online.port)),
            # the object store (offline store) and the cloud's token endpoints (STS)
            np.NetworkPolicyEgressRuleArgs(ports=base.ports(HTTPS)),
        ]
        for cidr, port in f.workload_identity_endpoints:
            server_out.append(
                np.NetworkPolicyEgressRuleArgs(
                    to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=cidr))], ports=base.ports(port)
                )
            )
        policy("feast-feature-server-egress", SERVER_LABELS, egress=server_out)
