"""Companions: a setting that only works with another resource beside it.

Each of these deploys cleanly and then silently does nothing (Binary Authorization with no policy,
NetworkPolicies a CNI does not enforce, HPAs with no metrics), or fails only when something first uses
it (a webhook the control plane cannot reach, an API endpoint nothing can reach).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Sequence

from pulumi_policy.policy import PolicyResource

from policy import props as p
from policy.deploy.graph import Graph, known, prop, short
from policy.rule import CRITICAL, HIGH, Stack, StackRule, ml_platform

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_ADDON = "aws:eks/addon:Addon"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
CLUSTER_TYPES = (EKS_CLUSTER, GKE_CLUSTER)
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HPA_TYPES = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


def chart_name(release: PolicyResource) -> str:
    """A Helm release's chart without its repository (`oci://.../kueue` and `repo/kueue` are `kueue`)."""
    chart = prop(release, "chart")
    return chart.rstrip("/").rsplit("/", 1)[-1] if isinstance(chart, str) else ""


def cluster_name(cluster: PolicyResource) -> str | None:
    name = prop(cluster, "name")
    return name if isinstance(name, str) else None


def cluster_of(graph: Graph, resource: PolicyResource) -> PolicyResource | None:
    """The cluster a Kubernetes resource is created in: the one its provider's kubeconfig names, else the
    stack's only cluster (a kubeconfig is a secret or unknown at preview more often than not)."""
    clusters = graph.of_type(*CLUSTER_TYPES)
    if len(clusters) == 1:
        return clusters[0]
    provider = resource.provider
    kubeconfig = known(lambda: p.get(provider.props, "kubeconfig"), None) if provider is not None else None
    if isinstance(kubeconfig, str):
        named = [c for c in clusters if (n := cluster_name(c)) and n in kubeconfig]
        if len(named) == 1:
            return named[0]
    return None


def _for_cluster(graph: Graph, cluster: PolicyResource, resource: PolicyResource) -> bool:
    """Whether an add-on-like resource (`clusterName` input) belongs to `cluster`."""
    return cluster in graph.feeding(resource, "clusterName") or prop(resource, "clusterName") == cluster_name(cluster)


def addon(graph: Graph, cluster: PolicyResource, name: str) -> PolicyResource | None:
    found = [a for a in graph.of_type(EKS_ADDON) if prop(a, "addonName") == name and _for_cluster(graph, cluster, a)]
    return found[0] if found else None


def releases(graph: Graph, *charts: str) -> list[PolicyResource]:
    return [r for r in graph.of_type(*HELM_TYPES) if chart_name(r) in charts]


def _by_cluster(graph: Graph, resources: Sequence[PolicyResource]) -> dict[str, list[PolicyResource]]:
    grouped: dict[str, list[PolicyResource]] = {}
    for r in resources:
        cluster = cluster_of(graph, r)
        if cluster is not None:
            grouped.setdefault(cluster.urn, []).append(r)
    return grouped


def _examples(resources: Sequence[PolicyResource]) -> str:
    names = ", ".join(r.name for r in resources[:3])
    return f"{len(resources)} ({names}{', ...' if len(resources) > 3 else ''})"


# --- Binary Authorization -------------------------------------------------------------------------------

BINAUTHZ_POLICY = "gcp:binaryauthorization/policy:Policy"


def _binauthz_enforced(cluster: PolicyResource) -> bool:
    mode = prop(cluster, "binaryAuthorization", "evaluationMode")
    return mode == "PROJECT_SINGLETON_POLICY_ENFORCE" or p.truthy(prop(cluster, "binaryAuthorization", "enabled"))


def _binauthz_has_policy(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    policies = graph.of_type(BINAUTHZ_POLICY)
    restrictive = [
        pol for pol in policies if prop(pol, "defaultAdmissionRule", "evaluationMode", default="") != "ALWAYS_ALLOW"
    ]
    for cluster in graph.of_type(GKE_CLUSTER):
        if not _binauthz_enforced(cluster):
            continue
        if not policies:
            yield (
                f"{short(cluster)} enforces Binary Authorization but the stack creates no project policy: the "
                "default policy allows every image; add gcp.binaryauthorization.Policy (allowlist or attestors)",
                cluster.urn,
            )
        elif not restrictive:
            yield (
                f"{short(cluster)} enforces Binary Authorization with a policy whose default rule is ALWAYS_ALLOW: "
                "nothing is enforced; require attestations or allow only the platform's registries",
                cluster.urn,
            )


BINAUTHZ_HAS_POLICY = StackRule(
    name="deploy-gcp-binauthz-has-policy",
    description="A GKE cluster that enforces Binary Authorization has a project policy that restricts images.",
    remediation=(
        "Create gcp.binaryauthorization.Policy with a default rule that is not ALWAYS_ALLOW (an allowlist of the "
        "platform's registries, or attestors), or stop claiming enforcement."
    ),
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-06",
        "The default Binary Authorization policy is ALWAYS_ALLOW: cloud.google.com/binary-authorization/docs/"
        "configuring-policy-cli",
    ),
    check=_binauthz_has_policy,
    tags=["deploy", "companion", "gcp", "supply-chain"],
    graph=True,
    types=(GKE_CLUSTER, BINAUTHZ_POLICY),
)


# --- NetworkPolicy enforcement --------------------------------------------------------------------------

POLICY_ENGINES = ("calico", "tigera-operator", "cilium")  # Helm charts that enforce NetworkPolicy themselves


def _vpc_cni_enforces(graph: Graph, cluster: PolicyResource) -> bool:
    cni = addon(graph, cluster, "vpc-cni")
    if cni is None:
        return False
    raw = prop(cni, "configurationValues")
    try:
        values = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return False
    return p.truthy(values.get("enableNetworkPolicy")) if isinstance(values, dict) else False


def enforces_network_policy(graph: Graph, cluster: PolicyResource) -> bool:
    if releases(graph, *POLICY_ENGINES):
        return True
    if cluster.resource_type == GKE_CLUSTER:
        return prop(cluster, "datapathProvider") == "ADVANCED_DATAPATH" or p.truthy(
            prop(cluster, "networkPolicy", "enabled")
        )
    return _vpc_cni_enforces(graph, cluster)


def _network_policies_enforced(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    for urn, policies in _by_cluster(graph, graph.of_type(NETWORK_POLICY)).items():
        cluster = graph.by_urn[urn]
        if enforces_network_policy(graph, cluster):
            continue
        fix = (
            'configure the vpc-cni add-on with {"enableNetworkPolicy": "true"}'
            if cluster.resource_type == EKS_CLUSTER
            else "use Dataplane V2 (ADVANCED_DATAPATH) or enable network policy"
        )
        yield (
            f"{short(cluster)} does not enforce NetworkPolicy, so its {_examples(policies)} NetworkPolicies are "
            f"accepted and do nothing: {fix}",
            cluster.urn,
        )


NETWORK_POLICIES_ENFORCED = StackRule(
    name="deploy-network-policies-enforced",
    description="NetworkPolicies are created only in a cluster whose network plugin enforces them.",
    remediation=(
        'EKS: configure the vpc-cni add-on with enableNetworkPolicy "true" (or install Calico/Cilium); GKE: '
        "Dataplane V2 or network policy enabled."
    ),
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-07",
        "vpc-cni enforces NetworkPolicy only when enabled: docs.aws.amazon.com/eks/latest/userguide/"
        "cni-network-policy-configure.html",
    ),
    check=_network_policies_enforced,
    tags=["deploy", "companion", "kubernetes", "network"],
    graph=True,
    types=(*CLUSTER_TYPES, EKS_ADDON, *HELM_TYPES),
)


# --- HPAs and the resource metrics API ------------------------------------------------------------------

METRICS_CHARTS = ("metrics-server", "prometheus-adapter")


def _makes_hpa(resource: PolicyResource) -> bool:
    if resource.resource_type in HPA_TYPES:
        return True
    if resource.resource_type != INFERENCE_SERVICE:
        return False
    # KServe's raw (Standard) mode scales a predictor with an HPA unless another autoscaler class is named
    annotations = known(lambda: p.annotations(resource.props), {})
    mode = annotations.get("serving.kserve.io/deploymentMode", "")
    autoscaler = annotations.get("serving.kserve.io/autoscalerClass", "hpa")
    predictor = prop(resource, "spec", "predictor", default={})
    low = p.number(known(lambda: p.get(predictor, "minReplicas"), None), 1)
    high = p.number(known(lambda: p.get(predictor, "maxReplicas"), None), 0)
    return mode in ("RawDeployment", "Standard") and autoscaler == "hpa" and (high or 0) > (low or 0)


def metrics_pipeline(graph: Graph, cluster: PolicyResource) -> bool:
    if cluster.resource_type == GKE_CLUSTER:
        return True  # GKE runs metrics-server itself
    return addon(graph, cluster, "metrics-server") is not None or bool(releases(graph, *METRICS_CHARTS))


def _hpas_have_metrics(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    for urn, scalers in _by_cluster(graph, graph.where(_makes_hpa)).items():
        cluster = graph.by_urn[urn]
        if not metrics_pipeline(graph, cluster):
            yield (
                f"{short(cluster)} has no metrics-server, so its {_examples(scalers)} autoscalers never scale: "
                "install the metrics-server add-on (aws.eks.Addon 'metrics-server') or its chart",
                cluster.urn,
            )


HPAS_HAVE_METRICS = StackRule(
    name="deploy-hpa-metrics-pipeline",
    description=(
        "HorizontalPodAutoscalers (and KServe raw-mode predictors) run in a cluster that serves the resource "
        "metrics API."
    ),
    remediation="Install metrics-server (the EKS add-on or its chart) where HPAs scale on CPU or memory.",
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-08",
        "EKS does not deploy metrics-server by default: docs.aws.amazon.com/eks/latest/userguide/metrics-server.html",
    ),
    check=_hpas_have_metrics,
    tags=["deploy", "companion", "kubernetes", "autoscaling"],
    graph=True,
    types=(*CLUSTER_TYPES, EKS_ADDON, *HELM_TYPES, *HPA_TYPES, INFERENCE_SERVICE),
)


# --- admission webhooks on private GKE nodes ------------------------------------------------------------

FIREWALL = "gcp:compute/firewall:Firewall"
# GKE's own firewall lets a private cluster's control plane reach the nodes on these ports only
# (cloud.google.com/kubernetes-engine/docs/how-to/private-clusters#add_firewall_rules).
OPEN_TO_CONTROL_PLANE = frozenset({443, 10250})
# Ports on the pods that the API server calls, per chart at its defaults (webhooks, aggregated APIs),
# read from each chart's templates: kueue 0.16 (webhooks 9443, visibility APIService 8082), kserve 0.20
# (9443), kubeflow-trainer 2.3 and its jobset/lws subcharts (9443), Envoy Gateway 1.9's topology injector
# (9443); cert-manager, external-secrets and prometheus-operator default to 10250 for this very reason.
CHART_WEBHOOK_PORTS: dict[str, tuple[int, ...]] = {
    "kueue": (9443, 8082),
    "kserve": (9443,),
    "kserve-resources": (9443,),
    "kubeflow-trainer": (9443,),
    "jobset": (9443,),
    "lws": (9443,),
    "gateway-helm": (9443,),
    "prometheus-adapter": (6443,),
}
WEBHOOK_CONFIGS = (
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
)


def _private_nodes(cluster: PolicyResource) -> bool:
    return p.truthy(prop(cluster, "privateClusterConfig", "enablePrivateNodes")) or p.truthy(
        prop(cluster, "networkConfig", "defaultEnablePrivateNodes")
    )


def _needed_ports(graph: Graph) -> list[tuple[PolicyResource, int]]:
    needed = [(r, port) for r in graph.of_type(*HELM_TYPES) for port in CHART_WEBHOOK_PORTS.get(chart_name(r), ())]
    for config in graph.of_type(*WEBHOOK_CONFIGS):
        for hook in known(lambda c=config: p.items(c.props, "webhooks"), []):
            port = p.number(known(lambda h=hook: p.get(h, "clientConfig", "service", "port"), None))
            has_service = known(lambda h=hook: p.get(h, "clientConfig", "service"), None) is not None
            if has_service:
                needed.append((config, int(port or 443)))
    return [(r, port) for r, port in needed if port not in OPEN_TO_CONTROL_PLANE]


def _port_range(spec: str) -> tuple[int, int] | None:
    low, _, high = str(spec).partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        return None


def _opens(firewall: PolicyResource, port: int, source: ipaddress.IPv4Network | None) -> bool:
    if prop(firewall, "direction", default="INGRESS") != "INGRESS" or p.truthy(prop(firewall, "disabled")):
        return False
    if source is not None:
        ranges = [_ipv4(r) for r in p.as_strings(prop(firewall, "sourceRanges"))]
        if not any(r is not None and source.subnet_of(r) for r in ranges):
            return False
    for allow in known(lambda: p.items(firewall.props, "allows"), []):
        protocol = known(lambda a=allow: p.get(a, "protocol"), "")
        if protocol not in ("tcp", "all"):
            continue
        ports = known(lambda a=allow: p.as_strings(p.get(a, "ports")), [])
        if not ports:
            return True
        for spec in ports:
            bounds = _port_range(spec)
            if bounds and bounds[0] <= port <= bounds[1]:
                return True
    return False


def _ipv4(value: object) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def _control_plane_range(cluster: PolicyResource) -> ipaddress.IPv4Network | None:
    """The control plane's range where the cluster states one (`masterIpv4CidrBlock`); None for a
    PSC-based cluster, whose endpoint has no fixed range in the inputs: then any source range counts."""
    return _ipv4(prop(cluster, "privateClusterConfig", "masterIpv4CidrBlock"))


def _webhooks_reachable(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    clusters = [c for c in graph.of_type(GKE_CLUSTER) if _private_nodes(c)]
    if not clusters:
        return
    firewalls = graph.of_type(FIREWALL)
    for owner, port in _needed_ports(graph):
        cluster = cluster_of(graph, owner)
        if cluster is None or cluster not in clusters:
            continue
        source = _control_plane_range(cluster)
        if not any(_opens(f, port, source) for f in firewalls):
            what = f"chart {chart_name(owner)}" if owner.resource_type in HELM_TYPES else "its webhook"
            yield (
                f"{short(owner)} ({what}) needs the API server to call port {port} on private nodes of "
                f"{short(cluster)}, which GKE opens only on 443 and 10250: add an ingress firewall rule from the "
                f"control plane's range to the nodes on tcp:{port}",
                owner.urn,
            )


WEBHOOKS_REACHABLE = StackRule(
    name="deploy-gke-webhook-ports-reachable",
    description="Every admission webhook or aggregated API port on private GKE nodes is open to the control plane.",
    remediation=(
        "Add a gcp.compute.Firewall (INGRESS, from the control plane's range, to the nodes) allowing each webhook "
        "port, like terraform-google-modules/kubernetes-engine's master_webhooks rule."
    ),
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-09",
        "Private GKE: only 443 and 10250 reach the nodes (cloud.google.com/kubernetes-engine/docs/how-to/"
        "private-clusters#add_firewall_rules)",
    ),
    check=_webhooks_reachable,
    tags=["deploy", "companion", "gcp", "kubernetes", "webhooks"],
    graph=True,
    types=(GKE_CLUSTER, FIREWALL, *HELM_TYPES, *WEBHOOK_CONFIGS),
)


# --- Helm hook Jobs under a default-deny ----------------------------------------------------------------

# Charts whose install or upgrade runs hook Jobs that call the API server (at the chart's defaults), read from
# their templates: argo-workflows (the CRD install Job), kube-prometheus-stack (the admission webhook's
# certificate patch Jobs), cert-manager (startupapicheck), Envoy Gateway (certgen), gpu-operator (upgrade-crd).
HOOK_CHARTS = frozenset({"argo-workflows", "kube-prometheus-stack", "cert-manager", "gateway-helm", "gpu-operator"})
INSTANCE_LABEL = "app.kubernetes.io/instance"


def _namespace_of(resource: PolicyResource) -> str | None:
    value = prop(resource, "metadata", "namespace")
    return value if isinstance(value, str) else None


def _denies_egress(policy: PolicyResource) -> bool:
    types = p.as_strings(prop(policy, "spec", "policyTypes"))
    return (
        "Egress" in types
        and not prop(policy, "spec", "podSelector", "matchLabels")
        and not prop(policy, "spec", "podSelector", "matchExpressions")
    )


def _lets_hooks_out(policy: PolicyResource, release: str) -> bool:
    """An egress policy that selects the release's pods (all pods, or `app.kubernetes.io/instance: release`)
    and allows HTTPS (a rule with no ports, or 443 among them)."""
    selector = prop(policy, "spec", "podSelector", "matchLabels", default={})
    if prop(policy, "spec", "podSelector", "matchExpressions") or not set(selector.items()) <= {
        (INSTANCE_LABEL, release)
    }:
        return False
    for rule in known(lambda: p.items(policy.props, "spec", "egress"), []):
        ports = known(lambda r=rule: p.items(r, "ports"), [])
        if not ports or any(p.number(known(lambda x=x: p.get(x, "port"), None)) == 443 for x in ports):
            return True
    return False


def _hook_jobs_reach_the_api(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    policies = graph.of_type(NETWORK_POLICY)
    for release in graph.of_type(*HELM_TYPES):
        namespace, name = prop(release, "namespace"), prop(release, "name")
        if chart_name(release) not in HOOK_CHARTS or not isinstance(name, str):
            continue
        here = [pol for pol in policies if _namespace_of(pol) == namespace]
        if not any(_denies_egress(pol) for pol in here):
            continue
        openings = [pol for pol in here if _lets_hooks_out(pol, name)]
        if not openings:
            yield (
                f"{short(release)} (chart {chart_name(release)}) runs hook Jobs that call the API server, and "
                f"namespace {namespace} denies all egress: the hook fails and Helm rolls the release back; allow "
                f"DNS and 443 for pods labelled {INSTANCE_LABEL}: {name}",
                release.urn,
            )
        elif not graph.ordered_after(release, openings):
            yield (
                f"{short(release)} installs in parallel with {short(openings[0])}, the egress its hook Jobs need: "
                "make the release depend on it",
                release.urn,
            )


HOOK_JOBS_REACH_THE_API = StackRule(
    name="deploy-helm-hooks-reach-the-api",
    description=(
        "A Helm release whose hook Jobs call the API server can reach it through the NetworkPolicies of its "
        "namespace, created before the release."
    ),
    remediation=(
        "In a namespace with a default-deny egress policy, add an egress policy for the release's pods "
        "(app.kubernetes.io/instance) allowing DNS and 443, and make the release depend on it."
    ),
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-19",
        "Helm hooks: a failed pre-install hook fails the release (helm.sh/docs/topics/charts_hooks); argo-helm "
        "crds-install-job.yaml",
    ),
    check=_hook_jobs_reach_the_api,
    graph=True,
    types=(*HELM_TYPES, NETWORK_POLICY),
    tags=["deploy", "companion", "kubernetes", "network", "helm"],
)


# --- the deployer reaches the cluster's API -------------------------------------------------------------

SG_RULE_TYPES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)


def _admits_https(rule: PolicyResource) -> bool:
    if rule.resource_type.endswith("SecurityGroupRule") and prop(rule, "type") != "ingress":
        return False
    protocol = str(prop(rule, "ipProtocol", default=prop(rule, "protocol", default="")))
    if protocol in ("-1", "all"):
        return True
    low, high = p.number(prop(rule, "fromPort"), 0), p.number(prop(rule, "toPort"), 0)
    return protocol in ("tcp", "6") and (low or 0) <= 443 <= (high or 0)


def _eks_reachable(graph: Graph, cluster: PolicyResource) -> bool:
    if p.truthy(prop(cluster, "vpcConfig", "endpointPublicAccess", default=True)):
        return True
    extra_groups = set(p.as_strings(prop(cluster, "vpcConfig", "securityGroupIds")))
    for rule in graph.of_type(*SG_RULE_TYPES):
        target = prop(rule, "securityGroupId")
        if _admits_https(rule) and (cluster in graph.feeding(rule, "securityGroupId") or target in extra_groups):
            return True
    return False


def _gke_reachable(cluster: PolicyResource) -> bool:
    if not p.truthy(prop(cluster, "privateClusterConfig", "enablePrivateEndpoint")):
        return True
    dns = prop(cluster, "controlPlaneEndpointsConfig", "dnsEndpointConfig", "allowExternalTraffic")
    blocks = prop(cluster, "masterAuthorizedNetworksConfig", "cidrBlocks", default=[])
    return p.truthy(dns) or bool(blocks)


def _api_reachable(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    in_cluster = _by_cluster(graph, graph.where(lambda r: r.resource_type.startswith("kubernetes:")))
    for urn, objects in in_cluster.items():
        cluster = graph.by_urn[urn]
        if cluster.resource_type == EKS_CLUSTER and not _eks_reachable(graph, cluster):
            yield (
                f"{short(cluster)} has a private API endpoint and no ingress on 443 to its security group, so the "
                f"deployer cannot create its {_examples(objects)} Kubernetes objects: allow 443 from the deploy "
                "runner's network (cluster.privateAccessCidrs)",
                cluster.urn,
            )
        elif cluster.resource_type == GKE_CLUSTER and not _gke_reachable(cluster):
            yield (
                f"{short(cluster)} has a private endpoint, no DNS endpoint and no authorized network, so the "
                f"deployer cannot create its {_examples(objects)} Kubernetes objects: enable the DNS-based endpoint "
                "(IAM-gated) or authorize the runner's network",
                cluster.urn,
            )


API_REACHABLE = StackRule(
    name="deploy-cluster-api-reachable",
    description="A stack that creates Kubernetes objects can reach its cluster's API endpoint from the deploy runner.",
    remediation=(
        "EKS private endpoint: a 443 ingress rule on the cluster security group from the runner's network; GKE "
        "private endpoint: the DNS-based endpoint with external traffic (IAM-gated) or an authorized network."
    ),
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-10",
        "EKS: the control plane security group must allow 443 from your network (docs.aws.amazon.com/eks/latest/"
        "userguide/cluster-endpoint.html); GKE DNS-based endpoint (cloud.google.com/kubernetes-engine/docs/"
        "concepts/network-isolation)",
    ),
    check=_api_reachable,
    tags=["deploy", "companion", "kubernetes", "network"],
    graph=True,
    types=(*CLUSTER_TYPES, *SG_RULE_TYPES),
)


RULES: list[StackRule] = [
    BINAUTHZ_HAS_POLICY,
    NETWORK_POLICIES_ENFORCED,
    HPAS_HAVE_METRICS,
    WEBHOOKS_REACHABLE,
    HOOK_JOBS_REACH_THE_API,
    API_REACHABLE,
]
