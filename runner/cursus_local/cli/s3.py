"""`discover-s3-data` and `download-test-data`: the S3 outputs of earlier SageMaker pipeline runs.

cli.py adds these commands to the main `cursus-local` app; UserErrors are rendered there.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..data import s3 as s3data

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(highlight=False)


@app.command("discover-s3-data")
def discover_s3_data(
    pipeline_execution: str = typer.Option(..., "--pipeline-execution", help="Pipeline execution ARN"),
):
    """List the S3 outputs each step of a SageMaker pipeline execution wrote."""
    outputs = s3data.discover_outputs(pipeline_execution)
    table = Table(title=f"S3 outputs of {pipeline_execution}", title_justify="left")
    for column in ("step", "output", "S3 URI"):
        table.add_column(column, overflow="fold")
    for step, named in outputs.items():
        for name, uri in named.items():
            table.add_row(escape(step), escape(name), escape(uri))
    console.print(table if outputs else "no step of this execution wrote to S3")


@app.command("download-test-data")
def download_test_data(
    s3_path: str = typer.Option(..., "--s3-path", help="s3://BUCKET/PREFIX (or one object)"),
    local_path: Path = typer.Option(..., "--local-path", help="Folder to put the sample in"),
    max_mb: float = typer.Option(100, "--max-mb", help="Budget in MiB: whole objects, every split keeps data"),
):
    """Download a sample of an S3 prefix for local testing (cached, reused when present)."""
    reports: list[s3data.SampleReport] = []
    path = s3data.fetch_uri(s3_path, local_path, max_bytes=int(max_mb * 2**20),
                            on_report=reports.append)
    report = reports[0]
    table = Table()
    for column in ("split", "objects", "size"):
        table.add_column(column)
    for split, (taken, total, nbytes) in report.by_split().items():
        table.add_row(escape(split or "(top level)"), f"{taken} of {total}", s3data.size_text(nbytes))
    console.print(table)
    console.print(f"{report.summary()}\nfrom {escape(report.uri)}\ninto {escape(str(path))}")
