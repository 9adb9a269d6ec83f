"""Who owns what cursus-local and its containers write: the invoking user, never root."""

from __future__ import annotations

import os
from pathlib import Path


def owner() -> tuple[int, int]:
    """CURSUS_LOCAL_OWNER=uid:gid (or `workdir`: whoever owns the current folder, for a runner in
    a container with the repo mounted), else sudo's caller, else us."""
    wanted = os.environ.get("CURSUS_LOCAL_OWNER", "")
    if wanted == "workdir":
        st = os.stat(os.getcwd())
        return st.st_uid, st.st_gid
    if wanted:
        uid, _, gid = wanted.partition(":")
        return int(uid), int(gid or uid)
    if os.geteuid() == 0 and os.environ.get("SUDO_UID"):
        return int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", os.environ["SUDO_UID"]))
    return os.getuid(), os.getgid()


def _tree(path: Path) -> list[Path]:
    return [path, *path.rglob("*")] if path.is_dir() else [path]


def foreign(folders: list[Path]) -> list[Path]:
    """The files and folders holding anything not owned by `owner()`."""
    uid, gid = owner()
    return [f for f in folders if f.exists() and any(
        (st := p.lstat()).st_uid != uid or st.st_gid != gid for p in _tree(f))]


def hand_over(folders: list[Path]) -> None:
    """Give everything under `folders` to `owner()`; only root can, and only root needs to."""
    if os.geteuid() != 0:
        return
    uid, gid = owner()
    for folder in foreign(folders):
        for path in _tree(folder):
            os.lchown(path, uid, gid)


def hand_over_run(run_dir: Path) -> None:
    """A run folder, the runs folder itself and the caches beside it (root only; see hand_over)."""
    runs = Path(run_dir).parent
    hand_over([run_dir, runs / ".cache"])
    if os.geteuid() == 0 and runs.exists():
        os.lchown(runs, *owner())
