"""Script unit testing commands: test-script, test-suite, generate-data, suggest-suite.

Each parses its options, calls the unit tester (or the data generator) and renders the result.
Exit codes: 0 every test passed, 1 a test failed; bad input and Ctrl-C are handled by cli/app.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UserError
from .app import app
from .options import CONFIG_HELP, JSON_SUMMARY_HELP, JUNIT_XML_HELP, RUNS_HELP, SCENARIO_HELP, yaml_pairs

TEST_TYPES = ("synthetic", "s3_integration", "performance")


@app.command("test-script")
def test_script_command(
    script: str = typer.Option(..., help="Step name (steps/<NAME>.step.yaml)"),
    test_type: str = typer.Option("synthetic", help="synthetic | s3_integration | performance"),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    scenario: Path = typer.Option(Path("."), help=SCENARIO_HELP),
    rows: Optional[int] = typer.Option(None, min=0, help="Rows per scenario (default: each one's data_size)"),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
    junit_xml: Optional[Path] = typer.Option(None, "--junit-xml", help=JUNIT_XML_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_SUMMARY_HELP),
):
    """Test one script with one kind of data: its configured scenarios, else defaults from its
    suites (synthetic: one scenario; performance: the small, medium and large volumes)."""
    from ..unit import config as scenario_config
    from ..unit.model import Case

    if test_type not in TEST_TYPES:
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
        performance = ([Case(f"{rows}_rows", rows, seed=tests.seed)] if rows is not None
                       else tests.performance_tests or scenario_config.default_performance(tests))
    elif not tests.of_type("s3_integration"):
        raise UserError(f"no s3_integration tests for {script}",
                        file=str(tests.config or scenario_config.default_config(scenario)),
                        field=f"script_integration_tests.{script}.unit_tests",
                        fix="add `- {test_type: s3_integration, s3_test_data: [{pipeline_execution: "
                            "ARN, step_name: STEP, output_name: OUTPUT}]}`")
    _run_and_report([tests], scenario, runs_dir, (test_type,), synthetic=synthetic,
                    performance=performance, junit_xml=junit_xml, json_out=json_out)


@app.command("test-suite")
def test_suite_command(
    script: Optional[str] = typer.Option(None, help="Only this script (default: every one in the config)"),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    scenario: Path = typer.Option(Path("."), help=SCENARIO_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
    code: Optional[Path] = typer.Option(None, help="Folder holding the scripts (a scenario's own "
                                        "`code:` wins; default: each step's local.code)"),
    junit_xml: Optional[Path] = typer.Option(None, "--junit-xml", help=JUNIT_XML_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_SUMMARY_HELP),
):
    """Run everything test_scenarios.yaml configures: unit tests (synthetic, S3), quality checks,
    performance budgets and data-flow tests; one run folder for the invocation."""
    from ..unit import config as scenario_config
    from ..unit import tester as scenarios

    found = scenario_config.load_tests(config or scenario_config.default_config(scenario), scenario, script)
    if code is not None:
        if not code.is_dir():
            raise UserError(f"--code {code}: no such folder", field="--code",
                            fix="pass the folder that holds the scripts")
        for tests in found.values():   # the step's `local.code`, for this run only
            tests.step.local["code"] = code.resolve()
    configured = {name: bool(t.unit_tests or t.performance_tests or t.data_flow_tests)
                  for name, t in found.items()}
    defaults = {name: None if configured[name] else [scenario_config.default_synthetic(t)]
                for name, t in found.items()}
    _run_and_report(list(found.values()), scenario, runs_dir, scenarios.PARTS, defaults=defaults,
                    junit_xml=junit_xml, json_out=json_out)


def _run_and_report(all_tests: list, scenario: Path, runs_dir: Path | None, parts: tuple[str, ...],
                    *, synthetic=None, performance=None, defaults: dict | None = None,
                    junit_xml: Path | None = None, json_out: bool = False):
    """Every script's tests in one run folder (one per invocation: the next one never overwrites
    it), each script's report, then `unit_tests.json` for them all; exit 1 if any failed."""
    import time

    from .. import ownership, results
    from ..backends.docker import DockerBackend
    from ..report.runs import in_use
    from ..report.summary import merged_unit_report
    from ..unit.tester import ScriptTester
    from . import render
    from .reports import publish

    backend = DockerBackend()
    failed, reports, started = 0, [], time.time()
    run_dir = (runs_dir or results.runs_dir(scenario)).resolve() / results.new_run_id()
    several = len(all_tests) > 1   # then each script's own report sits in its folder
    with in_use(run_dir):
        for tests in all_tests:
            with render.unit_progress(tests.script) as on_event:
                report = ScriptTester(tests, backend, run_dir, on_event=on_event, shared_run=several).run(
                    parts, synthetic=(defaults or {}).get(tests.script, synthetic), performance=performance)
            render.print_unit_report(report.data)
            render.console.print(f"results: {report.file}")
            failed += report.failed
            reports.append(report.data)
        file = run_dir / "unit_tests.json"
        if several:
            results.write_json(file, merged_unit_report(reports, run_dir, started, time.time()))
            render.console.print(f"results of all {len(reports)} scripts: {file}")
    ownership.hand_over_run(run_dir)
    publish(run_dir, file, junit_xml=junit_xml, json_out=json_out, status="FAIL" if failed else "PASS")
    raise typer.Exit(1 if failed else 0)


@app.command("generate-data")
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
    from .. import ownership, results
    from ..unit import config as scenario_config
    from ..unit.inputs import generate
    from . import render

    case = None
    if from_scenario:
        case = scenario_config.scenario_case(config or scenario_config.default_config(scenario), scenario,
                                             script, from_scenario)
    made = results.outermost_missing(out)     # handed over whole: all of it is new
    kept = ownership.existing([out])           # a folder that was there keeps its owner
    generated = generate(out, scenario_dir=scenario, script=script, suite=suite, input=input, rows=rows,
                         seed=seed, params=yaml_pairs(param, "--param"), case=case, format=format,
                         shards=shards, splits=splits, check=check)
    ownership.hand_over([made or out], kept)
    render.print_generated(generated)


@app.command("suggest-suite")
def suggest_suite_command(
    data: List[Path] = typer.Argument(..., help="Good outputs of one step (file, folder of shards "
                                      "or of splits); several: the suite is their union"),
    out: Optional[Path] = typer.Option(None, help="Suite file to write (default: <name>.suite.json; - prints it)"),
    name: Optional[str] = typer.Option(None, help="Suite name (default: the folder's name)"),
    max_rows: int = typer.Option(200_000, min=1, help="Rows profiled (a seeded sample beyond that)"),
    margin: float = typer.Option(0.1, min=0, help="Ranges widened by this fraction of their span"),
    input: Optional[List[str]] = typer.Option(
        None, "--input", help="NAME=PATH: the step's input NAME in a good run, once per DATA in "
        "the same order; learns the row ratio of output to input (a step that passes rows through)"),
):
    """Draft a Great Expectations suite from real output (one or more good runs), to edit and commit."""
    import json

    from .. import ownership
    from ..data.suggest import suggest_suite, write_suite
    from . import render

    suite = suggest_suite(data, name=name, max_rows=max_rows, margin=margin,
                          inputs=_inputs_per_run(input, len(data)))
    if str(out) == "-":
        print(json.dumps(suite, indent=2))
        return
    path = write_suite(suite, out or Path(f"{suite['name']}.suite.json"))
    ownership.hand_over([path])
    render.print_suggested_suite(suite, path)


def _inputs_per_run(values: list[str] | None, runs: int) -> list[dict] | None:
    """`--input NAME=PATH`, repeated: each NAME once per good run, in the order of DATA."""
    from .options import pairs

    if not values:
        return None
    per_name: dict[str, list[Path]] = {}
    for value in values:
        for name, path in pairs([value], "--input").items():
            per_name.setdefault(name, []).append(Path(path))
    for name, paths in per_name.items():
        if len(paths) != runs:
            raise UserError(f"--input {name} is given {len(paths)} times for {runs} good outputs",
                            field="--input", fix=f"give --input {name}=PATH once per DATA argument, "
                            "in the same order (that run's input)")
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise UserError(f"--input {name}: no such path {missing[0]}", file=missing[0],
                            field="--input", fix="give the input folder the step read in that run")
    return [{name: paths[i] for name, paths in per_name.items()} for i in range(runs)]
