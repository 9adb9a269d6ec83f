"""The status vocabularies, one enum each, and the events that carry them.

They are `str` enums, so a status compares equal to its old string and JSON files keep their
exact text ("Completed", "passed", "PASS"). Compare against the members, never against literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class _Str(str, Enum):
    def __str__(self) -> str:   # f"{status}" gives "passed", not "StepStatus.PASSED"
        return self.value


class JobStatus(_Str):
    """A job's status, as SageMaker's Describe*Job gives it."""
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class StepStatus(_Str):
    """A pipeline node's status, from waiting to its end."""
    WAITING = "waiting"
    RUNNING = "running"
    CHECKING = "checking"
    PASSED = "passed"
    CACHED = "cached"
    FAILED = "failed"
    BLOCKED = "blocked"      # a critical check on its inputs failed: it never ran
    SKIPPED = "skipped"      # something upstream did not pass
    STOPPED = "stopped"      # interrupted

    @property
    def ok(self) -> bool:
        """Its outputs may be handed on."""
        return self in (StepStatus.PASSED, StepStatus.CACHED)

    @property
    def done(self) -> bool:
        return self not in (StepStatus.WAITING, StepStatus.RUNNING, StepStatus.CHECKING)


class Verdict(_Str):
    """The outcome of a check: a suite, a quality check, a static compatibility check, a test."""
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"

    @staticmethod
    def worst(verdicts) -> "Verdict":
        order = [Verdict.PASS, Verdict.WARN, Verdict.FAIL]
        return max((Verdict(v) for v in verdicts), key=order.index, default=Verdict.PASS)


class PipelineStatus(_Str):
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class JobEvent:
    """From a backend while a job runs: a status change (text is a JobStatus) or one log line."""
    kind: str            # "status" | "log"
    host: str            # algo-N, or "" for the whole job
    text: str


@dataclass(frozen=True)
class StepEvent:
    """From the sequencer: a node reached a status."""
    node: str
    status: StepStatus
    note: str = ""


@dataclass(frozen=True)
class TestEvent:
    """From the unit tester: a test case started, ended, or logged a line."""
    kind: str            # "start" (text: what runs) | "done" (text: its Verdict)
    label: str
    text: str = ""
