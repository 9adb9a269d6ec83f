"""One job, run once: stage its s3:// inputs, run it on a backend, upload its s3:// outputs, keep
everything in its folder.

The caller builds the job (`jobs.processing.build_job`) once; that very request is what runs, what
a cache key hashes and what `result.json` records.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import results
from ..backends.base import Backend, EventHandler, JobResult
from ..errors import UserError
from ..jobs.base import Job
from ..redact import Secrets
from ..status import JobStatus

S3_INPUT_MAX_MB = "CURSUS_LOCAL_S3_MAX_MB"   # larger s3:// inputs are refused (default 10240)


def stage_s3_inputs(job: Job) -> None:
    """An `s3://` input stays in the request as it is, and is downloaded (cached) to be mounted."""
    for name, uri in job.input_uris().items():
        if name not in job.local_inputs and uri.startswith("s3://"):
            from ..data.s3 import fetch_uri  # boto3 only when an input is on S3
            max_mb = int(os.environ.get(S3_INPUT_MAX_MB, "10240"))
            job.local_inputs[name] = fetch_uri(uri, max_bytes=max_mb * 2**20)


def upload_s3_outputs(job: Job, result: JobResult) -> None:
    """A completed job's s3:// outputs go to their S3Uri, as the service uploads them at the end of
    the job; an upload that fails fails the job, as there (a ClientError FailureReason)."""
    if result.status != JobStatus.COMPLETED or not job.s3_outputs:
        return
    from ..data.s3 import upload_folder  # boto3 only when an output is on S3
    for name, uri in job.s3_outputs.items():
        try:
            upload_folder(result.outputs.get(name) or job.local_outputs[name], uri)
        except UserError as e:
            result.status = JobStatus.FAILED
            result.describe[f"{job.kind}JobStatus"] = str(JobStatus.FAILED)
            result.describe["FailureReason"] = (f"ClientError: output {name} was not uploaded to {uri}: "
                                                f"{e.message}" + (f" (fix: {e.fix})" if e.fix else ""))
            return


@dataclass
class StepRun:
    job: Job
    result: JobResult
    folder: Path

    @property
    def result_file(self) -> Path:
        return self.folder / "result.json"


def run_job(job: Job, folder: Path, backend: Backend, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> StepRun:
    """Run `job` with `folder` as its step folder (logs, hosts, result.json)."""
    folder = results.make_dir(Path(folder).resolve())   # remembered: handed back under sudo
    remote = getattr(backend, "remote", False)   # SageMaker reads and writes s3:// URIs itself
    if not remote:
        stage_s3_inputs(job)
    result = backend.run(job, folder, on_event, cancel)
    if not remote:
        upload_s3_outputs(job, result)
    run = StepRun(job, result, folder)
    results.write_json(run.result_file, Secrets.of_job(job).data({
        "step": job.step_name, "step_file": job.step_file, "job_name": job.name,
        **result.to_dict(),
        "inputs": {name: str(path) for name, path in job.local_inputs.items()},
        "logs": {h.host: str(h.log) for h in result.hosts},
    }))
    return run
