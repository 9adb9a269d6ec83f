"""The runs folder as a CI sees it: `runs/latest` (the last run that ended), the list of runs, and
pruning old ones.

`latest` is a relative symlink to the run folder, replaced atomically (a new link renamed over the
old one); where symlinks cannot be made it is a file holding the run id, replaced the same way.

A run in use is never pruned: while a run (or a resume of it) goes on, its runner holds an flock
on `runs/.locks/<run-id>`. The kernel drops the lock when the runner dies, even by SIGKILL, so a
dead runner's run is not "in use" forever.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .. import ownership, results
from ..errors import UserError
from .summary import RESULT_FILES

LATEST = "latest"
LOCKS = ".locks"


def mark_latest(run_dir: Path) -> None:
    """Point `runs/latest` at `run_dir` (its parent is the runs folder), atomically."""
    run_dir = Path(run_dir)
    link, tmp = run_dir.parent / LATEST, run_dir.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    try:
        tmp.symlink_to(run_dir.name, target_is_directory=True)
    except (OSError, NotImplementedError):   # no symlinks here (some Windows mounts, some filesystems)
        tmp.write_text(run_dir.name + "\n")
    ownership.give(tmp)   # under sudo: the caller's, as the run it points at
    if link.is_dir() and not link.is_symlink():   # a real folder named latest: not ours to replace
        tmp.unlink()
        raise UserError(f"{link} is a folder, so it cannot point at the latest run", file=str(link),
                        fix="rename that folder")
    os.replace(tmp, link)


def latest_id(runs_dir: Path) -> str | None:
    link = Path(runs_dir) / LATEST
    if link.is_symlink():
        return Path(os.readlink(link)).name
    if link.is_file():
        return link.read_text().strip() or None
    return None


def find_run(runs_dir: Path, run: str) -> Path:
    """The folder of `run` (a run id, or `latest`), or a UserError listing the runs there are."""
    runs_dir = Path(runs_dir)
    name = latest_id(runs_dir) if run == LATEST else run
    folder = runs_dir / name if name else None
    if folder is None or "/" in (name or "") or not folder.is_dir():
        known = [r.run_id for r in list_runs(runs_dir)][-5:]
        raise UserError(f"no run {run!r} in {runs_dir}", field="--run",
                        fix=f"use latest or a run id from `cursus-local runs` ({', '.join(known) or 'none yet'}), "
                            "or --runs-dir for another runs folder")
    return folder


@contextmanager
def in_use(run_dir: Path) -> Iterator[None]:
    """Marks `run_dir` as in use while the block runs (see the module's note)."""
    locks = results.make_dir(Path(run_dir).parent / LOCKS)
    lock = locks / Path(run_dir).name
    # under sudo, the folder and the lock are the caller's from the start (and the runs folder,
    # when this run made it): a runner killed by SIGKILL hands nothing back, and the caller's own
    # --resume must still take (and remove) the lock and mark the latest run
    made = next((m for m in results.made_dirs() if locks.is_relative_to(m)), locks)
    for folder in (locks, *locks.parents):
        if folder.is_relative_to(made):
            ownership.give(folder)
    with _open_lock(lock) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _open_lock(lock: Path):
    """The lock file, made the owner's; one left by root (an older version's sudo run, killed)
    opened for reading, which is enough for flock."""
    try:
        handle = open(lock, "x")
        ownership.give(lock)
        return handle
    except FileExistsError:
        pass
    try:
        return open(lock, "a")
    except PermissionError:
        try:
            return open(lock)
        except PermissionError:
            raise UserError(f"{lock} is another user's lock, which you can neither take nor read",
                            file=str(lock), fix=f"remove it (sudo rm {lock}) if no run of it goes on") from None


def is_in_use(run_dir: Path) -> bool:
    lock = Path(run_dir).parent / LOCKS / Path(run_dir).name
    try:
        with open(lock) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True


@dataclass
class RunInfo:
    run_id: str
    folder: Path
    kind: str             # pipeline | unit tests | unfinished
    status: str           # passed | failed | PASS | FAIL | unfinished
    started_at: str
    duration_seconds: float | None
    latest: bool
    in_use: bool


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """The run folders under `runs_dir`, oldest first (run ids sort by time)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    latest = latest_id(runs_dir)
    found = []
    for folder in sorted(runs_dir.iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        file = next((folder / n for n in RESULT_FILES if (folder / n).is_file()), None)
        if file is None and not results.is_run_id(folder.name):
            continue   # not a run folder
        found.append(_info(folder, file, folder.name == latest))
    return found


def _info(folder: Path, file: Path | None, latest: bool) -> RunInfo:
    doc = {}
    if file is not None:
        try:
            doc = json.loads(file.read_text())
        except (OSError, ValueError):
            doc = {}
    if file is None or not doc:
        kind, status, duration = "unfinished", "unfinished", None
    elif file.name == "results.json":
        kind, status, duration = "pipeline", doc.get("status", "?"), doc.get("duration_seconds")
    else:
        bodies = doc.get("script_unit_tests", [])
        bodies = bodies if isinstance(bodies, list) else [bodies]
        kind = "unit tests"
        status = "FAIL" if any(b.get("status") == "FAIL" for b in bodies) else "PASS"
        duration = sum(b.get("duration_seconds") or 0 for b in bodies)
    started = doc.get("started_at") or _from_run_id(folder.name)
    return RunInfo(folder.name, folder, kind, status, started, duration, latest, is_in_use(folder))


def _from_run_id(name: str) -> str:
    """A run id's own time (local time, as new_run_id writes it), for runs older than started_at."""
    if not results.is_run_id(name):
        return ""
    return f"{name[0:4]}-{name[4:6]}-{name[6:8]} {name[9:11]}:{name[11:13]}:{name[13:15]}"


def prune(runs_dir: Path, keep: int) -> tuple[list[RunInfo], list[RunInfo]]:
    """Delete all but the newest `keep` runs; never the latest, never one in use. Returns (deleted,
    kept although older: the latest or in use)."""
    if keep < 0:
        raise UserError(f"--keep {keep} is negative", field="--keep", fix="keep 0 or more runs")
    runs = list_runs(runs_dir)
    older = runs[:max(0, len(runs) - keep)]
    deleted, spared = [], []
    for run in older:
        if run.latest or is_in_use(run.folder):
            spared.append(run)
            continue
        shutil.rmtree(run.folder)
        deleted.append(run)
    return deleted, spared
