"""Small helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

from cursus_local.jobs.contracts import Step
from cursus_local.jobs.build import build
from cursus_local.jobs.processing import RunOptions
from cursus_local.pipeline.step import StepRun, run_job


def run_step(step: Step, options: RunOptions, runs_dir: Path, backend, on_event=None) -> StepRun:
    """Build the step's job once and run it into `runs_dir/<step name>/`, as `run-step` does."""
    folder = Path(runs_dir).resolve() / step.name
    return run_job(build(step, options, folder / "output"), folder, backend, on_event)
