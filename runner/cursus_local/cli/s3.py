"""`discover-s3-data` and `download-test-data`: the S3 outputs of earlier SageMaker pipeline runs.

boto3 and the rest of `data.s3` load inside the commands: other commands never pay for them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app


@app.command("discover-s3-data")
def discover_s3_data(
    pipeline_execution: str = typer.Option(..., "--pipeline-execution", help="Pipeline execution ARN"),
):
    """List the S3 outputs each step of a SageMaker pipeline execution wrote."""
    from ..data import s3 as s3data
    from . import render

    render.print_s3_outputs(pipeline_execution, s3data.discover_outputs(pipeline_execution))


@app.command("download-test-data")
def download_test_data(
    s3_path: str = typer.Option(..., "--s3-path", help="s3://BUCKET/PREFIX (or one object)"),
    local_path: Path = typer.Option(..., "--local-path", help="Folder to put the sample in"),
    max_mb: float = typer.Option(100, "--max-mb", help="Budget in MiB: whole objects, every split keeps data"),
):
    """Download a sample of an S3 prefix for local testing (cached, reused when present)."""
    from ..data import s3 as s3data
    from . import render

    reports: list = []
    path = s3data.fetch_uri(s3_path, local_path, max_bytes=int(max_mb * 2**20), on_report=reports.append)
    render.print_sample(reports[0], path)
