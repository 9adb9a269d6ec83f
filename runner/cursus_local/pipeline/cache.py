"""What a pipeline run may take from earlier work: the step cache, the check cache, and on
`--resume` the earlier attempt of the same run.

A step is reused when its key is unchanged: the image's content id, the request (without its
run-specific job name), the step file, and the contents of every input, code included. Its folder
is hard-linked into the new run, so no bytes move. A check result is reused when the suite and the
data are unchanged.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import results
from ..jobs.base import Job
from ..jobs.packages import WHEELHOUSE_PATH
from ..links import link_tree
from ..status import JobStatus, StepStatus

CHUNK = 1 << 20


def tree_hash(path: Path) -> str:
    """Hash of a file or folder's relative paths and contents (not times, not owners)."""
    digest = hashlib.blake2b(digest_size=16)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
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


class StepCache:
    """key -> the step folder of the run that made it (a pointer file under runs/.cache/)."""

    def __init__(self, cache_dir: Path, enabled: bool = True):
        self.dir, self.enabled = cache_dir, enabled

    def find(self, key: str) -> Path | None:
        entry = self.dir / key
        if not (self.enabled and entry.is_file()):
            return None
        folder = Path(entry.read_text().strip())
        result = folder / "result.json"
        if result.is_file() and results.read_json(result).get("status") == JobStatus.COMPLETED:
            return folder
        return None

    def remember(self, key: str, folder: Path) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / key).write_text(str(folder) + "\n")


class CheckCache:
    """(suite, data) -> an earlier check's result, as a dict."""

    def __init__(self, cache_dir: Path, enabled: bool = True):
        self.dir, self.enabled = cache_dir / "checks", enabled

    @staticmethod
    def key(suite: Path, data: Path) -> str:
        return hashlib.sha256(suite.read_bytes() + tree_hash(data).encode()).hexdigest()[:32]

    def get(self, key: str) -> dict | None:
        stored = self.dir / f"{key}.json"
        return results.read_json(stored) if self.enabled and stored.is_file() else None

    def put(self, key: str, value: dict) -> None:
        results.write_json(self.dir / f"{key}.json", value)


class RunFolder:
    """One run's folder: its steps, and on resume what the earlier attempt left."""

    def __init__(self, run_dir: Path, previous: dict | None = None):
        self.dir = run_dir
        self.previous = previous or {}   # node -> its entry in the earlier results.json

    def step(self, node: str) -> Path:
        return self.dir / node

    def kept(self, node: str, key: str) -> bool:
        """The earlier attempt of this run passed this node with the same key."""
        before = self.previous.get(node) or {}
        return StepStatus(before.get("status", "waiting")).ok and before.get("key") == key

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
        """A cached step's folder into this run by hard links; returns the bytes copied."""
        if source.resolve() == self.step(node).resolve():   # this run's own earlier attempt
            return 0
        self.set_aside(node)
        return link_tree(source, self.step(node))
