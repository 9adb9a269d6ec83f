"""Data-flow commands: run-step, run-pipeline, discover-connections, test-flow.

Each parses its options, calls one function of the package and renders the result. Everything
beyond typer is imported inside the command, so `cursus-local run-step` loads what run-step needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .options import DAG_HELP, RUNS_HELP, STEP_SCENARIO_HELP, STEPS_DIR_HELP, pairs


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
    scenario: Path = typer.Option(Path("."), help=STEP_SCENARIO_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Don't echo the container log"),
):
    """Run one script in its processing image, exactly as SageMaker Processing runs it."""
    from .. import ownership, results
    from ..jobs.contracts import find_step, load_step
    from ..jobs.build import build
    from ..jobs.processing import RunOptions
    from ..status import JobStatus

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
    job = build(loaded, options, folder / "output")   # bad input fails here, before the engine

    from ..backends.docker import DockerBackend
    from ..pipeline.step import run_job
    from . import render

    backend = DockerBackend()
    with render.step_view(loaded.name, quiet) as on_event:
        run = run_job(job, folder, backend, on_event)
    ownership.hand_over_run(run_dir)
    render.print_step_run(run)
    if run.result.interrupted:
        raise typer.Exit(130)
    raise typer.Exit(0 if run.result.status == JobStatus.COMPLETED else 1)


@app.command("run-pipeline")
def run_pipeline_command(
    dag_file: Path = typer.Argument(..., help=DAG_HELP),
    jobs: int = typer.Option(min(4, os.cpu_count() or 1), "--jobs", "-j",
                             help="Steps that may run at once (default: cores, at most 4)"),
    resume: Optional[str] = typer.Option(None, help="RUN_ID: rerun only what failed or was skipped"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, even if unchanged"),
    steps_dir: Optional[List[Path]] = typer.Option(None, help=STEPS_DIR_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help="Where run folders go (default: beside the DAG)"),
):
    """Run every step in DAG order, checking each handoff with its Great Expectations suites."""
    from .. import ownership, results
    from ..backends.docker import DockerBackend
    from ..pipeline.dag import load_dag
    from ..pipeline.sequencer import Sequencer
    from ..status import PipelineStatus
    from . import render

    dag = load_dag(dag_file, tuple(steps_dir or ()))
    with render.pipeline_view(dag.topological_order()) as on_event:
        result = Sequencer(dag, DockerBackend(), runs_dir=runs_dir or results.runs_dir(dag_file.parent),
                           jobs=jobs, use_cache=not no_cache, resume=resume, on_event=on_event).run()
    ownership.hand_over_run(result.run_dir)
    render.print_pipeline(result)
    raise typer.Exit(130 if result.interrupted else 0 if result.status == PipelineStatus.PASSED else 1)


@app.command("discover-connections")
def discover_connections_command(
    dag_file: Path = typer.Option(..., "--dag-file", help=DAG_HELP),
    steps_dir: Optional[List[Path]] = typer.Option(None, help=STEPS_DIR_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON"),
):
    """Which upstream output feeds which downstream input, and what nothing feeds: before running."""
    from ..pipeline.connections import discover
    from ..pipeline.dag import load_dag
    from ..pipeline.preflight import static_compatibility
    from . import render

    dag = load_dag(dag_file, tuple(steps_dir or ()))
    report = discover(dag)
    static = static_compatibility(dag, report) if not dag.missing_steps else []
    if json_out:
        render.print_json({**report.to_dict(), "static_compatibility": static})
    else:
        render.print_connections(dag.name, report, static)
    raise typer.Exit(0 if report.ok else 1)


@app.command("test-flow")
def test_flow_command(
    upstream: str = typer.Option(..., help="Upstream step name or file"),
    downstream: str = typer.Option(..., help="Downstream step name or file"),
    map_: Optional[List[str]] = typer.Option(None, "--map", help="OUTPUT=INPUT, repeatable (else discovered)"),
    scenario: Path = typer.Option(Path("."), help=STEP_SCENARIO_HELP),
    no_cache: bool = typer.Option(False, "--no-cache"),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
):
    """Run upstream, then downstream on that very output, and report the handoff."""
    from .. import ownership, results
    from ..backends.docker import DockerBackend
    from ..jobs.contracts import find_step, load_step
    from ..pipeline.flow import flow_result, two_step_dag
    from ..pipeline.sequencer import Sequencer
    from ..status import Verdict
    from . import render

    up, down = (load_step(find_step(name, [scenario, Path.cwd()])) for name in (upstream, downstream))
    dag = two_step_dag(up, down, pairs(map_, "--map") or None)
    with render.pipeline_view(dag.topological_order()) as on_event:
        result = Sequencer(dag, DockerBackend(), runs_dir=runs_dir or results.runs_dir(scenario),
                           use_cache=not no_cache, on_event=on_event).run()
    render.print_pipeline(result)
    flow = flow_result(result, up.name, down.name)
    results.write_json(result.run_dir / "data_flow.json", {"data_flow_tests": {"results": [flow]}})
    ownership.hand_over_run(result.run_dir)
    render.print_json(flow)
    raise typer.Exit(0 if flow["status"] != Verdict.FAIL else 1)
