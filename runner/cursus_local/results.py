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


# --- what every result file carries for a CI: versions, times, the command, paths it can move -----
SCHEMA_VERSION = 1
LOG_TAIL_LINES = 20


def iso_time(epoch: float) -> str:
    """ISO 8601 in UTC, to the millisecond: 2025-08-13T10:30:00.123Z."""
    from datetime import datetime, timezone
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(started: float, ended: float, argv: list[str] | None = None) -> dict:
    """schema_version, tool_version, started_at, ended_at and the command line (secrets masked)."""
    import sys

    from . import __version__
    return {"schema_version": SCHEMA_VERSION, "tool_version": __version__,
            "started_at": iso_time(started), "ended_at": iso_time(ended),
            "command": {"program": "cursus-local",
                        "arguments": masked_arguments(sys.argv[1:] if argv is None else argv)}}


def masked_arguments(argv: list[str]) -> list[str]:
    """A command line as it may be written: the value of `--api-token x`, `--api-token=x` and
    `--env n.API_TOKEN=x` is ***, as is a NAME=VALUE whose NAME `--secret-env` marks; credentials in
    URLs are masked too. The names `--secret-env` marks are kept (they are names, not secrets)."""
    from .redact import MASK, Secrets, is_secret_name
    marked = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--secret-env"]
    secrets, out, hide_next = Secrets(frozenset(marked)), [], False
    for arg in argv:
        key, eq, value = arg.partition("=")
        secret = is_secret_name(key.rsplit(".", 1)[-1], marked)   # NODE.NAME=VALUE names NAME
        if hide_next:
            out.append(MASK)
        elif eq and value and secret and key != "--secret-env":
            out.append(f"{key}={MASK}")
        else:
            out.append(secrets.text(arg))
        hide_next = not hide_next and not eq and arg.startswith("-") and secret and arg != "--secret-env"
    return out


# the keys whose values (a path, or paths in a dict) are paths, in every result file
PATH_KEYS = frozenset({"run_dir", "run_folder", "result_file", "cached_from", "data_path", "outputs", "inputs",
                       "provided"})


def relative_paths(doc, run_dir: Path):
    """`doc` with every path inside the runs folder written relative to `run_dir` (another run's
    folder as `../<run-id>/...`), so that a runs folder can be moved or published; a path outside
    it (a provided input) stays absolute. `read_run_file` reads them back as absolute paths."""
    root = Path(run_dir).parent

    def relative(path: str) -> str:
        inside = path.startswith("/") and Path(path).is_relative_to(root)
        return os.path.relpath(path, run_dir) if inside else path
    return _paths(doc, relative)


def read_run_file(path: Path) -> dict:
    """A result file (results.json, unit_tests.json) with its paths absolute again; older files,
    whose paths are absolute already, read the same."""
    folder = Path(path).absolute().parent

    def absolute(value: str) -> str:
        return value if not value or "://" in value else os.path.normpath(folder / value)
    return _paths(read_json(path), absolute)


def _paths(value, change, under_path_key: bool = False):
    """`value` with `change` applied to each string under a PATH_KEYS key."""
    if isinstance(value, dict):
        return {k: _paths(v, change, under_path_key or k in PATH_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_paths(v, change, under_path_key) for v in value]
    return change(value) if under_path_key and isinstance(value, str) else value


def log_tail(step_folder: Path, count: int = LOG_TAIL_LINES) -> list[str]:
    """What a failed step said last: the last `count` lines of each host's log (prefixed by the host
    when there are several), or of the runner's own error (error.txt) when no container ran."""
    logs = sorted(Path(step_folder, "logs").glob("*.log"))
    if not logs:
        error = Path(step_folder, "error.txt")
        return error.read_text(errors="replace").splitlines()[-count:] if error.is_file() else []
    lines = []
    for log in logs:
        tail = log.read_text(errors="replace").splitlines()[-count:]
        lines += [f"{log.stem}| {line}" for line in tail] if len(logs) > 1 else tail
    return lines
