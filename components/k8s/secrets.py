"""External Secrets Operator: cloud secrets become Kubernetes Secrets, read through workload identity.

Nothing secret passes through the program or Pulumi state. A component that needs a secret of the
cloud's secret manager (the model-registry database password: the RDS-managed master secret on AWS,
a Secret Manager secret on GCP):

1. binds its namespace's service account with `Foundation.bind_identity(..., IdentityAccess(secrets=(id,)))`
   (AWS: `secretsmanager:GetSecretValue`/`DescribeSecret` on exactly that ARN, GCP: `secretAccessor`
   on exactly that secret),
2. creates a namespaced `SecretStore` (`store`) whose provider block comes from
   `Foundation.secret_store_provider(service_account)`: ESO authenticates as that service account,
   so a store can read only what its namespace's identity may read (no ClusterSecretStore, which any
   namespace could point at),
3. syncs the secret with an `ExternalSecret` (`sync`) into a Kubernetes Secret of that namespace.

Secrets the platform makes up itself (the MLflow admin password, a session key) come from ESO's
`Password` generator (`generate`): created once in the cluster, never in state.

The operator runs in `external-secrets` (Pod Security restricted) on the system nodes; cluster-wide
stores, ClusterExternalSecrets and PushSecrets are not processed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_ROLE
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext

# Chart and image of the same release: https://charts.external-secrets.io, chart 2.9.0 = ESO v2.9.0
# (external-secrets/external-secrets@helm-chart-2.9.0:deploy/charts/external-secrets, appVersion v2.9.0),
# the version tests/charts packages and renders (re-pinned from 2.10.0, which had no upstream tag to test).
CHART = Chart("external-secrets", "2.9.0", "https://charts.external-secrets.io")
IMAGE = Image("ghcr.io/external-secrets/external-secrets", "v2.9.0")  # the chart's default: its appVersion
API = "external-secrets.io/v1"
GENERATORS_API = "generators.external-secrets.io/v1alpha1"
NAMESPACE = "external-secrets"
STORE = "cloud-secrets"  # the SecretStore of a namespace
REFRESH = "1h"  # re-read cloud secrets hourly: a rotated password (RDS rotates its own) reaches the Secret
SYSTEM_NODES = {LABEL_ROLE: "system"}


def _component_values(svc: ServicesContext, replicas: int, cpu: str, memory: str) -> dict[str, Any]:
    sec = base.restricted_values()
    return {
        "image": {"repository": IMAGE.repository, "tag": IMAGE.tag},
        "replicaCount": replicas,
        "tolerations": base.system_tolerations(),
        "nodeSelector": dict(SYSTEM_NODES),
        "podSecurityContext": sec["podSecurityContext"],
        "securityContext": sec["securityContext"],
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
        "podDisruptionBudget": base.pdb_values(replicas, svc.ctx.prod),  # none for the single cert controller
    }


def chart_values(svc: ServicesContext) -> dict[str, Any]:
    """Values of the external-secrets chart."""
    replicas = 2 if svc.ctx.prod else 1
    return {
        "installCRDs": True,
        "leaderElect": True,
        # Namespaced stores only: a ClusterSecretStore could be referenced from any namespace.
        "processClusterStore": False,
        "processClusterExternalSecret": False,
        "processPushSecret": False,
        # ClusterPushSecrets are PushSecrets too: the chart refuses to render (a `fail` in its _helpers.tpl,
        # "reconciler-sanity-test", external-secrets PR #4896) when only PushSecrets are turned off
        "processClusterPushSecret": False,
        **_component_values(svc, replicas, "50m", "256Mi"),
        "webhook": _component_values(svc, replicas, "20m", "128Mi"),
        "certController": _component_values(svc, 1, "20m", "128Mi"),
        "bitwarden-sdk-server": {"enabled": False},
    }


class ExternalSecrets(pulumi.ComponentResource):
    """The operator, and the helpers other components use to materialise secrets in their namespace."""

    namespace: str
    release: k8s.helm.v3.Release

    def __init__(self, name: str, svc: ServicesContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:ExternalSecrets", name, None, opts)
        self._svc = svc
        self.namespace = NAMESPACE
        child = pulumi.ResourceOptions(parent=self)
        ns = base.namespace(NAMESPACE, svc, "restricted", child, component="external-secrets")
        self.release = base.helm_release(
            "external-secrets",
            CHART,
            NAMESPACE,
            chart_values(svc),
            pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        self.register_outputs({"namespace": self.namespace})

    def _opts(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        # Custom resources need the operator's CRDs and its admission webhook.
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.release]))

    def store(
        self,
        name: str,
        namespace: str,
        service_account: str,
        opts: pulumi.ResourceOptions,
        *,
        component: str,
    ) -> k8s.apiextensions.CustomResource:
        """The namespace's SecretStore: the cloud's secret manager, read as `service_account` (bound
        with `Foundation.bind_identity`, `IdentityAccess.secrets` naming what it may read)."""
        return base.custom_resource(
            name,
            API,
            "SecretStore",
            k8s.meta.v1.ObjectMetaArgs(name=STORE, namespace=namespace, labels=self._svc.labels(component)),
            {"provider": self._svc.foundation.secret_store_provider(service_account)},
            self._opts(opts),
        )

    def sync(
        self,
        name: str,
        namespace: str,
        target: str,
        data: Mapping[str, Mapping[str, Any]],
        opts: pulumi.ResourceOptions,
        *,
        component: str,
    ) -> k8s.apiextensions.CustomResource:
        """Secret `target` of `namespace` with one key per entry of `data` (key -> remoteRef, from
        `Foundation.secret_remote_ref`), refreshed hourly from the namespace's store."""
        return base.custom_resource(
            name,
            API,
            "ExternalSecret",
            k8s.meta.v1.ObjectMetaArgs(name=target, namespace=namespace, labels=self._svc.labels(component)),
            {
                "secretStoreRef": {"kind": "SecretStore", "name": STORE},
                "refreshPolicy": "Periodic",
                "refreshInterval": REFRESH,
                "target": {
                    "name": target,
                    "creationPolicy": "Owner",
                    "deletionPolicy": "Retain",
                    "template": {
                        "type": "Opaque",
                        "metadata": {"labels": self._svc.labels(component)},
                    },
                },
                "data": [{"secretKey": key, "remoteRef": dict(ref)} for key, ref in data.items()],
            },
            self._opts(opts),
        )

    def generate(
        self,
        name: str,
        namespace: str,
        target: str,
        keys: Sequence[str],
        opts: pulumi.ResourceOptions,
        *,
        component: str,
        length: int = 32,
        literals: Mapping[str, str] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        """Secret `target` of `namespace` with one random value per key (letters and digits, `length`
        characters), generated once in the cluster by ESO's Password generator and never refreshed:
        the value exists only in the cluster, not in the program or its state. `literals` adds
        non-secret keys (a user name) so consumers read both from one Secret. The Secret is orphaned
        from its ExternalSecret: replacing the ExternalSecret keeps the values it generated."""
        labels = self._svc.labels(component)
        data_from = []
        for key in keys:
            generator = f"{target}-{key}"
            base.custom_resource(
                f"{name}-{key}",
                GENERATORS_API,
                "Password",
                k8s.meta.v1.ObjectMetaArgs(name=generator, namespace=namespace, labels=labels),
                {"length": length, "digits": length // 4, "symbols": 0, "noUpper": False, "allowRepeat": True},
                self._opts(opts),
            )
            data_from.append(
                {
                    "sourceRef": {
                        "generatorRef": {"apiVersion": GENERATORS_API, "kind": "Password", "name": generator}
                    },
                    # the generator's output key is `password`
                    "rewrite": [{"regexp": {"source": "^password$", "target": key}}],
                }
            )
        return base.custom_resource(
            name,
            API,
            "ExternalSecret",
            k8s.meta.v1.ObjectMetaArgs(name=target, namespace=namespace, labels=labels),
            {
                "refreshPolicy": "CreatedOnce",  # a regenerated admin password would lock MLflow out
                "target": {
                    "name": target,
                    "creationPolicy": "Orphan",
                    "deletionPolicy": "Retain",
                    "template": {
                        "type": "Opaque",
                        "metadata": {"labels": labels},
                        **({"mergePolicy": "Merge", "data": dict(literals)} if literals else {}),
                    },
                },
                "dataFrom": data_from,
            },
            self._opts(opts),
        )
