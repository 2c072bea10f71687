"""Cloud KMS: one key ring per stack, one key per purpose, rotated every 90 days.

Each key is usable only by the Google service agent of the service that encrypts with it (GKE for
application-layer secrets encryption, Compute Engine for node boot disks, Cloud Storage, Artifact
Registry, Cloud SQL, Secret Manager, Memorystore), never by people or workloads: a reader of a bucket needs no
KMS permission, the storage service agent decrypts for it. IAM refuses a grant to an agent that does not
exist yet, so each grant comes after whatever creates its agent:
* Cloud SQL, Artifact Registry, Secret Manager: created only on first use, so created explicitly with
  `gcp.projects.ServiceIdentity` (generateServiceIdentity);
* Cloud Storage: created lazily too, and not by generateServiceIdentity; Cloud Storage's
  `projects.serviceAccount.get` creates it, which is what `gcp.storage.get_project_service_account`
  calls (its provider docs: "ensures it exists prior to any API operations which demand its existence").
  The grant's member comes from that lookup, run after the Storage API is enabled;
* GKE, Compute Engine, Memorystore: created when their API is enabled, so the grant depends on the
  `gcp.projects.Service` of that API (components/gcp/apis.py).

Key rings and keys cannot be deleted in Cloud KMS (only their versions are destroyed, after
`destroy_scheduled_duration`); in prod they are also `protect`ed. Re-creating a destroyed stack with
the same name therefore needs `pulumi import` of the ring, or a new `name` in the stack file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.gcp.apis import ProjectApis

ROTATION_PERIOD = "7776000s"  # 90 days
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

# purpose -> the service whose agent uses the key
PURPOSES: dict[str, str] = {
    "cluster": "container.googleapis.com",
    "disk": "compute.googleapis.com",
    "storage": "storage.googleapis.com",
    "registry": "artifactregistry.googleapis.com",
    "database": "sqladmin.googleapis.com",
    "secrets": "secretmanager.googleapis.com",
    "cache": "redis.googleapis.com",  # the feature store's online store (Memorystore), with featureStore only
}

# Service agent email domains, per service (service-PROJECT_NUMBER@DOMAIN).
AGENT_DOMAINS: dict[str, str] = {
    "container.googleapis.com": "container-engine-robot.iam.gserviceaccount.com",
    "compute.googleapis.com": "compute-system.iam.gserviceaccount.com",
    "storage.googleapis.com": "gs-project-accounts.iam.gserviceaccount.com",
    "artifactregistry.googleapis.com": "gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "sqladmin.googleapis.com": "gcp-sa-cloud-sql.iam.gserviceaccount.com",
    "secretmanager.googleapis.com": "gcp-sa-secretmanager.iam.gserviceaccount.com",
    "redis.googleapis.com": "cloud-redis.iam.gserviceaccount.com",  # exists once the Redis API is enabled
}
# Agents that only exist after the first API call that needs them: created explicitly.
LAZY_AGENTS = ("artifactregistry.googleapis.com", "sqladmin.googleapis.com", "secretmanager.googleapis.com")
# The Cloud Storage agent: obtained (and so created) through Cloud Storage's own API.
STORAGE = "storage.googleapis.com"


@dataclass(frozen=True)
class ProjectInfo:
    """The project, its number and the region every id and service-agent email is built from."""

    project_id: str
    number: str
    region: str

    def agent(self, service: str) -> str:
        """The email of `service`'s Google-managed service agent in this project."""
        return f"service-{self.number}@{AGENT_DOMAINS[service]}"

    @property
    def workload_pool(self) -> str:
        return f"{self.project_id}.svc.id.goog"

    def service_account_email(self, account_id: str) -> str:
        return f"{account_id}@{self.project_id}.iam.gserviceaccount.com"


class KmsKeys(pulumi.ComponentResource):
    ring: gcp.kms.KeyRing
    keys: dict[str, gcp.kms.CryptoKey]
    grants: dict[str, gcp.kms.CryptoKeyIAMMember]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        apis: ProjectApis,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:KmsKeys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.ring = gcp.kms.KeyRing(
            f"{name}-ring",
            name=ctx.prefix,
            location=project.region,
            project=project.project_id,
            opts=ctx.stateful(child),
        )
        agents: dict[str, pulumi.Output[str]] = {}
        for service in LAZY_AGENTS:
            identity = gcp.projects.ServiceIdentity(
                f"{name}-agent-{service.split('.')[0]}",
                project=project.project_id,
                service=service,
                opts=child,
            )
            agents[service] = identity.email
        # The lookup's output carries the Storage API's Service as a dependency into the grant.
        gcs = gcp.storage.get_project_service_account_output(
            project=project.project_id,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=apis.after(STORAGE)),
        )
        agents[STORAGE] = gcs.email_address
        self.keys, self.grants = {}, {}
        for purpose, service in PURPOSES.items():
            if purpose == "cache" and not ctx.spec.feature_store.enabled:
                continue  # no online store, no key (a Cloud KMS key can never be deleted)
            key = gcp.kms.CryptoKey(
                f"{name}-{purpose}",
                name=f"{ctx.prefix}-{purpose}",
                key_ring=self.ring.id,
                purpose="ENCRYPT_DECRYPT",
                rotation_period=ROTATION_PERIOD,
                destroy_scheduled_duration="2592000s" if ctx.prod else "86400s",
                version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                    algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"
                ),
                labels=ctx.labels(purpose=purpose),
                opts=ctx.stateful(pulumi.ResourceOptions(parent=self.ring)),
            )
            agent = agents.get(service) or pulumi.Output.from_input(project.agent(service))
            # An agent created by enabling its API exists once that API's Service does.
            enabled = [] if service in agents else apis.after(service)
            self.grants[purpose] = gcp.kms.CryptoKeyIAMMember(
                f"{name}-{purpose}-agent",
                crypto_key_id=key.id,
                role=ENCRYPTER_DECRYPTER,
                member=pulumi.Output.concat("serviceAccount:", agent),
                opts=pulumi.ResourceOptions(parent=key, depends_on=enabled),
            )
            self.keys[purpose] = key
        self.register_outputs({p: k.id for p, k in self.keys.items()})

    def key_id(self, purpose: str) -> pulumi.Output[str]:
        """The key's resource id (projects/P/locations/R/keyRings/K/cryptoKeys/N)."""
        return self.keys[purpose].id

    def ready(self, purpose: str) -> list[pulumi.Resource]:
        """Depend on these before creating anything encrypted with `purpose`'s key."""
        return [self.grants[purpose]]

    def regional_secret_replication(self, region: str) -> gcp.secretmanager.SecretReplicationArgs:
        """Secret Manager replication for the platform's secrets: one replica, in the stack's region only
        (data residency), encrypted with the `secrets` key."""
        return gcp.secretmanager.SecretReplicationArgs(
            user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                replicas=[
                    gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                        location=region,
                        customer_managed_encryption=gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                            kms_key_name=self.key_id("secrets")
                        ),
                    )
                ]
            )
        )
