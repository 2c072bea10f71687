"""Waivers: an explicit, expiring exception to one rule for matching resources.

`policy/waivers.yaml` (or the file named by `ML_PLATFORM_POLICY_WAIVERS`) holds a list:

    waivers:
      - policy: aws-iam-no-wildcard-resource        # the rule id
        pack: ml-platform-security                   # optional: defaults to any pack with that rule
        resource: "*::mlp-aws-karpenter-controller*" # shell pattern on the URN (or the resource name)
        reason: Karpenter's controller policy needs ec2:RunInstances on "*" (upstream IAM policy)
        expires: 2027-03-31
        approvedBy: security@example.com             # optional

A waived violation is not reported at its rule's level: it is recorded and shown as `waived` by
`mlplat check`, and each pack's `waivers-in-effect` stack rule lists it in `pulumi preview`. An expired
waiver, or one naming a rule its pack does not have, is a mandatory violation of `waivers-valid`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy.props import glob

ENV_FILE = "ML_PLATFORM_POLICY_WAIVERS"
DEFAULT_FILE = Path(__file__).with_name("waivers.yaml")
_FIELDS = {"policy", "pack", "resource", "reason", "expires", "approvedBy"}


class WaiverError(ValueError):
    """A malformed waiver file (one line, names the file and the entry)."""


@dataclass(frozen=True)
class Waiver:
    policy: str
    resource: str
    reason: str
    expires: dt.date
    pack: str | None = None
    approved_by: str | None = None

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def matches(self, pack: str, policy: str, urn: str) -> bool:
        if policy != self.policy or (self.pack is not None and self.pack != pack):
            return False
        pattern = glob(self.resource)
        name = urn.rsplit("::", 1)[-1]
        return bool(pattern.match(urn) or pattern.match(name))

    def describe(self) -> str:
        by = f", approved by {self.approved_by}" if self.approved_by else ""
        return f"waived until {self.expires.isoformat()}{by}: {self.reason}"


@dataclass(frozen=True)
class Applied:
    """A violation a waiver suppressed."""

    pack: str
    policy: str
    urn: str
    message: str
    waiver: Waiver


@dataclass
class WaiverSet:
    waivers: tuple[Waiver, ...] = ()
    source: str = "(none)"
    today: dt.date = field(default_factory=dt.date.today)
    applied: list[Applied] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def find(self, pack: str, policy: str, urn: str) -> Waiver | None:
        for waiver in self.waivers:
            if not waiver.expired(self.today) and waiver.matches(pack, policy, urn):
                return waiver
        return None

    def record(self, applied: Applied) -> None:
        with self._lock:
            self.applied.append(applied)

    def for_pack(self, pack: str, policies: Iterable[str]) -> list[Waiver]:
        names = set(policies)
        return [w for w in self.waivers if (w.pack == pack) or (w.pack is None and w.policy in names)]

    def reset(self) -> None:
        with self._lock:
            self.applied.clear()


def _entry(raw: Any, where: str) -> Waiver:
    if not isinstance(raw, dict):
        raise WaiverError(f"{where}: a waiver is a mapping with policy, resource, reason and expires")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise WaiverError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("policy", "resource", "reason", "expires"):
        if not raw.get(key):
            raise WaiverError(f"{where}: '{key}' is required")
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise WaiverError(f"{where}: expires '{expires}' is not a date (YYYY-MM-DD)") from None
    if not isinstance(expires, dt.date):
        raise WaiverError(f"{where}: expires must be a date (YYYY-MM-DD)")
    if len(str(raw["reason"]).strip()) < 10:
        raise WaiverError(f"{where}: give a reason a reviewer can judge (at least 10 characters)")
    return Waiver(
        policy=str(raw["policy"]),
        resource=str(raw["resource"]),
        reason=str(raw["reason"]).strip(),
        expires=expires,
        pack=str(raw["pack"]) if raw.get("pack") else None,
        approved_by=str(raw["approvedBy"]) if raw.get("approvedBy") else None,
    )


def load(path: Path | str | None = None, today: dt.date | None = None) -> WaiverSet:
    """The waivers in `path` (default: $ML_PLATFORM_POLICY_WAIVERS, else policy/waivers.yaml)."""
    file = Path(path or os.environ.get(ENV_FILE) or DEFAULT_FILE)
    if not file.is_file():
        if path is not None or os.environ.get(ENV_FILE):
            raise WaiverError(f"{file}: no such waiver file")
        return WaiverSet(today=today or dt.date.today())
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise WaiverError(f"{file}: not valid YAML{line}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("waivers", []), list):
        raise WaiverError(f"{file}: expected a mapping with a 'waivers' list")
    entries = doc.get("waivers") or []
    waivers = tuple(_entry(raw, f"{file}: waivers[{i}]") for i, raw in enumerate(entries))
    return WaiverSet(waivers=waivers, source=str(file), today=today or dt.date.today())


class _Active:
    """The waiver set of this process: loaded on first use, replaced by the offline runner per check."""

    def __init__(self) -> None:
        self.waivers: WaiverSet | None = None
        self.lock = threading.Lock()


_ACTIVE = _Active()


def active() -> WaiverSet:
    """The waivers the packs apply in this process (loaded on first use)."""
    with _ACTIVE.lock:
        if _ACTIVE.waivers is None:
            _ACTIVE.waivers = load()
        return _ACTIVE.waivers


def use(waivers: WaiverSet) -> WaiverSet:
    """Make `waivers` the active set (the offline runner does this per check); returns it."""
    with _ACTIVE.lock:
        _ACTIVE.waivers = waivers
    return waivers
