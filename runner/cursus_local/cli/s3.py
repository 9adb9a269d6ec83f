"""`discover-s3-data`, `download-test-data` and `s3-cache`: samples of the S3 outputs of earlier
SageMaker pipeline runs, and the local copies of them.

boto3 and the rest of `data.s3` load inside the commands: other commands never pay for them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Optional

import typer

from .app import _to_stderr, app

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
