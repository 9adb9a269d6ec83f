"""What runners that died (SIGKILL, a crash, a closed laptop) left on the engine: found by labels,
stopped, handed back and removed, at every start of an engine command and by `cursus-local clean`.

Every container, network and volume a runner makes carries `labels()`: the job; the runner (host
name, boot id, pid namespace, pid and that pid's start time, so that a recycled pid is not taken
for it, and its own container id when it runs in one, as in docker compose); for a container, its
step folder and whom its files belong to. A runner is dead when:
- it ran beside us (same boot id and pid namespace) and its pid no longer runs with that start time;
- it ran in a container (compose) and that container no longer runs on this engine.
Any other runner (another machine on a shared engine, a host's runner seen from inside a
container) cannot be judged from here: what it made is left alone, as is all a live runner made.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import ownership
from .images import LABEL, already_gone, docker_errors

RUNNER_LABEL = "cursus-local.runner"
FOLDER_LABEL = "cursus-local.folder"
OWNER_LABEL = "cursus-local.owner"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _start_time(pid) -> str:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot ("" when
    there is no such process, or only its zombie: it has ended)."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else ""


def _own_container() -> str:
    """The id of the container we run in ("" on a host): the engine bind-mounts its hostname file."""
    found = re.search(r"/containers/([0-9a-f]{64})/", _read("/proc/self/mountinfo"))
    return found[1] if found else ""


_identity: dict[int, dict] = {}


def runner() -> dict:
    """This process, as its labels name it."""
    pid = os.getpid()
    if pid not in _identity:   # per pid: a forked child is another runner
        try:
            pidns = os.readlink("/proc/self/ns/pid")
        except OSError:
            pidns = ""
        _identity[pid] = {"host": socket.gethostname(), "boot": _read("/proc/sys/kernel/random/boot_id"),
                          "pidns": pidns, "pid": pid, "start": _start_time(pid),
                          "container": _own_container()}
    return _identity[pid]


def labels(job_name: str, folder: Path | None = None) -> dict[str, str]:
    """The labels of an engine object this runner makes for a job (a container: with its folder)."""
    found = {LABEL: job_name, RUNNER_LABEL: json.dumps(runner(), sort_keys=True)}
    if folder is not None:
        found[FOLDER_LABEL] = str(folder)
        found[OWNER_LABEL] = "{}:{}".format(*ownership.owner())
    return found


def _dead(client, label: str) -> bool:
    try:
        them = json.loads(label)
    except ValueError:
        return False
    me = runner()
    if them.get("boot") and (them.get("boot"), them.get("pidns")) == (me["boot"], me["pidns"]):
        return not them.get("start") or _start_time(them.get("pid")) != them["start"]
    if them.get("container") and them["container"] != me["container"]:
        try:
            return client.api.inspect_container(them["container"])["State"]["Status"] != "running"
        except docker_errors().NotFound:
            return True
    return False


@dataclass
class Swept:
    removed: list[str] = field(default_factory=list)     # "container x (job j, runner pid 12 on h)"
    handed_back: list[str] = field(default_factory=list)  # folders
    kept: int = 0                                         # objects of live (or unknown) runners


def sweep(client) -> Swept:
    """Stop, hand back and remove every container, network and volume of a dead runner."""
    swept, verdicts = Swept(), {}
    api = client.api
    label = {"label": RUNNER_LABEL}
    containers = api.containers(all=True, filters=label)
    networks = api.networks(filters=label)
    volumes = api.volumes(filters=label).get("Volumes") or []

    def dead(labels: dict) -> bool:
        key = labels.get(RUNNER_LABEL, "")
        if key not in verdicts:
            verdicts[key] = _dead(client, key)
        swept.kept += not verdicts[key]
        return verdicts[key]

    def whose(labels: dict) -> str:
        try:
            them = json.loads(labels[RUNNER_LABEL])
            return f"job {labels.get(LABEL, '?')}, runner pid {them.get('pid')} on {them.get('host')}, gone"
        except ValueError:
            return f"job {labels.get(LABEL, '?')}"

    orphans = [c for c in containers if dead(c.get("Labels") or {})]
    for c in orphans:   # nothing writes any more while the files are handed back
        if c.get("State") in ("running", "paused", "restarting"):
            with already_gone():
                api.kill(c["Id"])
    swept.handed_back = _hand_back(client, orphans)
    for c in orphans:
        with already_gone():
            api.remove_container(c["Id"], force=True)
        swept.removed.append(f"container {c['Names'][0].lstrip('/')} ({whose(c['Labels'])})")
    for n in networks:
        if dead(n.get("Labels") or {}):
            with already_gone():
                api.remove_network(n["Id"])
                swept.removed.append(f"network {n['Name']} ({whose(n['Labels'])})")
    for v in volumes:
        if dead(v.get("Labels") or {}):
            with already_gone():
                api.remove_volume(v["Name"], force=True)
                swept.removed.append(f"volume {v['Name']} ({whose(v['Labels'])})")
    return swept


def run_folder(step_folder: str) -> str:
    """The run folder holding a step folder: its nearest ancestor named by a run id (run-step's and
    a pipeline's runs/<id>/<step>, a unit test's runs/<id>/<script>/<test>/<case>); the step folder
    itself when none is (a label we did not write: nothing above it is ours to hand over)."""
    from ..results import is_run_id
    path = PurePosixPath(step_folder)
    return str(next((p for p in path.parents if is_run_id(p.name)), path)) if step_folder else ""


def _hand_back(client, orphans: list[dict]) -> list[str]:
    """Give what orphans and their dead runner wrote as root (the whole run folder: the runner's own
    results, seals and logs too; their writable bind mounts) to the owner their runner recorded:
    through a short container per image and owner, as whoever sweeps may be another user. The
    folders handed back."""
    groups: dict[tuple[str, str], set[str]] = {}
    for c in orphans:
        labels = c.get("Labels") or {}
        owner = labels.get(OWNER_LABEL, "")
        if re.fullmatch(r"\d+:\d+", owner):
            groups.setdefault((c["ImageID"], owner), set()).update(
                [run_folder(labels.get(FOLDER_LABEL, "")), *(m["Source"] for m in c.get("Mounts") or []
                                                 if m.get("Type") == "bind" and m.get("RW"))])
    from docker.types import Mount
    done = []
    for (image, owner), folders in groups.items():
        folders = sorted(f for f in folders if f and os.path.isdir(f))
        folders = [f for f in folders if not any(f.startswith(p + "/") for p in folders)]   # -R covers it
        if not folders:
            continue
        mounts = [Mount(f"/hand-back/{i}", f, type="bind") for i, f in enumerate(folders)]
        # root's entries only (the containers ran as root), each itself: a symlink, not its target
        script = f"find /hand-back -uid 0 -exec chown -h {owner} {{}} +"
        try:
            client.containers.run(image, entrypoint=["sh", "-c", script], command=[], mounts=mounts,
                                  network_mode="none", remove=True, user="0")
        except docker_errors().DockerException:   # its image is gone: nothing to run chown with
            continue
        done += folders
    return done
