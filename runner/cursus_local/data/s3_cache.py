"""The cache of S3 samples: `$CURSUS_LOCAL_CACHE/s3/` (default `~/.cache/cursus-local/s3/`).

One folder per sample (URI and sampling parameters): `manifest.json` (what was asked, when, and
the ETag, size and LastModified of every object used) and `data/` (the sample, in the source's
layout). A sample is built in a temporary folder beside it and renamed into place, so a failed or
interrupted download leaves nothing that looks like a sample. The cache folder is owner-only
(700): it holds production data. `data/` is hard-linked into the user's folders, so an edit there
changes the cached copy too: files are read-only (400), which stops a plain user but not root. What
protects the cache is the manifest's record of each file (size, mtime, ctime, inode): a file that
no longer matches it (ctime moves on any write, and only the clock can set it back) drops the
entry, and the sample is rebuilt from S3.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from ..errors import UserError
from ..results import cache_root, make_dir

MANIFEST = "manifest.json"
DATA = "data"
DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float, *, field: str = "--older-than", file: str | None = None) -> float:
    """`24h`, `30m`, `7d`, `90s`, or a number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = DURATION.fullmatch(str(text))
    if not m:
        raise UserError(f"not a duration: {text!r}", file=file, field=field,
                        fix="write a number with s, m, h, d or w, e.g. 24h")
    return float(m[1]) * SECONDS[m[2]]


def root() -> Path:
    """The S3 cache folder, owner-only."""
    folder = make_dir(cache_root() / "s3")
    os.chmod(folder, 0o700)
    return folder


def entry(uri: str, params: dict) -> Path:
    """The folder of the sample of `uri` taken with `params`: readable tail + digest of both."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    digest = hashlib.sha256(json.dumps([uri, params], sort_keys=True).encode()).hexdigest()[:12]
    readable = re.sub(r"[^\w.-]+", "_", key)[-80:]
    return root() / bucket / f"{readable}-{digest}"


def load(folder: Path) -> dict | None:
    """The manifest of a complete sample, or None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if (folder / DATA).is_dir() else None


def save(folder: Path, manifest: dict) -> None:
    """Rewrite the manifest (revalidation times) in place, atomically."""
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(folder / MANIFEST)


@contextlib.contextmanager
def building(folder: Path) -> Iterator[Path]:
    """A temporary folder to build a sample in (its `data/` made); on success it replaces
    `folder`, on any failure it is removed."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (tmp / DATA).mkdir()
        yield tmp
        for path in (tmp / DATA).rglob("*"):
            if path.is_file():
                path.chmod(0o400)
        record_files(tmp)   # after the chmod, which moves ctime; the rename below does not
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        _remove(old)
    finally:
        _remove(tmp)


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def record_files(folder: Path) -> None:
    """Record in the manifest what each file of the sample is on disk now. Run after building,
    and after linking out: a hard link moves the file's ctime too."""
    manifest = json.loads((folder / MANIFEST).read_text())
    data = folder / DATA
    manifest["files"] = {p.relative_to(data).as_posix(): _identity(p.lstat())
                         for p in sorted(data.rglob("*")) if p.is_file()}
    save(folder, manifest)


def changed_on_disk(folder: Path, manifest: dict) -> str | None:
    """Why the sample can't be served as it is (a file differs from its record), or None."""
    if "files" not in manifest:
        return "its files were not recorded (made by an older version)"
    for rel, recorded in manifest["files"].items():
        try:
            now = _identity((folder / DATA / rel).lstat())
        except OSError:
            now = None
        if now != recorded:
            return f"{rel} changed on disk since it was sampled"
    return None


def drop(folder: Path) -> None:
    _remove(folder)


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def entries() -> list[tuple[Path, dict]]:
    """Every complete sample, oldest first."""
    found = [(f, m) for f in root().glob("*/*") if f.is_dir() and not f.name.startswith(".")
             and (m := load(f)) is not None]
    return sorted(found, key=lambda fm: fm[1].get("created", 0))


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / DATA).rglob("*") if p.is_file())


def prune(older_than: float) -> list[tuple[Path, dict]]:
    """Delete the samples made more than `older_than` seconds ago."""
    now = time.time()
    gone = [(f, m) for f, m in entries() if now - m.get("created", 0) > older_than]
    for f, _ in gone:
        _remove(f)
    return gone


def purge() -> list[Path]:
    """Delete every cached sample, half-built ones included; the audit log stays."""
    gone = []
    for bucket in (p for p in root().iterdir() if p.is_dir()):
        gone += [f for f in bucket.iterdir() if f.is_dir() and not f.name.startswith(".")]
        _remove(bucket)
    return gone
