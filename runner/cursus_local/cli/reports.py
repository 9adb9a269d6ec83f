"""What a CI reads: `runs` (list, prune), `export-results`, `compare-results`; and `publish`, what
every testing command does when its run ends (runs/latest, JUnit XML, GitHub annotations, --json)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app

RUNS_DIR_HELP = "The runs folder (default: $CURSUS_LOCAL_RUNS, else ./runs)"


def publish(run_dir: Path, result_file: Path, *, junit_xml: Path | None, json_out: bool, status: str) -> None:
    """After a run: `runs/latest` points at it, then its JUnit XML, the GitHub Actions annotations
    and step summary (under GITHUB_ACTIONS=true), and with --json one summary line, last."""
    from .. import ownership, results
    from ..report import junit
    from ..report.runs import mark_latest
    from . import render

    mark_latest(run_dir)
    doc = results.read_json(result_file)
    if junit_xml is not None:
        ownership.hand_over([junit.write(doc, junit_xml)])
    render.github_report(doc, result_file)
    if json_out:
        render.print_summary_line({
            "status": status, "run_id": Path(run_dir).name, "run_dir": str(run_dir),
            "results": str(result_file), "junit_xml": str(junit_xml) if junit_xml else None,
            "counts": doc.get("counts"), "started_at": doc.get("started_at"), "ended_at": doc.get("ended_at")})


@app.command("runs")
def runs_command(
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_DIR_HELP),
    prune: bool = typer.Option(False, "--prune", help="Delete older run folders (never the latest, "
                               "never one in use)"),
    keep: int = typer.Option(10, min=0, help="With --prune: how many of the newest runs to keep"),
):
    """List the runs (status, when, how long), or prune the older ones."""
    from .. import results
    from ..report import runs
    from . import render

    folder = runs_dir or results.runs_dir()
    if prune:
        deleted, spared = runs.prune(folder, keep)
        render.print_pruned(deleted, spared)
        return
    render.print_runs(folder, runs.list_runs(folder))


@app.command("export-results")
def export_results_command(
    run: str = typer.Option("latest", help="latest or a RUN_ID"),
    out: Path = typer.Option(..., help="JSON file to write"),
    runs_dir: Optional[Path] = typer.Option(None, help=RUNS_DIR_HELP),
):
    """Write one run's results in the design note's shapes (data_flow_tests, script_unit_tests), with
    the schema version, times, command, counts, steps and checks."""
    from .. import ownership, results
    from ..report import runs, summary
    from . import render

    folder = runs.find_run(runs_dir or results.runs_dir(), run)
    file = summary.result_file(folder)
    doc = summary.export_document(summary.load(file, "--run"))
    results.write_json(out, doc)
    ownership.hand_over([out])
    render.console.print(f"wrote {render.escape(str(out))} (run {folder.name}, from {file.name})")


@app.command("compare-results")
def compare_results_command(
    baseline: Path = typer.Option(..., help="The earlier result file (results.json, unit_tests.json or an export)"),
    current: Path = typer.Option(..., help="The new result file"),
    slower_than: float = typer.Option(1.5, min=1.0, help="A step this many times slower than its baseline regressed"),
    min_seconds: float = typer.Option(2.0, min=0.0, help="Durations under this are noise: never 'slower'"),
):
    """What regressed from the baseline to the current run: a check or step that passed and now
    fails, a step slower than --slower-than, a lower quality score, a step or check that is gone.
    Exit 1 on any regression, 0 otherwise, 2 on bad input."""
    from ..report import summary
    from ..report.compare import compare
    from . import render

    found = compare(summary.load(baseline, "--baseline"), summary.load(current, "--current"),
                    slower_than=slower_than, min_seconds=min_seconds)
    render.print_regressions(found, baseline, current)
    raise typer.Exit(1 if found else 0)
