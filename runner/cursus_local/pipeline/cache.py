"""Content fingerprints for the step cache: what a step's result depends on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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


def step_key(*, image_id: str, request: dict, step_doc: dict, inputs: dict[str, Path]) -> str:
    """The cache key: image digest, code and data (every input, code included), contract, request.

    The request is taken without its job name and S3 URIs (they change every run)."""
    stable = json.loads(json.dumps(request).replace(request["ProcessingJobName"], "<job>"))
    material = {
        "image": image_id,
        "request": stable,
        "step": step_doc,
        "inputs": {name: tree_hash(path) for name, path in sorted(inputs.items())},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:32]
