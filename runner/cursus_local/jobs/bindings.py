"""What every job kind checks of what it is given, with one wording: unknown or missing inputs,
a local path that must exist (unless a step that has not run yet will make it), job arguments
the contract declares, and the required environment."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .contracts import Step


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


def local_input(step: Step, name: str, source: str, produced: frozenset[str]) -> Path | None:
    """The host path behind a bound input (None for a URI); it must exist unless `produced`."""
    if "://" in source:
        return None
    path = Path(source).resolve()
    if not path.exists() and name not in produced:
        raise UserError(f"input {name} points to {path}, which does not exist", file=str(step.file),
                        field=f"contract.inputs.{name}", fix=f"--input {name}=EXISTING_PATH")
    return path


def environment(step: Step, env: dict[str, str]) -> dict[str, str]:
    """The contract's optional defaults under the run's values; every required one must be set."""
    merged = {**step.env_optional, **env}
    missing = [k for k in step.env_required if k not in merged]
    if missing:
        raise UserError(f"required environment variable(s) {missing} not set", file=str(step.file),
                        field="contract.env_vars.required", fix=" ".join(f"--env {k}=VALUE" for k in missing))
    return merged
