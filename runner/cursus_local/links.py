"""Hard links where the filesystem allows them, copies where it doesn't: the one way this project
puts a file somewhere else without moving its bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


def link_file(source: Path, target: Path) -> int:
    """Hard-link `source` at `target` (its folder made first); returns the bytes copied instead
    (0 when linked: across filesystems a copy is the only way)."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return link_or_copy(source, target)


def link_or_copy(source: str | Path, target: str | Path) -> int:
    """`link_file` into a folder that exists."""
    try:
        os.link(source, target)
        return 0
    except OSError:
        shutil.copy2(source, target)
        return os.stat(source).st_size


def link_tree(source: Path, target: Path, link: Callable[[str, str], int] = link_or_copy) -> int:
    """Every file and folder under `source` again under `target`, each file (or symlink) put there
    by `link(source_path, target_path)` (a caller may check it first); returns the bytes copied.
    Paths are plain strings: a tree of 20,000 files costs 20,000 syscalls, not pathlib's parsing."""
    copied = 0

    def walk(src: str, dst: str) -> None:
        nonlocal copied
        os.makedirs(dst, exist_ok=True)
        with os.scandir(src) as entries:
            for entry in entries:
                to = os.path.join(dst, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, to)
                else:
                    copied += link(entry.path, to)

    walk(str(source), str(target))
    return copied
