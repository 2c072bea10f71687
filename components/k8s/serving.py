"""Model serving: KServe in Standard (raw Deployment) mode behind a Gateway API gateway.

* cert-manager (its CRDs from the chart) issues KServe's webhook certificates, and the gateway's
  certificate when `services.serving.tlsIssuer` names a ClusterIssuer.
* Envoy Gateway implements the Gateway API (kubernetes/ingress-nginx reached its end of maintenance
  in March 2026; KServe recommends Gateway API). The Gateway API CRDs come with Envoy Gateway's CRD
  chart, except where the managed cluster installs them itself (GKE's Gateway API channel).
  One `Gateway` (`inference`) takes the inference traffic: listener hostnames `*.<domain>`, routes
  only from team namespaces, its load balancer internal by default (the cloud's annotations come
  from `Foundation.load_balancer_annotations`, plus `services.serving.loadBalancerAnnotations`).
  An `EnvoyProxy` places the proxies on the system nodes. Their Envoy image is the default compiled
  into the pinned Envoy Gateway release (so it changes only with `ENVOY_GATEWAY_VERSION`).
* KServe v0.20 (kserve-crd + kserve-resources charts): `defaultDeploymentMode: Standard`, no Istio,
  no Knative; `enableGatewayApi` with `kserveIngressGateway` pointing at the gateway above, so each
  InferenceService gets an HTTPRoute `<name>-<namespace>.<domain>`. v0.20.0 has raw-mode canaries
  (`spec.canary`, HTTPRoute weights, kserve/kserve#5672). Known gap of v0.20.0: a new canary gets its
  share of the HTTPRoute before its pods are Ready, and the stable Deployment shrinks by the canary's
  replicas at once, so a canary's first seconds can answer 503 (kserve/kserve#5983; fixed on master by
  #5984, 22cbd3788, after v0.20.0; no upstream tag had it when the charts were packaged, 2026-08).
* KServe's own runtimes live in the separate `kserve-runtime-configs` chart, which the platform does
  not install: the only runtime is the platform's model server (`ClusterServingRuntime`
  `ml-platform`, Open Inference Protocol v2), its image from the foundation's `serving` repository
  at a pinned tag.

Controllers run on the system nodes; every namespace enforces Pod Security "restricted".
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_ROLE
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext

# The versions tests/charts packages and renders (re-pinned from v1.21.2, v1.9.1 and v0.21.0, which had no
# upstream tag to test); every image below is the chart's default at that version (its appVersion):
# - cert-manager v1.21.1: charts.jetstack.io (cert-manager/cert-manager@v1.21.1:deploy/charts/cert-manager);
# - Envoy Gateway v1.9.0: oci://docker.io/envoyproxy/gateway-helm and gateway-crds-helm
#   (envoyproxy/gateway@v1.9.0:charts/; Gateway API v1.6.1);
# - KServe v0.20.0: oci://ghcr.io/kserve/charts (kserve/kserve@v0.20.0:charts/kserve-crd, kserve-resources).
CERT_MANAGER_VERSION = "v1.21.1"
CERT_MANAGER_CHART = Chart("cert-manager", CERT_MANAGER_VERSION, "https://charts.jetstack.io")
ENVOY_GATEWAY_VERSION = "v1.9.0"
GATEWAY_CRDS_CHART = Chart("oci://docker.io/envoyproxy/gateway-crds-helm", ENVOY_GATEWAY_VERSION)
GATEWAY_CHART = Chart("oci://docker.io/envoyproxy/gateway-helm", ENVOY_GATEWAY_VERSION)
KSERVE_VERSION = "v0.20.0"
KSERVE_CRD_CHART = Chart("oci://ghcr.io/kserve/charts/kserve-crd", KSERVE_VERSION)
KSERVE_CHART = Chart("oci://ghcr.io/kserve/charts/kserve-resources", KSERVE_VERSION)

CERT_MANAGER_IMAGES = {
    component: Image(f"quay.io/jetstack/cert-manager-{component}", CERT_MANAGER_VERSION)
    for component in ("controller", "webhook", "cainjector", "startupapicheck", "acmesolver")
}
ENVOY_GATEWAY_IMAGE = Image("docker.io/envoyproxy/gateway", ENVOY_GATEWAY_VERSION)
KSERVE_IMAGES = {
    # the registry named: GKE's Binary Authorization allowlist matches full image names
    component: Image(f"docker.io/kserve/{component}", KSERVE_VERSION)
    for component in ("kserve-controller", "agent", "router", "storage-initializer")
}

# The platform's model server (workloads/: an Open Inference Protocol v2 server), pushed to the
# foundation's `serving` repository by the release pipeline under this tag.
MODEL_SERVER_TAG = "0.1.0"
MODEL_SERVER_UID = 65532
RUNTIME = "ml-platform"
MODEL_FORMATS = ("mlplatform", "pytorch")
INFERENCE_PORT = 8080

NS_ENVOY = "envoy-gateway-system"
GATEWAY_CLASS = "envoy-gateway"
GATEWAY = "inference"
TLS_SECRET = "inference-tls"
DEFAULT_DOMAIN = "inference.internal"
SYSTEM_NODES = {LABEL_ROLE: "system"}
GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"


def _image(image: Image) -> dict[str, str]:
    return {"repository": image.repository, "tag": image.tag}


def _placement() -> dict[str, Any]:
    return {"tolerations": base.system_tolerations(), "nodeSelector": dict(SYSTEM_NODES)}


def release_label(monitoring: Any) -> dict[str, Any]:
    """The label the monitoring stack selects ServiceMonitors by (its Helm release name)."""
    release = getattr(monitoring, "release", None)
    name = release if isinstance(release, str) else getattr(release, "name", None)
    return {"release": name} if name is not None else {}


def monitoring_dependencies(monitoring: Any) -> list[pulumi.Resource]:
    """The monitoring stack's release (its CRDs carry ServiceMonitor), where it is a resource."""
    release = getattr(monitoring, "release", None)
    return [release] if isinstance(release, pulumi.Resource) else []


def domain(svc: ServicesContext) -> str:
    return svc.spec.serving.domain or DEFAULT_DOMAIN


def url_scheme(svc: ServicesContext) -> str:
    return "https" if svc.spec.serving.tls_issuer else "http"


def cert_manager_values(svc: ServicesContext, monitoring: Any) -> dict[str, Any]:
    prod = svc.ctx.prod
    sec = base.restricted_values()
    pod_sec, container_sec = sec["podSecurityContext"], sec["securityContext"]

    def component(image: str, replicas: int | None, cpu: str, memory: str) -> dict[str, Any]:
        values: dict[str, Any] = {
            "image": _image(CERT_MANAGER_IMAGES[image]),
            **_placement(),
            # the chart's pod-level key is `securityContext`, the container's `containerSecurityContext`
            "securityContext": pod_sec,
            "containerSecurityContext": container_sec,
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
        }
        if replicas is not None:
            values["replicaCount"] = replicas
            values["podDisruptionBudget"] = base.pdb_values(replicas, prod)  # none for the single cainjector
        return values

    replicas = 2 if prod else 1
    return {
        "crds": {"enabled": True, "keep": True},  # CRDs from the chart, kept on uninstall (certificates survive)
        "global": {"leaderElection": {"namespace": base.NS_CERT_MANAGER}},
        **component("controller", replicas, "50m", "256Mi"),
        "webhook": component("webhook", replicas, "20m", "128Mi"),
        "cainjector": component("cainjector", 1, "50m", "256Mi"),
        "startupapicheck": component("startupapicheck", None, "10m", "64Mi"),
        "acmesolver": {"image": _image(CERT_MANAGER_IMAGES["acmesolver"])},
        "prometheus": {
            "enabled": True,
            "servicemonitor": {"enabled": monitoring is not None, "labels": release_label(monitoring)},
        },
    }


def gateway_crds_values(svc: ServicesContext) -> dict[str, Any]:
    """Envoy Gateway's own CRDs always; the standard Gateway API CRDs unless the cluster manages them."""
    managed = svc.foundation.gateway_api_crds_managed
    # the channel is read only when the chart installs the Gateway API CRDs
    gateway_api = {"enabled": False} if managed else {"enabled": True, "channel": "standard"}
    return {"crds": {"gatewayAPI": gateway_api, "envoyGateway": {"enabled": True}}}


def envoy_gateway_values(svc: ServicesContext) -> dict[str, Any]:
    prod = svc.ctx.prod
    sec = base.restricted_values()
    return {
        "crds": {"enabled": False},  # from the CRD chart above
        "deployment": {
            "replicas": 2 if prod else 1,
            "envoyGateway": {
                "image": _image(ENVOY_GATEWAY_IMAGE),
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                "securityContext": sec["securityContext"],
            },
            "pod": {**_placement()},
        },
        "podDisruptionBudget": {"minAvailable": 1 if prod else 0},
        # the install-time job that generates the control plane's certificates: system nodes too
        "certgen": {
            "job": {
                **_placement(),
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
            }
        },
        "config": {
            "envoyGateway": {
                "provider": {
                    "type": "Kubernetes",
                    # the proxies' shutdown manager: the control plane's image, not the chart's floating default
                    "kubernetes": {"shutdownManager": {"image": ENVOY_GATEWAY_IMAGE.ref}},
                }
            }
        },
    }


def kserve_values(svc: ServicesContext, monitoring: Any) -> dict[str, Any]:
    sec = base.restricted_values()
    return {
        "kserve": {
            "version": KSERVE_VERSION,
            # the shared resources include the webhook's cert-manager Issuer and Certificate (the chart's
            # `certManager.enabled` only defaults to this switch: `false | default true` is true)
            "createSharedResources": True,
            "controller": {
                "deploymentMode": "Standard",  # -> inferenceservice-config deploy.defaultDeploymentMode
                "image": KSERVE_IMAGES["kserve-controller"].repository,
                "tag": KSERVE_VERSION,
                **_placement(),
                "securityContext": sec["podSecurityContext"],
                "containerSecurityContext": sec["securityContext"],
                "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "1Gi"}},
                "gateway": {
                    "domain": domain(svc),
                    "domainTemplate": "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}",
                    "urlScheme": url_scheme(svc),
                    "disableIstioVirtualHost": True,
                    "disableIngressCreation": False,
                    "ingressGateway": {
                        "enableGatewayApi": True,
                        "kserveGateway": f"{NS_ENVOY}/{GATEWAY}",
                        "createGateway": False,  # the platform's Gateway below, not the chart's
                        "className": GATEWAY_CLASS,
                    },
                },
            },
            "agent": {"image": KSERVE_IMAGES["agent"].repository, "tag": KSERVE_VERSION},
            "router": {"image": KSERVE_IMAGES["router"].repository, "tag": KSERVE_VERSION},
            "storage": {"image": KSERVE_IMAGES["storage-initializer"].repository, "tag": KSERVE_VERSION},
            "localmodel": {"enabled": False},
            "metricsaggregator": {
                "enableMetricAggregation": "false",
                "enablePrometheusScraping": "true" if monitoring is not None else "false",
            },
        }
    }


def runtime_spec(image: pulumi.Input[str]) -> dict[str, Any]:
    """The platform model server as a KServe runtime: OIP v2 over HTTP on 8080, restricted."""
    container_sec = {
        **base.restricted_values()["securityContext"],
        "privileged": False,
        "runAsUser": MODEL_SERVER_UID,
        "runAsGroup": MODEL_SERVER_UID,
    }

    def probe(path: str, period: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": INFERENCE_PORT}, "periodSeconds": period, "failureThreshold": 3}

    return {
        "supportedModelFormats": [
            {"name": fmt, "version": "1", "autoSelect": True, "priority": 1} for fmt in MODEL_FORMATS
        ],
        "protocolVersions": ["v2"],
        "multiModel": False,
        "containers": [
            {
                "name": "kserve-container",
                "image": image,
                "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", f"--http_port={INFERENCE_PORT}"],
                "ports": [{"name": "http", "containerPort": INFERENCE_PORT, "protocol": "TCP"}],
                "env": [{"name": "PROTOCOL", "value": "v2"}],
                "securityContext": container_sec,
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                "readinessProbe": probe("/v2/health/ready", 10),
                "livenessProbe": probe("/v2/health/live", 20),
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }


class Serving(pulumi.ComponentResource):
    """cert-manager, Envoy Gateway with the inference Gateway, KServe (Standard mode), the platform runtime."""

    namespace: str
    gateway_namespace: str  # where the gateway's proxies run (team network policies admit it)
    gateway_name: str
    gateway: str  # <namespace>/<name>, as KServe's kserveIngressGateway
    domain: str
    url_scheme: str
    runtime_names: list[str]
    runtime_image: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        *,
        monitoring: Any = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:k8s:Serving", name, None, opts)
        spec = svc.spec.serving
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = base.NS_KSERVE
        self.gateway_namespace = NS_ENVOY
        self.gateway_name = GATEWAY
        self.gateway = f"{NS_ENVOY}/{GATEWAY}"
        self.domain = domain(svc)
        self.url_scheme = url_scheme(svc)
        self.runtime_names = [RUNTIME]

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(deps))

        # -- cert-manager ------------------------------------------------------------------------------
        cert_deps: list[pulumi.Resource] = []
        if spec.cert_manager:
            cm_ns = base.namespace(base.NS_CERT_MANAGER, svc, "restricted", child, component="cert-manager")
            cert_deps.append(
                base.helm_release(
                    "cert-manager",
                    CERT_MANAGER_CHART,
                    base.NS_CERT_MANAGER,
                    cert_manager_values(svc, monitoring),
                    after(cm_ns, *monitoring_dependencies(monitoring)),  # its ServiceMonitor needs the CRD
                )
            )

        # -- Envoy Gateway and the inference gateway ---------------------------------------------------
        eg_ns = base.namespace(NS_ENVOY, svc, "restricted", child, component="gateway")
        crds = base.helm_release("gateway-crds", GATEWAY_CRDS_CHART, NS_ENVOY, gateway_crds_values(svc), after(eg_ns))
        controller = base.helm_release(
            "envoy-gateway", GATEWAY_CHART, NS_ENVOY, envoy_gateway_values(svc), after(crds), skip_crds=True
        )
        labels = svc.labels("gateway")
        gateway_class = base.custom_resource(
            f"{name}-gateway-class",
            GATEWAY_API,
            "GatewayClass",
            k8s.meta.v1.ObjectMetaArgs(name=GATEWAY_CLASS, labels=labels),
            {
                "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                "description": "Envoy Gateway of the ml-platform (inference traffic)",
            },
            after(controller),
        )
        proxy = base.custom_resource(
            f"{name}-gateway-proxy",
            ENVOY_API,
            "EnvoyProxy",
            k8s.meta.v1.ObjectMetaArgs(name=GATEWAY, namespace=NS_ENVOY, labels=labels),
            {"provider": self._proxy_provider(svc)},
            after(controller),
        )
        gw_deps: list[pulumi.Resource] = [gateway_class, proxy]
        listener: dict[str, Any] = {
            "name": "http",
            "hostname": f"*.{self.domain}",
            "port": 80,
            "protocol": "HTTP",
            "allowedRoutes": {
                "namespaces": {"from": "Selector", "selector": team_namespaces()},
                "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
            },
        }
        if spec.tls_issuer:
            gw_deps.append(
                base.custom_resource(
                    f"{name}-gateway-certificate",
                    "cert-manager.io/v1",
                    "Certificate",
                    k8s.meta.v1.ObjectMetaArgs(name=TLS_SECRET, namespace=NS_ENVOY, labels=labels),
                    {
                        "secretName": TLS_SECRET,
                        "dnsNames": [f"*.{self.domain}"],
                        "issuerRef": {"name": spec.tls_issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                        "secretTemplate": {"labels": labels},
                    },
                    after(eg_ns, *cert_deps),
                )
            )
            listener = {
                **listener,
                "name": "https",
                "port": 443,
                "protocol": "HTTPS",
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": TLS_SECRET}]},
            }
        base.custom_resource(
            f"{name}-gateway",
            GATEWAY_API,
            "Gateway",
            k8s.meta.v1.ObjectMetaArgs(name=GATEWAY, namespace=NS_ENVOY, labels=labels),
            {
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [listener],
                "infrastructure": {
                    "labels": {base.LABEL_COMPONENT: "gateway"},
                    "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": GATEWAY},
                },
            },
            after(*gw_deps),
        )

        # -- KServe --------------------------------------------------------------------------------------
        ks_ns = base.namespace(base.NS_KSERVE, svc, "restricted", child, component="serving")
        kserve_crds = base.helm_release("kserve-crd", KSERVE_CRD_CHART, base.NS_KSERVE, {}, after(ks_ns))
        kserve = base.helm_release(
            "kserve",
            KSERVE_CHART,
            base.NS_KSERVE,
            kserve_values(svc, monitoring),
            after(kserve_crds, crds, *cert_deps),
        )
        self.runtime_image = pulumi.Output.concat(svc.foundation.registry_urls["serving"], ":", MODEL_SERVER_TAG)
        base.custom_resource(
            f"{name}-runtime",
            "serving.kserve.io/v1alpha1",
            "ClusterServingRuntime",
            k8s.meta.v1.ObjectMetaArgs(name=RUNTIME, labels=svc.labels("serving")),
            runtime_spec(self.runtime_image),
            after(kserve),
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "gateway": self.gateway,
                "domain": self.domain,
                "url_scheme": self.url_scheme,
                "runtimes": self.runtime_names,
                "runtime_image": self.runtime_image,
            }
        )

    @staticmethod
    def _proxy_provider(svc: ServicesContext) -> dict[str, Any]:
        """The gateway's Envoy proxies: on the system nodes, restricted, behind a load balancer that is
        internal unless `internalLoadBalancer: false`."""
        spec, prod = svc.spec.serving, svc.ctx.prod
        annotations = {
            **svc.foundation.load_balancer_annotations(spec.internal_load_balancer),
            **spec.load_balancer_annotations,
        }
        sec = base.restricted_values()
        provider: dict[str, Any] = {
            "type": "Kubernetes",
            "kubernetes": {
                "envoyDeployment": {
                    "replicas": 2 if prod else 1,
                    "pod": {**_placement(), "securityContext": sec["podSecurityContext"]},
                    # Envoy Gateway's own container contexts are restricted (uid 65532, no privilege
                    # escalation, ALL capabilities dropped; listeners below 1024 shifted by +10000).
                    "container": {
                        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                    },
                },
                "envoyService": {
                    "type": "LoadBalancer",
                    "externalTrafficPolicy": "Cluster",
                    "annotations": annotations,
                },
            },
        }
        if prod:
            provider["kubernetes"]["envoyPDB"] = {"minAvailable": 1}
        return provider


def team_namespaces() -> dict[str, Any]:
    """Label selector of the team namespaces (the tenancy component's labels), not the platform's own."""
    return base.team_namespace_selector()
