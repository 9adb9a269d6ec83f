"""Exact peak memory and CPU time per host: a parent cgroup per host that outlives its container.

Where this process can manage the engine's cgroups (the cgroupfs driver on this very host,
/sys/fs/cgroup writable here), each host's container gets its own parent cgroup,
/cursus-local-<job>-<random>/<host>; after the container has exited, the parent's high-water mark
and CPU usage are exact and final however short the job was, and then it is removed. Elsewhere the
figures are sampled (see docker.py), and the result says so.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import threading
import time
from pathlib import Path

from .images import docker_errors

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "cursus-local-"

SAMPLED = {"container cgroup": "the container's cgroup every 50 ms (no job cgroup could be used here)",
           "stats API": "the engine's stats API once a second (the engine's cgroups can't be read here)"}


class JobCgroups:
    """A job's cgroups: /cursus-local-<job>-<random>, with one child per host that is the cgroup
    parent of that host's container (the cgroupfs driver puts the container at <parent>/<id>).

    The host's cgroup outlives its container, so once the container has exited its high-water
    mark (v1 memory.max_usage_in_bytes, v2 memory.peak) and CPU usage (v1 cpuacct.usage, v2
    cpu.stat) are exact and final, however short the job was. `remove` deletes them all after the
    containers are removed. The random part keeps two runs of one job name apart."""

    def __init__(self, version: int, job_name: str, root: Path | None = None):
        self.version, self.root = version, root or CGROUP_ROOT
        self.name = f"{CGROUP_PREFIX}{job_name}-{secrets.token_hex(4)}"
        self.unseen = False   # a started container's cgroup was not found here

    def parent(self, host: str) -> str:
        return f"/{self.name}/{host}"

    def _files(self, host: str) -> tuple[Path, Path]:
        if self.version == 1:
            return (self.root / "memory" / self.name / host / "memory.max_usage_in_bytes",
                    self.root / "cpuacct" / self.name / host / "cpuacct.usage")
        group = self.root / self.name / host
        return group / "memory.peak", group / "cpu.stat"

    def exists(self, host: str) -> bool:
        return all(path.exists() for path in self._files(host))

    def usage(self, host: str) -> tuple[int, float] | None:
        """(peak memory in bytes, CPU seconds) of the host's cgroup; None if it isn't there."""
        memory, cpu = self._files(host)
        try:
            return _read_int(memory), _read_cpu(cpu)
        except (OSError, ValueError, StopIteration):
            return None

    def hierarchies(self) -> list[Path]:
        if self.version == 2:
            return [self.root]
        try:
            return sorted({p.resolve() for p in self.root.iterdir() if p.is_dir()})   # cpu,cpuacct once
        except OSError:
            return []

    def remove(self, patience: float = 5.0) -> list[str]:
        """rmdir the job's cgroups in every hierarchy, deepest first. A cgroup whose last process
        is still leaving is busy for a moment: retried. What can't be removed comes back as notes."""
        notes, deadline = [], time.time() + patience
        for hierarchy in self.hierarchies():
            top = hierarchy / self.name
            if not top.is_dir():
                continue
            for folder, _, _ in os.walk(top, topdown=False):
                try:
                    _rmdir(Path(folder), deadline)
                except OSError as exc:
                    notes.append(f"could not remove the job's cgroup {folder}: {exc.strerror}")
        return notes


def job_cgroup_version(client) -> int | None:
    """1 or 2 when this process can give each job its own cgroups and read and remove them: the
    engine runs on this very host with the cgroupfs driver, and its cgroup filesystem is writable
    here. None otherwise (Docker Desktop's VM, a remote engine, the runner in a container, the
    systemd driver, not root): the figures are sampled instead."""
    try:
        info = client.info()
    except (docker_errors().DockerException, OSError):
        return None
    if info.get("CgroupDriver") != "cgroupfs" or info.get("Name") != socket.gethostname():
        return None
    if (CGROUP_ROOT / "cgroup.controllers").is_file():   # v2 alone (hybrid v1 has it in unified/)
        version, needed = 2, [CGROUP_ROOT]
    else:
        version, needed = 1, [CGROUP_ROOT / "memory", CGROUP_ROOT / "cpuacct"]
    if str(info.get("CgroupVersion") or version) != str(version):
        return None
    if not all(path.is_dir() and os.access(path, os.W_OK) for path in needed):
        return None
    if version == 2 and not any((p / "memory.peak").is_file() for p in CGROUP_ROOT.iterdir() if p.is_dir()):
        return None   # memory.peak needs Linux 5.19
    return version


def _rmdir(path: Path, deadline: float):
    while True:
        try:
            return path.rmdir()
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.time() > deadline:
                raise
            time.sleep(0.02)


def _cgroup_files(container_id: str, exited: threading.Event) -> dict[str, Path] | None:
    """The memory-peak and CPU-usage files of a container's cgroup (v1 or v2), if readable here."""
    root = CGROUP_ROOT
    v1 = {"memory": root / "memory/docker" / container_id / "memory.max_usage_in_bytes",
          "cpu": root / "cpuacct/docker" / container_id / "cpuacct.usage"}
    candidates = [v1]
    for group in (root / "system.slice" / f"docker-{container_id}.scope", root / "docker" / container_id):
        candidates.append({"memory": group / "memory.peak", "cpu": group / "cpu.stat"})
    deadline = time.time() + 0.2   # the container has started: its cgroup is there, or never will be
    while time.time() < deadline:
        for files in candidates:
            if files["memory"].exists():
                return files
        if exited.wait(0.01):
            return None
    return None


def _read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _read_cpu(path: Path) -> float:
    text = path.read_text()
    if path.name == "cpuacct.usage":
        return int(text) / 1e9
    usage = next(line for line in text.splitlines() if line.startswith("usage_usec"))
    return int(usage.split()[1]) / 1e6
