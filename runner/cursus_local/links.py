"""Hard links where the filesystem allows them, copies where it doesn't: the one way this project
puts a file somewhere else without moving its bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def link_file(source: Path, target: Path) -> int:
    """Hard-link `source` at `target` (its folder made first); returns the bytes copied instead
    (0 when linked: across filesystems a copy is the only way)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return 0
    except OSError:
        shutil.copy2(source, target)
        return source.stat().st_size


def link_tree(source: Path, target: Path) -> int:
    """Every file and folder under `source` again under `target`; returns the bytes copied."""
    copied = 0
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir() and not path.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            copied += link_file(path, dest)
    return copied
