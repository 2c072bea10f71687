"""Realistic mock outputs for the GCP resources and lookups of the platform.

`infra.mocks.PlatformMocks` hands every `gcp:` resource to `new_resource` and every `gcp:` lookup to
`call`. Ids, self links, emails, endpoints and addresses have the formats the Google APIs return
(`projects/P/locations/R/clusters/C`, `NAME@P.iam.gserviceaccount.com`, `P:R:INSTANCE`, ...), derived
from a hash of the resource name so two syntheses are identical. State keys are camelCase (engine
form). A lookup without a mock raises `NotImplementedError` naming the token, never returns `{}`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from components.gcp import kms
from infra.mocks import GCP_PROJECT_NUMBER

if TYPE_CHECKING:
    from infra.mocks import PlatformMocks

COMPUTE = "https://www.googleapis.com/compute/v1"
# Zones per region as Compute Engine lists them (us-central1 has no d/e).
ZONE_SUFFIXES = {"us-central1": "abcf", "us-east1": "bcd", "europe-west4": "abc", "us-east4": "abc"}
AGENT_DOMAINS = kms.AGENT_DOMAINS  # the service agents the program grants key use to
SQL_AGENT_DOMAIN = AGENT_DOMAINS["sqladmin.googleapis.com"]
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMOCKGKECA\n-----END CERTIFICATE-----\n"


def _hex(value: str, n: int) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:n]


def _byte(value: str, i: int) -> int:
    return hashlib.sha256(value.encode()).digest()[i]


def _digits(value: str, n: int) -> str:
    return str(int(_hex(value, 16), 16))[:n]


def _project_number() -> str:
    return GCP_PROJECT_NUMBER


def _last(path: Any, default: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1] if path else default


def zones(region: str) -> list[str]:
    return [f"{region}-{c}" for c in ZONE_SUFFIXES.get(region, "abc")]


# -- resources ------------------------------------------------------------------------------------

Handler = Callable[["PlatformMocks", str, dict[str, Any]], tuple[str, dict[str, Any]]]


def _name(name: str, inputs: dict[str, Any]) -> str:
    return str(inputs.get("name") or f"{name}-{_hex(name, 7)}")


def _network(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = _name(name, inputs)
    rid = f"projects/{m.project}/global/networks/{n}"
    return rid, {
        **inputs,
        "name": n,
        "selfLink": f"{COMPUTE}/{rid}",
        "numericId": _digits(name, 19),
        "project": m.project,
    }


def _subnetwork(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n, region = _name(name, inputs), inputs.get("region") or m.region
    rid = f"projects/{m.project}/regions/{region}/subnetworks/{n}"
    cidr = str(inputs.get("ipCidrRange", "10.0.0.0/20"))
    gateway = cidr.split("/", maxsplit=1)[0].rsplit(".", 1)[0] + ".1"
    return rid, {
        **inputs,
        "name": n,
        "region": region,
        "selfLink": f"{COMPUTE}/{rid}",
        "gatewayAddress": gateway,
        "fingerprint": _hex(name, 12),
        "subnetworkId": int(_digits(name, 15)),
        "project": m.project,
    }


def _router(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n, region = _name(name, inputs), inputs.get("region") or m.region
    rid = f"projects/{m.project}/regions/{region}/routers/{n}"
    return rid, {**inputs, "name": n, "region": region, "selfLink": f"{COMPUTE}/{rid}", "project": m.project}


def _router_nat(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n, region = _name(name, inputs), inputs.get("region") or m.region
    return f"{m.project}/{region}/{inputs.get('router', 'router')}/{n}", {
        **inputs,
        "name": n,
        "region": region,
        "project": m.project,
    }


def _global_address(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = _name(name, inputs)
    rid = f"projects/{m.project}/global/addresses/{n}"
    address = inputs.get("address") or f"172.{16 + _byte(name, 0) % 16}.{(_byte(name, 1) % 16) * 16}.0"
    return rid, {
        **inputs,
        "name": n,
        "address": address,
        "selfLink": f"{COMPUTE}/{rid}",
        "project": m.project,
    }


def _psa_connection(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    network = str(inputs.get("network", f"projects/{m.project}/global/networks/default"))
    service = inputs.get("service", "servicenetworking.googleapis.com")
    return f"{network.replace('/', '%2F')}:{service}", {
        **inputs,
        "peering": "servicenetworking-googleapis-com",
    }


def _key_ring(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n, location = _name(name, inputs), inputs.get("location") or m.region
    return f"projects/{m.project}/locations/{location}/keyRings/{n}", {
        **inputs,
        "name": n,
        "project": m.project,
    }


def _crypto_key(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = _name(name, inputs)
    ring = inputs.get("keyRing") or f"projects/{m.project}/locations/{m.region}/keyRings/ring"
    return f"{ring}/cryptoKeys/{n}", {
        **inputs,
        "name": n,
        "primaries": [{"name": f"{ring}/cryptoKeys/{n}/cryptoKeyVersions/1", "state": "ENABLED"}],
    }


def _iam_member(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    target = next(
        (
            str(inputs[k])
            for k in ("cryptoKeyId", "bucket", "serviceAccountId", "repository", "project")
            if inputs.get(k)
        ),
        m.project,
    )
    return f"{target}/{inputs.get('role', '')}/{inputs.get('member', '')}", {
        **inputs,
        "etag": f"BwY{_hex(name, 8)}=",
    }


def _service_identity(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    service = str(inputs.get("service", ""))
    domain = AGENT_DOMAINS.get(service, f"gcp-sa-{service.split('.', maxsplit=1)[0]}.iam.gserviceaccount.com")
    email = f"service-{_project_number()}@{domain}"
    return f"projects/{m.project}/services/{service}", {
        **inputs,
        "email": email,
        "member": f"serviceAccount:{email}",
    }


def _service_account(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    account = str(inputs.get("accountId") or f"sa-{_hex(name, 10)}")
    email = f"{account}@{m.project}.iam.gserviceaccount.com"
    rid = f"projects/{m.project}/serviceAccounts/{email}"
    return rid, {
        **inputs,
        "email": email,
        "name": rid,
        "member": f"serviceAccount:{email}",
        "uniqueId": "1" + _digits(name, 20),
        "project": m.project,
    }


def _cluster(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n, location = _name(name, inputs), inputs.get("location") or m.region
    rid = f"projects/{m.project}/locations/{location}/clusters/{n}"
    private = dict(inputs.get("privateClusterConfig") or {})
    private_ip = f"10.{_byte(name, 0)}.{_byte(name, 1)}.2"
    public_ip = f"34.{_byte(name, 2) % 200 + 1}.{_byte(name, 3)}.{_byte(name, 4) % 254 + 1}"
    private.update(privateEndpoint=private_ip, publicEndpoint="" if private.get("enablePrivateEndpoint") else public_ip)
    endpoint = private_ip if private.get("enablePrivateEndpoint") else public_ip
    # The DNS-based endpoint GKE gives every cluster: gke-<32 hex>.<location>.gke.goog
    endpoints = dict(inputs.get("controlPlaneEndpointsConfig") or {})
    dns = dict(endpoints.get("dnsEndpointConfig") or {})
    dns["endpoint"] = f"gke-{_hex(name + 'dns', 32)}.{location}.gke.goog"
    endpoints["dnsEndpointConfig"] = dns
    version = f"{inputs.get('minMasterVersion', '1.35')}.2-gke.1{_digits(name, 5)}"
    return rid, {
        **inputs,
        "name": n,
        "location": location,
        "project": m.project,
        "selfLink": f"https://container.googleapis.com/v1/{rid}",
        "endpoint": endpoint,
        "controlPlaneEndpointsConfig": endpoints,
        "privateClusterConfig": private,
        "masterAuth": {
            "clusterCaCertificate": base64.b64encode(CA_PEM).decode(),
            "clientCertificateConfig": {"issueClientCertificate": False},
        },
        "masterVersion": version,
        "nodeVersion": version,
        "labelFingerprint": _hex(name + "labels", 8),
        "servicesIpv4Cidr": "10.0.0.0/20",
        "operation": None,
        "workloadIdentityConfig": inputs.get("workloadIdentityConfig") or {"workloadPool": f"{m.project}.svc.id.goog"},
    }


def _node_pool(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = _name(name, inputs)
    cluster = str(inputs.get("cluster") or f"projects/{m.project}/locations/{m.region}/clusters/cluster")
    if not cluster.startswith("projects/"):
        cluster = f"projects/{m.project}/locations/{inputs.get('location') or m.region}/clusters/{cluster}"
    group = f"gke-{_last(cluster, 'c')[:14]}-{n[:14]}"
    zonal = f"{COMPUTE}/projects/{m.project}/zones"
    groups = [
        f"{zonal}/{zone}/instanceGroupManagers/{group}-{_hex(name + zone, 8)}-grp"
        for zone in inputs.get("nodeLocations") or zones(m.region)[:3]
    ]
    return f"{cluster}/nodePools/{n}", {
        **inputs,
        "name": n,
        "instanceGroupUrls": groups,
        "managedInstanceGroupUrls": groups,
        "version": "1.35.2-gke.1000",
        "operation": None,
        "project": m.project,
    }


def _bucket(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    b = _name(name, inputs)
    return b, {
        **inputs,
        "name": b,
        "url": f"gs://{b}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{b}",
        "project": m.project,
        "projectNumber": int(_project_number()),
        "timeCreated": "2026-01-01T00:00:00Z",
    }


def _repository(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    repo, location = (
        str(inputs.get("repositoryId") or _name(name, inputs)),
        inputs.get("location") or m.region,
    )
    rid = f"projects/{m.project}/locations/{location}/repositories/{repo}"
    return rid, {
        **inputs,
        "name": repo,
        "location": location,
        "project": m.project,
        "registryUri": f"{location}-docker.pkg.dev/{m.project}/{repo}",
        "createTime": "2026-01-01T00:00:00Z",
        "updateTime": "2026-01-01T00:00:00Z",
    }


def _sql_instance(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n, region = _name(name, inputs), inputs.get("region") or m.region
    ip_config = (inputs.get("settings") or {}).get("ipConfiguration") or {}
    private_ip = f"172.{16 + _byte(name, 0) % 16}.{_byte(name, 1) % 16 * 16}.{_byte(name, 2) % 250 + 3}"
    addresses = [{"ipAddress": private_ip, "type": "PRIVATE", "timeToRetire": ""}]
    public_ip = ""
    if ip_config.get("ipv4Enabled", True):
        public_ip = f"35.{_byte(name, 3) % 200 + 1}.{_byte(name, 4)}.{_byte(name, 5) % 254 + 1}"
        addresses.append({"ipAddress": public_ip, "type": "PRIMARY", "timeToRetire": ""})
    return n, {
        **inputs,
        "name": n,
        "region": region,
        "project": m.project,
        "connectionName": f"{m.project}:{region}:{n}",
        "privateIpAddress": private_ip,
        "publicIpAddress": public_ip,
        "firstIpAddress": private_ip,
        "ipAddresses": addresses,
        "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{m.project}/instances/{n}",
        "serviceAccountEmailAddress": f"p{_project_number()}-{_hex(name, 6)}@{SQL_AGENT_DOMAIN}",
        "dnsName": f"{_hex(name, 12)}.{_hex(name + 'z', 6)}.{region}.sql.goog.",
        "serverCaCerts": [
            {
                "cert": CA_PEM.decode(),
                "commonName": "C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA",
                "sha1Fingerprint": _hex(name + "ca", 40),
                "expirationTime": "2036-01-01T00:00:00Z",
                "createTime": "2026-01-01T00:00:00Z",
            }
        ],
        "maintenanceVersion": "POSTGRES_16_8.R20260101.00_00",
    }


def _sql_database(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = _name(name, inputs)
    rid = f"projects/{m.project}/instances/{inputs.get('instance', 'instance')}/databases/{n}"
    return rid, {
        **inputs,
        "name": n,
        "charset": "UTF8",
        "collation": "en_US.UTF8",
        "project": m.project,
        "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/{rid}",
    }


def _sql_user(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = _name(name, inputs)
    return f"{n}//{inputs.get('instance', 'instance')}", {**inputs, "name": n, "project": m.project}


def _secret(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    secret = str(inputs.get("secretId") or _name(name, inputs))
    return f"projects/{m.project}/secrets/{secret}", {
        **inputs,
        "name": f"projects/{_project_number()}/secrets/{secret}",
        "createTime": "2026-01-01T00:00:00Z",
        "project": m.project,
    }


def _redis_instance(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Memorystore for Redis: an address from the peered range, port 6378 with TLS (6379 without), a
    UUID AUTH string when AUTH is on, the per-instance server CA when TLS is on."""
    n, region = _name(name, inputs), inputs.get("region") or m.region
    rid = f"projects/{m.project}/locations/{region}/instances/{n}"
    tls = inputs.get("transitEncryptionMode") == "SERVER_AUTHENTICATION"
    replicas = inputs.get("readReplicasMode") == "READ_REPLICAS_ENABLED"
    base = f"172.{16 + _byte(name, 0) % 16}.{_byte(name, 1) % 16 * 16 + 8}"  # in the peered range
    zone = inputs.get("locationId") or zones(region)[0]
    nodes = [{"id": "node-0", "zone": zone}]
    if inputs.get("tier") == "STANDARD_HA":
        others = [z for z in zones(region) if z != zone] or [zone]
        count = int(inputs.get("replicaCount") or 1)
        nodes += [{"id": f"node-{i + 1}", "zone": others[i % len(others)]} for i in range(count)]
    auth = ""
    if inputs.get("authEnabled"):
        h = _hex(name + "auth", 32)
        auth = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
    state: dict[str, Any] = {
        **inputs,
        "name": n,
        "region": region,
        "project": m.project,
        "locationId": zone,
        "currentLocationId": zone,
        "host": f"{base}.4",
        "port": 6378 if tls else 6379,
        "reservedIpRange": f"{base}.0/28" if replicas else f"{base}.0/29",
        "authString": auth,
        "serverCaCerts": [
            {
                "cert": CA_PEM.decode(),
                "createTime": "2026-01-01T00:00:00Z",
                "expireTime": "2036-01-01T00:00:00Z",
                "serialNumber": _digits(name + "ca", 12),
                "sha1Fingerprint": _hex(name + "ca", 40),
            }
        ]
        if tls
        else [],
        "persistenceIamIdentity": f"serviceAccount:service-{_project_number()}@{AGENT_DOMAINS['redis.googleapis.com']}",
        "nodes": nodes,
        "readEndpoint": f"{base}.5" if replicas else "",
        "readEndpointPort": (6378 if tls else 6379) if replicas else 0,
        "createTime": "2026-01-01T00:00:00Z",
        "effectiveLabels": inputs.get("labels") or {},
    }
    return rid, state


def _secret_version(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    secret = _last(inputs.get("secret"), "secret")
    rid = f"projects/{_project_number()}/secrets/{secret}/versions/1"
    return rid, {**inputs, "name": rid, "version": "1", "enabled": True, "createTime": "2026-01-01T00:00:00Z"}


_RESOURCES: dict[str, Handler] = {
    "gcp:compute/network:Network": _network,
    "gcp:compute/subnetwork:Subnetwork": _subnetwork,
    "gcp:compute/router:Router": _router,
    "gcp:compute/routerNat:RouterNat": _router_nat,
    "gcp:compute/globalAddress:GlobalAddress": _global_address,
    "gcp:servicenetworking/connection:Connection": _psa_connection,
    "gcp:kms/keyRing:KeyRing": _key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _crypto_key,
    "gcp:projects/serviceIdentity:ServiceIdentity": _service_identity,
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:container/nodePool:NodePool": _node_pool,
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:artifactregistry/repository:Repository": _repository,
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:sql/database:Database": _sql_database,
    "gcp:sql/user:User": _sql_user,
    "gcp:secretmanager/secret:Secret": _secret,
    "gcp:secretmanager/secretVersion:SecretVersion": _secret_version,
    "gcp:redis/instance:Instance": _redis_instance,
}


def new_resource(mocks: PlatformMocks, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(id, state) for a `gcp:` resource, as the provider would report it after creation."""
    handler = _RESOURCES.get(typ)
    if handler is not None:
        return handler(mocks, name, inputs)
    if "IAMMember" in typ or "IamMember" in typ:
        return _iam_member(mocks, name, inputs)
    # Anything else: a path-like id in the project and the inputs echoed back.
    kind = typ.rsplit(":", 1)[-1]
    kind = kind[0].lower() + kind[1:] + "s"
    n = _name(name, inputs)
    return f"projects/{mocks.project}/{kind}/{n}", {**inputs, "project": inputs.get("project", mocks.project)}


# -- lookups --------------------------------------------------------------------------------------


def _machine_type(name: str, zone: str) -> dict[str, Any]:
    """A Compute Engine machine type as `getMachineTypes` lists it, with its GPUs from the catalog."""
    from components import catalog

    gpus = [
        {"guestAcceleratorType": o.accelerator_type, "guestAcceleratorCount": m.gpus}
        for a in catalog.ACCELERATORS.values()
        if (o := a.offerings.get("gcp")) is not None
        for m in o.machine_types
        if m.name == name and not name.startswith("n1-")
    ][:1]
    return {
        "name": name,
        "description": name,
        "architecture": "X86_64",
        "accelerators": gpus,
        "deprecateds": [],
        "guestCpus": 8,
        "isSharedCpus": False,
        "maximumPersistentDisks": 128,
        "maximumPersistentDisksSizeGb": 263168,
        "memoryMb": 32768,
        "selfLink": f"{COMPUTE}/projects/p/zones/{zone}/machineTypes/{name}",
    }


def call(mocks: PlatformMocks, token: str, args: dict[str, Any]) -> dict[str, Any]:
    """The result of a `gcp:` lookup (camelCase keys); NotImplementedError for any other token."""
    if token == "gcp:organizations/getProject:getProject":
        project = args.get("projectId") or mocks.project
        return {
            "id": f"projects/{project}",
            "projectId": project,
            "name": project,
            "number": _project_number(),
            "labels": {},
            "effectiveLabels": {},
            "autoCreateNetwork": False,
            "deletionPolicy": "PREVENT",
            "orgId": "123456789012",
            "folderId": "",
        }
    if token == "gcp:compute/getZones:getZones":
        region = args.get("region") or mocks.region
        return {
            "id": f"projects/{args.get('project') or mocks.project}/regions/{region}",
            "names": zones(region),
            "project": args.get("project") or mocks.project,
            "region": region,
            "status": args.get("status"),
        }
    if token == "gcp:compute/getMachineTypes:getMachineTypes":
        zone = args["zone"]
        name = args["filter"].split('"')[1]
        offered = zone not in mocks.not_offered(name)
        return {
            "id": f"projects/{args.get('project') or mocks.project}/zones/{zone}",
            "filter": args["filter"],
            "zone": zone,
            "project": args.get("project") or mocks.project,
            "machineTypes": [_machine_type(name, zone)] if offered else [],
        }
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        # Cloud Storage's projects.serviceAccount.get: the per-project agent (created by this very call)
        project = args.get("project") or mocks.project
        email = f"service-{_project_number()}@{AGENT_DOMAINS['storage.googleapis.com']}"
        return {
            "id": project,
            "project": project,
            "emailAddress": email,
            "member": f"serviceAccount:{email}",
            "userProject": args.get("userProject"),
        }
    if token == "gcp:organizations/getClientConfig:getClientConfig":
        return {
            "id": "client-config",
            "project": mocks.project,
            "region": mocks.region,
            "zone": zones(mocks.region)[0],
            "accessToken": "mock-access-token",
            "defaultLabels": {},
        }
    raise NotImplementedError(
        f"offline synthesis has no mock for the GCP lookup {token}; add one in infra/mocks_gcp.py"
    )
