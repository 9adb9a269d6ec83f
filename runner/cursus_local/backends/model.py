"""A CreateModel job, locally: no container runs (none does on the service either). The model is
its request; each output folder gets the artifact, hard-linked, and `model.json`, the request."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from ..jobs.create_model import ARTIFACT, ModelJob
from ..links import link_file
from ..status import JobStatus
from .base import JobResult


def run_model(job: ModelJob, workdir: Path) -> JobResult:
    started = time.time()
    source = job.local_inputs[job.input_name]
    artifact = source / ARTIFACT if source.is_dir() else source
    describe = {**job.request, "CreationTime": datetime.fromtimestamp(started, timezone.utc).isoformat(),
                "ModelArn": f"arn:aws:sagemaker:local:000000000000:model/{job.name.lower()}"}
    if not artifact.is_file():
        reason = f"ClientError: no {ARTIFACT} in {source}: the model artifact must be a {ARTIFACT}"
        return JobResult(status=JobStatus.FAILED, describe={**describe, "FailureReason": reason},
                         duration_seconds=round(time.time() - started, 3), outputs=dict(job.local_outputs))
    copied = 0
    for folder in job.local_outputs.values():
        folder.mkdir(parents=True, exist_ok=True)
        copied += link_file(artifact, folder / ARTIFACT)
        (folder / "model.json").write_text(json.dumps(job.request, indent=2) + "\n")
    result = JobResult(status=JobStatus.COMPLETED, describe=describe,
                       duration_seconds=round(time.time() - started, 3), outputs=dict(job.local_outputs))
    result.bytes_copied = copied
    return result
