"""What a pipeline run may take from earlier work: the step cache, the check cache, and on
`--resume` the earlier attempt of the same run.

A step is reused when its key is unchanged: the image's content id, the request (without its
run-specific job name), the step file, and the contents of every input, code included. Its folder
is hard-linked into the new run, so no bytes move. A check result is reused when the suite and the
data are unchanged.

Outputs are sealed, because hard links are shared: an edit in place in any run folder that holds a
cached output changes it in all of them. When a step completes, `seal.json` in its folder records,
for every file of its outputs, its inode, size, mtime and ctime, and a digest of its content. An
output is reused (from the cache, or as an earlier attempt on `--resume`) only if it still matches:
 - ctime is what makes a stat enough. The kernel sets it to "now" on every change to a file: a
   write, a truncation, chmod, a rename, a link, and `touch -r` too (which restores only mtime); no
   system call sets it to a chosen value (only root, by moving the clock or editing the disk). An
   unchanged (inode, size, mtime, ctime) is an unchanged file, for the price of one lstat.
 - A changed ctime alone is no proof of a change: a hard link made or removed elsewhere (a later
   run taking the output, a run folder deleted, a backend linking an input) changes it too. Such a
   file is read again, and kept if its digest is the same; the seal is then brought up to date.
 - A file added, removed, truncated, replaced (another inode) or turned into a symlink is a change.
The other ways were worse: copying instead of linking costs the bytes (2 GB per cached step); a
read-only file stops no one who runs as root (containers do), nor `chmod u+w`.
One window stays open: between the check of a file and its link into the new run (microseconds;
on kernels without fine-grained timestamps, up to a clock tick after the link), a write that also
restores mtime would be missed. Anyone who can race that can also rewrite
`runs/.cache` itself: the seal is against mistakes, not against someone who owns the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
from pathlib import Path

from .. import results
from ..jobs.base import Job
from ..jobs.packages import WHEELHOUSE_PATH
from ..links import link_or_copy, link_tree
from ..status import JobStatus, StepStatus

CHUNK = 1 << 20
SEAL = "seal.json"
# ctime comes from a coarse clock on kernels without fine-grained timestamps (before 6.13): one tick,
# at most 10 ms. A file read less than that after its last change could change again in the same
# tick with the same ctime, so a digest is recorded only for a file whose ctime was older than this
# when the reading began.
SETTLE_NS = 50_000_000
READ_TRIES = 20


class OutputChanged(Exception):
    """An output changed since its step wrote it: it is never served, and the step runs again."""

    def __init__(self, node: str, path: str, how: str, run: str):
        super().__init__(f"cache entry for {node} dropped: output {path} changed since run {run} ({how})")


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class Digests:
    """Content digests of the files this process has read, by (device, identity): a file whose
    inode, size, mtime and ctime are unchanged is not read again (a cache key, a check key and a
    seal of the same output read it once)."""

    def __init__(self):
        self.known: dict[tuple[int, int], tuple[list[int], str]] = {}

    def remember(self, st: os.stat_result, digest: str) -> None:
        self.known[(st.st_dev, st.st_ino)] = (_identity(st), digest)

    def of(self, path: str | Path, st: os.stat_result | None = None) -> tuple[os.stat_result, str]:
        """The digest of the file at `path` (a symlink followed; `st`: its stat, if just taken)
        and the stat it is valid for."""
        st = st or os.stat(path)
        known = self.known.get((st.st_dev, st.st_ino))
        if known is not None and known[0] == _identity(st):
            return st, known[1]
        for _ in range(READ_TRIES):
            while (began := time.time_ns()) < st.st_ctime_ns + SETTLE_NS:
                time.sleep((st.st_ctime_ns + SETTLE_NS - began) / 1e9)
            with open(path, "rb") as handle:
                before = os.fstat(handle.fileno())
                digest = hashlib.blake2b(digest_size=16)
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                after = os.fstat(handle.fileno())
            st = os.stat(path)
            # the same file throughout, unchanged while read, and settled before: this content
            if _identity(before) == _identity(after) == _identity(st) and st.st_ctime_ns + SETTLE_NS <= began:
                self.remember(st, digest.hexdigest())
                return st, digest.hexdigest()
        raise OSError(f"{path} kept changing while it was read ({READ_TRIES} tries)")

    def clear(self) -> None:
        self.known.clear()


DIGESTS = Digests()


def tree_hash(path: Path) -> str:
    """Hash of a file or folder's relative paths and contents (not times, not owners). A symlink
    to a file counts as that file; a symlinked folder is not followed."""
    digest = hashlib.blake2b(digest_size=16)
    if path.is_file():
        files = [(path.name, str(path), None)]
    elif not path.is_dir():
        files = []   # nothing there (yet): as an empty folder
    else:
        files = ((rel, os.path.join(path, rel), st if stat.S_ISREG(st.st_mode) else None)
                 for rel, st in _walk(path) if stat.S_ISREG(st.st_mode) or
                 (stat.S_ISLNK(st.st_mode) and os.path.isfile(os.path.join(path, rel))))
    for name, file, st in files:
        digest.update(name.encode() + b"\0" + DIGESTS.of(file, st)[1].encode() + b"\0")
    return digest.hexdigest()


def step_key(job: Job, *, image_id: str, step_doc: dict) -> str:
    """The cache key of a job: image, request, step file, every input's content and the wheelhouse's.

    The job name is unique to each run and its S3 URIs carry it, so it is taken out; everything
    else in the request (env, arguments, resources, paths) counts."""
    stable = json.loads(json.dumps(job.request).replace(job.name, "<job>"))
    material = {
        "image": image_id,
        "request": stable,
        "step": step_doc,
        "inputs": {name: tree_hash(path) for name, path in sorted(job.local_inputs.items())},
    }
    wheelhouse = job.local_mounts.get(WHEELHOUSE_PATH)
    if wheelhouse is not None:   # what pip may install from (the host's index settings don't count)
        material["wheelhouse"] = [tree_hash(Path(wheelhouse)), "PIP_NO_INDEX" in job.local_env]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:32]


# --- seals --------------------------------------------------------------------------------------
def _walk(folder: str | Path, prefix: str = ""):
    """(relative path, lstat) of everything under `folder`, in name order, never following a
    symlink."""
    with os.scandir(folder) as entries:
        found = sorted(entries, key=lambda e: e.name)
    for entry in found:
        st = entry.stat(follow_symlinks=False)
        rel = prefix + entry.name
        yield rel, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(entry.path, rel + "/")


def _record(path: str, st: os.stat_result) -> list | None:
    """What a seal keeps of one entry: a file's identity and digest, a symlink's target."""
    if stat.S_ISDIR(st.st_mode):
        return None   # a folder holds no data: its files are recorded
    if stat.S_ISLNK(st.st_mode):
        return ["symlink", os.readlink(path)]
    if not stat.S_ISREG(st.st_mode):
        return ["special", stat.S_IFMT(st.st_mode)]
    st, digest = DIGESTS.of(path, st)
    return [*_identity(st), digest]


class Seal:
    """`seal.json` of a step folder: the cache key it ran with, the run that wrote its outputs, and
    per output (its folder relative to the step folder) a record of every file."""

    def __init__(self, key: str, run: str, outputs: dict[str, dict]):
        self.key, self.run, self.outputs = key, run, outputs

    @classmethod
    def make(cls, folder: Path, key: str, run: str, outputs: dict[str, Path]) -> "Seal":
        sealed = {}
        for name, path in sorted(outputs.items()):
            path = Path(path)
            if path.is_dir() and not path.is_symlink():
                files = {rel: entry for rel, st in _walk(path)
                         if (entry := _record(os.path.join(path, rel), st)) is not None}
                # an output outside the step folder (absolute here) is never linked with it, so
                # a cached copy of it always misses it: that step is never served, it runs
                inside = path.is_relative_to(folder)
                sealed[name] = {"folder": str(path.relative_to(folder) if inside else path), "files": files}
        return cls(key, run, sealed)

    @classmethod
    def load(cls, folder: Path) -> "Seal | None":
        try:
            doc = results.read_json(folder / SEAL)
            return cls(doc["key"], doc["run"], doc["outputs"])
        except (OSError, ValueError, KeyError):
            return None

    def save(self, folder: Path) -> None:
        """Written atomically. A seal rewritten in place keeps the owner of the one it replaces: a
        sudo run that serves (or re-verifies) an earlier run's outputs rewrites that run's seal,
        which must stay whose run it is, not become root's."""
        path = folder / SEAL
        try:
            before = path.lstat()
        except FileNotFoundError:
            before = None
        tmp = path.with_name(f".{SEAL}.{os.getpid()}")
        results.write_json(tmp, {"key": self.key, "run": self.run, "outputs": self.outputs}, indent=None)
        if before is not None and os.geteuid() == 0:
            os.lchown(tmp, before.st_uid, before.st_gid)
        tmp.replace(path)

    def _changed(self, node: str, name: str, rel: str, how: str) -> OutputChanged:
        return OutputChanged(node, f"{name}/{rel}" if rel else name, how, self.run)

    def _check(self, node: str, name: str, rel: str, path: str, st: os.stat_result) -> list:
        """The entry for `path` if it is what was sealed (brought up to date); else OutputChanged."""
        expected = self.outputs[name]["files"].get(rel)
        if expected is None:
            raise self._changed(node, name, rel, "a file was added")
        if expected[0] == "symlink":
            if stat.S_ISLNK(st.st_mode) and os.readlink(path) == expected[1]:
                return expected
            raise self._changed(node, name, rel, "the symlink was replaced")
        if expected[0] == "special":
            if stat.S_IFMT(st.st_mode) == expected[1]:
                return expected
            raise self._changed(node, name, rel, "it was replaced")
        if not stat.S_ISREG(st.st_mode):
            raise self._changed(node, name, rel, "it is now a symlink" if stat.S_ISLNK(st.st_mode)
                                else "it is no longer a file")
        if _identity(st) == expected[:4]:
            DIGESTS.remember(st, expected[4])   # its key hash needs no reading either
            return expected
        if st.st_size != expected[1]:
            raise self._changed(node, name, rel, f"{expected[1]} bytes, now {st.st_size}")
        st, digest = DIGESTS.of(path, st)   # same size, a new ctime: a link elsewhere, or an edit
        if digest != expected[4]:
            raise self._changed(node, name, rel, "its content differs")
        return [*_identity(st), digest]

    def _missing(self, node: str, name: str, seen: set[str]) -> None:
        gone = sorted(set(self.outputs[name]["files"]) - seen)
        if gone:
            raise self._changed(node, name, gone[0], "it was removed")

    def verify(self, folder: Path, node: str) -> None:
        """Raise OutputChanged unless the outputs in `folder` are what was sealed (stat only, but
        for files whose ctime changed); the seal is brought up to date."""
        updated = False
        for name, output in self.outputs.items():
            base = folder / output["folder"]
            if base.is_symlink() or not base.is_dir():
                raise self._changed(node, name, "", "its folder was removed")
            seen = set()
            for rel, st in _walk(base):
                if stat.S_ISDIR(st.st_mode):
                    continue
                seen.add(rel)
                entry = self._check(node, name, rel, os.path.join(base, rel), st)
                updated |= entry is not output["files"][rel]
                output["files"][rel] = entry
            self._missing(node, name, seen)
        if updated:
            self.save(folder)

    def link(self, source: Path, target: Path, node: str) -> int:
        """`source` (a step folder) into `target` by hard links, each output file checked right
        before it is linked; the seal (of both: they share inodes) brought up to date. Returns the
        bytes copied. Raises OutputChanged, leaving no `target`."""
        prefixes = [(os.path.join(source, output["folder"], ""), name) for name, output in self.outputs.items()]
        seen: dict[str, set[str]] = {name: set() for name in self.outputs}
        own_seal = os.path.join(source, SEAL)

        def checked_link(path: str, dest: str) -> int:
            if path == own_seal:
                return 0   # each folder gets its own, written below
            for prefix, name in prefixes:
                if path.startswith(prefix):
                    break
            else:
                return link_or_copy(path, dest)   # logs, result.json: not handed on
            rel = path[len(prefix):]
            entry = self._check(node, name, rel, path, os.lstat(path))
            seen[name].add(rel)
            if entry[0] == "symlink":   # as it is (a hard link would follow it)
                os.symlink(entry[1], dest)
                return 0
            copied = link_or_copy(path, dest)
            if entry[0] != "special":
                # a link changes ctime (of the file in both folders): the new one is sealed
                st = os.lstat(dest)
                if [st.st_size, st.st_mtime_ns] != entry[1:3]:
                    raise self._changed(node, name, rel, "it changed while it was linked")
                DIGESTS.remember(st, entry[4])
                entry = [*_identity(st), entry[4]]
            self.outputs[name]["files"][rel] = entry
            return copied

        try:
            for name, output in self.outputs.items():
                base = source / output["folder"]
                if base.is_symlink() or not base.is_dir():
                    raise self._changed(node, name, "", "its folder was removed")
            copied = link_tree(source, target, checked_link)
            for name in self.outputs:
                self._missing(node, name, seen[name])
        except OutputChanged:
            shutil.rmtree(target, ignore_errors=True)
            raise
        self.save(target)
        if not copied:   # the same inodes: the source's seal follows (a copy left it as it was)
            self.save(source)
        return copied


# --- the step cache, the check cache, run folders ------------------------------------------------
def _completed(folder: Path) -> bool:
    result = folder / "result.json"
    try:
        return results.read_json(result).get("status") == JobStatus.COMPLETED
    except (OSError, ValueError):
        return False


class StepCache:
    """key -> the step folder of the run that made it (a pointer file under runs/.cache/)."""

    def __init__(self, cache_dir: Path, enabled: bool = True):
        self.dir, self.enabled = cache_dir, enabled

    def find(self, key: str) -> Path | None:
        entry = self.dir / key
        if not (self.enabled and entry.is_file()):
            return None
        folder = Path(entry.read_text().strip())
        seal = Seal.load(folder)
        return folder if _completed(folder) and seal is not None and seal.key == key else None

    def serve(self, key: str, node: str, run: "RunFolder") -> tuple[Path, int] | None:
        """The cached step folder for `key` into `run` (and the bytes copied), or None. Raises
        OutputChanged (the entry is dropped) if an output changed since its step wrote it."""
        source = self.find(key)
        if source is None:
            return None
        try:
            return source, run.take(node, source)
        except OutputChanged:
            (self.dir / key).unlink(missing_ok=True)
            raise

    def remember(self, key: str, folder: Path) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / key).write_text(str(folder) + "\n")


class CheckCache:
    """(suite, data) -> an earlier check's result, as a dict."""

    def __init__(self, cache_dir: Path, enabled: bool = True):
        self.dir, self.enabled = cache_dir / "checks", enabled

    @staticmethod
    def key(suite: Path, data: Path, inputs: dict[str, Path] | None = None) -> str:
        """`inputs`: the producing step's, which a suite's row ratio reads too."""
        read = "".join(f"\0{name}={tree_hash(Path(path))}" for name, path in sorted((inputs or {}).items()))
        return hashlib.sha256(suite.read_bytes() + tree_hash(data).encode() + read.encode()).hexdigest()[:32]

    def get(self, key: str) -> dict | None:
        stored = self.dir / f"{key}.json"
        return results.read_json(stored) if self.enabled and stored.is_file() else None

    def put(self, key: str, value: dict) -> None:
        results.write_json(self.dir / f"{key}.json", value)


def _step_folders(run_dir: Path):
    # `runs/latest` is a link to a run, not a run of its own
    return (p for p in sorted(run_dir.iterdir()) if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def earlier_steps(run_dir: Path) -> dict | None:
    """node -> {status, key} of a run folder's steps, or None if it holds no run. From its
    results.json; else (the runner was killed, or crashed) from each step's own result.json: a
    completed, sealed step counts as passed (its outputs are verified before they are kept)."""
    if (run_dir / "results.json").is_file():
        return results.read_json(run_dir / "results.json")["steps"]
    if not run_dir.is_dir():
        return None
    found = {}
    for folder in _step_folders(run_dir):
        if (folder / "result.json").is_file():
            seal = Seal.load(folder) if _completed(folder) else None
            found[folder.name] = {"status": StepStatus.PASSED, "key": seal.key} if seal else {"status": "failed"}
    # a run killed before any step ended has no result.json at all, but its folder is a run's
    return found if found or results.is_run_id(run_dir.name) else None


def resumable(runs_dir: Path) -> list[str]:
    """The run ids under `runs_dir` that `--resume` accepts, oldest first."""
    if not runs_dir.is_dir():
        return []
    return [p.name for p in _step_folders(runs_dir)
            if results.is_run_id(p.name) or (p / "results.json").is_file() or any(p.glob("*/result.json"))]


class RunFolder:
    """One run's folder: its steps, and on resume what the earlier attempt left."""

    def __init__(self, run_dir: Path, previous: dict | None = None):
        self.dir = run_dir
        self.previous = previous or {}   # node -> its entry in the earlier results.json

    def step(self, node: str) -> Path:
        return self.dir / node

    def kept(self, node: str, key: str) -> bool:
        """The earlier attempt of this run passed this node with the same key. Raises
        OutputChanged if its outputs changed since."""
        before = self.previous.get(node) or {}
        if not (StepStatus(before.get("status", "waiting")).ok and before.get("key") == key):
            return False
        seal = Seal.load(self.step(node))
        if seal is None or seal.key != key:
            return False   # never sealed: nothing proves its outputs are what it wrote
        seal.verify(self.step(node), node)
        return True

    def seal(self, node: str, key: str, outputs: dict[str, Path]) -> None:
        """Record what a completed step wrote, before anything else may read or take it."""
        Seal.make(self.step(node), key, self.dir.name, outputs).save(self.step(node))

    def set_aside(self, node: str) -> None:
        """Keep an earlier attempt's folder (outputs, logs, error) under .attempts/<node>-N."""
        folder = self.step(node)
        if not folder.exists():
            return
        attempts = self.dir / ".attempts"
        attempts.mkdir(exist_ok=True)
        n = len(list(attempts.glob(f"{node}-*"))) + 1
        folder.rename(attempts / f"{node}-{n}")

    def take(self, node: str, source: Path) -> int:
        """A cached step's folder into this run by hard links; returns the bytes copied. Raises
        OutputChanged if one of its outputs changed since its step wrote it."""
        seal = Seal.load(source)
        if source.resolve() == self.step(node).resolve():   # this run's own earlier attempt
            seal.verify(source, node)
            return 0
        self.set_aside(node)
        return seal.link(source, self.step(node), node)
