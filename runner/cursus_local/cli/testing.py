"""Script unit testing commands: test-script, test-suite, generate-data, suggest-suite.

Registered on the main app by cli.py; runnable alone too: `python -m cursus_local.cli_testing`.
Exit codes: 0 every test passed, 1 a test failed, 2 bad input (UserError), 130 Ctrl-C.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import ownership, results
from ..errors import UserError
from ..status import TestEvent

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Script unit tests: synthetic data, scenarios, quality and performance.")
console = Console(highlight=False)
STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red"}
EXAMPLES_SHOWN = 3
BUDGETS = {"max_seconds": "<= {:g}s", "max_memory_mb": "<= {:g} MiB"}

SCENARIO_HELP = "Scenario folder holding steps/ and test_scenarios.yaml"
CONFIG_HELP = "Test scenarios file (default: <scenario>/test_scenarios.yaml)"
RUNS_HELP = "Where run folders go (default: <scenario>/runs)"


def _clean_exit(command):
    """UserError -> its message and exit 2; Ctrl-C -> exit 130; no traceback for either."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
    return run


def styled(status: str | None) -> str:
    return f"[{STYLE.get(status or '', 'white')}]{status or '-'}[/]"


# ----------------------------------------------------------------------------- commands

@app.command("test-script")
@_clean_exit
def test_script_command(
    script: str = typer.Option(..., help="Step name (steps/<NAME>.step.yaml)"),
    test_type: str = typer.Option("synthetic", help="synthetic | s3_integration | performance"),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    scenario: Path = typer.Option(Path("."), help=SCENARIO_HELP),
    rows: Optional[int] = typer.Option(None, min=0, help="Rows per scenario (default: each one's data_size)"),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
):
    """Test one script with one kind of data: its configured scenarios, else defaults from its
    suites (synthetic: one scenario; performance: the small, medium and large volumes)."""
    from ..unit import config as scenario_config

    if test_type not in ("synthetic", "s3_integration", "performance"):
        raise UserError(f"unknown test type {test_type!r}", field="--test-type",
                        fix="use synthetic, s3_integration or performance")
    tests = scenario_config.load_tests(config or scenario_config.default_config(scenario), scenario, script)[script]
    synthetic, performance = None, None
    if test_type == "synthetic":
        synthetic = tests.of_type("synthetic") or [scenario_config.default_synthetic(tests, rows)]
        if rows is not None:
            for case in (c for t in synthetic for c in t.cases):
                case.rows = rows
    elif test_type == "performance":
        performance = ([scenario_config.Case(f"{rows}_rows", rows, seed=tests.seed)] if rows is not None
                       else tests.performance_tests or scenario_config.default_performance(tests))
    elif not tests.of_type("s3_integration"):
        raise UserError(f"no s3_integration tests for {script}",
                        file=str(tests.config or scenario_config.default_config(scenario)),
                        field=f"script_integration_tests.{script}.unit_tests",
                        fix="add `- {test_type: s3_integration, s3_test_data: [{pipeline_execution: "
                            "ARN, step_name: STEP, output_name: OUTPUT}]}`")
    _run_and_report([tests], scenario, runs_dir, (test_type,), synthetic=synthetic,
                    performance=performance)


@app.command("test-suite")
@_clean_exit
def test_suite_command(
    script: Optional[str] = typer.Option(None, help="Only this script (default: every one in the config)"),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    scenario: Path = typer.Option(Path("."), help=SCENARIO_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
):
    """Run everything test_scenarios.yaml configures: unit tests (synthetic, S3), quality checks,
    performance budgets and data-flow tests; one run folder per script."""
    from ..unit import config as scenario_config
    from ..unit import tester as scenarios

    found = scenario_config.load_tests(config or scenario_config.default_config(scenario), scenario, script)
    configured = {name: bool(t.unit_tests or t.performance_tests or t.data_flow_tests)
                  for name, t in found.items()}
    defaults = {name: None if configured[name] else [scenario_config.default_synthetic(t)]
                for name, t in found.items()}
    _run_and_report(list(found.values()), scenario, runs_dir, scenarios.PARTS, defaults=defaults)


@app.command("generate-data")
@_clean_exit
def generate_data_command(
    out: Path = typer.Option(..., help="Folder to write into (must be empty or new)"),
    script: Optional[str] = typer.Option(None, help="Step whose input suites (and sample layout) to use"),
    suite: Optional[Path] = typer.Option(None, help="A GX suite JSON to generate from (e.g. from suggest-suite)"),
    input: Optional[str] = typer.Option(None, "--input", help="Only this input of the step"),
    rows: Optional[int] = typer.Option(None, min=0, help="Rows, shared out among split folders "
                                       "(default 1000, or the scenario's)"),
    seed: int = typer.Option(0, help="Same seed, same bytes"),
    param: Optional[List[str]] = typer.Option(None, "--param", "-p",
                                              help="Synthetic parameter KEY=YAML, e.g. currencies=[USD,EUR]"),
    from_scenario: Optional[str] = typer.Option(None, help="Parameters, rows, seed of this data scenario in the config"),
    format: Optional[str] = typer.Option(None, help="csv | tsv | parquet | json (default: like the step's sample)"),
    shards: Optional[int] = typer.Option(None, min=1, help="Files per folder"),
    splits: Optional[str] = typer.Option(None, help="Split folders, e.g. train,test,val"),
    check: bool = typer.Option(True, "--check/--no-check", help="Validate the data against its suite"),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    scenario: Path = typer.Option(Path("."), help=SCENARIO_HELP),
):
    """Write synthetic data a script can read: from its input suites (or --suite) and scenario
    parameters, in the layout of its sample data."""
    from ..data import checks
    from ..jobs.contracts import find_step, load_step
    from ..unit import config as scenario_config
    from ..unit import tester as scenarios

    if not script and not suite:
        raise UserError("nothing to generate from", field="--script",
                        fix="pass --script NAME (its input suites) or --suite FILE.json")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("the output folder is not empty", file=str(out),
                        fix="choose a new or empty folder (generated files would mix with these)")
    case = scenario_config.Case("generate-data", 1000, seed=seed)
    params = _params(param)
    if from_scenario:
        if not script:
            raise UserError("--from-scenario needs --script", field="--from-scenario", fix="add --script NAME")
        tests = scenario_config.load_tests(config or scenario_config.default_config(scenario), scenario, script)[script]
        found = [c for t in tests.unit_tests for c in t.cases if c.name == from_scenario]
        if not found:
            names = [c.name for t in tests.unit_tests for c in t.cases]
            raise UserError(f"no data scenario {from_scenario!r} for {script}", field="--from-scenario",
                            fix=f"use one of {names}" if names else "add data_scenarios to the config")
        case = found[0]
    case.rows = case.rows if rows is None else rows
    if script:
        step = load_step(find_step(script, [scenario, Path.cwd()]))
        target = input or (next(iter(step.inputs)) if len(step.inputs) == 1 else None)
        if input and input not in step.inputs:
            raise UserError(f"no input {input!r} in {step.name}", field="--input",
                            fix=f"use one of {sorted(step.inputs)}")
        if (suite or params) and target is None:
            raise UserError(f"{step.name} has inputs {sorted(step.inputs)}: which one is meant?",
                            field="--input", fix="add --input NAME")
        if params:
            case.params = {**case.params, target: {**case.params.get(target, {}), **params}}
        plans = scenario_config.plan_inputs(step, case, suites={target: suite} if suite else None)
        plans = [p for p in plans if not input or p.name == input]
    else:
        plans = [scenario_config.InputPlan("data", suite, params)]
    generated = [p for p in plans if p.sample is None]
    for plan in generated:
        plan.layout = _layout(plan.layout, format, shards, splits)
    for p in plans:
        if p.sample is not None:
            console.print(f"[yellow]input {p.name}: no suite to generate from; its sample is {p.sample}[/]")
    if not generated:
        raise UserError("no input to generate", field="--script",
                        fix="give the step input suites (suites: inputs:) or pass --suite FILE.json")
    bound = scenarios.write_inputs(generated, out, case.rows, case.seed, single_in_folder=True)
    ownership.hand_over([out])
    table = Table(title=f"generated {case.rows:,} rows (seed {case.seed})", title_justify="left")
    for column in ("input", "folder", "files", "layout", "suite check"):
        table.add_column(column, overflow="fold")
    for plan in generated:
        folder = bound[plan.name]
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        checked = checks.validate(plan.suite, folder).status if check and plan.suite else "-"
        layout_used = plan.layout
        table.add_row(plan.name, str(folder), str(len(files)),
                      f"{layout_used.format}, {layout_used.shards} shard(s)"
                      + (f", splits {','.join(layout_used.splits)}" if layout_used.splits else ""),
                      styled(checked) if checked != "-" else "-")
    console.print(table)


@app.command("suggest-suite")
@_clean_exit
def suggest_suite_command(
    data: Path = typer.Argument(..., help="An observed output: file, folder of shards or of splits"),
    out: Optional[Path] = typer.Option(None, help="Suite file to write (default: <name>.suite.json; - prints it)"),
    name: Optional[str] = typer.Option(None, help="Suite name (default: the folder's name)"),
    max_rows: int = typer.Option(200_000, min=1, help="Rows profiled (a seeded sample beyond that)"),
    margin: float = typer.Option(0.1, min=0, help="Ranges widened by this fraction of their span"),
):
    """Draft a Great Expectations suite from real output, to edit and commit."""
    from ..data.suggest import suggest_suite, write_suite

    suite = suggest_suite(data, name=name, max_rows=max_rows, margin=margin)
    if str(out) == "-":
        print(json.dumps(suite, indent=2))
        return
    path = write_suite(suite, out or Path(f"{suite['name']}.suite.json"))
    ownership.hand_over([path])
    table = Table(title=f"suite {suite['name']}: {len(suite['expectations'])} expectations from "
                        f"{suite['meta']['rows_profiled']:,} of {suite['meta']['rows']:,} rows",
                  title_justify="left")
    for column in ("column", "expectations"):
        table.add_column(column, overflow="fold")
    by_column: dict[str, list[str]] = {}
    for e in suite["expectations"]:
        by_column.setdefault(e["kwargs"].get("column") or "(table)", []).append(_describe(e))
    for column, items in by_column.items():
        table.add_row(column, escape("; ".join(items)))
    console.print(table)
    console.print(f"wrote [bold]{path}[/]: edit it, then name it in the step file under "
                  "`suites: {outputs: {<output>: <file>}}` (or `inputs:` of its consumer)")


def _layout(layout, format: str | None, shards: int | None, splits: str | None):
    """The planned layout (the sample's, or one CSV) with the command line's changes."""
    from ..data.datasets import Layout
    base = layout or Layout()
    if not (format or shards or splits):
        return base
    keep_pattern = (format or base.format) == base.format and ("{" in base.file_pattern or not shards)
    return Layout(format=format or base.format, compression=None if format else base.compression,
                  shards=shards or base.shards, header=base.header,
                  splits=[s for s in splits.split(",") if s] if splits else base.splits,
                  file_pattern=base.file_pattern if keep_pattern else "")


def _describe(e: dict) -> str:
    k, kind = e["kwargs"], e["type"].removeprefix("expect_")
    text = {"column_values_to_be_of_type": lambda: f"type {k.get('type_')}",
            "column_values_to_not_be_null": lambda: "not null" if k.get("mostly", 1) == 1
            else f"not null (mostly {k['mostly']})",
            "column_values_to_be_in_set": lambda: f"in {k.get('value_set')}",
            "column_values_to_be_between": lambda: f"between {k.get('min_value')} and {k.get('max_value')}",
            "column_values_to_be_unique": lambda: "unique",
            "table_columns_to_match_ordered_list": lambda: f"columns {k.get('column_list')}",
            "table_row_count_to_be_between": lambda: f"rows >= {k.get('min_value')}",
            }.get(kind, lambda: kind)()
    return text if e.get("severity", "critical") == "critical" else f"{text} [{e['severity']}]"


def _params(values: list[str] | None) -> dict:
    import yaml

    from .app import pairs
    try:
        return {k: yaml.safe_load(v) for k, v in pairs(values, "--param").items()}
    except yaml.YAMLError as exc:
        raise UserError(f"--param value is not YAML: {exc}", field="--param",
                        fix="write KEY=VALUE, e.g. currencies=[USD,EUR] or missing_currency_rate=0.1") from None


# ----------------------------------------------------------------------------- running, reporting

def _run_and_report(all_tests: list, scenario: Path, runs_dir: Path | None, parts: tuple[str, ...],
                    *, synthetic=None, performance=None, defaults: dict | None = None):
    from ..backends.docker import DockerBackend
    from ..unit.tester import ScriptTester

    backend = DockerBackend()
    failed = 0
    for tests in all_tests:
        run_dir = (runs_dir or results.runs_dir(scenario)) / results.new_run_id()
        with console.status(f"testing {tests.script}") as status:
            tester = ScriptTester(tests, backend, run_dir, on_event=_Progress(status).on_event)
            report = tester.run(parts, synthetic=(defaults or {}).get(tests.script, synthetic),
                                performance=performance)
        ownership.hand_over_run(run_dir)
        render(report.data)
        console.print(f"results: {report.file}")
        failed += report.failed
    raise typer.Exit(1 if failed else 0)


class _Progress:
    """A spinner naming what runs; one line per finished test."""

    def __init__(self, status):
        self.status = status

    def on_event(self, event: TestEvent):
        if event.kind == "start":
            self.status.update(f"running {escape(event.label)}  [dim]({escape(event.text)})[/]")
        elif event.kind == "done":
            console.print(f"  {styled(event.text)} {escape(event.label)}")


def render(report: dict):
    """Tables of a unit_tests.json report: per scenario its checks, score, time and memory."""
    body = report["script_unit_tests"]
    for key, title in (("synthetic_tests", "synthetic"), ("s3_integration_tests", "s3_integration")):
        if key in body:
            _scenario_tables(title, body[key]["results"])
    if "performance_tests" in body:
        _performance_table(body["script_name"], body["performance_tests"]["results"])
    if "data_flow_tests" in report:
        _flow_table(report["data_flow_tests"]["results"])
    colour = "green" if body["status"] == "PASS" else "bold red"
    counts = [f"{body[key][passed]} of {body[key][total]} {label}" for key, total, passed, label in
              (("synthetic_tests", "total_scenarios", "passed_scenarios", "scenarios"),
               ("s3_integration_tests", "total_s3_sources", "successful_sources", "S3 sources"),
               ("performance_tests", "total_tests", "passed_tests", "performance tests"))
              if key in body]
    if "data_flow_tests" in report:
        flows = report["data_flow_tests"]
        counts.append(f"{flows['successful_connections']} of {flows['total_connections_tested']} data flows")
    console.print(f"[{colour}]{body['status']}[/] {body['script_name']}: {', '.join(counts) or 'nothing'} "
                  f"passed in {body['duration_seconds']:.1f}s")


def _scenario_tables(kind: str, entries: list[dict]):
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
            table.add_row(escape(name), styled(status), escape("\n".join(_failure_lines(details.get(name)))))
        if e["quality_checks"]:
            console.print(table)
        else:
            console.print(title)
        if e["status"] == "FAIL":
            _explain(e)
        console.print()


def _failure_lines(detail: dict | None) -> list[str]:
    """One line per failing expectation and column, the splits summed."""
    if not detail:
        return []
    if "failures" not in detail:
        return [detail.get("message", "")]
    shown = [f for f in detail["failures"] if detail["status"] == "WARN" or f["severity"] == "critical"]
    lines = []
    for (kind, column), group in _grouped(shown).items():
        what = kind.removeprefix("expect_column_values_to_").removeprefix("expect_")
        rows = sum(f["failing_rows"] or 0 for f in group)
        line = f"{column or '(table)'} {what}: {rows} rows"
        if not group[0].get("example_rows") and group[0]["message"]:
            line += f" ({group[0]['message']})"
        lines.append(line)
    return lines


def _explain(e: dict):
    """Why a scenario failed: the reason, example failing rows, the end of the log."""
    console.print(f"[bold red]FAIL[/] {escape(e['scenario'])}: {escape(e.get('reason', ''))}")
    for name, detail in e.get("quality_details", {}).items():
        if detail["status"] != "FAIL" or "failures" not in detail:
            continue
        console.print(f"  {escape(name)}: {detail['failing_rows']} failing rows, e.g.")
        critical = [f for f in detail["failures"] if f["severity"] == "critical"]
        for row in [r for f in critical for r in f.get("example_rows", [])][:EXAMPLES_SHOWN]:
            console.print(f"    [dim]{escape(json.dumps(row, default=str))}[/]")
        for f in critical:
            if not f.get("example_rows") and f["examples"]:
                console.print(f"    [dim]{escape(str(f['column']))}: {escape(json.dumps(f['examples'], default=str))}[/]")
    for line in e.get("log_tail", [])[-8:]:
        console.print(f"    [dim]| {escape(line)}[/]")


def _grouped(failures: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for f in failures:
        groups.setdefault((f["expectation"], f["column"]), []).append(f)
    return groups


def _performance_table(script: str, entries: list[dict]):
    table = Table(title=f"performance tests: {script}", title_justify="left")
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
        if e["status"] == "FAIL":
            console.print(f"[bold red]FAIL[/] {escape(e['name'])}: {escape(e.get('reason', ''))}")


def _flow_table(entries: list[dict]):
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


if __name__ == "__main__":
    app()
