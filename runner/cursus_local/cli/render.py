"""Everything the CLI shows, in one place: one console, one style per status, the live views and
the tables of every command.

Whatever came from a file, a script or a user (names, messages, log lines) is escaped: it is text,
and `[a, b]` in it is not a rich style. rich's Live and Spinner are imported by the views that use
them, so a command that only prints a table does not pay for them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..status import JobEvent, JobStatus, StepEvent, StepStatus, TestEvent, Verdict

NO_TERMINAL_WIDTH = 120   # a CI log is wide; rich's 80 folds names mid-word


def interactive() -> bool:
    """A terminal, and not a CI (`CI=true`): live views. Otherwise one plain line per event."""
    return sys.stdout.isatty() and os.environ.get("CI", "").lower() not in ("true", "1", "yes")


def _width() -> int | None:
    """The terminal's width; without one, $COLUMNS, else 120."""
    if interactive():
        return None
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        return NO_TERMINAL_WIDTH


console = Console(highlight=False, width=_width())
errors = Console(stderr=True, highlight=False, width=_width())   # what went wrong goes to stderr

# One style per status word. The vocabularies are str enums, so PipelineStatus.PASSED finds the
# style of StepStatus.PASSED ("passed"); the last entries are the connection table's own words.
STYLE = {
    StepStatus.WAITING: "dim", StepStatus.RUNNING: "bold cyan", StepStatus.CHECKING: "cyan",
    StepStatus.PASSED: "green", StepStatus.CACHED: "green", StepStatus.FAILED: "bold red",
    StepStatus.BLOCKED: "bold red", StepStatus.SKIPPED: "yellow", StepStatus.STOPPED: "yellow",
    JobStatus.IN_PROGRESS: "cyan", JobStatus.COMPLETED: "green", JobStatus.FAILED: "bold red",
    JobStatus.STOPPING: "yellow", JobStatus.STOPPED: "yellow",
    Verdict.PASS: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red",
    "ok": "green", "unfed": "bold red", "ambiguous": "bold red", "unchecked": "yellow",
    "no step file": "yellow", "empty edge": "bold red",
}
LOG_TAIL_LINES = 20
EXAMPLES_SHOWN = 3
BUDGETS = {"max_seconds": "<= {:g}s", "max_memory_mb": "<= {:g} MiB"}


def styled(status: str | None) -> str:
    """A status in its colour; "-" when there is none."""
    return f"[{STYLE.get(status, 'white')}]{status}[/]" if status else "-"


def print_json(data) -> None:
    console.print_json(json.dumps(data))


def print_log_tail(lines: list[str], title: str, count: int = LOG_TAIL_LINES, indent: str = "") -> None:
    """The last `count` lines of a container log: what a failed script said last."""
    lines = lines[-count:]
    if lines:
        console.print(f"{indent}[bold]last {len(lines)} log lines of {escape(title)}:[/]")
    for line in lines:
        console.print(f"{indent}  [dim]|[/] {escape(line)}")


# ----------------------------------------------------------------------------- live views

@contextmanager
def _live(view) -> Iterator[Callable]:
    """Show `view` live (redrawn on each event) while the block runs; yields its event handler."""
    from rich.live import Live
    with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:
        view.live = live
        yield view.on_event


def step_view(name: str, quiet: bool):
    """run-step: a spinner with the job's status, and the container log as it comes."""
    return _live(_StepView(name, quiet))


def pipeline_view(order: list[str]):
    """run-pipeline, test-flow: the DAG's steps with their live status; without a terminal, one
    line per event as it happens (a step started, ended with its status and time, a check's result)."""
    return _live(_PipelineView(order)) if interactive() else _lines(_EventLines(order).on_event)


@contextmanager
def _lines(on_event) -> Iterator[Callable]:
    yield on_event


class _EventLines:
    """One plain line per pipeline event, printed at once (a CI log shows progress as it comes)."""

    def __init__(self, order: list[str]):
        self.started: dict[str, float] = {}
        self.said: dict[str, StepStatus] = {}

    def on_event(self, event) -> None:
        if not isinstance(event, StepEvent):   # a handoff check's result
            rows = f"{event.sample_rows} of {event.total_rows}" if event.sample_rows != event.total_rows \
                else str(event.total_rows)
            line = f"check {styled(event.status)} {escape(event.connection)} ({event.side}, {rows} rows)"
            if event.status == Verdict.FAIL:
                line += ": " + escape("; ".join(expectation_messages(event.failures)[:3]))
            return self._say(line)
        node, status = event.node, event.status
        if status in (StepStatus.WAITING, StepStatus.CHECKING) or self.said.get(node) == status:
            return
        self.said[node] = status
        if status == StepStatus.RUNNING:
            self.started[node] = time.time()
            return self._say(f"step {escape(node)} {styled(status)}"
                             + (f"  ({escape(event.note)})" if event.note else ""))
        took = f" in {time.time() - self.started[node]:.1f}s" if node in self.started else ""
        self._say(f"step {escape(node)} {styled(status)}{took}" + (f": {escape(event.note)}" if event.note else ""))

    @staticmethod
    def _say(line: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {line}", soft_wrap=True)


class _StepView:
    def __init__(self, name: str, quiet: bool):
        self.name, self.quiet, self.status, self.started = name, quiet, "Starting", time.time()
        self.live = None

    def render(self):
        from rich.spinner import Spinner
        elapsed = time.time() - self.started
        return Spinner("dots", text=f"[bold]{escape(self.name)}[/] {self.status}  {elapsed:5.1f}s")

    def on_event(self, event: JobEvent):
        if event.kind == "status":
            self.status = event.text
        elif not self.quiet:
            self.live.console.print(f"[dim]{event.host}|[/] " + escape(event.text))
        self.live.update(self.render())


class _PipelineView:
    def __init__(self, order: list[str]):
        self.rows = {n: [StepStatus.WAITING, "", None] for n in order}   # status, note, started
        self.live = None

    def on_event(self, event):
        if not isinstance(event, StepEvent):   # a check's result: the tables at the end show it
            return
        row = self.rows[event.node]
        if event.status == StepStatus.RUNNING and row[2] is None:
            row[2] = time.time()
        row[0], row[1] = event.status, event.note
        if event.status.done and row[2] is not None and row[2] > 0:
            row[2] = -(time.time() - row[2])   # frozen duration
        self.live.update(self.render())

    def render(self) -> Table:
        table = Table(title="pipeline", title_justify="left")
        for column in ("step", "status", "time", "note"):
            table.add_column(column, overflow="fold")
        for node, (status, note, started) in self.rows.items():
            seconds = "" if started is None else f"{(-started if started < 0 else time.time() - started):.1f}s"
            table.add_row(escape(node), styled(status), seconds, escape(note))
        return table


@contextmanager
def unit_progress(script: str) -> Iterator[Callable[[TestEvent], None]]:
    """test-script, test-suite: a spinner naming what runs; one line per finished test."""
    with console.status(f"testing {escape(script)}") as status:
        def on_event(event: TestEvent):
            if event.kind == "start" and not interactive():   # no spinner to update: a line
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] running {escape(event.label)} "
                              f"[dim]({escape(event.text)})[/]", soft_wrap=True)
            elif event.kind == "start":
                status.update(f"running {escape(event.label)}  [dim]({escape(event.text)})[/]")
            elif event.kind == "done":
                console.print(f"  {styled(event.text)} {escape(event.label)}")
        yield on_event


# ----------------------------------------------------------------------------- CI

def print_summary_line(summary: dict) -> None:
    """--json: one JSON line on stdout, unwrapped (a CI parses it)."""
    sys.stdout.write(json.dumps(summary, default=str) + "\n")
    sys.stdout.flush()


def github_report(doc: dict, results_file: Path) -> None:
    """With GITHUB_ACTIONS=true: an `::error` annotation per failed step, check and test, and a
    Markdown summary appended to $GITHUB_STEP_SUMMARY."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for title, message, file in ci_failures(doc):
        props = f"title={_gh_property(title)}" + (f",file={_gh_property(file)}" if file else "")
        sys.stdout.write(f"::error {props}::{_gh_data(message)}\n")
    sys.stdout.flush()
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(markdown_summary(doc, results_file))


def ci_failures(doc: dict) -> list[tuple[str, str, str]]:
    """(title, message, file) of every failure in a result file's content."""
    out = []
    dag_file = doc.get("dag_file", "")
    for name, step in (doc.get("steps") or {}).items():
        if step["status"] in (StepStatus.FAILED, StepStatus.STOPPED) and not step.get("not_run"):
            tail = step.get("log_tail") or []
            out.append((f"step {name} {step['status']}", "\n".join([step.get("reason") or "", *tail]), dag_file))
    for h in doc.get("handoffs") or []:
        if h["status"] == Verdict.FAIL:
            out.append((f"check {h['connection']} failed", "\n".join(expectation_messages(h["failures"])),
                        dag_file))
    bodies = doc.get("script_unit_tests") or []
    for body in bodies if isinstance(bodies, list) else [bodies]:
        for key in ("synthetic_tests", "s3_integration_tests", "performance_tests"):
            for e in body.get(key, {}).get("results", []):
                if e["status"] == Verdict.FAIL:
                    what = e.get("scenario") or e.get("name")
                    out.append((f"{body['script_name']} {what} failed", e.get("reason", ""),
                                doc.get("config") or body.get("config") or ""))
    return out


def markdown_summary(doc: dict, results_file: Path) -> str:
    counts = doc.get("counts", {})
    title = doc.get("pipeline") or "unit tests"
    status = doc.get("status") or ("failed" if counts.get("failed") else "passed")
    lines = [f"### cursus-local: {title} {status}", "",
             f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
             f"{counts.get('skipped', 0)} skipped; results: `{results_file}`", ""]
    if doc.get("steps"):
        lines += ["| step | status | time | note |", "|---|---|---|---|"]
        lines += [f"| {n} | {s.get('not_run') or s['status']} | {s.get('duration_seconds') or 0:.1f}s | "
                  f"{(s.get('reason') or '').replace('|', '/')} |" for n, s in doc["steps"].items()]
        lines.append("")
    failures = ci_failures(doc)
    if failures:
        lines += ["**Failures**", ""] + [f"- {title}: {message.splitlines()[0] if message else ''}"
                                         for title, message, _ in failures] + [""]
    return "\n".join(lines) + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


# ----------------------------------------------------------------------------- run-step

def print_step_run(run) -> None:
    """The summary of one job: status, exit code, time, memory, outputs, logs; a failed job's log tail."""
    result, info = run.result, run.result.describe
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("step", escape(run.job.step_name))
    table.add_row("status", f"[bold]{styled(result.status)}[/]")
    table.add_row("exit code", str(result.exit_code))
    table.add_row("duration", f"{result.duration_seconds:.2f} s")
    peak = result.peak_memory_bytes
    table.add_row("peak memory", f"{peak / 2**20:.1f} MiB" if peak else "n/a (cgroup not readable)")
    if result.cpu_seconds is not None:
        table.add_row("cpu time", f"{result.cpu_seconds:.2f} s")
    for key in ("FailureReason", "ExitMessage"):
        if info.get(key):
            table.add_row(key, escape(info[key]))
    for note in result.notes:
        table.add_row("note", escape(note))
    for name, path in result.outputs.items():
        table.add_row(f"output {escape(name)}", escape(str(path)))
    for host in result.hosts:
        table.add_row(f"log {host.host}", escape(str(host.log)))
    table.add_row("result", escape(str(run.result_file)))
    if result.status != JobStatus.COMPLETED:
        for host in result.hosts:
            if host.exit_code or host.oom_killed or result.status == JobStatus.STOPPED:
                lines = host.log.read_text(errors="replace").splitlines() \
                    if host.log and host.log.exists() else []
                print_log_tail(lines, host.host)
    console.print(table)


# ----------------------------------------------------------------------------- pipelines

def print_pipeline(result) -> None:
    """After a pipeline run: its steps, its handoff checks, static problems, the run folder."""
    steps = Table(title="steps", title_justify="left")
    for column in ("step", "status", "exit", "time", "note"):
        steps.add_column(column, overflow="fold")
    for node, o in result.steps.items():
        source = Path(o.cached_from).parent if o.cached_from else None
        note = o.reason or ("" if source is None else "unchanged, kept" if source == result.run_dir
                            else f"from run {source.name}")
        not_run = getattr(o, "not_run", "")
        status = f"[yellow]{escape(not_run)}[/]" if not_run else styled(o.status)
        steps.add_row(escape(node), status, "" if o.exit_code is None else str(o.exit_code),
                      f"{o.duration_seconds:.1f}s" if o.duration_seconds else "", escape(note))
    console.print(steps)
    if result.handoffs:
        checks = Table(title="handoff checks", title_justify="left")
        for column in ("handoff", "side", "status", "rows", "failures"):
            checks.add_column(column, overflow="fold")
        for h in sorted(result.handoffs, key=lambda h: h.connection):
            rows = f"{h.sample_rows} of {h.total_rows}" if h.sample_rows != h.total_rows else str(h.total_rows)
            checks.add_row(escape(h.connection), h.side, styled(h.status), rows,
                           escape("\n".join(expectation_messages(h.failures))))
        console.print(checks)
    if not result.handoffs and any(o.status.ok for o in result.steps.values()):
        console.print("[yellow]no handoff was checked[/]: no step file names a suite (`suites:`) and no "
                      "edge has `checks:`; `cursus-local suggest-suite OUTPUT` drafts one")
    print_static([c for c in result.static if c["status"] != Verdict.PASS])
    print_failed_steps(result)
    ending = "[bold yellow]interrupted[/]" if result.interrupted else f"[bold]{styled(result.status)}[/]"
    console.print(f"{ending} in {result.duration_seconds:.1f}s  "
                  f"run folder: {escape(str(result.run_dir))}  (resume with --resume {result.run_id})")


def print_failed_steps(result) -> None:
    """On stderr, each failed step with its reason and what its script said last."""
    from ..results import log_tail
    for node, o in result.steps.items():
        if o.status in (StepStatus.FAILED, StepStatus.STOPPED) and not getattr(o, "not_run", ""):
            errors.print(f"[bold red]error:[/] step {escape(node)} {o.status}: {escape(o.reason)}", soft_wrap=True)
            for line in log_tail(Path(result.run_dir) / node):
                errors.print(f"  [dim]|[/] {escape(line)}", soft_wrap=True)


def expectation_messages(failures: list[dict]) -> list[str]:
    """Why a handoff check failed: one line per failed expectation and column, saying what was
    wrong; the splits it failed in are folded into one line."""
    groups: dict[tuple, list[dict]] = {}
    for f in failures:
        groups.setdefault((f["severity"], f["column"], f["type"]), []).append(f)
    lines = []
    for (severity, _column, kind), items in groups.items():
        first, others = items[0], [f for f in items[1:] if f["split"]]
        where = ""
        if first["split"] and others:   # the message speaks of the first split: say so, count the rest
            counted = [f"{f['split']}" + (f" ({f['unexpected_count']})" if f.get("unexpected_count") else "")
                       for f in others]
            where = f" (in {first['split']}; also in {', '.join(counted)})"
        lines.append(f"[{severity}] {first['message'] or kind}{where}")
    return lines


def print_static(entries: list[dict]) -> None:
    """Static compatibility of suites across connections, each issue with its fix."""
    for compat in entries:
        console.print(f"static {styled(compat['status'])} {escape(compat['connection'])}")
        for issue, fix in zip(compat["issues"], compat["recommendations"]):
            console.print(f"  - {escape(issue)}\n    fix: {escape(fix)}")


def print_preflight(name: str, plan) -> None:
    """run-pipeline --dry-run: per node whether it resolved, runs, its kind, image and request; then
    every problem with its fix."""
    table = Table(title=f"preflight of {escape(name)} (nothing started)", title_justify="left")
    for column in ("node", "runs", "step file", "kind", "image", "on engine", "request"):
        table.add_column(column, overflow="fold")
    for c in plan.nodes.values():
        present = {True: "[green]present[/]", False: "[bold red]missing[/]", None: "unknown"}[c.image_present]
        request = {"valid": "[green]valid[/]", "invalid": "[bold red]invalid[/]"}.get(c.request, "-")
        runs = c.runs if c.runs == "runs" else f"[yellow]{escape(c.runs)}[/]"
        table.add_row(escape(c.node), runs, escape(Path(c.step_file).name) if c.step_file
                      else "[bold red]not resolved[/]", escape(c.kind), escape(c.image) or "-",
                      present if c.image else "-", request)
    console.print(table)
    for c in plan.nodes.values():
        if c.runs != "runs":
            console.print(f"[yellow]{escape(c.node)}[/]: {escape(c.reason)}")
    for who, note in preflight_notes(plan):
        console.print(f"[cyan]note[/] {escape(who)}: {escape(note)}")
    for problem in plan.problems:
        console.print(f"[bold red]problem[/] {escape(problem)}")
    verdict = "[bold red]problems found[/]" if plan.problems or not plan.jobs else "[green]ready to run[/]"
    console.print(f"{verdict}: {len(plan.jobs)} node(s) would run, {len(plan.not_run)} not, "
                  f"{len(plan.problems)} problem(s)")


def preflight_notes(plan) -> list[tuple[str, str]]:
    """(who, note) for every job note of the nodes that run: a note every one of them has (the
    host's package-index settings) once, as "every node"; the others per node."""
    running = [c for c in plan.nodes.values() if c.runs == "runs" and c.request == "valid"]
    common = set.intersection(*(set(c.notes) for c in running)) if len(running) > 1 else set()
    out = []
    if common:
        out += [("every node", n) for n in running[0].notes if n in common]
    for c in running:
        out += [(c.node, n) for n in c.notes if n not in common]
    return out


# ----------------------------------------------------------------------------- connections

CONNECTION_COLUMNS = ("status", "connection", "how", "score")
_FEEDS = ("ok", "external")   # rows that are a Connection; the others are a Problem


def connection_rows(report) -> list[tuple[str, str, str, str]]:
    """Rows under CONNECTION_COLUMNS, node by node in topological order, from a ConnectionReport.

    A problem's row names where it is; its message and fix are printed under the table."""
    kinds = (("ok", report.connections), ("external", report.external), ("unfed", report.unfed_required),
             ("ambiguous", report.ambiguous), ("unchecked", report.unchecked),
             ("empty edge", report.empty_edges))
    missing = {p.node for p in report.missing_steps}
    rows = []
    for node in report.order:
        if node in missing:
            rows.append(("no step file", node, "", ""))
        rows += [("skipped", f"{a} -> {b}", "", "") for a, b in report.skipped_edges if b == node]
        here = [(status, item) for status, items in kinds for item in items
                if (item.downstream if status in _FEEDS else item.node) == node]
        for status, item in sorted(here, key=lambda x: x[1].input):
            if status in _FEEDS:
                rows.append((status, f"{item.upstream}.{item.output} -> {item.downstream}.{item.input}",
                             item.how, str(item.score) if item.score else ""))
            else:
                rows.append((status, f"{item.node}.{item.input}" if item.input else item.node,
                             item.message if status in ("ambiguous", "empty edge") else "", ""))
    return rows


def print_connections(name: str, report, static: list[dict]) -> None:
    """discover-connections: the table, then every problem with its fix, then static compatibility."""
    table = Table(title=f"connections of {escape(name)}", title_justify="left")
    for column in CONNECTION_COLUMNS:
        table.add_column(column, overflow="fold")
    for status, connection, how, score in connection_rows(report):
        table.add_row(styled(status), escape(connection), escape(how), score)
    console.print(table)
    for problem in [*report.unfed_required, *report.ambiguous, *report.unchecked, *report.missing_steps,
                    *report.empty_edges]:
        where = f"{problem.node}.{problem.input}" if problem.input else problem.node
        console.print(f"[yellow]{escape(where)}[/]: {escape(problem.message)}\n  fix: {escape(problem.fix)}")
    print_static(static)


# ----------------------------------------------------------------------------- unit tests

def print_unit_report(report: dict) -> None:
    """Tables of a unit_tests.json report: per scenario its checks, score, time and memory."""
    body = report["script_unit_tests"]
    for key, title in (("synthetic_tests", "synthetic"), ("s3_integration_tests", "s3_integration")):
        if key in body:
            _scenario_tables(title, body[key]["results"])
    if "performance_tests" in body:
        _performance_table(body["script_name"], body["performance_tests"]["results"])
    if "data_flow_tests" in report:
        _flow_table(report["data_flow_tests"]["results"])
    counts = [f"{body[key][passed]} of {body[key][total]} {label}" for key, total, passed, label in
              (("synthetic_tests", "total_scenarios", "passed_scenarios", "scenarios"),
               ("s3_integration_tests", "total_s3_sources", "successful_sources", "S3 sources"),
               ("performance_tests", "total_tests", "passed_tests", "performance tests"))
              if key in body]
    if "data_flow_tests" in report:
        flows = report["data_flow_tests"]
        counts.append(f"{flows['successful_connections']} of {flows['total_connections_tested']} data flows")
    console.print(f"{styled(body['status'])} {escape(body['script_name'])}: {', '.join(counts) or 'nothing'} "
                  f"passed in {body['duration_seconds']:.1f}s")


def _scenario_tables(kind: str, entries: list[dict]) -> None:
    """A table per scenario: its checks with their failing rows; then example rows of failures."""
    for e in entries:
        source = f"  [dim]{escape(e['s3_source'])}[/]" if e.get("s3_source") else ""
        title = (f"[bold]{escape(e['scenario'])}[/] {styled(e['status'])}  {kind} {escape(e['test'])}{source}\n"
                 f"expected {escape(e['expected_behavior'])}; got exit code {e['exit_code']}"
                 + (f" ({escape(e['exit_message'])})" if e.get("exit_message") else "") + ", "
                 f"score {_number(e['output_quality_score'], '{:.3f}')}, time {e['execution_time']}, "
                 f"memory {_number(e['peak_memory_mb'], '{:.0f} MiB')}")
        table = Table(title=title, title_justify="left", show_edge=False)
        for column in ("check", "status", "failing rows"):
            table.add_column(column, overflow="fold")
        details = e.get("quality_details", {})
        for name, status in e["quality_checks"].items():
            table.add_row(escape(name), styled(status), escape("\n".join(failing_row_counts(details.get(name)))))
        console.print(table if e["quality_checks"] else title)
        if e["status"] == Verdict.FAIL:
            _explain(e)
        console.print()


def failing_row_counts(detail: dict | None) -> list[str]:
    """How much of a quality check failed: one line per failing expectation and column, with the
    rows that fail it, summed over the splits (only the critical ones when the check FAILs)."""
    if not detail:
        return []
    if "failures" not in detail:
        return [detail.get("message", "")]
    shown = [f for f in detail["failures"] if detail["status"] == Verdict.WARN or f["severity"] == "critical"]
    groups: dict[tuple, list[dict]] = {}
    for f in shown:
        groups.setdefault((f["expectation"], f["column"]), []).append(f)
    lines = []
    for (kind, column), group in groups.items():
        what = kind.removeprefix("expect_column_values_to_").removeprefix("expect_")
        rows = sum(f["failing_rows"] or 0 for f in group)
        line = f"{column or '(table)'} {what}: {rows} rows"
        if not group[0].get("example_rows") and group[0]["message"]:
            line += f" ({group[0]['message']})"
        lines.append(line)
    return lines


def _explain(e: dict) -> None:
    """Why a scenario failed: the reason, example failing rows, the end of the log."""
    console.print(f"{styled(Verdict.FAIL)} {escape(e['scenario'])}: {escape(e.get('reason', ''))}")
    for name, detail in e.get("quality_details", {}).items():
        if detail["status"] != Verdict.FAIL or "failures" not in detail:
            continue
        console.print(f"  {escape(name)}: {detail['failing_rows']} failing rows, e.g.")
        critical = [f for f in detail["failures"] if f["severity"] == "critical"]
        for row in [r for f in critical for r in f.get("example_rows", [])][:EXAMPLES_SHOWN]:
            console.print(f"    [dim]{escape(json.dumps(row, default=str))}[/]")
        for f in critical:
            if not f.get("example_rows") and f["examples"]:
                console.print(f"    [dim]{escape(str(f['column']))}: {escape(json.dumps(f['examples'], default=str))}[/]")
    print_log_tail(e.get("log_tail", []), "the script", count=8, indent="  ")


def _performance_table(script: str, entries: list[dict]) -> None:
    table = Table(title=f"performance tests: {escape(script)}", title_justify="left")
    for column in ("test", "rows", "status", "wall", "cpu", "memory", "rows/s", "budgets"):
        table.add_column(column, overflow="fold")
    for e in entries:
        budgets = "\n".join(f"{styled(b['status'])} {BUDGETS[k].format(b['limit'])}"
                            for k, b in e["budgets"].items())
        table.add_row(escape(e["name"]), f"{e['rows']:,}", styled(e["status"]), e["execution_time"],
                      _number(e["cpu_seconds"], "{:.2f}s"), _number(e["peak_memory_mb"], "{:.0f} MiB"),
                      _number(e["rows_per_second"], "{:,}"), budgets or "[dim]-[/]")
    console.print(table)
    for e in entries:
        if e["status"] == Verdict.FAIL:
            console.print(f"{styled(Verdict.FAIL)} {escape(e['name'])}: {escape(e.get('reason', ''))}")


def _flow_table(entries: list[dict]) -> None:
    table = Table(title="data flow tests", title_justify="left")
    for column in ("test", "connection", "status", "rows", "time", "issues"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(escape(e["name"]), escape(e["connection"]), styled(e["status"]),
                      str(e["data_sample_size"] or "-"), e["execution_time"],
                      escape("\n".join(e["issues"][:5])))
    console.print(table)


def _number(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def print_generated(generated) -> None:
    """generate-data: each input written (folder, files, layout, its suite's verdict on it), and
    each input whose sample is used as it is."""
    for name, sample in generated.samples.items():
        console.print(f"[yellow]input {escape(name)}: no suite to generate from; its sample is "
                      f"{escape(str(sample))}[/]")
    table = Table(title=f"generated {generated.rows:,} rows (seed {generated.seed})", title_justify="left")
    for column in ("input", "folder", "files", "layout", "suite check"):
        table.add_column(column, overflow="fold")
    for g in generated.inputs:
        layout = f"{g.layout.format}, {g.layout.shards} shard(s)" \
            + (f", splits {','.join(g.layout.splits)}" if g.layout.splits else "")
        table.add_row(escape(g.name), escape(str(g.folder)), str(g.files), escape(layout), styled(g.check))
    console.print(table)


def print_suggested_suite(suite: dict, path: Path) -> None:
    """suggest-suite: the drafted expectations, column by column, and where the file went."""
    table = Table(title=f"suite {escape(suite['name'])}: {len(suite['expectations'])} expectations from "
                        f"{suite['meta']['rows_profiled']:,} of {suite['meta']['rows']:,} rows",
                  title_justify="left")
    for column in ("column", "expectations"):
        table.add_column(column, overflow="fold")
    by_column: dict[str, list[str]] = {}
    for e in suite["expectations"]:
        by_column.setdefault(e["kwargs"].get("column") or "(table)", []).append(_describe(e))
    for column, items in by_column.items():
        table.add_row(escape(column), escape("; ".join(items)))
    console.print(table)
    if layout := suite["meta"].get("cursus_local"):
        console.print(escape(f"splits (rows at least): {layout.get('splits')}; files: "
                             f"{layout.get('file_patterns')}; encoding: {layout.get('encoding')}"))
    console.print(f"wrote [bold]{escape(str(path))}[/]: edit it, then name it in the step file under "
                  "`suites: {outputs: {<output>: <file>}}` (or `inputs:` of its consumer)")


def _describe(e: dict) -> str:
    k, kind = e["kwargs"], e["type"].removeprefix("expect_")
    text = {"column_values_to_be_of_type": lambda: f"type {k.get('type_')}",
            "column_values_to_not_be_null": lambda: "not null" if k.get("mostly", 1) == 1
            else f"not null (mostly {k['mostly']})",
            "column_values_to_be_in_set": lambda: f"in {k.get('value_set')}",
            "column_values_to_be_between": lambda: f"between {k.get('min_value')} and {k.get('max_value')}",
            "column_values_to_be_unique": lambda: "unique",
            "table_columns_to_match_ordered_list": lambda: f"columns {k.get('column_list')}",
            "table_columns_to_match_set": lambda: f"has columns {k.get('column_set')}",
            "column_values_to_match_regex": lambda: f"matches {k.get('regex')}",
            "table_row_count_to_be_between": lambda: f"rows >= {k.get('min_value')}",
            }.get(kind, lambda: kind)()
    return text if e.get("severity", "critical") == "critical" else f"{text} [{e['severity']}]"


# ----------------------------------------------------------------------------- S3

def print_s3_outputs(execution: str, outputs: dict[str, dict[str, str]]) -> None:
    """discover-s3-data: step, output name and S3 URI of what a pipeline execution wrote."""
    if not outputs:
        console.print("no step of this execution wrote to S3")
        return
    table = Table(title=f"S3 outputs of {escape(execution)}", title_justify="left")
    for column in ("step", "output", "S3 URI"):
        table.add_column(column, overflow="fold")
    for step, named in outputs.items():
        for name, uri in named.items():
            table.add_row(escape(step), escape(name), escape(uri))
    console.print(table)


def print_s3_access(paths: list) -> None:
    """validate-s3-access: per path, list / read / write with PASS, FAIL (and its AWS code) or SKIP."""
    table = Table(title="S3 access", title_justify="left")
    for column in ("S3 path", "from", "list", "read", "write", "details"):
        table.add_column(column, overflow="fold")
    for path in paths:
        verdicts = {c.operation: styled(c.status) + (f" {escape(c.code)}" if c.code else "") for c in path.checks}
        details = "; ".join(f"{c.operation}: {escape(c.detail)}" for c in path.checks
                            if c.detail and c.status != "PASS")
        if "resolve" in verdicts:
            verdicts["list"] = f"resolve {verdicts['resolve']}"
        table.add_row(escape(path.uri), escape(path.origin), verdicts.get("list", ""), verdicts.get("read", ""),
                      verdicts.get("write", "-"), details)
    console.print(table)
    failed = sum(p.failed for p in paths)
    console.print(f"{len(paths) - failed} of {len(paths)} S3 path(s) fully accessible"
                  + (f", {failed} failed" if failed else ""))


def print_sample(report, path: Path) -> None:
    """download-test-data: what was taken from each split, and where it went."""
    from ..data.s3 import size_text
    table = Table()
    for column in ("split", "objects", "size"):
        table.add_column(column)
    for split, (taken, total, nbytes) in report.by_split().items():
        table.add_row(escape(split or "(top level)"), f"{taken} of {total}", size_text(nbytes))
    console.print(table)
    console.print(f"{escape(report.summary())}\nfrom {escape(report.uri)}\ninto {escape(str(path))}")


# ----------------------------------------------------------------------------- runs, regressions

def print_runs(folder: Path, runs: list) -> None:
    """`runs`: each run folder, oldest first, with its kind, status, start and duration."""
    if not runs:
        console.print(f"no runs in {escape(str(folder))}")
        return
    table = Table(title=f"runs in {escape(str(folder))}", title_justify="left")
    for column in ("run", "kind", "status", "started", "duration", ""):
        table.add_column(column, overflow="fold")
    for r in runs:
        marks = ", ".join(m for m, on in (("latest", r.latest), ("in use", r.in_use)) if on)
        table.add_row(escape(r.run_id), r.kind, styled(r.status), escape(r.started_at),
                      _number(r.duration_seconds, "{:.1f}s"), marks)
    console.print(table)


def print_pruned(deleted: list, spared: list) -> None:
    for r in deleted:
        console.print(f"deleted {escape(str(r.folder))}")
    for r in spared:
        console.print(f"kept {escape(r.run_id)}: {'the latest run' if r.latest else 'in use'}")
    console.print(f"{len(deleted)} run(s) deleted")


def print_regressions(found: list, baseline: Path, current: Path) -> None:
    """compare-results: one row per regression; or that there is none."""
    if not found:
        console.print(f"[green]no regression[/] from {escape(str(baseline))} to {escape(str(current))}")
        return
    table = Table(title=f"regressions from {escape(str(baseline))} to {escape(str(current))}", title_justify="left")
    for column in ("regression", "what", "baseline", "current"):
        table.add_column(column, overflow="fold")
    for r in found:
        table.add_row(f"[bold red]{r.kind}[/]", escape(r.what), escape(r.baseline), escape(r.current))
    console.print(table)
    errors.print(f"[bold red]{len(found)} regression(s)[/]")
