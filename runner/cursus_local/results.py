"""Run folders: `runs/<run-id>/<step>/{output/<name>/, logs/, result.json}` plus `results.json`."""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from pathlib import Path

DEFAULT_RUNS_DIR = "runs"


def runs_dir(base: Path | None = None) -> Path:
    return Path(os.environ.get("CURSUS_LOCAL_RUNS") or (base or Path.cwd()) / DEFAULT_RUNS_DIR)


def cache_root() -> Path:
    """Where downloads and derived data are kept between runs ($CURSUS_LOCAL_CACHE)."""
    return Path(os.environ.get("CURSUS_LOCAL_CACHE") or Path.home() / ".cache" / "cursus-local")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def step_dir(run_dir: Path, step: str) -> Path:
    return run_dir / step


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
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
