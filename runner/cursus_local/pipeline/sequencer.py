"""Running a DAG: steps in topological order, independent branches at once, zero-copy handoffs.

Each upstream output folder is bind-mounted read-only as the downstream input (no bytes move).
Every handoff is checked with GX suites: the producer's output suite after it runs, the consumer's
input suite before it starts, and an edge's own `checks:` suite on the side it names. A critical
failure blocks the consumer; a failed or blocked step marks its descendants skipped while
independent branches go on. A step whose image, code, contract, request and input contents are
unchanged is taken from the cache; `--resume RUN_ID` reruns, in the same run folder, only the
steps that did not pass (older attempts are kept under `.attempts/`).

Only the nodes that run are scheduled (see `preflight`: not skipped, not provided, selected). A node
that does not run is recorded as it is (`not_run`: provided | skipped | not selected, with the
outputs provided for it); it is no parent of anything here: what it provides is an external input.

On a backend that runs elsewhere (`backend.remote`: SageMaker) the handoffs are S3 URIs, not folders:
a child's input is bound to its parent's output URI, which is named by the parent's cache key
(`_remote_output`), so a parent taken from the cache hands on the very URI its children were planned
with. Checks read a byte-budgeted sample of each URI (`data.s3.fetch_uri`). Training nodes are not
taken from the cache there: the service names their outputs after the job.
"""

from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .. import results
from ..backends.base import Backend
from ..errors import UserError
from ..status import JobStatus, PipelineStatus, StepEvent, StepStatus, Verdict
from .cache import CheckCache, OutputChanged, RunFolder, StepCache, earlier_steps, resumable, step_key
from .connections import ConnectionReport
from .dag import Dag, Node
from .preflight import plan
from .step import run_job

PipelineEvent = Callable[["StepEvent | HandoffCheck"], None]   # a node's status, or a check's result


@dataclass
class StepOutcome:
    node: str
    status: StepStatus = StepStatus.WAITING
    reason: str = ""
    duration_seconds: float = 0.0
    exit_code: int | None = None
    key: str = ""
    cached_from: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    blocked_outputs: list[str] = field(default_factory=list)   # outputs that failed a critical check
    result_file: str = ""
    not_run: str = ""       # provided | skipped | not selected: the node does not run in this run
    provided: dict[str, str] = field(default_factory=dict)      # output -> the path given for it
    started_at: str = ""    # ISO 8601 UTC, when its container started ("" if it did not run)
    ended_at: str = ""


@dataclass
class HandoffCheck:
    connection: str         # "a.output -> b.input"
    side: str               # producer | consumer | edge
    suite: str
    status: Verdict
    blocking: bool
    data_path: str
    total_rows: int
    sample_rows: int
    seconds: float
    failures: list[dict]
    cached: bool = False    # same suite, same data: the earlier result stands
    evaluated: int | None = None   # expectation results in all (failures and passes); None: not recorded


@dataclass
class PipelineResult:
    run_id: str
    run_dir: Path
    status: PipelineStatus
    steps: dict[str, StepOutcome]
    handoffs: list[HandoffCheck]
    static: list[dict]
    duration_seconds: float
    bytes_copied: int
    interrupted: bool = False
    started_at: float = 0.0   # epoch seconds

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "run_dir": str(self.run_dir), "status": self.status,
                "duration_seconds": round(self.duration_seconds, 3), "bytes_copied": self.bytes_copied,
                "steps": {n: asdict(o) for n, o in self.steps.items()},
                "provided": {n: o.provided for n, o in self.steps.items() if o.not_run == "provided"},
                "not_run": {n: o.not_run for n, o in self.steps.items() if o.not_run},
                "handoffs": [asdict(h) for h in self.handoffs], "static_compatibility": self.static}


def handoff_suites(dag: Dag, report: ConnectionReport, node: Node, channel: str, side: str) -> list[tuple[str, Path, str]]:
    """(connection label, suite, side) for one input (side=consumer) or output (producer) of a
    running node: the suites that check the data there. Export makes its check steps of them too."""
    step = node.step
    found = []
    if side == "consumer":
        # a connection from a node that does not run (its output provided) is checked all the same
        c = report.feeds(node.name).get(channel)
        c = c if c is not None and c.upstream in dag.nodes else None
        label = f"{c.upstream}.{c.output} -> {node.name}.{channel}" if c else f"(external) -> {node.name}.{channel}"
        if channel in step.input_suites:
            found.append((label, step.input_suites[channel], "consumer"))
        if c:
            edge = dag.edge(c.upstream, node.name)
            if edge.checks and edge.checks.on in ("consumer", "both") \
                    and edge.checks.output in (None, c.output):
                found.append((label, edge.checks.suite, "edge"))
        return found
    for c in report.connections:
        if c.upstream == node.name and c.output == channel:
            label = f"{node.name}.{channel} -> {c.downstream}.{c.input}"
            edge = dag.edge(node.name, c.downstream)
            if edge.checks and edge.checks.on in ("producer", "both") \
                    and edge.checks.output in (None, c.output):
                found.append((label, edge.checks.suite, "edge"))
    if channel in step.output_suites:
        found.append((f"{node.name}.{channel}", step.output_suites[channel], "producer"))
    return found


class Sequencer:
    """Runs a DAG's nodes in a ready-set loop, at most `jobs` containers at a time.

    Handoff checks run beside the containers, one at a time on a single checker thread (GX keeps
    one context), so they cost no wall time on the critical path:
      - a node starts as soon as every parent's container has completed (or was cached), while
        the parents' output checks and its own input checks are still running;
      - when its container ends, its verdict is queued behind those checks (the checker runs in
        FIFO order, so they are done by then): a failed critical check on its inputs makes it
        `blocked`, a parent that failed its checks makes it `skipped`; either way its outputs are
        never handed on or cached, and a container still running when that is known is stopped;
      - a node that does not pass marks its descendants skipped; independent branches go on.
    Ctrl-C (or `cancel`) stops what runs and skips what waits."""

    def __init__(self, dag: Dag, backend: Backend, *, runs_dir: Path, jobs: int = 1,
                 use_cache: bool = True, resume: str | None = None,
                 on_event: PipelineEvent | None = None,
                 describe: Callable[[PipelineResult], dict] = PipelineResult.to_dict):
        self.dag, self.backend, self.jobs = dag, backend, max(1, jobs)
        self.describe = describe   # results.json's content (the CLI's adds what a CI reads)
        self.emit = on_event or (lambda event: None)
        self.runs_dir = Path(runs_dir).resolve()
        cache_dir = self.runs_dir / ".cache"
        self.steps, self.checks = StepCache(cache_dir, use_cache), CheckCache(cache_dir, use_cache)
        self.run_id = resume or results.new_run_id()
        self.folder = RunFolder(self.runs_dir / self.run_id, self._previous_run(resume))
        self.run_dir = self.folder.dir
        self.outcomes = {n: StepOutcome(n) for n in dag.topological_order() if dag.runs(n)}
        self.handoffs: list[HandoffCheck] = []
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.bytes_copied = 0
        self.job_done: set[str] = set()                 # container completed (or cached): children may start
        self.stops: dict[str, threading.Event] = {}     # node -> stops its running container
        self.remote = getattr(backend, "remote", False)

    def _previous_run(self, resume: str | None) -> dict:
        if not resume:
            return {}
        previous = earlier_steps(self.runs_dir / resume)
        if previous is None:
            known = resumable(self.runs_dir)
            raise UserError(f"no run {resume!r} in {self.runs_dir}", field="--resume",
                            fix=f"use a run id from {self.runs_dir} ({', '.join(known[-5:]) or 'none yet'})")
        return previous

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        self.plan = plan(self.dag, self.run_dir, self._remote_output if self.remote else None)
        if self.remote:   # a region without a node's image: said now, before anything is uploaded
            for job in self.plan.jobs.values():
                self.backend.image_id(job.image)
        started = time.time()
        results.make_dir(self.run_dir)   # remembered: what the tool made is handed back
        not_run = {n: StepOutcome(n, StepStatus.SKIPPED, c.reason, not_run=c.runs, provided=c.provided)
                   for n, c in self.plan.not_run.items()}
        for node in self.dag.topological_order():
            self.emit(StepEvent(node, StepStatus.WAITING) if node in self.outcomes
                      else StepEvent(node, StepStatus.SKIPPED, not_run[node].reason))
        pending = list(self.outcomes)
        running: dict = {}
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="job") as pool, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="checks") as self.checker:
            try:
                while pending or running or not all(o.status.done for o in self.outcomes.values()):
                    for node in list(pending):
                        if len(running) >= self.jobs:
                            break
                        parents = self._parents(node)
                        if not all(p in self.job_done or self.outcomes[p].status.done for p in parents):
                            continue
                        reason = self._upstream_problem(node)
                        if not reason and not all(p in self.job_done for p in parents):
                            continue   # a parent is still deciding
                        pending.remove(node)
                        if reason:
                            self._finish(node, StepStatus.SKIPPED, reason)
                            continue
                        self.outcomes[node].status = StepStatus.RUNNING
                        self.stops[node] = threading.Event()
                        running[pool.submit(self._run_node, node)] = node
                    done, _ = wait(running, timeout=0.05, return_when=FIRST_COMPLETED) if running \
                        else (set(), None)
                    if not running:
                        time.sleep(0.02)   # only checks are under way
                    for future in done:
                        running.pop(future)
                        future.result()   # a bug in a worker surfaces here, not silently
            except KeyboardInterrupt:
                self.cancel.set()
                for stop in list(self.stops.values()):
                    stop.set()
                for node in pending:
                    self._finish(node, StepStatus.SKIPPED, "the run was interrupted")
                wait(running)
                self.checker.shutdown(wait=True)   # verdicts already queued still land
                for node, outcome in self.outcomes.items():
                    if not outcome.status.done:
                        self._finish(node, StepStatus.STOPPED, "interrupted")
        ok = all(o.status.ok for o in self.outcomes.values())
        steps = {n: self.outcomes.get(n) or not_run[n] for n in self.dag.topological_order()}
        result = PipelineResult(self.run_id, self.run_dir, PipelineStatus.PASSED if ok else PipelineStatus.FAILED,
                                steps, self.handoffs, self.plan.static, time.time() - started,
                                self.bytes_copied, self.cancel.is_set(), started)
        results.write_json(self.run_dir / "results.json", self.describe(result))
        return result

    def _parents(self, node: str) -> list[str]:
        """The parents that run in this run (one that does not run hands on what is provided)."""
        return [p for p in self.dag.parents(node) if p in self.outcomes]

    def _fed_by_steps(self, node: str) -> dict:
        """input -> Connection from another step (external bindings left out)."""
        return {i: c for i, c in self.plan.report.feeds(node).items() if c.upstream in self.outcomes}

    def _upstream_problem(self, node: str) -> str:
        """Why `node` may not use what its parents hand on ("" while none is known)."""
        for c in self._fed_by_steps(node).values():
            up = self.outcomes[c.upstream]
            if c.output in up.blocked_outputs:
                return f"handoff check failed on {c.upstream}.{c.output}"
            if up.status.done and not up.status.ok:
                return f"upstream {c.upstream} {up.status}"
        for parent in self._parents(node):   # an edge that carries no data still orders
            up = self.outcomes[parent]
            if up.status.done and not up.status.ok:
                return f"upstream {parent} {up.status}"
        return ""

    def _finish(self, node: str, status: StepStatus, reason: str = ""):
        with self.lock:
            self.outcomes[node].status, self.outcomes[node].reason = status, reason
        self.emit(StepEvent(node, status, reason))
        if not status.ok:   # children started early on this node's output: stop them now
            for child in self.dag.children(node):
                if child in self.stops and self._upstream_problem(child):
                    self.stops[child].set()

    # --- one node -----------------------------------------------------------------------------
    def _run_node(self, name: str) -> None:
        """On a job worker: check inputs (queued), take from cache or run the container, then
        queue the verdict. Whatever goes wrong fails this node only."""
        try:
            self._start_node(name)
        except Exception as exc:   # a bad node setting or an engine error: say it, go on
            self._fail(name, exc)

    def _fail(self, name: str, exc: Exception) -> None:
        folder = self.folder.step(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "error.txt").write_text("".join(traceback.format_exception(exc)))
        self._finish(name, StepStatus.FAILED, f"{type(exc).__name__}: {exc}")

    def _start_node(self, name: str) -> None:
        node, outcome, job = self.dag.nodes[name], self.outcomes[name], self.plan.jobs[name]
        folder, stop = self.folder.step(name), self.stops[name]
        fed = {i: p for i, p in job.local_inputs.items() if i in node.step.inputs}   # not the code
        if self.remote:   # inputs bound to S3 URIs (a parent's outputs) are checked on samples
            fed = {**{i: u for i, u in job.input_uris().items() if i in node.step.inputs and i not in fed}, **fed}
        inputs_ok = self.checker.submit(self._check_inputs, node, fed)
        inputs_ok.add_done_callback(lambda f: f.exception() is None and not f.result() and stop.set())
        outcome.key = step_key(job, image_id=self.backend.image_id(job.image), step_doc=node.step.raw)
        if self.remote:
            self.backend.keyed(job, outcome.key)
        outcome.outputs = {k: self.backend.output_uri(job, k) if self.remote else str(v)
                           for k, v in job.local_outputs.items()}
        outcome.result_file = str(folder / "result.json")
        run = None
        try:
            if self.remote and job.kind != "Processing":
                pass   # its outputs are named after the job that made them: it runs again
            elif self.folder.kept(name, outcome.key):
                outcome.cached_from = str(folder)
            elif served := self.steps.serve(outcome.key, name, self.folder):
                source, copied = served
                with self.lock:
                    self.bytes_copied += copied
                outcome.cached_from = str(source)
        except OutputChanged as change:   # never handed on: the step runs again, and says why
            outcome.reason = str(change)
        if not outcome.cached_from and not stop.is_set():
            self.folder.set_aside(name)
            self.emit(StepEvent(name, StepStatus.RUNNING, outcome.reason))
            started = time.time()
            outcome.started_at = results.iso_time(started)
            run = run_job(job, folder, self.backend, cancel=stop)
            outcome.ended_at = results.iso_time(time.time())
            if run.result.status == JobStatus.COMPLETED:   # sealed before any child may read it
                self.folder.seal(name, outcome.key, job.local_outputs)
            with self.lock:   # inputs the backend copied to make them writable (no overlay there)
                self.bytes_copied += run.result.bytes_copied or 0
            outcome.duration_seconds = round(time.time() - started, 3)
            outcome.exit_code = run.result.exit_code
        # queued before children may start, so the checker settles this node before any child
        self.checker.submit(self._settle, name, inputs_ok, run)
        if run is None or run.result.status == JobStatus.COMPLETED:
            with self.lock:
                self.job_done.add(name)

    def _settle(self, name: str, inputs_ok, run) -> None:
        """On the checker thread, after every check this node depends on: its final status."""
        try:
            self._decide(name, inputs_ok.result(), run)
        except Exception as exc:   # e.g. a malformed suite
            self._fail(name, exc)
        finally:
            self.stops.pop(name, None)

    def _decide(self, name: str, inputs_ok: bool, run) -> None:
        node, outcome, job = self.dag.nodes[name], self.outcomes[name], self.plan.jobs[name]
        problem = self._upstream_problem(name)   # the cause upstream comes first, as if it never started
        if problem:
            return self._finish(name, StepStatus.SKIPPED, problem)
        if not inputs_ok:
            return self._finish(name, StepStatus.BLOCKED, "input check failed")
        if run is not None and run.result.status != JobStatus.COMPLETED:
            reason = run.result.describe.get("FailureReason") or "; ".join(run.result.notes)
            stopped = run.result.interrupted and self.cancel.is_set()
            return self._finish(name, StepStatus.STOPPED if stopped else StepStatus.FAILED, reason)
        if run is not None:
            self.steps.remember(outcome.key, self.folder.step(name))
        self.emit(StepEvent(name, StepStatus.CHECKING, "outputs"))
        outputs = ({n: self.backend.output_uri(job, n) for n in job.local_outputs} if self.remote
                   else job.local_outputs)
        outcome.blocked_outputs = self._check_outputs(node, outputs)
        if outcome.blocked_outputs:   # it ran, but what it hands on is unusable
            return self._finish(name, StepStatus.FAILED, "critical handoff check failed on output "
                                + ", ".join(outcome.blocked_outputs))
        self._finish(name, StepStatus.CACHED if run is None else StepStatus.PASSED, outcome.reason)

    # --- handoff checks -----------------------------------------------------------------------
    def _suites_for(self, node: Node, channel: str, side: str) -> list[tuple[str, Path, str]]:
        return handoff_suites(self.dag, self.plan.report, node, channel, side)

    def _remote_output(self, name: str, job, output: str) -> str:
        """A remote parent's output URI, under the parent's cache key (see the module's docstring)."""
        self.backend.keyed(job, step_key(job, image_id=self.backend.image_id(job.image),
                                         step_doc=self.dag.nodes[name].step.raw))
        return self.backend.output_uri(job, output)

    def _validate(self, label: str, suite: Path, side: str, data: Path | str,
                  inputs=None) -> HandoffCheck:
        """`inputs` (`StepInputs`): the producing step's inputs, for a suite's row ratio."""
        if isinstance(data, str) and data.startswith("s3://"):
            from ..data.s3 import fetch_uri   # the sampler: at most its byte budget is read
            data = fetch_uri(data)
        key = self.checks.key(suite, data, inputs.paths if inputs else None)
        stored = self.checks.get(key)
        if stored is not None:
            check = HandoffCheck(**{**stored, "status": Verdict(stored["status"]), "connection": label, "side": side,
                                    "data_path": str(data), "cached": True})
        else:
            from ..data.checks import validate
            result = validate(suite, data, inputs=inputs)
            check = HandoffCheck(
                connection=label, side=side, suite=result.suite, status=Verdict(result.status),
                blocking=result.blocking, data_path=str(data), total_rows=result.total_rows,
                sample_rows=result.sample_rows, seconds=round(result.read_seconds + result.validate_seconds, 3),
                evaluated=len(result.expectations),
                failures=[{k: v for k, v in asdict(f).items() if k != "kwargs"} for f in result.failures])
            self.checks.put(key, asdict(check))
        with self.lock:
            self.handoffs.append(check)
        self.emit(check)   # a check result is an event too (one line per event without a terminal)
        return check

    def _check_inputs(self, node: Node, fed: dict[str, Path]) -> bool:
        if self._upstream_problem(node.name):   # settled before this (FIFO): it will be skipped,
            return True                         # so its inputs are never used; nothing to check
        ok = True
        for channel, folder in fed.items():
            for label, suite, side in self._suites_for(node, channel, "consumer"):
                ok &= not self._validate(label, suite, side, folder).blocking
        return ok

    def _check_outputs(self, node: Node, outputs: dict[str, Path]) -> list[str]:
        blocked = []
        inputs = None if self.remote else self._step_inputs(node)   # remote: only samples of each
        for channel, folder in outputs.items():
            checks = [self._validate(label, suite, side, folder, inputs)
                      for label, suite, side in self._suites_for(node, channel, "producer")]
            if any(c.blocking for c in checks):
                blocked.append(channel)
        return blocked

    def _step_inputs(self, node: Node):
        """What the node's job read (its data inputs, not its code): a row ratio's other side."""
        from ..data.layout_checks import StepInputs

        return StepInputs(node.name, {i: p for i, p in self.plan.jobs[node.name].local_inputs.items()
                                      if i in node.step.inputs})
