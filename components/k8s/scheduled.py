"""Scheduled jobs of the platform in team namespaces (the rollout analysis, the drift checks): the CronJob
every one of them is, and the cron arithmetic their alerts and deadlines need.

`team_cron_job` makes a CronJob whose Jobs go through the team's Kueue LocalQueue (their CPU and memory
count against the team's quota), run restricted on the worker nodes with a read-only root filesystem and
an emptyDir at /tmp, never overlap (`Forbid`), and keep a few finished Jobs for `kubectl logs`.
"""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import base
from components.k8s.base import ServicesContext
from components.k8s.kueue import LOCAL_QUEUE, QUEUE_LABEL


def period_seconds(schedule: str) -> int:
    """The longest gap between two runs of a 5-field cron schedule (or @hourly/@daily/...), in seconds:
    what "the check ran recently" has to allow for. Evaluated over a year of minutes (months, weekdays)."""
    macros = {
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    }
    fields = macros.get(schedule.strip(), schedule).split()
    if len(fields) != 5:
        raise ValueError(f"'{schedule}' is not a cron schedule")
    names = {
        **{m.lower(): i for i, m in enumerate(calendar.month_abbr) if m},
        **{d.lower(): (i + 1) % 7 for i, d in enumerate(calendar.day_abbr)},
    }

    def values(field: str, low: int, high: int) -> set[int]:
        out: set[int] = set()
        for part in field.lower().split(","):
            rng, _, step = part.partition("/")
            if rng in ("*", "?"):
                start, end = low, high
            else:
                a, _, b = rng.partition("-")
                start = int(names.get(a, a))
                end = int(names.get(b, b)) if b else (high if step else start)
            out.update(range(start, end + 1, int(step) if step else 1))
        return out

    minutes, hours = values(fields[0], 0, 59), values(fields[1], 0, 23)
    doms, months = values(fields[2], 1, 31), values(fields[3], 1, 12)
    dows = {d % 7 for d in values(fields[4], 0, 7)}
    dom_any, dow_any = fields[2] in ("*", "?"), fields[4] in ("*", "?")
    day, runs = date(2027, 1, 1), []
    for n in range(2 * 366):  # two years: gaps across a year's end, and February 29th
        d = day + timedelta(days=n)
        dom_ok, dow_ok = d.day in doms, d.isoweekday() % 7 in dows
        # cron: with both day fields restricted, either matches
        ok = (dom_ok or dow_ok) if not (dom_any or dow_any) else (dom_ok and dow_ok)
        if d.month in months and ok:
            runs += [(n * 24 + h) * 60 + m for h in sorted(hours) for m in sorted(minutes)]
    if len(runs) < 2:
        return 2 * 366 * 86400
    return max(b - a for a, b in itertools.pairwise(runs)) * 60


def duration(seconds: int) -> str:
    """A Prometheus duration: 3h, 90m, 2d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def team_cron_job(
    resource_name: str,
    svc: ServicesContext,
    *,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    pod_labels: dict[str, str],
    service_account: str,
    automount_token: bool,
    container: str,
    image: str,
    command: pulumi.Input[list[str]],
    schedule: str,
    requests: dict[str, str],
    limits: dict[str, str],
    starting_deadline_seconds: int,
    active_deadline_seconds: int,
    backoff_limit: int,
    successful_jobs_history: int,
    tmp_size: str,
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.CronJob:
    """The CronJob (module docstring); `automount_token`: the job talks to the Kubernetes API."""
    workers = svc.foundation.worker_node_selector
    main = k8s.core.v1.ContainerArgs(
        name=container,
        image=image,
        command=command,
        env=[
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            k8s.core.v1.EnvVarArgs(name="PYTHONUNBUFFERED", value="1"),
        ],
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits),
        security_context=base.restricted_container_security(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
    )
    pod_spec = k8s.core.v1.PodSpecArgs(
        service_account_name=service_account,
        automount_service_account_token=None if automount_token else False,
        restart_policy="Never",
        security_context=base.restricted_pod_security(),
        node_selector=dict(workers) if workers is not None else None,  # CPU work: the worker nodes
        containers=[main],
        volumes=[
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=tmp_size))
        ],
    )
    return k8s.batch.v1.CronJob(
        resource_name,
        metadata=metadata,
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=schedule,
            time_zone="Etc/UTC",
            concurrency_policy="Forbid",  # a slow run is not doubled by the next
            starting_deadline_seconds=starting_deadline_seconds,
            successful_jobs_history_limit=successful_jobs_history,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                # admitted through the team's LocalQueue: its CPU and memory count against the team's quota
                metadata=k8s.meta.v1.ObjectMetaArgs(labels={**pod_labels, QUEUE_LABEL: LOCAL_QUEUE}),
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=backoff_limit,
                    active_deadline_seconds=active_deadline_seconds,
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels), spec=pod_spec
                    ),
                ),
            ),
        ),
        opts=opts,
    )
