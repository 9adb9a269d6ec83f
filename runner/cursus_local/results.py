"""Run folders: `runs/<run-id>/<step>/{output/<name>/, logs/, result.json}` plus `results.json`."""

from __future__ import annotations

import json
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
