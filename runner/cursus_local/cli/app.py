"""The `cursus-local` command: thin; parses, calls one function, renders with rich."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from .. import ownership, results
from ..errors import UserError
from ..status import JobEvent, JobStatus, StepEvent

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run Cursus pipeline scripts in their SageMaker Processing images, locally.")
console = Console(highlight=False)
LOG_TAIL_LINES = 20


@app.callback()
def _root():
    """Run Cursus pipeline scripts in their SageMaker Processing images, locally."""


def main():
    try:
        app()
    except UserError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


def pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {value!r} is not NAME=VALUE", field=flag,
                            fix=f"write {flag} NAME=VALUE")
        out[key] = val
    return out


@app.command("run-step")
def run_step_command(
    step: str = typer.Argument(..., help="Step name (looked up in ./steps/) or a *.step.yaml path"),
    code: Optional[Path] = typer.Option(None, help="Folder holding the entry point script"),
    input: Optional[List[str]] = typer.Option(None, "--input", "-i", help="NAME=PATH, repeatable"),
    output: Optional[List[str]] = typer.Option(None, "--output", "-o", help="NAME=FOLDER, repeatable"),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help="KEY=VALUE, repeatable"),
    job_arg: Optional[List[str]] = typer.Option(None, "--job-arg", help="NAME=VALUE, repeatable"),
    image: Optional[str] = typer.Option(None, help="Image URI instead of the step's"),
    instance_type: Optional[str] = typer.Option(None, help="e.g. ml.m5.xlarge"),
    instance_count: Optional[int] = typer.Option(None, help="Hosts algo-1..algo-N"),
    shard: Optional[List[str]] = typer.Option(None, help="Input NAME to split by S3 key (ShardedByS3Key)"),
    max_runtime: Optional[int] = typer.Option(None, help="MaxRuntimeInSeconds"),
    network_isolation: Optional[bool] = typer.Option(None, "--network-isolation/--network",
                                                     help="EnableNetworkIsolation"),
    scenario: Path = typer.Option(Path("."), help="Scenario folder to find the step in"),
    runs_dir: Optional[Path] = typer.Option(None, help="Where run folders go (default ./runs)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Don't echo the container log"),
):
    """Run one script in its processing image, exactly as SageMaker Processing runs it."""
    from ..backends.docker import DockerBackend
    from ..jobs.contracts import find_step, load_step
    from ..jobs.processing import RunOptions, build_job
    from ..pipeline.step import run_job

    loaded = load_step(find_step(step, [scenario, Path.cwd()]))
    options = RunOptions(
        inputs={k: str(Path(v)) if "://" not in v else v for k, v in pairs(input, "--input").items()},
        outputs=pairs(output, "--output"), env=pairs(env, "--env"),
        job_arguments=pairs(job_arg, "--job-arg"), code_dir=str(code) if code else None,
        image=image, instance_type=instance_type, instance_count=instance_count,
        max_runtime_seconds=max_runtime, network_isolation=network_isolation,
        sharded_inputs=tuple(shard or ()))
    run_dir = (runs_dir or results.runs_dir(scenario)).resolve() / results.new_run_id()
    folder = run_dir / loaded.name
    job = build_job(loaded, options, folder / "output")   # bad input fails here, before the engine
    backend = DockerBackend()
    view = _StepView(loaded.name, quiet)
    with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:
        view.live = live
        run = run_job(job, folder, backend, view.on_event)
    ownership.hand_over_run(run_dir)
    _print_summary(run)
    if run.result.interrupted:
        raise typer.Exit(130)
    raise typer.Exit(0 if run.result.status == JobStatus.COMPLETED else 1)


class _StepView:
    """Live status line plus the container log as it comes."""

    def __init__(self, name: str, quiet: bool):
        self.name, self.quiet, self.status, self.started = name, quiet, "Starting", time.time()
        self.live: Live | None = None

    def render(self):
        elapsed = time.time() - self.started
        return Spinner("dots", text=f"[bold]{self.name}[/] {self.status}  {elapsed:5.1f}s")

    def on_event(self, event: JobEvent):
        if event.kind == "status":
            self.status = event.text
        elif not self.quiet and self.live is not None:
            self.live.console.print(f"[dim]{event.host}|[/] " + _escape(event.text))
        if self.live is not None:
            self.live.update(self.render())


def _escape(text: str) -> str:
    from rich.markup import escape
    return escape(text)


def _print_summary(run):
    result, info = run.result, run.result.describe
    colour = {"Completed": "green", "Failed": "red", "Stopped": "yellow"}.get(result.status, "white")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("step", run.job.step_name)
    table.add_row("status", f"[bold {colour}]{result.status}[/]")
    table.add_row("exit code", str(result.exit_code))
    table.add_row("duration", f"{result.duration_seconds:.2f} s")
    peak = result.peak_memory_bytes
    table.add_row("peak memory", f"{peak / 2**20:.1f} MiB" if peak else "n/a (cgroup not readable)")
    if result.cpu_seconds is not None:
        table.add_row("cpu time", f"{result.cpu_seconds:.2f} s")
    for key in ("FailureReason", "ExitMessage"):
        if info.get(key):
            table.add_row(key, _escape(info[key]))
    for note in result.notes:
        table.add_row("note", _escape(note))
    for name, path in result.outputs.items():
        table.add_row(f"output {name}", str(path))
    for host in result.hosts:
        table.add_row(f"log {host.host}", str(host.log))
    table.add_row("result", str(run.result_file))
    if result.status != "Completed":
        for host in result.hosts:
            if host.exit_code or host.oom_killed or result.status == "Stopped":
                lines = host.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] \
                    if host.log and host.log.exists() else []
                console.print(f"[bold]last {len(lines)} log lines of {host.host}:[/]")
                for line in lines:
                    console.print("  " + _escape(line))
    console.print(table)


STATUS_STYLE = {"waiting": "dim", "running": "bold cyan", "checking": "cyan", "passed": "green",
                "cached": "green", "failed": "bold red", "blocked": "bold red", "skipped": "yellow",
                "stopped": "yellow", "PASS": "green", "WARN": "yellow", "FAIL": "bold red"}


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


@app.command("run-pipeline")
def run_pipeline_command(
    dag_file: Path = typer.Argument(..., help="Our dag.yaml or a Cursus *.dag.json"),
    jobs: int = typer.Option(min(4, os.cpu_count() or 1), "--jobs", "-j",
                             help="Steps that may run at once (default: cores, at most 4)"),
    resume: Optional[str] = typer.Option(None, help="RUN_ID: rerun only what failed or was skipped"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, even if unchanged"),
    steps_dir: Optional[List[Path]] = typer.Option(None, help="More folders holding step files"),
    runs_dir: Optional[Path] = typer.Option(None, help="Where run folders go (default: beside the DAG)"),
):
    """Run every step in DAG order, checking each handoff with its Great Expectations suites."""
    from ..backends.docker import DockerBackend
    from ..pipeline.dag import load_dag
    from ..pipeline.sequencer import Sequencer

    dag = load_dag(dag_file, tuple(steps_dir or ()))
    view = _PipelineView(dag.topological_order())
    sequencer = Sequencer(dag, DockerBackend(), runs_dir=runs_dir or results.runs_dir(dag_file.parent),
                          jobs=jobs, use_cache=not no_cache, resume=resume, on_event=view.on_event)
    with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:
        view.live = live
        result = sequencer.run()
    ownership.hand_over_run(result.run_dir)
    _print_pipeline(result)
    raise typer.Exit(130 if result.interrupted else 0 if result.status == "passed" else 1)


class _PipelineView:
    """The DAG's steps with their live status."""

    def __init__(self, order: list[str]):
        self.rows = {n: ["waiting", "", None] for n in order}   # status, note, started
        self.live: Live | None = None

    def on_event(self, event: StepEvent):
        node, status, note = event.node, event.status, event.note
        row = self.rows[node]
        if status == "running" and row[2] is None:
            row[2] = time.time()
        row[0], row[1] = status, note
        if status.done and row[2] is not None:
            row[2] = -(time.time() - row[2])   # frozen duration
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Table:
        table = Table(title="pipeline", title_justify="left")
        for column in ("step", "status", "time", "note"):
            table.add_column(column, overflow="fold")
        for node, (status, note, started) in self.rows.items():
            seconds = "" if started is None else f"{(-started if started < 0 else time.time() - started):.1f}s"
            table.add_row(node, styled(status), seconds, _escape(note))
        return table


def _failure_lines(failures: list[dict]) -> str:
    """One line per failed expectation and column (splits folded together)."""
    seen: dict[tuple, list] = {}
    for f in failures:
        seen.setdefault((f["severity"], f["column"], f["type"]), []).append(f)
    lines = []
    for (severity, column, kind), items in seen.items():
        splits = sorted({f["split"] for f in items if f["split"]})
        where = f" (splits: {', '.join(splits)})" if len(splits) > 1 else ""
        lines.append(f"[{severity}] {items[0]['message'] or kind}{where}")
    return "\n".join(lines)


def _print_pipeline(result):
    steps = Table(title="steps", title_justify="left")
    for column in ("step", "status", "exit", "time", "note"):
        steps.add_column(column, overflow="fold")
    for node, o in result.steps.items():
        source = Path(o.cached_from).parent if o.cached_from else None
        note = o.reason or ("" if source is None else "unchanged, kept" if source == result.run_dir
                            else f"from run {source.name}")
        steps.add_row(node, styled(o.status), "" if o.exit_code is None else str(o.exit_code),
                      f"{o.duration_seconds:.1f}s" if o.duration_seconds else "", _escape(note))
    console.print(steps)
    if result.handoffs:
        checks = Table(title="handoff checks", title_justify="left")
        for column in ("handoff", "side", "status", "rows", "failures"):
            checks.add_column(column, overflow="fold")
        for h in sorted(result.handoffs, key=lambda h: h.connection):
            rows = f"{h.sample_rows} of {h.total_rows}" if h.sample_rows != h.total_rows else str(h.total_rows)
            checks.add_row(h.connection, h.side, styled(h.status), rows, _escape(_failure_lines(h.failures)))
        console.print(checks)
    for compat in result.static:
        if compat["status"] != "PASS":
            console.print(f"static {styled(compat['status'])} {compat['connection']}")
            for issue, fix in zip(compat["issues"], compat["recommendations"]):
                console.print(f"  - {_escape(issue)}\n    fix: {_escape(fix)}")
    colour = "green" if result.status == "passed" else "red"
    console.print(f"[bold {colour}]{result.status}[/] in {result.duration_seconds:.1f}s  "
                  f"run folder: {result.run_dir}  (resume with --resume {result.run_id})")


@app.command("discover-connections")
def discover_connections_command(
    dag_file: Path = typer.Option(..., "--dag-file", help="Our dag.yaml or a Cursus *.dag.json"),
    steps_dir: Optional[List[Path]] = typer.Option(None, help="More folders holding step files"),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON"),
):
    """Which upstream output feeds which downstream input, and what nothing feeds: before running."""
    import json

    from ..pipeline.connections import discover
    from ..pipeline.dag import load_dag
    from ..pipeline.preflight import static_compatibility

    dag = load_dag(dag_file, tuple(steps_dir or ()))
    report = discover(dag)
    static = static_compatibility(dag, report) if not dag.missing_steps else []
    if json_out:
        console.print_json(json.dumps({**report.to_dict(), "static_compatibility": static}))
    else:
        table = Table(title=f"connections of {dag.name}", title_justify="left")
        for column in ("status", "connection", "how", "score"):
            table.add_column(column, overflow="fold")
        for status, src, output, dst, inp, how, score, _note in report.to_rows():
            left = f"{src}.{output}" if src and output not in ("", "?") else src
            right = f"{dst}.{inp}" if inp and inp != "?" else dst
            connection = f"{left} -> {right}" if left else right
            detail = how if status in ("ok", "external", "ambiguous") else ""   # problems: listed below
            table.add_row("[green]ok[/]" if status == "ok" else styled(status), _escape(connection),
                          _escape(detail), score)
        console.print(table)
        for problem in [*report.unfed_required, *report.ambiguous, *report.unchecked, *report.missing_steps]:
            console.print(f"[yellow]{problem.node}{'.' + problem.input if problem.input else ''}[/]: "
                          f"{_escape(problem.message)}\n  fix: {_escape(problem.fix)}")
        for compat in static:
            console.print(f"static {styled(compat['status'])} {compat['connection']}")
            for issue, fix in zip(compat["issues"], compat["recommendations"]):
                console.print(f"  - {_escape(issue)}\n    fix: {_escape(fix)}")
    raise typer.Exit(0 if report.ok else 1)


@app.command("test-flow")
def test_flow_command(
    upstream: str = typer.Option(..., help="Upstream step name or file"),
    downstream: str = typer.Option(..., help="Downstream step name or file"),
    map_: Optional[List[str]] = typer.Option(None, "--map", help="OUTPUT=INPUT, repeatable (else discovered)"),
    scenario: Path = typer.Option(Path("."), help="Scenario folder holding steps/"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    runs_dir: Optional[Path] = typer.Option(None, help="Where run folders go (default ./runs)"),
):
    """Run upstream, then downstream on that very output, and report the handoff."""
    import json

    from ..backends.docker import DockerBackend
    from ..jobs.contracts import find_step, load_step
    from ..pipeline.flow import flow_result, two_step_dag
    from ..pipeline.sequencer import Sequencer

    up, down = (load_step(find_step(name, [scenario, Path.cwd()])) for name in (upstream, downstream))
    dag = two_step_dag(up, down, pairs(map_, "--map") or None)
    view = _PipelineView(dag.topological_order())
    sequencer = Sequencer(dag, DockerBackend(), runs_dir=runs_dir or results.runs_dir(scenario),
                          use_cache=not no_cache, on_event=view.on_event)
    with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:
        view.live = live
        result = sequencer.run()
    _print_pipeline(result)
    flow = flow_result(result, up.name, down.name)
    results.write_json(result.run_dir / "data_flow.json", {"data_flow_tests": {"results": [flow]}})
    ownership.hand_over_run(result.run_dir)
    console.print_json(json.dumps(flow))
    raise typer.Exit(0 if flow["status"] != "FAIL" else 1)


def _register(module):
    app.registered_commands += module.app.registered_commands


from . import s3 as cli_s3  # noqa: E402  (commands kept beside their concern)
from . import testing as cli_testing

_register(cli_testing)
_register(cli_s3)

if __name__ == "__main__":
    main()
