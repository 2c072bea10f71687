"""The NetworkPolicy evaluator the cluster checks rely on (tests/netpol.py), against the rules of the
Kubernetes API: isolation only where a policy selects the pod for that direction, both ends of a
pod-to-pod connection, peers, ipBlock with except, named ports and port ranges."""

from __future__ import annotations

from typing import Any

from tests.netpol import Address, Cluster, Pod, selects

NAMESPACES = {"a": {"team": "x"}, "b": {"team": "y"}, "kube-system": {}}


def policy(ns: str, selector: dict[str, Any], types: list[str], **rules: Any) -> dict[str, Any]:
    spec = {"podSelector": selector, "policyTypes": types, **rules}
    return {"metadata": {"namespace": ns, "name": "p"}, "spec": spec}


DENY_A = policy("a", {}, ["Ingress", "Egress"])
WEB = Pod("a", {"app": "web"}, {"http": 8080})
DB = Pod("b", {"app": "db"})


def test_selectors() -> None:
    labels = {"app": "web", "tier": "1"}
    assert selects({}, labels) and selects(None, labels)
    assert selects({"matchLabels": {"app": "web"}}, labels)
    assert not selects({"matchLabels": {"app": "db"}}, labels)
    assert selects({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["1", "2"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, labels)
    assert selects({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, labels)


def test_no_policy_allows_everything_and_default_deny_nothing() -> None:
    assert Cluster(NAMESPACES, []).allowed(WEB, DB, 5432)
    denied = Cluster(NAMESPACES, [DENY_A])
    assert not denied.allowed(WEB, DB, 5432)  # egress of a
    assert not denied.allowed(DB, WEB, 8080)  # ingress of a
    assert denied.allowed(DB, Pod("b", {}), 1)  # b is not isolated


def test_egress_needs_the_receivers_ingress_too() -> None:
    out = policy("a", {"matchLabels": {"app": "web"}}, ["Egress"], egress=[{"to": [{"namespaceSelector": {}}]}])
    deny_b = policy("b", {}, ["Ingress"])
    cluster = Cluster(NAMESPACES, [DENY_A, out, deny_b])
    assert cluster.egress_allowed(WEB, DB, 5432)
    assert not cluster.allowed(WEB, DB, 5432)


def test_peers_namespace_and_pod_selectors() -> None:
    to_db = {"namespaceSelector": {"matchLabels": {"team": "y"}}, "podSelector": {"matchLabels": {"app": "db"}}}
    cluster = Cluster(NAMESPACES, [DENY_A, policy("a", {}, ["Egress"], egress=[{"to": [to_db]}])])
    assert cluster.allowed(WEB, DB, 5432)
    assert not cluster.allowed(WEB, Pod("b", {"app": "cache"}), 6379)
    same_ns = policy("a", {}, ["Egress"], egress=[{"to": [{"podSelector": {}}]}])  # own namespace only
    cluster = Cluster(NAMESPACES, [DENY_A, same_ns])
    assert not cluster.allowed(WEB, DB, 5432)
    assert cluster.egress_allowed(WEB, Pod("a", {"app": "other"}), 1)


def test_ip_blocks_ports_and_named_ports() -> None:
    https = policy(
        "a",
        {},
        ["Egress", "Ingress"],
        egress=[
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                "ports": [{"port": 443, "protocol": "TCP"}],
            },
            {"ports": [{"port": 30000, "endPort": 30010, "protocol": "TCP"}]},
        ],
        ingress=[{"ports": [{"port": "http", "protocol": "TCP"}]}],
    )
    cluster = Cluster(NAMESPACES, [https])
    assert cluster.allowed(WEB, Address("52.0.0.1"), 443)
    assert not cluster.allowed(WEB, Address("10.1.2.3"), 443)  # excepted
    assert not cluster.allowed(WEB, Address("52.0.0.1"), 80)
    assert not cluster.allowed(WEB, Address("52.0.0.1"), 443, "UDP")
    assert not cluster.allowed(WEB, DB, 443)  # an ipBlock never matches a pod here
    assert cluster.allowed(WEB, Address("10.1.2.3"), 30005)  # a range, any destination
    assert cluster.ingress_allowed(DB, WEB, 8080)  # the named port resolves on the receiver
    assert not cluster.ingress_allowed(DB, WEB, 9090)
