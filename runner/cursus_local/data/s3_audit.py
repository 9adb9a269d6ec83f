"""The audit trail of S3 reads: an append-only log beside the S3 cache, one JSON line per read
object (who, when, URI, ETag, bytes, rows) and per deletion of cached copies.

Lines are appended with O_APPEND in one write each, so runs at the same time never interleave
them; nothing in cursus-local rewrites or truncates the file (`s3-cache purge` keeps it: it is the
record of what was read and deleted).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from pathlib import Path

AUDIT_FILE = "audit.log"
_lock = threading.Lock()


def who() -> str:
    user = getpass.getuser()
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (as {user})" if sudo and sudo != user else user


def record(folder: Path, event: str, uri: str, **details) -> None:
    """Append one line to `folder/audit.log` (owner-only)."""
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": who(),
                       "host": socket.gethostname(), "event": event, "uri": uri, **details})
    fd = os.open(folder / AUDIT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        with _lock:
            os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read(folder: Path) -> list[dict]:
    path = folder / AUDIT_FILE
    return [json.loads(l) for l in path.read_text().splitlines() if l] if path.exists() else []
