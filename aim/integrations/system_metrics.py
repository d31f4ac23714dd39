"""System usage samples (psutil, cgroups): CPU, memory, disk, network and disk IO rates.

Names follow Aim (``__system__cpu`` and so on). In a container with a memory limit, memory
percentages are taken against that limit (what the OOM killer uses), not against the host.
psutil is imported on first use, in the sampling thread.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

Sample = tuple[str, dict[str, Any], float]

CPU = "__system__cpu"
PROCESS_MEMORY = "__system__p_memory_percent"
MEMORY = "__system__memory_percent"
DISK = "__system__disk_percent"
NET_SENT = "__system__net_sent_bytes_per_s"
NET_RECV = "__system__net_recv_bytes_per_s"
DISK_READ = "__system__disk_read_bytes_per_s"
DISK_WRITE = "__system__disk_write_bytes_per_s"

_log = logging.getLogger("aim")


class SystemStats:
    """Samples this machine and this process; rates are per second since the previous sample."""

    def __init__(self, disk_path: str = "/", cgroup_root: str = "/sys/fs/cgroup",
                 proc_self_cgroup: str = "/proc/self/cgroup") -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._disk_path = disk_path
        self._cgroup = CgroupMemory.find(cgroup_root, proc_self_cgroup)
        self._last: tuple[float, Any, Any] | None = None
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement

    def sample(self, now: float) -> list[Sample]:
        """One sample of every system metric that can be read; a failing reading is skipped."""
        ps = self._psutil
        out: list[Sample] = []
        _try(out, CPU, lambda: ps.cpu_percent(interval=None))
        limit = self._cgroup.limit() if self._cgroup else None
        if limit:
            _try(out, MEMORY, lambda: 100.0 * self._cgroup.usage() / limit)  # type: ignore[union-attr]
            _try(out, PROCESS_MEMORY, lambda: 100.0 * self._process.memory_info().rss / limit)
        else:
            _try(out, MEMORY, lambda: ps.virtual_memory().percent)
            _try(out, PROCESS_MEMORY, lambda: self._process.memory_percent())
        _try(out, DISK, lambda: ps.disk_usage(self._disk_path).percent)
        try:
            net, disk = ps.net_io_counters(), ps.disk_io_counters()
        except (OSError, RuntimeError):
            net = disk = None
        if self._last is not None:
            then, last_net, last_disk = self._last
            dt = now - then
            if dt > 0:
                if net is not None and last_net is not None:
                    out.append((NET_SENT, {}, round(max(0, net.bytes_sent - last_net.bytes_sent) / dt, 1)))
                    out.append((NET_RECV, {}, round(max(0, net.bytes_recv - last_net.bytes_recv) / dt, 1)))
                if disk is not None and last_disk is not None:
                    read = disk.read_bytes - last_disk.read_bytes
                    written = disk.write_bytes - last_disk.write_bytes
                    out.append((DISK_READ, {}, round(max(0, read) / dt, 1)))
                    out.append((DISK_WRITE, {}, round(max(0, written) / dt, 1)))
        self._last = (now, net, disk)
        return out


def _try(out: list[Sample], name: str, read: Any) -> None:
    try:
        value = float(read())
    except Exception as exc:  # a reading the platform refuses is skipped
        _log.debug("aim: cannot read %s: %s", name, exc)
        return
    out.append((name, {}, round(value, 2)))


class CgroupMemory:
    """The memory limit and usage of this process's cgroup (v2, or v1), when it has a limit."""

    def __init__(self, limit_file: Path, usage_file: Path, stat_file: Path, inactive_key: str) -> None:
        self._limit_file, self._usage_file, self._stat_file = limit_file, usage_file, stat_file
        self._inactive_key = inactive_key

    @classmethod
    def find(cls, root: str = "/sys/fs/cgroup", self_cgroup: str = "/proc/self/cgroup") -> CgroupMemory | None:
        """This process's memory cgroup, or None (not Linux, no cgroup, unreadable)."""
        try:
            lines = Path(self_cgroup).read_text().splitlines()
        except OSError:
            return None
        base = Path(root)
        for line in lines:
            hid, controllers, path = [*line.split(":", 2), "", ""][:3]
            rel = path.lstrip("/")
            if hid == "0" and controllers == "":  # cgroup v2 (unified)
                d = base / rel
                if (d / "memory.max").exists():
                    return cls(d / "memory.max", d / "memory.current", d / "memory.stat", "inactive_file")
            elif "memory" in controllers.split(","):  # cgroup v1
                d = base / "memory" / rel
                if not (d / "memory.limit_in_bytes").exists():
                    d = base / "memory"
                if (d / "memory.limit_in_bytes").exists():
                    return cls(d / "memory.limit_in_bytes", d / "memory.usage_in_bytes",
                               d / "memory.stat", "total_inactive_file")
        return None

    def limit(self) -> int | None:
        """The limit in bytes; None when unlimited (or larger than the machine's memory)."""
        try:
            raw = self._limit_file.read_text().strip()
        except OSError:
            return None
        if raw == "max" or not raw.isdigit():
            return None
        limit = int(raw)
        try:
            physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            physical = 0
        # v1 reports "no limit" as a huge number; a limit above the machine means none either.
        return None if physical and limit >= physical else limit

    def usage(self) -> int:
        """Bytes in use, without the inactive page cache (as ``docker stats`` counts it)."""
        usage = int(self._usage_file.read_text().strip())
        try:
            for line in self._stat_file.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == self._inactive_key:
                    return max(0, usage - int(value))
        except (OSError, ValueError):
            pass
        return usage
