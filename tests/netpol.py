"""NetworkPolicy semantics for the tests: would this connection be allowed by these policies?

The rules of the Kubernetes API (networking.k8s.io/v1, "Network Policies" in the Kubernetes docs):

* A pod is isolated for egress (ingress) when at least one policy of its namespace selects it with
  `Egress` (`Ingress`) among its `policyTypes`; a pod no policy selects is not isolated: all allowed.
* An isolated pod may send (receive) a connection that at least one rule of one selecting policy
  allows: a rule with no `ports` allows every port, with no `to`/`from` every peer. A connection
  between two pods needs both the sender's egress and the receiver's ingress.
* A peer is an `ipBlock` (CIDR minus `except`), a `namespaceSelector` (every pod of the namespaces it
  selects), a `podSelector` (pods of the policy's own namespace), or both (pods it selects in the
  namespaces it selects). A missing selector in a peer matches everything at its level.
* `ipBlock` is meant for addresses outside the cluster: whether it also matches pod addresses is left to
  the implementation (Cilium: no). Here it matches only `Address` endpoints, never a `Pod`.

Endpoints are `Pod(namespace, labels, ports)` (ports: name -> number, for named ports in rules) and
`Address(ip)`: the API server, a database's private address, a cloud API.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)
    name: str = ""
    service_account: str = "default"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name or dict(self.labels)}"


@dataclass(frozen=True)
class Address:
    ip: str
    name: str = ""
    port: int = 0  # the service port there, where known (a database, a cache)

    def __str__(self) -> str:
        return self.name or self.ip


Endpoint = Pod | Address


def _requirement(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    return op == "DoesNotExist" and key not in labels


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (`matchLabels`, `matchExpressions`); `{}` (or none) selects everything."""
    if selector is None:
        return True
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) and all(
        _requirement(expr, labels) for expr in selector.get("matchExpressions") or []
    )


class Cluster:
    """The namespaces (name -> labels) and NetworkPolicies of one cluster."""

    def __init__(self, namespaces: Mapping[str, Mapping[str, str]], policies: Iterable[Mapping[str, Any]]) -> None:
        self.namespaces = {name: {"kubernetes.io/metadata.name": name, **labels} for name, labels in namespaces.items()}
        self.policies = list(policies)

    def _ns_labels(self, namespace: str) -> Mapping[str, str]:
        return self.namespaces.get(namespace, {"kubernetes.io/metadata.name": namespace})

    def _selecting(self, pod: Pod, direction: str) -> list[Mapping[str, Any]]:
        found = []
        for policy in self.policies:
            meta, spec = policy["metadata"], policy["spec"]
            if meta.get("namespace") != pod.namespace or not selects(spec.get("podSelector") or {}, pod.labels):
                continue
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
            if direction in types:
                found.append(policy)
        return found

    def _peer_matches(self, peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
        block = peer.get("ipBlock")
        if block is not None:
            if not isinstance(other, Address):
                return False
            ip = ipaddress.ip_address(other.ip)
            excepted = any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
            return ip in ipaddress.ip_network(block["cidr"]) and not excepted
        if not isinstance(other, Pod):
            return False
        ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
        # a podSelector alone: pods of the policy's own namespace
        in_ns = other.namespace == policy_ns if ns_sel is None else selects(ns_sel, self._ns_labels(other.namespace))
        return in_ns and selects(pod_sel, other.labels)

    @staticmethod
    def _port_matches(rule_ports: list[Mapping[str, Any]] | None, port: int, protocol: str, target: Endpoint) -> bool:
        if not rule_ports:
            return True
        named = target.ports if isinstance(target, Pod) else {}
        for entry in rule_ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            want = entry.get("port")
            if want is None:
                return True
            if isinstance(want, str):
                want = named.get(want)
                if want is None:
                    continue
            if want <= port <= int(entry.get("endPort") or want):
                return True
        return False

    def egress_allowed(self, src: Pod, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        policies = self._selecting(src, "Egress")
        if not policies:
            return True
        return any(
            self._port_matches(rule.get("ports"), port, protocol, dst)
            and (not rule.get("to") or any(self._peer_matches(p, src.namespace, dst) for p in rule["to"]))
            for policy in policies
            for rule in policy["spec"].get("egress") or []
        )

    def ingress_allowed(self, src: Endpoint, dst: Pod, port: int, protocol: str = "TCP") -> bool:
        policies = self._selecting(dst, "Ingress")
        if not policies:
            return True
        return any(
            self._port_matches(rule.get("ports"), port, protocol, dst)
            and (not rule.get("from") or any(self._peer_matches(p, dst.namespace, src) for p in rule["from"]))
            for policy in policies
            for rule in policy["spec"].get("ingress") or []
        )

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        """Both ends agree: the sender's egress (a pod) and the receiver's ingress (a pod)."""
        out = self.egress_allowed(src, dst, port, protocol) if isinstance(src, Pod) else True
        return out and (self.ingress_allowed(src, dst, port, protocol) if isinstance(dst, Pod) else True)
