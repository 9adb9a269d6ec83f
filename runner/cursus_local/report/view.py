"""What the HTML report shows of a run, read from its folder: `results.json` and each step's
`result.json` and logs.

It reads results.json of every age: the fields added later (`started_at`/`ended_at`, paths
relative to the run folder, a failed step's `log_tail`, a check's `evaluated` count) are used when
they are there, and what they give is found another way, or left out, when they are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import results
from ..status import StepStatus, Verdict
from .runs import list_runs

RESULTS = "results.json"
EXTERNAL = "(external)"


@dataclass
class Check:
    """One GX validation of a handoff: a producer's output, a consumer's input or an edge's suite."""
    number: int                 # its page: check-<number>.html
    connection: str
    side: str
    suite: str
    status: str
    blocking: bool
    data_path: str
    total_rows: int
    sample_rows: int
    seconds: float
    cached: bool
    failures: list[dict]
    evaluated: int | None       # None: results.json predates the count

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def passed(self) -> int | None:
        return None if self.evaluated is None else max(self.evaluated - self.failed, 0)


@dataclass
class Connection:
    """An output handed to an input: `producer.output -> consumer.input` (producer EXTERNAL: from
    outside the DAG; consumer "": an output no step reads, drawn when it is checked)."""
    producer: str
    output: str
    consumer: str
    input: str
    checks: list[Check] = field(default_factory=list)
    static: list[dict] = field(default_factory=list)

    @property
    def verdict(self) -> str | None:
        """The worst of its checks and static compatibility; None when nothing checked it."""
        verdicts = [c.status for c in self.checks] + [s["status"] for s in self.static]
        return str(Verdict.worst(verdicts)) if verdicts else None


@dataclass
class Step:
    name: str
    status: str
    not_run: str
    reason: str
    duration: float
    exit_code: int | None
    cached: bool
    started: datetime | None
    ended: datetime | None
    failure_reason: str
    exit_message: str
    log_tail: list[str]
    recommendations: list[str] = field(default_factory=list)

    @property
    def troubled(self) -> bool:
        """It failed, or its container did: what the failures section shows."""
        return not (self.status in (StepStatus.PASSED, StepStatus.CACHED) or self.not_run) \
            or bool(self.exit_code)


@dataclass
class Run:
    id: str
    dir: Path
    status: str
    duration: float
    started: datetime | None
    ended: datetime | None
    command: str
    steps: list[Step]
    connections: list[Connection]
    checks: list[Check]
    static_problems: list[dict]

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.troubled]

    def count(self, *statuses: str) -> int:
        return sum(s.status in statuses and not s.not_run for s in self.steps)


def find_runs(runs_dir: Path, last: int | None = None) -> list[Path]:
    """The pipeline run folders under `runs_dir` that hold a results.json, oldest first (`latest`
    is a link to one of them, not another run)."""
    folders = [r.folder for r in list_runs(runs_dir) if (r.folder / RESULTS).is_file()]
    return folders[-last:] if last else folders


def load_run(folder: Path) -> Run:
    folder = Path(folder)
    data = results.read_run_file(folder / RESULTS)   # paths absolute, whatever its age
    checks = [_check(i, h) for i, h in enumerate(data.get("handoffs", []), 1)]
    steps = [_step(folder, name, entry) for name, entry in data.get("steps", {}).items()]
    connections = _connections(folder, data, checks, {s.name for s in steps})
    _recommend(steps, connections, data.get("static_compatibility", []))
    started = _time(data.get("started_at")) or min((s.started for s in steps if s.started), default=None)
    ended = _time(data.get("ended_at")) or max((s.ended for s in steps if s.ended), default=None)
    command = data.get("command") or ""
    if isinstance(command, dict):
        command = " ".join([command.get("program", ""), *command.get("arguments", [])])
    return Run(id=data.get("run_id") or folder.name, dir=folder, status=str(data.get("status", "")),
               duration=float(data.get("duration_seconds") or 0), started=started, ended=ended,
               command=str(command), steps=steps, connections=connections, checks=checks,
               static_problems=[s for s in data.get("static_compatibility", []) if s.get("status") != Verdict.PASS])


def _check(number: int, h: dict) -> Check:
    return Check(number=number, connection=h.get("connection", ""), side=h.get("side", ""),
                 suite=h.get("suite", ""), status=str(h.get("status", "")), blocking=bool(h.get("blocking")),
                 data_path=str(h.get("data_path", "")), total_rows=h.get("total_rows") or 0,
                 sample_rows=h.get("sample_rows") or 0, seconds=h.get("seconds") or 0.0,
                 cached=bool(h.get("cached")), failures=list(h.get("failures") or []),
                 evaluated=h.get("evaluated"))


def _step(run_dir: Path, name: str, entry: dict) -> Step:
    result = _read(entry.get("result_file"))
    describe = result.get("describe", {})
    started = _time(entry.get("started_at")) or _time(describe.get("ProcessingStartTime")
                                                      or describe.get("TrainingStartTime"))
    ended = _time(entry.get("ended_at")) or _time(describe.get("ProcessingEndTime")
                                                  or describe.get("TrainingEndTime"))
    cached = entry.get("status") == StepStatus.CACHED
    if cached:   # the times are those of the run it was cached from
        started = ended = None
    step = Step(name=name, status=str(entry.get("status", "")), not_run=entry.get("not_run", ""),
                reason=entry.get("reason", ""), duration=float(entry.get("duration_seconds") or 0),
                exit_code=entry.get("exit_code"), cached=cached, started=started, ended=ended,
                failure_reason=describe.get("FailureReason", ""), exit_message=describe.get("ExitMessage", ""),
                log_tail=[])
    if step.troubled:   # results.json's own tail, else the end of the step's logs
        recorded = entry.get("log_tail")
        step.log_tail = (recorded.splitlines() if isinstance(recorded, str) else list(recorded)) if recorded \
            else results.log_tail(results.step_dir(run_dir, name))
    return step


def _connections(run_dir: Path, data: dict, checks: list[Check], nodes: set[str]) -> list[Connection]:
    """Every handoff the results know of: checked ones, statically compared ones and those the
    steps' own inputs show (a step's input that is another step's output folder)."""
    found: dict[tuple, Connection] = {}

    def add(producer, output, consumer, input_) -> Connection:
        key = (producer, output, consumer, input_)
        return found.setdefault(key, Connection(*key))

    for entry in data.get("static_compatibility", []):
        ends = _ends(entry.get("connection", ""))
        if ends:
            add(*ends).static.append(entry)
    for check in checks:
        ends = _ends(check.connection)
        if ends:
            add(*ends).checks.append(check)
    for name, entry in data.get("steps", {}).items():
        result = _read(entry.get("result_file"))
        for input_, path in (result.get("inputs") or {}).items():
            parts = Path(str(path)).parts
            if len(parts) >= 3 and parts[-2] == "output" and parts[-3] in nodes and parts[-3] != name:
                add(parts[-3], parts[-1], name, input_)
    # a producer's own output checks belong to every connection of that output; one no step reads
    # is drawn on its own
    for check in checks:
        if check.side != "producer" or "." not in check.connection:
            continue
        producer, output = check.connection.split(".", 1)
        readers = [c for c in found.values() if (c.producer, c.output) == (producer, output) and c.consumer]
        for c in readers or [add(producer, output, "", "")]:
            if check not in c.checks:
                c.checks.append(check)
    return list(found.values())


def _ends(connection: str) -> tuple[str, str, str, str] | None:
    """"a.out -> b.in" as (a, out, b, in); None for a producer's "a.out"."""
    if " -> " not in connection:
        return None
    left, right = connection.split(" -> ", 1)
    producer, _, output = left.partition(".")
    consumer, _, input_ = right.partition(".")
    return (producer, output, consumer, input_) if left != EXTERNAL else (EXTERNAL, input_, consumer, input_)


def _recommend(steps: list[Step], connections: list[Connection], static: list[dict]) -> None:
    """Each troubled step gets the fixes the tool makes for it: static compatibility's and the
    handoff checks' (as `test-flow` words them) of its outputs and inputs."""
    from ..pipeline.flow import handoff_fix

    by_name = {s.name: s for s in steps}
    for c in connections:
        for_steps = [by_name[n] for n in (c.producer, c.consumer) if n in by_name and by_name[n].troubled]
        fixes = [r for s in c.static for r in s.get("recommendations", [])]
        critical = [f for check in c.checks for f in check.failures if f.get("severity", "critical") == "critical"]
        first_split = {(f.get("column"), f.get("type")): f for f in reversed(critical)}   # one per problem
        fixes += [handoff_fix(c.producer, c.consumer or "its consumers", f) for f in first_split.values()]
        for step in for_steps:
            step.recommendations += [f for f in fixes if f not in step.recommendations]


def _read(path) -> dict:
    """A step's result.json; {} when there is none (a step that never started)."""
    try:
        return results.read_run_file(Path(path)) if path else {}
    except (OSError, ValueError):
        return {}


def _time(text) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.astimezone()
