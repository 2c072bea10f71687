"""tests/pod_security.py against the Pod Security Standards: each control, the pod- vs container-level
inheritance the admission plugin applies, and the versioned changes (kubernetes/pod-security-admission,
policy/check_*.go)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.pod_security import checks, violations


def restricted_pod(**spec: Any) -> dict[str, Any]:
    """A pod that meets restricted: pod-level runAsNonRoot and seccomp, containers drop ALL and do not
    escalate (init and main container)."""
    container = {
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod = {
        "metadata": {"annotations": {}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "init", **copy.deepcopy(container)}],
            "containers": [{"name": "main", **copy.deepcopy(container)}],
            "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "x"}}],
        },
    }
    pod["spec"].update(spec)
    return pod


def main(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def ids(found: list[str]) -> list[str]:
    return [f.split(":")[0] for f in found]


def test_a_restricted_pod_meets_every_level() -> None:
    for level in ("privileged", "baseline", "restricted"):
        assert violations(restricted_pod(), level) == []  # type: ignore[arg-type]


def test_the_privileged_level_checks_nothing() -> None:
    assert checks("privileged") == {}
    assert violations({"spec": {"hostNetwork": True}}, "privileged") == []


def test_a_bare_pod_meets_baseline_not_restricted() -> None:
    """The defaults: baseline allows them, restricted needs every field set."""
    pod = {"spec": {"containers": [{"name": "c"}]}}
    assert violations(pod, "baseline") == []
    assert ids(violations(pod, "restricted")) == [
        "allowPrivilegeEscalation != false",
        "runAsNonRoot != true",
        "seccompProfile",
        "unrestricted capabilities",
    ]


@pytest.mark.parametrize("field", ["hostNetwork", "hostPID", "hostIPC"])
def test_host_namespaces(field: str) -> None:
    assert ids(violations(restricted_pod(**{field: True}), "baseline")) == ["host namespaces"]
    assert violations(restricted_pod(**{field: False}), "baseline") == []


def test_privileged_containers_init_and_ephemeral_included() -> None:
    pod = restricted_pod()
    pod["spec"]["initContainers"][0]["securityContext"]["privileged"] = True
    assert ids(violations(pod, "baseline")) == ["privileged"]
    pod = restricted_pod(ephemeralContainers=[{"name": "debug", "securityContext": {"privileged": True}}])
    assert "privileged" in ids(violations(pod, "baseline"))
    assert "allowPrivilegeEscalation != false" in ids(violations(pod, "restricted"))  # the debug container too


def test_capabilities() -> None:
    pod = restricted_pod()
    main(pod)["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert violations(pod, "restricted") == []
    main(pod)["securityContext"]["capabilities"]["add"] = ["CHOWN"]
    assert violations(pod, "baseline") == []  # a default capability
    assert ids(violations(pod, "restricted")) == ["unrestricted capabilities"]
    main(pod)["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}
    assert ids(violations(pod, "baseline")) == ["non-default capabilities"]
    assert "must set securityContext.capabilities.drop" in violations(pod, "restricted")[0]


def test_host_path_volumes_and_restricted_volume_types() -> None:
    pod = restricted_pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}])
    assert ids(violations(pod, "baseline")) == ["hostPath volumes"]
    assert ids(violations(pod, "restricted")) == ["restricted volume types"]  # replaces the hostPath check
    pod = restricted_pod(volumes=[{"name": "share", "nfs": {"server": "x", "path": "/"}}])
    assert violations(pod, "baseline") == []
    assert ids(violations(pod, "restricted")) == ["restricted volume types"]
    allowed = ["csi", "downwardAPI", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"]
    assert violations(restricted_pod(volumes=[{"name": v, v: {}} for v in allowed]), "restricted") == []
    assert violations(restricted_pod(volumes=[{"name": "defaulted-to-emptydir"}]), "restricted") == []


def test_host_ports() -> None:
    pod = restricted_pod()
    main(pod)["ports"] = [{"containerPort": 80, "hostPort": 0}]
    assert violations(pod, "baseline") == []
    main(pod)["ports"] = [{"containerPort": 80, "hostPort": 80}]
    assert ids(violations(pod, "baseline")) == ["hostPort"]


def test_apparmor() -> None:
    pod = restricted_pod()
    pod["spec"]["securityContext"]["appArmorProfile"] = {"type": "Unconfined"}
    assert ids(violations(pod, "baseline")) == ["forbidden AppArmor profile"]
    pod = restricted_pod()
    main(pod)["securityContext"]["appArmorProfile"] = {"type": "Localhost", "localhostProfile": "p"}
    assert violations(pod, "restricted") == []
    pod["metadata"]["annotations"] = {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
    assert ids(violations(pod, "baseline")) == ["forbidden AppArmor profile"]
    pod["metadata"]["annotations"] = {"container.apparmor.security.beta.kubernetes.io/main": "localhost/p"}
    assert violations(pod, "baseline") == []


def test_selinux() -> None:
    pod = restricted_pod()
    main(pod)["securityContext"]["seLinuxOptions"] = {"type": "container_t", "level": "s0:c1"}
    assert violations(pod, "baseline") == []
    main(pod)["securityContext"]["seLinuxOptions"] = {"type": "spc_t"}
    assert ids(violations(pod, "baseline")) == ["seLinuxOptions"]
    pod["spec"]["securityContext"]["seLinuxOptions"] = {"user": "system_u"}
    main(pod)["securityContext"].pop("seLinuxOptions")
    assert ids(violations(pod, "baseline")) == ["seLinuxOptions"]
    engine = restricted_pod()
    main(engine)["securityContext"]["seLinuxOptions"] = {"type": "container_engine_t"}
    assert violations(engine, "baseline", "1.31") == []
    assert ids(violations(engine, "baseline", "1.30")) == ["seLinuxOptions"]


def test_proc_mount_and_user_namespaces() -> None:
    """Baseline lets a pod in a user namespace (hostUsers: false) unmask /proc from 1.35; restricted never."""
    pod = restricted_pod()
    main(pod)["securityContext"]["procMount"] = "Unmasked"
    assert ids(violations(pod, "baseline")) == ["procMount"]
    pod["spec"]["hostUsers"] = False
    assert violations(pod, "baseline", "1.35") == []
    assert ids(violations(pod, "baseline", "1.34")) == ["procMount"]
    assert ids(violations(pod, "restricted", "1.35")) == ["procMount"]
    main(pod)["securityContext"]["procMount"] = "Default"
    assert violations(pod, "restricted") == []


def test_seccomp_pod_level_covers_the_containers() -> None:
    pod = restricted_pod()
    assert violations(pod, "restricted") == []
    pod["spec"]["securityContext"].pop("seccompProfile")
    assert ids(violations(pod, "restricted")) == ["seccompProfile"]
    assert violations(pod, "baseline") == []  # unset is the baseline default
    for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
        c["securityContext"]["seccompProfile"] = {"type": "Localhost", "localhostProfile": "p.json"}
    assert violations(pod, "restricted") == []  # every container sets it: the pod need not
    main(pod)["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    assert ids(violations(pod, "baseline")) == ["seccompProfile"]


def test_run_as_non_root_inheritance() -> None:
    pod = restricted_pod()
    main(pod)["securityContext"]["runAsNonRoot"] = False  # explicitly false beats the pod's true
    assert "must not set securityContext.runAsNonRoot=false" in violations(pod, "restricted")[0]
    pod = restricted_pod()
    pod["spec"]["securityContext"].pop("runAsNonRoot")
    assert ids(violations(pod, "restricted")) == ["runAsNonRoot != true"]
    for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
        c["securityContext"]["runAsNonRoot"] = True
    assert violations(pod, "restricted") == []
    pod["spec"]["securityContext"]["runAsNonRoot"] = False
    assert ids(violations(pod, "restricted")) == ["runAsNonRoot != true"]


def test_run_as_user_zero() -> None:
    pod = restricted_pod()
    pod["spec"]["securityContext"]["runAsUser"] = 1000
    assert violations(pod, "restricted") == []
    main(pod)["securityContext"]["runAsUser"] = 0
    assert ids(violations(pod, "restricted")) == ["runAsUser=0"]
    assert violations(pod, "baseline") == []
    pod["spec"]["hostUsers"] = False
    assert violations(pod, "restricted", "1.35") == []
    assert ids(violations(pod, "restricted", "1.34")) == ["runAsUser=0"]


def test_allow_privilege_escalation_and_windows_pods() -> None:
    pod = restricted_pod()
    main(pod)["securityContext"]["allowPrivilegeEscalation"] = True
    assert ids(violations(pod, "restricted")) == ["allowPrivilegeEscalation != false"]
    main(pod)["securityContext"].pop("allowPrivilegeEscalation")
    assert ids(violations(pod, "restricted")) == ["allowPrivilegeEscalation != false"]
    windows = {"spec": {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}}}
    windows["spec"]["containers"] = [{"name": "c"}]
    assert violations(windows, "restricted", "1.25") == []  # seccomp, escalation, capabilities: Linux only
    assert len(violations(windows, "restricted", "1.24")) == 3


def test_windows_host_process() -> None:
    pod = restricted_pod()
    main(pod)["securityContext"]["windowsOptions"] = {"hostProcess": True}
    assert ids(violations(pod, "baseline")) == ["hostProcess"]


def test_sysctls_by_version() -> None:
    pod = restricted_pod()
    pod["spec"]["securityContext"]["sysctls"] = [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}]
    assert violations(pod, "baseline", "1.32") == []
    assert ids(violations(pod, "baseline", "1.31")) == ["forbidden sysctls"]
    pod["spec"]["securityContext"]["sysctls"] = [{"name": "kernel.msgmax", "value": "65536"}]
    assert ids(violations(pod, "restricted")) == ["forbidden sysctls"]


def test_probe_and_lifecycle_hosts_from_1_34() -> None:
    pod = restricted_pod()
    main(pod)["readinessProbe"] = {"httpGet": {"host": "169.254.169.254", "port": 80}}
    assert ids(violations(pod, "baseline", "1.34")) == ["probe or lifecycle host"]
    assert violations(pod, "baseline", "1.33") == []
    pod = restricted_pod()
    main(pod)["lifecycle"] = {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 1}}}
    assert ids(violations(pod, "baseline")) == ["probe or lifecycle host"]
