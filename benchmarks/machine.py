"""One line naming the machine a benchmark ran on, so every figure quoted from its output says where it
was measured: CPUs available to this process, memory, Python, the load average at the start (other
processes share the cores on a development machine) and, where given, the accelerator."""

from __future__ import annotations

import os
import platform


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def describe(accelerator: str | None = None) -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = _memory_gib()
    parts = [f"{cpus} CPUs ({platform.machine()})"]
    if memory is not None:
        parts.append(f"{memory:.0f} GiB memory")
    parts.append(f"Python {platform.python_version()}")
    parts.append(accelerator or "no GPU")
    if hasattr(os, "getloadavg"):
        one, five, fifteen = os.getloadavg()
        parts.append(f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} at start")
    return "machine: " + ", ".join(parts)
