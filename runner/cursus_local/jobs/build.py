"""One entry point from a step and its run options to the job request of the step's kind."""

from __future__ import annotations

from pathlib import Path

from .base import Job
from .bindings import secret_argument_flags
from .contracts import Step
from .create_model import build_model_job, is_model_step
from .processing import RunOptions, build_job
from .training import build_training_job, is_training_step


def build(step: Step, options: RunOptions, output_root: Path) -> Job:
    """The step's job request, validated like the service; outputs default to `output_root/<name>`.

    A step whose `registry.sagemaker_step_type` is Training, or whose `compute.kind` is `estimator`,
    is a CreateTrainingJob request (script mode, as the SDK's Framework estimator makes it); every
    other step a CreateProcessingJob request, but a CreateModel step (no container: see create_model)."""
    kind = build_model_job if is_model_step(step) else build_training_job if is_training_step(step) else build_job
    job = kind(step, options, output_root)
    job.secret_names = (*options.secret_env, *secret_argument_flags(step))
    return job
