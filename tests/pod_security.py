"""The Pod Security Standards (baseline and restricted) as the Pod Security admission plugin checks them.

PyPI has no maintained implementation, so this is a small one, written from the standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/) and the admission plugin's
checks (kubernetes/pod-security-admission, `policy/check_*.go`): the same fields, the same pod- vs
container-level inheritance, the same versioned changes. A namespace labelled `enforce-version:
latest` is checked at the API server's own version, so `version` is the cluster's.

    violations({"spec": {...}, "metadata": {...}}, "restricted", "1.35")  # -> ["runAsNonRoot != true: ..."]

Not modelled: a container's image USER (the kubelet refuses root at start, admission does not see it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

Level = Literal["privileged", "baseline", "restricted"]
Pod = Mapping[str, Any]  # a pod, or a pod template: {"metadata": ..., "spec": ...}

LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")

# check_capabilities_baseline.go
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# check_sysctls.go: the safe set, grown by version
SYSCTLS: list[tuple[tuple[int, int], frozenset[str]]] = [
    (
        (1, 0),
        frozenset(
            {
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
                "net.ipv4.ip_unprivileged_port_start",
            }
        ),
    ),
    ((1, 27), frozenset({"net.ipv4.ip_local_reserved_ports"})),
    (
        (1, 29),
        frozenset(
            {
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
            }
        ),
    ),
    ((1, 32), frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})),
    ((1, 37), frozenset({"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"})),
]
# check_restrictedVolumes.go
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected"}
    | {"secret"}
)
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})


def _version(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """initContainers, containers and ephemeralContainers, as the plugin's visitContainers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _sc(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def _names(items: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in items)


def _windows(spec: Mapping[str, Any]) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def _user_namespace(spec: Mapping[str, Any]) -> bool:
    return spec.get("hostUsers") is False


Check = Callable[[Mapping[str, Any], Mapping[str, Any], tuple[int, int]], str | None]


# --- baseline ------------------------------------------------------------------------------------------


def _host_process(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    pod = ((spec.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess") is True
    bad = [c["name"] for c in _containers(spec) if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True]
    if pod or bad:
        return f"hostProcess: {'pod' if pod else ''}{' and ' if pod and bad else ''}{_names(bad)} set hostProcess=true"
    return None


def _host_namespaces(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return f"host namespaces: {', '.join(bad)}" if bad else None


def _privileged(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("privileged") is True]
    return f"privileged: containers {_names(bad)} must not set securityContext.privileged=true" if bad else None


def _capabilities_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = {}
    for c in _containers(spec):
        added = set((_sc(c).get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            bad[c["name"]] = sorted(added)
    if bad:
        return f"non-default capabilities: {', '.join(f'{n} adds {a}' for n, a in bad.items())}"
    return None


def _host_path(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = [vol["name"] for vol in spec.get("volumes") or [] if "hostPath" in vol]
    return f"hostPath volumes: {_names(bad)}" if bad else None


def _host_ports(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = {c["name"]: [p["hostPort"] for p in c.get("ports") or [] if p.get("hostPort")] for c in _containers(spec)}
    bad = {n: p for n, p in bad.items() if p}
    return f"hostPort: {', '.join(f'{n} uses {p}' for n, p in bad.items())}" if bad else None


def _host_probes(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v < (1, 34):
        return None
    bad = []
    for c in _containers(spec):
        handlers = [c.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(c.get("lifecycle") or {}).get(h) for h in ("postStart", "preStop")]
        hosts = [((h or {}).get(k) or {}).get("host") for h in handlers for k in ("httpGet", "tcpSocket")]
        if any(hosts):
            bad.append(c["name"])
    return f"probe or lifecycle host: containers {_names(bad)} set a host" if bad else None


def _apparmor(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = []
    pod = (spec.get("securityContext") or {}).get("appArmorProfile")
    if pod is not None and pod.get("type") not in APPARMOR_ALLOWED:
        bad.append(f"pod {pod.get('type')}")
    for c in _containers(spec):
        profile = _sc(c).get("appArmorProfile")
        if profile is not None and profile.get("type") not in APPARMOR_ALLOWED:
            bad.append(f"container {c['name']}")
    for key, value in (meta.get("annotations") or {}).items():
        allowed = not value or value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION) and not allowed:
            bad.append(f"annotation {key}={value}")
    return f"forbidden AppArmor profile: {', '.join(bad)}" if bad else None


def _selinux(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    allowed = SELINUX_TYPES | ({"container_engine_t"} if v >= (1, 31) else set())

    def ok(opts: Mapping[str, Any] | None) -> bool:
        if opts is None:
            return True
        return (opts.get("type") or "") in allowed and not opts.get("user") and not opts.get("role")

    bad = [] if ok((spec.get("securityContext") or {}).get("seLinuxOptions")) else ["pod"]
    bad += [c["name"] for c in _containers(spec) if not ok(_sc(c).get("seLinuxOptions"))]
    return f"seLinuxOptions: {_names(bad)} set a forbidden type, user or role" if bad else None


def _proc_mount(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("procMount") not in (None, "Default")]
    return f"procMount: containers {_names(bad)} must not set securityContext.procMount" if bad else None


def _proc_mount_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v >= (1, 35) and _user_namespace(spec):
        return None
    return _proc_mount(meta, spec, v)


def _seccomp_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    bad = []
    pod = (spec.get("securityContext") or {}).get("seccompProfile")
    if pod is not None and pod.get("type") not in SECCOMP_ALLOWED:
        bad.append("pod")
    bad += [
        c["name"]
        for c in _containers(spec)
        if _sc(c).get("seccompProfile") is not None and _sc(c)["seccompProfile"].get("type") not in SECCOMP_ALLOWED
    ]
    return f"seccompProfile: {_names(bad)} must not set an unconfined profile" if bad else None


def _sysctls(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    allowed = frozenset().union(*(names for since, names in SYSCTLS if v >= since))
    bad = [s["name"] for s in (spec.get("securityContext") or {}).get("sysctls") or [] if s["name"] not in allowed]
    return f"forbidden sysctls: {', '.join(bad)}" if bad else None


# --- restricted ----------------------------------------------------------------------------------------


def _volumes(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    # a volume with no source is an emptyDir (the API server defaults it before admission)
    bad = {
        vol["name"]: sorted(set(vol) - {"name"})
        for vol in spec.get("volumes") or []
        if set(vol) - {"name"} and not (set(vol) - {"name"}) & RESTRICTED_VOLUMES
    }
    return f"restricted volume types: {', '.join(f'{n} uses {t}' for n, t in bad.items())}" if bad else None


def _privilege_escalation(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v >= (1, 25) and _windows(spec):
        return None
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return f"allowPrivilegeEscalation != false: containers {_names(bad)} must set it to false"
    return None


def _run_as_non_root(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v >= (1, 35) and _user_namespace(spec):
        return None
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    explicit = (["pod"] if pod is False else []) + [
        c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False
    ]
    if explicit:
        return f"runAsNonRoot != true: {_names(explicit)} must not set securityContext.runAsNonRoot=false"
    implicit = [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is None and pod is not True]
    if implicit:
        return f"runAsNonRoot != true: pod or containers {_names(implicit)} must set securityContext.runAsNonRoot=true"
    return None


def _run_as_user(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v < (1, 23) or (v >= (1, 35) and _user_namespace(spec)):
        return None
    bad = (["pod"] if (spec.get("securityContext") or {}).get("runAsUser") == 0 else []) + [
        c["name"] for c in _containers(spec) if _sc(c).get("runAsUser") == 0
    ]
    return f"runAsUser=0: {_names(bad)} must not set runAsUser=0" if bad else None


def _seccomp_restricted(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v >= (1, 25) and _windows(spec):
        return None
    explicit = _seccomp_baseline(meta, spec, v)
    if explicit:
        return explicit
    pod = (spec.get("securityContext") or {}).get("seccompProfile")
    implicit = [c["name"] for c in _containers(spec) if _sc(c).get("seccompProfile") is None and pod is None]
    if implicit:
        return (
            f"seccompProfile: pod or containers {_names(implicit)} must set securityContext.seccompProfile.type "
            'to "RuntimeDefault" or "Localhost"'
        )
    return None


def _capabilities_restricted(meta: Mapping[str, Any], spec: Mapping[str, Any], v: tuple[int, int]) -> str | None:
    if v >= (1, 25) and _windows(spec):
        return None
    problems = []
    caps = {c["name"]: _sc(c).get("capabilities") or {} for c in _containers(spec)}
    no_drop = [name for name, cap in caps.items() if "ALL" not in (cap.get("drop") or [])]
    if no_drop:
        problems.append(f'containers {_names(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    adding = {
        c["name"]: sorted(set(added) - {"NET_BIND_SERVICE"})
        for c in _containers(spec)
        if (added := (_sc(c).get("capabilities") or {}).get("add") or []) and set(added) - {"NET_BIND_SERVICE"}
    }
    if adding:
        problems.append(f"containers add {adding} (only NET_BIND_SERVICE may be added)")
    return f"unrestricted capabilities: {'; '.join(problems)}" if problems else None


BASELINE: dict[str, Check] = {
    "hostProcess": _host_process,
    "hostNamespaces": _host_namespaces,
    "privileged": _privileged,
    "capabilities_baseline": _capabilities_baseline,
    "hostPathVolumes": _host_path,
    "hostPorts": _host_ports,
    "hostProbesAndHostLifecycle": _host_probes,
    "appArmorProfile": _apparmor,
    "seLinuxOptions": _selinux,
    "procMount": _proc_mount_baseline,
    "seccompProfile_baseline": _seccomp_baseline,
    "sysctls": _sysctls,
}
# restricted adds these; some replace a baseline check (the plugin's OverrideCheckIDs)
RESTRICTED: dict[str, Check] = {
    "restrictedVolumes": _volumes,
    "allowPrivilegeEscalation": _privilege_escalation,
    "runAsNonRoot": _run_as_non_root,
    "runAsUser": _run_as_user,
    "seccompProfile_restricted": _seccomp_restricted,
    "capabilities_restricted": _capabilities_restricted,
    "procMount_restricted": _proc_mount,
}
OVERRIDES = {
    "restrictedVolumes": "hostPathVolumes",
    "seccompProfile_restricted": "seccompProfile_baseline",
    "capabilities_restricted": "capabilities_baseline",
    "procMount_restricted": "procMount",
}


def checks(level: Level, version: str = "1.35") -> dict[str, Check]:
    """The checks a namespace enforcing `level` at `version` runs."""
    if level == "privileged":
        return {}
    out = dict(BASELINE)
    if level == "restricted":
        v = _version(version)
        for check_id, check in RESTRICTED.items():
            if check_id == "procMount_restricted" and v < (1, 35):
                continue
            out.pop(OVERRIDES.get(check_id, ""), None)
            out[check_id] = check
    return out


def violations(pod: Pod, level: Level, version: str = "1.35") -> list[str]:
    """What the admission plugin would refuse `pod` (or a pod template) for at `level`."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    v = _version(version)
    return [problem for check in checks(level, version).values() if (problem := check(meta, spec, v))]
