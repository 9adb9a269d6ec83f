"""export-pipeline: a DAG as a SageMaker Pipeline definition, written to a file and, with --upsert,
created or updated on the service."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .options import (
    CODE_HELP,
    DAG_HELP,
    NODE_ENV_HELP,
    NODE_INPUT_HELP,
    NODE_JOB_ARG_HELP,
    PROVIDE_HELP,
    SKIP_HELP,
    STEPS_DIR_HELP,
    bind_dag,
)


@app.command("export-pipeline")
def export_pipeline_command(
    dag_file: Path = typer.Argument(..., help=DAG_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Where the pipeline definition (JSON) goes"),
    name: Optional[str] = typer.Option(None, help="Pipeline name (default: the DAG's name)"),
    role: Optional[str] = typer.Option(None, help="IAM role ARN the jobs and the pipeline run as"),
    bucket: Optional[str] = typer.Option(None, help="S3 bucket for the code, local inputs and outputs"),
    region: Optional[str] = typer.Option(None, help="AWS region (default: AWS_REGION / the profile's)"),
    upsert: bool = typer.Option(False, "--upsert", help="Upload what is local, then create_pipeline or "
                                "update_pipeline on SageMaker (needs --role)"),
    with_checks: bool = typer.Option(False, "--with-checks", help="Add a processing step per handoff check "
                                     "(the same GX suites); the steps reading checked data depend on it"),
    check_image: Optional[str] = typer.Option(None, "--check-image", help="Image URI of the check steps: "
                                              "cursus-local/runner pushed to your ECR (implies --with-checks)"),
    steps_dir: Optional[List[Path]] = typer.Option(None, help=STEPS_DIR_HELP),
    code: Optional[Path] = typer.Option(None, help=CODE_HELP),
    input: Optional[List[str]] = typer.Option(None, "--input", "-i", help=NODE_INPUT_HELP),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help=NODE_ENV_HELP),
    job_arg: Optional[List[str]] = typer.Option(None, "--job-arg", help=NODE_JOB_ARG_HELP),
    provide: Optional[List[str]] = typer.Option(None, "--provide", help=PROVIDE_HELP),
    skip: Optional[List[str]] = typer.Option(None, "--skip", help=SKIP_HELP),
):
    """Write the DAG as a SageMaker Pipeline definition; --upsert creates or updates it."""
    import tempfile

    from ..errors import UserError
    from ..pipeline.dag import load_dag
    from ..pipeline.export import export_pipeline, pipeline_region, upsert_pipeline

    if upsert and not role:
        raise UserError("--upsert needs the role the pipeline and its jobs run as", field="--role",
                        fix="pass --role arn:aws:iam::<account>:role/<name>")
    with_checks = with_checks or check_image is not None
    if upsert and with_checks and not check_image:
        raise UserError("--upsert --with-checks needs the image the check steps run: without it they run a "
                        "placeholder and fail", field="--check-image",
                        fix="push cursus-local/runner to your ECR and pass --check-image URI")
    dag = bind_dag(load_dag(dag_file, tuple(steps_dir or ())), code=code, input=input, env=env,
                   job_arg=job_arg, provide=provide, skip=skip)
    with tempfile.TemporaryDirectory(prefix="cursus-local-export-") as scratch:
        result = export_pipeline(dag, Path(scratch) / "run", bucket=bucket, region=pipeline_region(region),
                                 name=name, role=role, with_checks=with_checks, check_image=check_image)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.json() + "\n")
    typer.echo(f"pipeline {result.name}: {len(result.definition['Steps'])} steps, "
               f"{len(result.definition['Parameters'])} parameters -> {out}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    if not upsert:
        if result.uploads:
            typer.echo(f"upload these {len(result.uploads)} local paths before an execution "
                       "(or run with --upsert):")
            for uri, path in result.uploads.items():
                typer.echo(f"  {path} -> {uri}")
        return
    done = upsert_pipeline(result, role, bucket, pipeline_region(region))
    typer.echo(f"uploaded {done.uploads.files} files, {done.uploads.bytes} bytes "
               f"({done.uploads.skipped_files} already there); {done.action} {done.arn}")
