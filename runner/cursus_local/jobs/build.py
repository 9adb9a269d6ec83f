"""One entry point from a step and its run options to the job request of the step's kind."""

from __future__ import annotations

from pathlib import Path

from .base import Job
from .contracts import Step
from .processing import RunOptions, build_job


def build(step: Step, options: RunOptions, output_root: Path) -> Job:
    """The step's job request (CreateProcessingJob today), validated like the service; outputs
    default to `output_root/<name>`."""
    return build_job(step, options, output_root)
