"""A backend with no engine behind it, for testing what sits above the Backend contract in process.

It honours the contract's observable side: each declared output folder gets a small CSV, a log
file per host, a DescribeProcessingJob-shaped result, and `cancel` stops a job that waits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cursus_local.backends.base import HostResult, JobResult
from cursus_local.jobs.processing import ProcessingJob, describe
from cursus_local.status import JobEvent, JobStatus


@dataclass
class Behaviour:
    exit_code: int = 0
    delay: float = 0.0                 # seconds the "container" runs
    until_cancelled: bool = False      # runs until `cancel` is set (or 10 s)
    raises: Exception | None = None    # the backend itself fails (an engine error)
    rows: str = "id,value\n1,0.5\n2,0.25\n"


class FakeBackend:
    """`behaviours` maps a node (its step folder's name) to how its job ends."""

    def __init__(self, behaviours: dict[str, Behaviour] | None = None):
        self.behaviours = behaviours or {}
        self.jobs: list[tuple[str, ProcessingJob]] = []     # (node, job) in the order they ran
        self.running = 0
        self.most_at_once = 0
        self.started = threading.Event()                    # some job is running
        self._lock = threading.Lock()

    def image_id(self, uri: str) -> str:
        return f"sha256:fake-{uri}"

    def run(self, job: ProcessingJob, workdir: Path, on_event=None, cancel=None) -> JobResult:
        node, emit = workdir.name, on_event or (lambda event: None)
        behaviour = self.behaviours.get(node, Behaviour())
        cancel = cancel or threading.Event()
        with self._lock:
            self.jobs.append((node, job))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        created = time.time()
        try:
            self.started.set()
            if behaviour.raises is not None:
                raise behaviour.raises
            emit(JobEvent("status", "", JobStatus.IN_PROGRESS))
            deadline = created + (10.0 if behaviour.until_cancelled else behaviour.delay)
            while time.time() < deadline and not cancel.wait(0.01):
                pass
            interrupted = cancel.is_set()
        finally:
            with self._lock:
                self.running -= 1
        log = workdir / "logs" / "algo-1.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{node} ran with exit code {behaviour.exit_code}\n")
        for folder in job.local_outputs.values():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "part-00000.csv").write_text(behaviour.rows)
        if interrupted:
            status, reason = JobStatus.STOPPED, "interrupted by the user (Ctrl-C)"
        elif behaviour.exit_code:
            status, reason = JobStatus.FAILED, f"AlgorithmError: algo-1 exited with code {behaviour.exit_code}"
        else:
            status, reason = JobStatus.COMPLETED, ""
        ended = time.time()
        info = describe(job, status=status, created=created, started=created, ended=ended,
                        failure_reason=reason if status == JobStatus.FAILED else "")
        emit(JobEvent("status", "", status))
        return JobResult(status=status, describe=info, duration_seconds=round(ended - created, 3),
                         hosts=[HostResult("algo-1", exit_code=None if interrupted else behaviour.exit_code,
                                           peak_memory_bytes=1 << 20, cpu_seconds=0.01, log=log)],
                         outputs=dict(job.local_outputs), notes=[reason] if interrupted else [],
                         interrupted=interrupted)
