"""What every job kind checks of what it is given, with one wording: unknown or missing inputs,
input and output names that are folder names, a local path that must exist (unless a step that
has not run yet will make it) and is no system folder, job arguments the contract declares, and
the required environment. And `inside`: every host path made from a name stays in its folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UserError
from ..redact import is_secret_name
from .contracts import Step

# Mounted into a container (read-write, or as an overlay's lower layer) these would hand the job
# the host: its configuration, binaries, devices, the engine's socket and the engine's own data.
SYSTEM_FOLDERS = ("/etc", "/usr", "/bin", "/sbin", "/boot", "/dev", "/proc", "/sys", "/run",
                  "/var/run", "/var/lib/docker", "/var/lib/containerd", "/root")   # /root: root's keys


def check_names(step: Step) -> None:
    """Every input and output name is a folder name (on the host, and in S3 keys), and no input
    shares its name with an output."""
    from .validation import folder_name_length, folder_name_pattern
    pattern, longest, f = folder_name_pattern(), folder_name_length(), str(step.file)
    for kind, names in (("inputs", step.inputs), ("outputs", step.outputs)):
        for name in names:
            if not pattern.fullmatch(name) or name in (".", ".."):
                raise UserError(f"{kind[:-1]} name {name!r} is not a folder name: it names the "
                                "folder the data goes to", file=f, field=f"contract.{kind}.{name}",
                                fix=f"use letters, digits, '.', '-' and '_' only ({pattern.pattern}), "
                                    "and not '.' or '..'")
            if len(name) > longest:
                raise UserError(f"{kind[:-1]} name {name[:20]}... has {len(name)} characters, more than "
                                f"the service's {longest} for a name", file=f,
                                field=f"contract.{kind}.{name}", fix=f"use a name of at most {longest} characters")
    shared = sorted(set(step.inputs) & set(step.outputs))
    if shared:
        raise UserError(f"{shared} name(s) both an input and an output: --input and --output, a "
                        "DAG's edges and the run folder could not tell them apart", file=f,
                        field=f"contract.outputs.{shared[0]}",
                        fix="rename the output (or the input), e.g. `<name>_out`")


def check_not_system(path: Path, what: str, file: str, field: str, fix: str,
                     folders: tuple[str, ...] | None = None) -> None:
    """Refuse a (resolved) host path that is, lies in or holds a system folder (or one of
    `folders`: the engine's data root, which only the engine knows)."""
    path = Path(path)
    if folders is None:
        lib = path.parts[1:2] if re.fullmatch(r"lib(32|64|x32)?", "".join(path.parts[1:2])) else ()
        folders = (*SYSTEM_FOLDERS, *(f"/{p}" for p in lib))
    for system in (Path(f) for f in folders if f):
        if path.is_relative_to(system) or system.is_relative_to(path):
            how = "is" if path == system else "lies in" if path.is_relative_to(system) else "holds"
            raise UserError(f"{what} is {path}, which {how} the system folder {system}: it is "
                            "never mounted into a container", file=file, field=field, fix=fix)


def inside(base: Path, *parts: str, field: str = "") -> Path:
    """base/parts resolved, which must lie below `base` (not be it: a name never names the folder
    that holds it, let alone one above)."""
    base = Path(base).resolve()
    path = base.joinpath(*parts).resolve()
    if path == base or not path.is_relative_to(base):
        raise UserError(f"{os.path.join(*parts)} would be {path}, not a folder inside {base}", field=field or None,
                        fix="use a name with letters, digits, '.', '-' and '_' only")
    return path


def check_bound(step: Step, inputs: dict[str, str]) -> None:
    where = str(step.file)
    unknown = set(inputs) - set(step.inputs)
    if unknown:
        raise UserError(f"unknown input(s) {sorted(unknown)}", file=where, field="contract.inputs",
                        fix=f"use one of {sorted(step.inputs)}")
    missing = [n for n, spec in step.inputs.items() if spec.required and n not in inputs]
    if missing:
        raise UserError(f"required input(s) {missing} not bound", file=where, field="contract.inputs",
                        fix=" ".join(f"--input {n}=PATH" for n in missing))


def check_job_arguments(step: Step, values: dict[str, str]) -> None:
    known = {a.source for a in step.job_arguments}
    unknown = set(values) - known
    if unknown:
        raise UserError(f"unknown job argument(s) {sorted(unknown)}", file=str(step.file),
                        field="contract.job_arguments",
                        fix=f"use one of {sorted(known)}" if known else "this step takes no job arguments")


def secret_argument_flags(step: Step) -> tuple[str, ...]:
    """The flags of job arguments fed from a secret-looking name (`--db` from `password`): the
    value is masked by the flag, as the name itself never reaches the request."""
    return tuple(a.flag for a in step.job_arguments if is_secret_name(a.source))


def local_input(step: Step, name: str, source: str, produced: frozenset[str]) -> Path | None:
    """The host path behind a bound input (None for a URI); it must exist unless `produced`."""
    if "://" in source:
        return None
    path = Path(source).resolve()   # symlinks resolved: what is checked is what is mounted
    if not path.exists() and name not in produced:
        raise UserError(f"input {name} points to {path}, which does not exist", file=str(step.file),
                        field=f"contract.inputs.{name}", fix=f"--input {name}=EXISTING_PATH")
    check_not_system(path, f"input {name} ({source})", str(step.file), f"contract.inputs.{name}",
                     f"--input {name}=PATH with a folder of your data")
    return path


MOUNTED = "which is what is mounted"


def mounted_note(name: str, source: str, path: Path | None) -> str:
    """Where a bound path leads elsewhere (a symlink), say what is really mounted."""
    if path is None or Path(os.path.abspath(source)) == path:
        return ""
    return f"input {name}: {source} leads to {path}, {MOUNTED}"


def mounted_notes(notes: list[str]) -> list[str]:
    """The job's notes that say what is really mounted: the run's result repeats them."""
    return [n for n in notes if n.endswith(MOUNTED)]


def environment(step: Step, env: dict[str, str]) -> dict[str, str]:
    """The contract's optional defaults under the run's values; every required one must be set."""
    merged = {**step.env_optional, **env}
    missing = [k for k in step.env_required if k not in merged]
    if missing:
        raise UserError(f"required environment variable(s) {missing} not set", file=str(step.file),
                        field="contract.env_vars.required", fix=" ".join(f"--env {k}=VALUE" for k in missing))
    return merged
