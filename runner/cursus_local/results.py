"""Run folders: `runs/<run-id>/<step>/{output/<name>/, logs/, result.json}` plus `results.json`."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from pathlib import Path

DEFAULT_RUNS_DIR = "runs"


def runs_dir(base: Path | None = None) -> Path:
    return Path(os.environ.get("CURSUS_LOCAL_RUNS") or (base or Path.cwd()) / DEFAULT_RUNS_DIR)


def cache_root(make: bool = True) -> Path:
    """Where downloads and derived data are kept between runs ($CURSUS_LOCAL_CACHE); made (see
    make_dir) unless `make` is False."""
    root = Path(os.environ.get("CURSUS_LOCAL_CACHE") or Path.home() / ".cache" / "cursus-local")
    return make_dir(root) if make else root


_made: list[Path] = []   # the outermost folder each make_dir call created, in this process


def make_dir(path: Path) -> Path:
    """mkdir -p `path`, remembering the outermost folder this created: under sudo, what the tool
    made is handed back to the caller, and only that (ownership.hand_over_run)."""
    path = Path(path).absolute()
    outermost = outermost_missing(path)
    path.mkdir(parents=True, exist_ok=True)
    if outermost is not None and outermost not in _made:
        _made.append(outermost)
    return path


def outermost_missing(path: Path) -> Path | None:
    """The first folder `mkdir -p path` would create (None: `path` is there)."""
    path = Path(path).absolute()
    return next((p for p in reversed([path, *path.parents]) if not os.path.lexists(p)), None)


def made_dirs() -> list[Path]:
    """The folders make_dir created, each the outermost of a path it made."""
    return list(_made)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def is_run_id(name: str) -> bool:
    """`name` is one `new_run_id` made."""
    return re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", name) is not None


def step_dir(run_dir: Path, step: str) -> Path:
    return run_dir / step


def write_json(path: Path, data: dict, indent: int | None = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=indent, default=str) + "\n")
    tmp.replace(path)
    return path


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def jsonable(value):
    """`value` as JSON holds it, for every result file: numpy scalars as Python numbers, NaN, NA
    and NaT as null, dates in ISO form, paths and anything else as text. str enums stay as they
    are (they are strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "item"):          # numpy and pandas scalars
        try:
            return jsonable(value.item())
        except (ValueError, TypeError):
            pass
    if str(value) in ("<NA>", "NaT"):   # pandas' missing values (NaT has an isoformat: "NaT")
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
