"""`generate-report`: the HTML report of the runs in a runs folder (report/html.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app


@app.command("generate-report")
def generate_report_command(
    runs: Path = typer.Option(Path("runs"), "--runs", help="The runs folder (run-pipeline's --runs-dir)"),
    out: Path = typer.Option(Path("reports"), "--out", help="Folder to write index.html and the run pages to"),
    last: Optional[int] = typer.Option(None, "--last", min=1, help="Only the last N runs"),
):
    """Write a static HTML report: an index of the runs with success-rate and duration trends, and
    per run its DAG coloured by outcome, a timeline, the data quality of each handoff and each
    failure with its log tail and fix. It opens from disk: no server, no network."""
    from .. import ownership, results
    from ..report.html import generate
    from . import render

    made = results.outermost_missing(out)
    kept = ownership.existing([out])
    written = generate(runs, out, last)
    ownership.hand_over([made or out], kept)
    render.console.print(f"wrote {written.runs} run pages and {written.checks} validation pages in "
                         f"{written.seconds:.1f}s: open [bold]{render.escape(str(written.index))}[/]")
