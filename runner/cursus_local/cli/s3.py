"""`discover-s3-data`, `download-test-data` and `s3-cache`: samples of the S3 outputs of earlier
SageMaker pipeline runs, and the local copies of them. `validate-s3-access`: may you list, read
and write the paths s3_integration.yaml names. `test-s3`: a script unit test on the real upstream
outputs of a pipeline execution's step.

boto3 and the rest of `data.s3` load inside the commands: other commands never pay for them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Optional

import typer

from ..errors import UserError
from .app import _to_stderr, app
from .options import JSON_SUMMARY_HELP, JUNIT_XML_HELP, RUNS_HELP, SCENARIO_HELP

cache_app = typer.Typer(no_args_is_help=True, help="What S3 samples are cached, and deleting them.")
app.add_typer(cache_app, name="s3-cache")


@contextlib.contextmanager
def _s3_failures() -> Iterator[None]:
    """AWS unreachable or failing after retries: one line, exit 1 (not the user's input: 2)."""
    from ..data.s3 import S3Unavailable
    try:
        yield
    except S3Unavailable as exc:
        _to_stderr("[bold red]error:[/]", str(exc))
        raise typer.Exit(1) from None


def _aws_profile(settings) -> None:
    if settings.profile and not os.environ.get("AWS_PROFILE"):
        os.environ["AWS_PROFILE"] = settings.profile
    if settings.region and not os.environ.get("AWS_REGION"):
        os.environ["AWS_REGION"] = settings.region


@app.command("discover-s3-data")
def discover_s3_data(
    pipeline_execution: str = typer.Option(..., "--pipeline-execution", help="Pipeline execution ARN"),
):
    """List the S3 outputs each step of a SageMaker pipeline execution wrote."""
    from ..data import s3 as s3data
    from . import render

    with _s3_failures():
        render.print_s3_outputs(pipeline_execution, s3data.discover_outputs(pipeline_execution))


@app.command("download-test-data")
def download_test_data(
    s3_path: str = typer.Option(..., "--s3-path", help="s3://BUCKET/PREFIX (or one object)"),
    local_path: Path = typer.Option(..., "--local-path", help="Folder to put the sample in (hard links into the cache)"),
    rows: Optional[int] = typer.Option(None, "--rows", help="Rows to sample, spread over the data and every split "
                                       "(default: data_sampling.default_sample_size, 1000)"),
    whole: bool = typer.Option(False, "--whole-objects", help="Whole objects instead of rows, within the budget"),
    seed: int = typer.Option(0, "--seed", help="Same seed, same sample"),
    max_mb: Optional[float] = typer.Option(None, "--max-mb", help="Most MiB to read from S3 "
                                           "(default: data_sampling.max_download_size, 100 MiB)"),
    anonymize: list[str] = typer.Option([], "--anonymize", help="COLUMN=hash|drop|fake|null, applied before "
                                        "anything is written (adds to the file's anonymize: rules)"),
    offline: bool = typer.Option(False, "--offline", help="Use the cached sample as it is, without asking S3"),
    config: Optional[Path] = typer.Option(None, "--config", help="s3_integration.yaml (default: ./s3_integration.yaml if there)"),
):
    """Download a sample of an S3 prefix for local testing (cached, revalidated, audited)."""
    from ..data import s3 as s3data
    from ..data.s3_anonymize import parse_rules, project_salt
    from ..data.s3_config import load_settings
    from . import render

    settings = load_settings(config)
    _aws_profile(settings)
    rules = {**settings.anonymize, **parse_rules(anonymize)}
    reports: list = []
    with _s3_failures():
        path = s3data.fetch_uri(
            s3_path, local_path, rows=None if whole else (rows or settings.rows), seed=seed,
            max_bytes=int(max_mb * 2**20) if max_mb is not None else settings.max_bytes,
            anonymize=rules, salt=project_salt(settings.project) if rules else b"",
            cache_duration=settings.cache_duration, offline=offline, on_report=reports.append)
    render.print_sample(reports[0], path)


@app.command("validate-s3-access")
def validate_s3_access(
    config: Path = typer.Option(Path("s3_integration.yaml"), "--config", help="s3_integration.yaml"),
):
    """Check, per S3 path of the config, that you may list it, read it (a 1-byte ranged GET) and,
    for output_paths, write to it (a marker put and deleted). Exit 1 if any check fails."""
    from ..data.s3_access import validate
    from ..data.s3_config import load_settings
    from . import render

    settings = load_settings(config)
    _aws_profile(settings)
    with _s3_failures():
        paths = validate(settings)
    render.print_s3_access(paths)
    raise typer.Exit(1 if any(p.failed for p in paths) else 0)


@app.command("test-s3")
def test_s3(
    script: str = typer.Option(..., help="Step name (steps/<NAME>.step.yaml)"),
    pipeline_execution: str = typer.Option(..., "--pipeline-execution", help="Pipeline execution ARN"),
    step: Optional[str] = typer.Option(None, "--step", help="The execution's step whose output the script "
                                       "reads (default: the one named in the script's compatible_sources)"),
    output: Optional[str] = typer.Option(None, "--output", help="That step's output (default: the one named "
                                         "like the script's input, or its only one)"),
    input: Optional[str] = typer.Option(None, "--input", help="The script's input it feeds (default: its only one)"),
    rows: Optional[int] = typer.Option(None, "--rows", min=1, help="Rows to sample "
                                       "(default: data_sampling.default_sample_size, 1000)"),
    seed: int = typer.Option(0, "--seed", help="Same seed, same sample"),
    config: Optional[Path] = typer.Option(None, "--config", help="s3_integration.yaml (default: ./s3_integration.yaml if there)"),
    tests_config: Optional[Path] = typer.Option(None, "--tests-config", help="Test scenarios file with the "
                                                "quality checks (default: <scenario>/test_scenarios.yaml)"),
    scenario: Path = typer.Option(Path("."), help=SCENARIO_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
    junit_xml: Optional[Path] = typer.Option(None, "--junit-xml", help=JUNIT_XML_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_SUMMARY_HELP),
):
    """Run a script on a sample of the real S3 outputs of one step of a pipeline execution, with its
    quality checks and output suites; results as test-script gives them."""
    from ..data import s3 as s3data
    from ..data.s3_anonymize import project_salt
    from ..data.s3_config import load_settings
    from ..unit import config as scenario_config
    from ..unit.model import Case, UnitTest
    from .testing import _run_and_report

    settings = load_settings(config)
    _aws_profile(settings)
    tests = scenario_config.load_tests(tests_config or scenario_config.default_config(scenario), scenario,
                                       script)[script]
    with _s3_failures():
        discovered = s3data.discover_outputs(pipeline_execution)
        step, output, uri = _upstream_output(tests.step, pipeline_execution, discovered, step, output)
        target = input or _sole_input(tests.step)
        if target not in tests.step.inputs:
            raise UserError(f"no input {target!r} in {script}", field="--input",
                            fix=f"use one of: {', '.join(sorted(tests.step.inputs))}")
        source = {"pipeline_execution": pipeline_execution, "step_name": step, "output_name": output,
                  "uri": uri, "input": target, "rows": rows or settings.rows, "seed": seed,
                  "max_bytes": settings.max_bytes, "cache_duration": settings.cache_duration,
                  "anonymize": settings.anonymize,
                  "salt": project_salt(settings.project) if settings.anonymize else b""}
        tests.unit_tests = [UnitTest("test_s3", "s3_integration", [Case(f"{step}.{output}", 0, seed=seed,
                                                                        s3_source=source)])]
        _run_and_report([tests], scenario, runs_dir, ("s3_integration",), junit_xml=junit_xml, json_out=json_out)


def _upstream_output(script_step, execution: str, discovered: dict[str, dict[str, str]],
                     step: str | None, output: str | None) -> tuple[str, str, str]:
    """(step, output, S3 URI) the script reads: `--step`, else the one step of the execution named
    in the script's compatible_sources; `--output`, else one named like the script's inputs (or
    the step's only output)."""
    steps = ", ".join(sorted(discovered)) or "(none)"
    if step is None:
        sources = [s for dep in (script_step.spec.get("dependencies") or {}).values()
                   for s in (dep or {}).get("compatible_sources") or []]
        matches = [name for name in discovered
                   if any(name == s or name.startswith((f"{s}-", f"{s}_")) for s in sources)]
        if len(matches) != 1:
            raise UserError(f"{len(matches)} steps of this execution match {script_step.name}'s "
                            f"compatible_sources {sources}", file=execution, field="--step",
                            fix=f"name the upstream step with --step, one of: {steps}")
        step = matches[0]
    if step not in discovered:
        raise UserError(f"no step {step!r} of this execution wrote to S3", file=execution, field="--step",
                        fix=f"use one of: {steps}")
    outputs = discovered[step]
    if output is None:
        named = [n for n in outputs if n in script_step.inputs]
        output = named[0] if len(named) == 1 else next(iter(outputs)) if len(outputs) == 1 else None
        if output is None:
            raise UserError(f"step {step} has {len(outputs)} S3 outputs", file=execution, field="--output",
                            fix=f"name one with --output: {', '.join(sorted(outputs))}")
    if output not in outputs:
        raise UserError(f"step {step} has no S3 output {output!r}", file=execution, field="--output",
                        fix=f"use one of: {', '.join(sorted(outputs))}")
    return step, output, outputs[output]


def _sole_input(script_step) -> str:
    if len(script_step.inputs) != 1:
        raise UserError(f"{script_step.name} has {len(script_step.inputs)} inputs", field="--input",
                        fix=f"name the one the S3 data feeds: {', '.join(sorted(script_step.inputs))}")
    return next(iter(script_step.inputs))


@cache_app.command("list")
def cache_list():
    """Every cached sample: its URI, settings, size and age."""
    import time

    from ..data import s3 as s3data
    from ..data.s3_cache import size
    entries = s3data.cache_entries()
    if not entries:
        typer.echo("no cached S3 samples")
    now = time.time()
    for folder, m in entries:
        p = m["params"]
        what = f"{p['rows']} rows, seed {p['seed']}" if p["rows"] else "whole objects"
        if p["anonymize"]:
            what += ", anonymised " + ", ".join(f"{c}={a}" for c, a in p["anonymize"].items())
        typer.echo(f"{m['uri']}  ({what})  {s3data.size_text(size(folder))}, "
                   f"made {(now - m['created']) / 3600:.1f} h ago  {folder}")


@cache_app.command("prune")
def cache_prune(older_than: str = typer.Option(..., "--older-than", help="e.g. 24h, 30m, 7d")):
    """Delete the cached samples made longer ago than --older-than."""
    from ..data import s3 as s3data
    from ..data.s3_cache import parse_duration
    gone = s3data.prune_cache(parse_duration(older_than))
    for folder, m in gone:
        typer.echo(f"deleted {m['uri']}  {folder}")
    typer.echo(f"{len(gone)} cached sample(s) deleted")


@cache_app.command("purge")
def cache_purge():
    """Delete every cached sample (the audit log stays)."""
    from ..data import s3 as s3data
    gone = s3data.purge_cache()
    typer.echo(f"{len(gone)} cached sample(s) deleted")
