"""Running a DAG: steps in topological order, independent branches at once, zero-copy handoffs.

Each upstream output folder is bind-mounted read-only as the downstream input (no bytes move).
Every handoff is checked with GX suites: the producer's output suite after it runs, the consumer's
input suite before it starts, and an edge's own `checks:` suite on the side it names. A critical
failure blocks the consumer; a failed or blocked step marks its descendants skipped while
independent branches go on. A step whose image, code, contract, request and input contents are
unchanged is taken from the cache; `--resume RUN_ID` reruns, in the same run folder, only the
steps that did not pass (older attempts are kept under `.attempts/`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .. import results
from .connections import ConnectionReport, discover
from .dag import Dag, Node
from ..errors import UserError
from .cache import step_key, tree_hash
from ..jobs.processing import RunOptions, build_job
from .step import run_step

PASSED, FAILED, SKIPPED, CACHED, BLOCKED, STOPPED = (
    "passed", "failed", "skipped", "cached", "blocked", "stopped")
OK = (PASSED, CACHED)

# on_event(node, status, note): status is waiting | running | checking | one of the above
PipelineEvent = Callable[[str, str, str], None]


@dataclass
class StepOutcome:
    node: str
    status: str = "waiting"
    reason: str = ""
    duration_seconds: float = 0.0
    exit_code: int | None = None
    key: str = ""
    cached_from: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    blocked_outputs: list[str] = field(default_factory=list)   # outputs that failed a critical check
    result_file: str = ""


@dataclass
class HandoffCheck:
    connection: str         # "a.output -> b.input"
    side: str               # producer | consumer | edge
    suite: str
    status: str             # PASS | WARN | FAIL
    blocking: bool
    data_path: str
    total_rows: int
    sample_rows: int
    seconds: float
    failures: list[dict]
    cached: bool = False    # same suite, same data: the earlier result stands


@dataclass
class PipelineResult:
    run_id: str
    run_dir: Path
    status: str
    steps: dict[str, StepOutcome]
    handoffs: list[HandoffCheck]
    static: list[dict]
    duration_seconds: float
    bytes_copied: int
    interrupted: bool = False

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "run_dir": str(self.run_dir), "status": self.status,
                "duration_seconds": round(self.duration_seconds, 3), "bytes_copied": self.bytes_copied,
                "steps": {n: asdict(o) for n, o in self.steps.items()},
                "handoffs": [asdict(h) for h in self.handoffs], "static_compatibility": self.static}


def node_options(node: Node, report: ConnectionReport, output_of: Callable[[str, str], str]) -> RunOptions:
    """The run options of a DAG node; `output_of(step, output)` names an upstream output's folder."""
    inputs = dict(node.inputs)
    for inp, c in report.feeds(node.name).items():
        if c.upstream in report.order:
            inputs[inp] = output_of(c.upstream, c.output)
    return RunOptions(inputs=inputs, env=dict(node.env), job_arguments=dict(node.job_arguments),
                      image=node.image, use_local_defaults=False)


def preflight(dag: Dag) -> ConnectionReport:
    """Everything that can be known before a container starts; raises on what would fail:
    unfed or ambiguous inputs, and any node whose job request could not be built or would be
    rejected (missing env or job arguments, bad paths, service constraints)."""
    dag.require_steps()
    report = discover(dag)
    problems = [f"{p.node}.{p.input}: {p.message}\n    fix: {p.fix}"
                for p in [*report.unfed_required, *report.ambiguous]]
    placeholder = lambda step, output: f"s3://cursus-local-upstream/{step}/{output}"  # noqa: E731
    for name, node in dag.nodes.items():
        try:
            build_job(node.step, node_options(node, report, placeholder), Path("/nonexistent"))
        except UserError as exc:   # its fix speaks in CLI flags: say where they go in a DAG
            problems.append(f"{name}: {exc}".replace("\n", "\n    ")
                            + f" (in the DAG: under nodes.{name}.inputs / env / job_arguments)")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UserError(f"{len(problems)} problem(s) found before running:\n{lines}",
                        file=str(dag.file), field="nodes / edges",
                        fix="see each problem's fix above; `cursus-local discover-connections` shows all")
    return report


def static_compatibility(dag: Dag, report: ConnectionReport) -> list[dict]:
    """Producer output suite vs consumer input suite, for every connection that has both."""
    from ..data.compat import check_connection
    out = []
    for c in report.connections:
        produced = dag.nodes[c.upstream].step.output_suites.get(c.output)
        needed = dag.nodes[c.downstream].step.input_suites.get(c.input)
        if produced and needed:
            out.append(check_connection(produced, needed, producer=f"{c.upstream}.{c.output}",
                                        consumer=f"{c.downstream}.{c.input}"))
    return out


class Sequencer:
    def __init__(self, dag: Dag, backend, *, runs_dir: Path, jobs: int = 1, use_cache: bool = True,
                 resume: str | None = None, on_event: PipelineEvent | None = None):
        self.dag, self.backend, self.jobs, self.use_cache = dag, backend, max(1, jobs), use_cache
        self.emit = on_event or (lambda *a: None)
        self.runs_dir = Path(runs_dir).resolve()
        self.cache_dir = self.runs_dir / ".cache"
        self.run_id = resume or results.new_run_id()
        self.run_dir = self.runs_dir / self.run_id
        self.previous = self._previous_run(resume)
        self.outcomes = {n: StepOutcome(n) for n in dag.topological_order()}
        self.handoffs: list[HandoffCheck] = []
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.bytes_copied = 0
        self.warming: threading.Thread | None = None

    def _previous_run(self, resume: str | None) -> dict:
        if not resume:
            return {}
        path = self.run_dir / "results.json"
        if not path.is_file():
            known = sorted(p.name for p in self.runs_dir.glob("*/results.json"))
            raise UserError(f"no run {resume!r} in {self.runs_dir}", field="--resume",
                            fix=f"use a run id from {self.runs_dir} ({', '.join(known[-3:]) or 'none yet'})")
        return results.read_json(path)["steps"]

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        report = preflight(self.dag)
        static = static_compatibility(self.dag, report)
        self.report = report
        started = time.time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for node in self.outcomes:
            self.emit(node, "waiting", "")
        pending = list(self.outcomes)
        running = {}
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                while pending or running:
                    for node in list(pending):
                        if len(running) >= self.jobs:
                            break
                        if any(self.outcomes[p].status in ("waiting", "running", "checking")
                               for p in self.dag.parents(node)):
                            continue
                        pending.remove(node)
                        reason = self._upstream_problem(node)
                        if reason:
                            self._finish(node, SKIPPED, reason)
                            continue
                        self.outcomes[node].status = "running"
                        running[pool.submit(self._run_node, node)] = node
                    if running:
                        done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
                        for future in done:
                            node = running.pop(future)
                            future.result()   # a bug in a worker surfaces here, not silently
            except KeyboardInterrupt:
                self.cancel.set()
                for node in pending:
                    self._finish(node, SKIPPED, "the run was interrupted")
                wait(running)
                for future, node in running.items():
                    if self.outcomes[node].status in ("running", "checking"):
                        self._finish(node, STOPPED, "interrupted")
        if self.warming is not None:
            self.warming.join()
        statuses = {o.status for o in self.outcomes.values()}
        overall = "passed" if statuses <= set(OK) else "failed"
        result = PipelineResult(self.run_id, self.run_dir, overall, self.outcomes, self.handoffs,
                                static, time.time() - started, self.bytes_copied, self.cancel.is_set())
        results.write_json(self.run_dir / "results.json", result.to_dict())
        return result

    def _warm_up_checks(self):
        """Importing GX takes seconds: do it once, beside a running container, not before it."""
        with self.lock:
            if self.warming is not None:
                return
            from ..data.checks import warm_up
            self.warming = threading.Thread(target=warm_up, daemon=True)
        self.warming.start()

    def _fed_by_steps(self, node: str) -> dict:
        """input -> Connection from another step (external bindings left out)."""
        return {i: c for i, c in self.report.feeds(node).items() if c.upstream in self.outcomes}

    def _upstream_problem(self, node: str) -> str:
        for c in self._fed_by_steps(node).values():
            up = self.outcomes[c.upstream]
            if c.output in up.blocked_outputs:
                return f"handoff check failed on {c.upstream}.{c.output}"
            if up.status not in OK:
                return f"upstream {c.upstream} {up.status}"
        for parent in self.dag.parents(node):   # an edge that carries no data still orders
            if self.outcomes[parent].status not in OK:
                return f"upstream {parent} {self.outcomes[parent].status}"
        return ""

    def _finish(self, node: str, status: str, reason: str = ""):
        with self.lock:
            self.outcomes[node].status, self.outcomes[node].reason = status, reason
        self.emit(node, status, reason)

    # --- one node -----------------------------------------------------------------------------
    def _run_node(self, name: str) -> None:
        """One node, start to finish; whatever goes wrong fails this node only."""
        try:
            self._run_node_steps(name)
        except Exception as exc:   # a bad node setting or an engine error: say it, go on
            folder = self.run_dir / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "error.txt").write_text(traceback.format_exc())
            self._finish(name, FAILED, f"{type(exc).__name__}: {exc}")

    def _run_node_steps(self, name: str) -> None:
        node = self.dag.nodes[name]
        outcome = self.outcomes[name]
        options = self._options(node)
        fed = {i: Path(p) for i, p in options.inputs.items() if "://" not in p}
        self.emit(name, "checking", "inputs")
        if not self._check_inputs(node, fed):
            return self._finish(name, BLOCKED, "input check failed")
        folder = self.run_dir / name
        job = build_job(node.step, options, folder / "output")
        outcome.key = step_key(image_id=self.backend.image_id(job.request["AppSpecification"]["ImageUri"]),
                               request=job.request, step_doc=node.step.raw, inputs=job.local_inputs)
        source = self._reusable(name, outcome.key)
        if source is not None:
            self._reuse(name, source, folder)
            outcome.cached_from = str(source)
            outcome.result_file = str(folder / "result.json")
            status = CACHED
        else:
            self._set_aside(folder)
            self._warm_up_checks()
            self.emit(name, "running", "")
            started = time.time()
            run = run_step(node.step, options, self.run_dir, self.backend, cancel=self.cancel, name=name)
            outcome.duration_seconds = round(time.time() - started, 3)
            outcome.exit_code = run.result.exit_code
            outcome.result_file = str(run.result_file)
            if run.result.status != "Completed":
                outcome.outputs = {k: str(v) for k, v in job.local_outputs.items()}
                reason = run.result.describe.get("FailureReason") or "; ".join(run.result.notes)
                return self._finish(name, STOPPED if run.result.interrupted else FAILED, reason)
            self._remember(outcome.key, folder)
            status = PASSED
        outcome.outputs = {k: str(v) for k, v in job.local_outputs.items()}
        self.emit(name, "checking", "outputs")
        outcome.blocked_outputs = self._check_outputs(node, job.local_outputs)
        if outcome.blocked_outputs:   # it ran, but what it hands on is unusable
            return self._finish(name, FAILED, "critical handoff check failed on output "
                                + ", ".join(outcome.blocked_outputs))
        self._finish(name, status)

    def _options(self, node: Node) -> RunOptions:
        # the upstream output folder itself: zero copy
        return node_options(node, self.report, lambda step, output: self.outcomes[step].outputs[output])

    # --- handoff checks -----------------------------------------------------------------------
    def _suites_for(self, node: Node, channel: str, side: str) -> list[tuple[str, Path, str]]:
        """(connection label, suite, side) for one input (side=consumer) or output (producer)."""
        step = node.step
        found = []
        if side == "consumer":
            c = self._fed_by_steps(node.name).get(channel)
            label = f"{c.upstream}.{c.output} -> {node.name}.{channel}" if c else f"(external) -> {node.name}.{channel}"
            if channel in step.input_suites:
                found.append((label, step.input_suites[channel], "consumer"))
            if c:
                edge = self.dag.edge(c.upstream, node.name)
                if edge.checks and edge.checks.on in ("consumer", "both"):
                    found.append((label, edge.checks.suite, "edge"))
            return found
        for c in self.report.connections:
            if c.upstream == node.name and c.output == channel:
                label = f"{node.name}.{channel} -> {c.downstream}.{c.input}"
                edge = self.dag.edge(node.name, c.downstream)
                if edge.checks and edge.checks.on in ("producer", "both"):
                    found.append((label, edge.checks.suite, "edge"))
        if channel in step.output_suites:
            found.append((f"{node.name}.{channel}", step.output_suites[channel], "producer"))
        return found

    def _validate(self, label: str, suite: Path, side: str, data: Path) -> HandoffCheck:
        key = hashlib.sha256(suite.read_bytes() + tree_hash(data).encode()).hexdigest()[:32]
        stored = self.cache_dir / "checks" / f"{key}.json"
        if self.use_cache and stored.is_file():
            check = HandoffCheck(**{**results.read_json(stored), "connection": label, "side": side,
                                    "data_path": str(data), "cached": True})
        else:
            from ..data.checks import validate
            result = validate(suite, data)
            check = HandoffCheck(
                connection=label, side=side, suite=result.suite, status=result.status,
                blocking=result.blocking, data_path=str(data), total_rows=result.total_rows,
                sample_rows=result.sample_rows, seconds=round(result.read_seconds + result.validate_seconds, 3),
                failures=[{k: v for k, v in asdict(f).items() if k != "kwargs"} for f in result.failures])
            results.write_json(stored, asdict(check))
        with self.lock:
            self.handoffs.append(check)
        return check

    def _check_inputs(self, node: Node, fed: dict[str, Path]) -> bool:
        ok = True
        for channel, folder in fed.items():
            for label, suite, side in self._suites_for(node, channel, "consumer"):
                ok &= not self._validate(label, suite, side, folder).blocking
        return ok

    def _check_outputs(self, node: Node, outputs: dict[str, Path]) -> list[str]:
        blocked = []
        for channel, folder in outputs.items():
            checks = [self._validate(label, suite, side, folder)
                      for label, suite, side in self._suites_for(node, channel, "producer")]
            if any(c.blocking for c in checks):
                blocked.append(channel)
        return blocked

    # --- cache and resume ---------------------------------------------------------------------
    def _reusable(self, name: str, key: str) -> Path | None:
        """A finished step folder with the same key: this run's previous attempt, or the cache."""
        before = self.previous.get(name)
        if before and before.get("status") in OK and before.get("key") == key:
            return self.run_dir / name
        if not self.use_cache:
            return None
        entry = self.cache_dir / key
        if entry.is_file():
            folder = Path(entry.read_text().strip())
            result = folder / "result.json"
            if result.is_file() and results.read_json(result).get("status") == "Completed":
                return folder
        return None

    def _remember(self, key: str, folder: Path):
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        (self.cache_dir / key).write_text(str(folder) + "\n")

    def _reuse(self, name: str, source: Path, folder: Path):
        """Take a cached step's folder into this run by hard links (no bytes copied)."""
        if source == folder:
            return
        if folder.exists():
            shutil.rmtree(folder)
        for path in sorted(source.rglob("*")):
            target = folder / path.relative_to(source)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
                with self.lock:
                    self.bytes_copied += path.stat().st_size

    def _set_aside(self, folder: Path):
        """On resume, keep the failed attempt's outputs and logs under .attempts/."""
        if not folder.exists():
            return
        attempts = self.run_dir / ".attempts"
        attempts.mkdir(exist_ok=True)
        n = len(list(attempts.glob(f"{folder.name}-*"))) + 1
        folder.rename(attempts / f"{folder.name}-{n}")
