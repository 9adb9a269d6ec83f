"""Who owns what cursus-local and its containers write: the invoking user, never root.

Only what a job made is handed over. What was there before (files in a folder given with
`--output`, the inputs) keeps its owner, and a symlink is never followed: `existing` records the
(st_dev, st_ino) of every entry before the job, and `hand_over` skips those."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import UserError

OWNER_ENV = "CURSUS_LOCAL_OWNER"
Inodes = frozenset  # of (st_dev, st_ino)


def owner() -> tuple[int, int]:
    """CURSUS_LOCAL_OWNER=uid:gid (or `workdir`: whoever owns the current folder, for a runner in
    a container with the repo mounted), else sudo's caller, else us."""
    wanted = os.environ.get(OWNER_ENV, "")
    if wanted == "workdir":
        st = os.stat(os.getcwd())
        found = st.st_uid, st.st_gid
    elif wanted:
        uid, _, gid = wanted.partition(":")
        found = _id(uid, wanted), _id(gid or uid, wanted)
    elif os.geteuid() == 0 and os.environ.get("SUDO_UID"):
        sudo_uid = os.environ["SUDO_UID"]
        return _id(sudo_uid, sudo_uid, "SUDO_UID"), _id(os.environ.get("SUDO_GID", sudo_uid), sudo_uid, "SUDO_GID")
    else:
        return os.getuid(), os.getgid()
    # Only root can give files away. Without root, another user as owner would only make what
    # the containers write (handed over by a root container) impossible for the caller to delete.
    if os.geteuid() != 0 and found[0] != os.geteuid():
        raise UserError(f"{OWNER_ENV}={wanted} names user {found[0]}, but only root can give files "
                        f"away (you are user {os.geteuid()})", field=OWNER_ENV,
                        fix=f"unset {OWNER_ENV}, or run through sudo")
    return found


MAX_ID = 2**32 - 2   # ids are 32-bit; 2**32 - 1 is chown's -1, "leave unchanged"


def _id(text: str, wanted: str, variable: str = OWNER_ENV) -> int:
    # ASCII digits only: str.isdigit() and int() also take '١٠٠١'; and no sign, so no -1 either
    if not re.fullmatch(r"[0-9]+", text) or int(text) > MAX_ID:
        raise UserError(f"{variable}={wanted!r} is not uid:gid (ids 0 to {MAX_ID})", field=variable,
                        fix=f"set {variable} to numbers, e.g. {os.getuid()}:{os.getgid()}, or to workdir")
    return int(text)


def check_owner() -> None:
    """Raise a UserError for a bad CURSUS_LOCAL_OWNER: at start-up, before anything runs."""
    owner()


def _tree(path: Path):
    """`path` and everything under it, never following a symlink (not even `path` itself)."""
    path = Path(path)
    yield path
    if path.is_symlink() or not path.is_dir():
        return
    for top, dirs, files in os.walk(path):   # os.walk does not descend into symlinked folders
        for name in [*dirs, *files]:
            yield Path(top) / name


def _entries(folders):
    """(path, lstat) of everything under `folders` that is still there."""
    for folder in folders:
        for path in _tree(folder):
            try:
                yield path, path.lstat()
            except FileNotFoundError:
                continue


def existing(folders) -> Inodes:
    """(st_dev, st_ino) of everything under `folders` now: what a job must not be handed over."""
    return frozenset((st.st_dev, st.st_ino) for _, st in _entries(folders))


def foreign(folders, keep: Inodes = frozenset()) -> list[Path]:
    """Every entry under `folders` not owned by `owner()` and not in `keep`."""
    uid, gid = owner()
    return [path for path, st in _entries(folders)
            if (st.st_uid != uid or st.st_gid != gid) and (st.st_dev, st.st_ino) not in keep]


def hand_over(folders, keep: Inodes = frozenset()) -> None:
    """Give what is under `folders` to `owner()`, but what `keep` lists; only root can, and only
    root needs to. lchown: a symlink itself, never its target."""
    if os.geteuid() != 0:
        return
    uid, gid = owner()
    for path in foreign(folders, keep):
        os.lchown(path, uid, gid)


def give(path: Path) -> None:
    """`path` itself (lchown: a symlink, not its target) to `owner()`, when root: for what the tool
    makes outside a run folder, right after making it (a lock, `runs/latest`)."""
    if os.geteuid() == 0:
        os.lchown(path, *owner())


def hand_over_run(run_dir: Path) -> None:
    """What the tool created for a run, and never what was there before (root only; see
    hand_over): the run folder, each folder results.make_dir made (a new runs folder with the
    folders made to hold it, a new cache), the runs folder's cache when that folder is the
    caller's, and the cache root when it lies in the caller's home (`sudo -E`)."""
    if os.geteuid() != 0 or owner()[0] == os.geteuid():   # root for root: nothing to walk
        return
    from .results import cache_root, made_dirs
    runs, cache = Path(run_dir).parent, cache_root(make=False)
    made = [f for f in made_dirs() if not cache.is_relative_to(f) or _owners(f.parent)]
    hand_over([run_dir, *made])
    if _owners(runs):
        hand_over([runs / ".cache"])
    if _owners(cache):   # what root wrote into the caller's own cache
        hand_over([cache])


def _owners(folder: Path) -> bool:
    """`folder` is the owner's (not through a symlink). A cache made in root's own home
    (plain sudo) is not theirs to have."""
    try:
        st = Path(folder).lstat()
    except FileNotFoundError:
        return False
    return st.st_uid == owner()[0] and not Path(folder).is_symlink()
