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
from .options import (
    BACKEND_HELP,
    BUCKET_HELP,
    CODE_HELP,
    DAG_HELP,
    FROM_HELP,
    JSON_SUMMARY_HELP,
    JUNIT_XML_HELP,
    NODE_ENV_HELP,
    NODE_JOB_ARG_HELP,
    NODE_INPUT_HELP,
    ONLY_HELP,
    PIP_OFFLINE_HELP,
    PROVIDE_HELP,
    REGION_HELP,
    ROLE_HELP,
    RUNS_HELP,
    SECRET_ENV_HELP,
    SKIP_HELP,
    STEP_SCENARIO_HELP,
    STEPS_DIR_HELP,
    TO_HELP,
    WHEELHOUSE_HELP,
    bind_dag,
    make_backend,
    pairs,
)


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
    network_isolation: Optional[bool] = typer.Option(None, "--network-isolation/--no-network-isolation",
                                                     help="EnableNetworkIsolation (default: the step file's)"),
    wheelhouse: Optional[Path] = typer.Option(None, help=WHEELHOUSE_HELP),
    pip_offline: bool = typer.Option(False, "--pip-offline", help=PIP_OFFLINE_HELP),
    secret_env: Optional[List[str]] = typer.Option(None, "--secret-env", help=SECRET_ENV_HELP),
    scenario: Path = typer.Option(Path("."), help=STEP_SCENARIO_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Don't echo the container log"),
    backend_name: str = typer.Option("docker", "--backend", help=BACKEND_HELP),
    role: Optional[str] = typer.Option(None, help=ROLE_HELP),
    bucket: Optional[str] = typer.Option(None, help=BUCKET_HELP),
    region: Optional[str] = typer.Option(None, help=REGION_HELP),
):
    """Run one script in its processing image, exactly as SageMaker Processing runs it."""
    from .. import ownership, results
    from ..fields import Fields
    from ..jobs.contracts import check_instance_type, check_run_limit, find_step, load_step, require_channel
    from ..jobs.build import build
    from ..jobs.processing import RunOptions
    from ..status import JobStatus

    loaded = load_step(find_step(step, [scenario, Path.cwd()]))
    if instance_type is not None:
        check_instance_type(loaded, instance_type, "--instance-type")
    check_run_limit(loaded, "InstanceCount", instance_count, "--instance-count")
    check_run_limit(loaded, "MaxRuntimeInSeconds", max_runtime, "--max-runtime")
    for name in shard or ():
        require_channel(loaded, "inputs", name, "--shard", Fields(loaded.file))
    options = RunOptions(
        inputs={k: str(Path(v)) if "://" not in v else v for k, v in pairs(input, "--input").items()},
        outputs=pairs(output, "--output"), env=pairs(env, "--env"),
        job_arguments=pairs(job_arg, "--job-arg"), code_dir=str(code) if code else None,
        image=image, instance_type=instance_type, instance_count=instance_count,
        max_runtime_seconds=max_runtime, network_isolation=network_isolation,
        sharded_inputs=tuple(shard or ()), wheelhouse=str(wheelhouse) if wheelhouse else None,
        pip_offline=pip_offline, secret_env=tuple(secret_env or ()))
    run_dir = (runs_dir or results.runs_dir(scenario)).resolve() / results.new_run_id()
    folder = run_dir / loaded.name
    job = build(loaded, options, folder / "output")   # bad input fails here, before the engine

    from ..pipeline.step import run_job
    from . import render

    backend = make_backend(backend_name, role, bucket, region)
    if backend_name == "sagemaker":
        backend.image_id(job.image)   # a region without the image fails here, before any upload
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
    jobs: int = typer.Option(min(4, os.cpu_count() or 1), "--jobs", "-j", min=1,
                             help="Steps that may run at once (default: cores, at most 4)"),
    resume: Optional[str] = typer.Option(None, help="RUN_ID: rerun only what failed or was skipped"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, even if unchanged"),
    steps_dir: Optional[List[Path]] = typer.Option(None, help=STEPS_DIR_HELP),
    runs_dir: Optional[Path] = typer.Option(None, help="Where run folders go (default: beside the DAG)"),
    code: Optional[Path] = typer.Option(None, help=CODE_HELP),
    input: Optional[List[str]] = typer.Option(None, "--input", "-i", help=NODE_INPUT_HELP),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help=NODE_ENV_HELP),
    job_arg: Optional[List[str]] = typer.Option(None, "--job-arg", help=NODE_JOB_ARG_HELP),
    provide: Optional[List[str]] = typer.Option(None, "--provide", help=PROVIDE_HELP),
    skip: Optional[List[str]] = typer.Option(None, "--skip", help=SKIP_HELP),
    only: Optional[List[str]] = typer.Option(None, "--only", help=ONLY_HELP),
    from_: Optional[str] = typer.Option(None, "--from", help=FROM_HELP),
    to: Optional[str] = typer.Option(None, "--to", help=TO_HELP),
    wheelhouse: Optional[Path] = typer.Option(None, help=WHEELHOUSE_HELP),
    pip_offline: bool = typer.Option(False, "--pip-offline", help=PIP_OFFLINE_HELP),
    secret_env: Optional[List[str]] = typer.Option(None, "--secret-env", help=SECRET_ENV_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Preflight only: every node resolved, its kind, "
                                 "image and request; nothing starts (exit 0, or 2 on a problem)"),
    junit_xml: Optional[Path] = typer.Option(None, "--junit-xml", help=JUNIT_XML_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_SUMMARY_HELP),
    backend_name: str = typer.Option("docker", "--backend", help=BACKEND_HELP),
    role: Optional[str] = typer.Option(None, help=ROLE_HELP),
    bucket: Optional[str] = typer.Option(None, help=BUCKET_HELP),
    region: Optional[str] = typer.Option(None, help=REGION_HELP),
):
    """Run every step in DAG order, checking each handoff with its Great Expectations suites."""
    from .. import ownership, results
    from ..pipeline.dag import load_dag
    from . import render

    dag = bind_dag(load_dag(dag_file, tuple(steps_dir or ())), code=code, input=input, env=env,
                   job_arg=job_arg, provide=provide, skip=skip, only=only, from_=from_, to=to, wheelhouse=wheelhouse,
                   pip_offline=pip_offline)
    dag.secret_env = tuple(secret_env or ())
    runs = runs_dir or results.runs_dir(dag_file.parent)
    if dry_run:
        from ..pipeline.preflight import inspect
        checked = inspect(dag, Path(runs).resolve() / "dry-run", image_presence())
        render.print_preflight(dag.name, checked)
        raise typer.Exit(2 if checked.problems or not checked.jobs else 0)

    from ..pipeline.sequencer import Sequencer
    from ..status import PipelineStatus

    from ..report.runs import in_use
    from ..report.summary import pipeline_describer
    from .reports import publish

    backend = make_backend(backend_name, role, bucket, region)   # role, bucket, credentials: before any upload
    with render.pipeline_view(dag.topological_order()) as on_event:
        sequencer = Sequencer(dag, backend, runs_dir=runs, jobs=jobs, use_cache=not no_cache,
                              resume=resume, on_event=on_event, describe=pipeline_describer(dag))
        with in_use(sequencer.run_dir):   # never pruned while it runs
            result = sequencer.run()
    ownership.hand_over_run(result.run_dir)
    render.print_pipeline(result)
    publish(result.run_dir, result.run_dir / "results.json", junit_xml=junit_xml, json_out=json_out,
            status="interrupted" if result.interrupted else result.status)
    raise typer.Exit(130 if result.interrupted else 0 if result.status == PipelineStatus.PASSED else 1)


def image_presence():
    """`uri -> True | False | None`: whether an image is on the engine, never pulling it; None
    (unknown) for every image when no engine answers."""
    from ..errors import UserError
    try:
        from ..backends.docker import DockerBackend
        backend = DockerBackend()
    except UserError:
        return lambda uri: None
    has_image = getattr(backend, "has_image", None)   # the backend's own check, where it has one
    if has_image is not None:
        return has_image

    def present(uri: str) -> bool | None:
        import docker
        try:
            backend.client.images.get(uri)
            return True
        except docker.errors.ImageNotFound:
            return False
        except Exception:   # the engine went away, or refused
            return None
    return present


@app.command("discover-connections")
def discover_connections_command(
    dag_file: Path = typer.Option(..., "--dag-file", help=DAG_HELP),
    steps_dir: Optional[List[Path]] = typer.Option(None, help=STEPS_DIR_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON"),
    input: Optional[List[str]] = typer.Option(None, "--input", "-i", help=NODE_INPUT_HELP),
    provide: Optional[List[str]] = typer.Option(None, "--provide", help=PROVIDE_HELP),
    skip: Optional[List[str]] = typer.Option(None, "--skip", help=SKIP_HELP),
):
    """Which upstream output feeds which input, and what nothing feeds: before running. Exit 1 when
    a required input of a node that runs is unfed or ambiguous, or an edge carries nothing."""
    from ..pipeline.connections import discover, running_only
    from ..pipeline.dag import load_dag
    from ..pipeline.preflight import static_compatibility
    from . import render

    dag = bind_dag(load_dag(dag_file, tuple(steps_dir or ())), input=input, provide=provide, skip=skip)
    report = running_only(discover(dag), dag)
    static = static_compatibility(dag, report)
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
    code: Optional[Path] = typer.Option(None, help=CODE_HELP),
    input: Optional[List[str]] = typer.Option(None, "--input", "-i", help=NODE_INPUT_HELP),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help=NODE_ENV_HELP),
    resume: Optional[str] = typer.Option(None, help="RUN_ID: rerun only what failed or was skipped"),
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
    dag = bind_dag(two_step_dag(up, down, pairs(map_, "--map") or None), code=code, input=input, env=env)
    from ..report.summary import pipeline_describer

    with render.pipeline_view(dag.topological_order()) as on_event:
        result = Sequencer(dag, DockerBackend(), runs_dir=runs_dir or results.runs_dir(scenario),
                           use_cache=not no_cache, resume=resume, on_event=on_event,
                           describe=pipeline_describer(dag)).run()
    render.print_pipeline(result)
    flow = flow_result(result, up.name, down.name)
    results.write_json(result.run_dir / "data_flow.json", {"data_flow_tests": {"results": [flow]}})
    ownership.hand_over_run(result.run_dir)
    render.print_json(flow)
    raise typer.Exit(0 if flow["status"] != Verdict.FAIL else 1)
