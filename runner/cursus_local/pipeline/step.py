"""One step, one job: build the request, run it on a backend, keep everything in the run folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import results
from ..backends.base import Backend, EventHandler, JobResult
from ..jobs.contracts import Step
from ..jobs.processing import ProcessingJob, RunOptions, build_job

S3_INPUT_MAX_MB = int(os.environ.get("CURSUS_LOCAL_S3_MAX_MB", "10240"))   # larger prefixes: a sample


def fetch_s3_inputs(job: ProcessingJob) -> None:
    """An `s3://` input stays in the request as it is, and is downloaded (cached) to be mounted."""
    for item in job.request["ProcessingInputs"]:
        name, uri = item["InputName"], item["S3Input"]["S3Uri"]
        if name not in job.local_inputs and uri.startswith("s3://"):
            from ..data.s3 import fetch_uri
            job.local_inputs[name] = fetch_uri(uri, max_bytes=S3_INPUT_MAX_MB * 2**20)


@dataclass
class StepRun:
    step: Step
    job: ProcessingJob
    result: JobResult
    folder: Path

    @property
    def result_file(self) -> Path:
        return self.folder / "result.json"


def run_step(step: Step, options: RunOptions, run_dir: Path, backend: Backend,
             on_event: EventHandler | None = None, cancel=None, name: str | None = None) -> StepRun:
    """Run `step` into `run_dir/<name or step name>/`."""
    folder = results.step_dir(Path(run_dir).resolve(), name or step.name)
    job = build_job(step, options, folder / "output")
    fetch_s3_inputs(job)
    result = backend.run(job, folder, on_event, cancel)
    run = StepRun(step, job, result, folder)
    results.write_json(run.result_file, {
        "step": step.name, "step_file": str(step.file), "job_name": job.name,
        **result.to_dict(),
        "inputs": {name: str(path) for name, path in job.local_inputs.items()},
        "logs": {h.host: str(h.log) for h in result.hosts},
    })
    return run
