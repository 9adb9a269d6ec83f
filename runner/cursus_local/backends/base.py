"""The backend contract: whatever runs the containers (the local engine now, SageMaker later).

A backend knows a job request and a folder, nothing of DAGs or suites. `image_id` names the exact
image a job would run (part of a step's cache key); `run` runs the job to its end."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..jobs.base import Job
from ..results import jsonable
from ..status import JobEvent, JobStatus

EventHandler = Callable[[JobEvent], None]


@dataclass
class HostResult:
    host: str
    exit_code: int | None = None
    oom_killed: bool = False
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None
    log: Path | None = None


@dataclass
class JobResult:
    status: JobStatus                    # Completed | Failed | Stopped
    describe: dict                       # Describe<Kind>Job-shaped: DescribeProcessingJob, DescribeTrainingJob
    duration_seconds: float
    hosts: list[HostResult] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)    # e.g. output name clashes between hosts
    interrupted: bool = False                         # stopped by Ctrl-C
    bytes_copied: int = 0        # inputs copied to be writable (0 with copy-on-write overlay mounts)
    artifacts: dict[str, Path] = field(default_factory=dict)   # e.g. model.tar.gz, output.tar.gz

    @property
    def exit_code(self) -> int | None:
        """The first non-zero exit code, else 0 (None if no container ever exited)."""
        codes = [h.exit_code for h in self.hosts if h.exit_code is not None]
        return next((c for c in codes if c != 0), 0 if codes else None)

    @property
    def peak_memory_bytes(self) -> int | None:
        peaks = [h.peak_memory_bytes for h in self.hosts if h.peak_memory_bytes]
        return max(peaks) if peaks else None

    @property
    def cpu_seconds(self) -> float | None:
        cpu = [h.cpu_seconds for h in self.hosts if h.cpu_seconds is not None]
        return sum(cpu) if cpu else None

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(exit_code=self.exit_code, peak_memory_bytes=self.peak_memory_bytes,
                   cpu_seconds=self.cpu_seconds)
        return jsonable(out)


class Backend(Protocol):
    def image_id(self, uri: str) -> str:
        """The content id of the image `uri` names, made available first (pulled, or built)."""

    def run(self, job: Job, workdir: Path, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> JobResult:
        """Run the job to the end; outputs land in job.local_outputs, logs under workdir/logs.
        Setting `cancel` (or Ctrl-C) stops it: status Stopped, result.interrupted."""
