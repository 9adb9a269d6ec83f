"""Real data from earlier SageMaker pipeline runs: find each step's S3 outputs, fetch a sample.

A sample is either rows (`rows=N`: ranged reads, see s3_sampling) or whole objects (`rows=None`:
what a step input needs, within a byte budget), spread over every split folder (`train/`,
`test/`, ...) by a seed, in the layout and format datasets.py reads. Marker, checksum, hidden and
empty objects are left out, as datasets.py ignores them.

Samples are cached (s3_cache) with the ETag of every object used. Reusing one within
`cache_duration` asks S3 for the objects' heads only (no data); a changed or deleted object
rebuilds the sample, an older sample is rebuilt. `offline=True` uses the cache as it is. Every
object read is written to the audit log (s3_audit); anonymising rules (s3_anonymize) apply before
anything is written. boto3 is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import UserError
from . import s3_audit, s3_cache
from .s3_anonymize import Anonymizer
from .s3_sampling import LIST_WINDOW, Obj, Reader, list_objects, plan, sample_object

DEFAULT_MAX_BYTES = 100 * 2**20
DEFAULT_CACHE_SECONDS = 24 * 3600
DOWNLOAD_THREADS = 8
EXECUTION_ARN = re.compile(r"arn:aws[\w-]*:sagemaker:([\w-]+):\d{12}:pipeline/[^/]+/execution/[^/]+")
LOGIN_FIX = "set AWS_PROFILE to a profile that may read it, or log in again (`aws sso login`)"
# Error codes that mean "who you are may not do this" (S3 and SageMaker spellings).
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
                "InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch",
                "UnrecognizedClientException"}
NOT_FOUND_CODES = {"NoSuchBucket", "NoSuchKey", "ResourceNotFound", "404", "NotFound"}
# Codes of a service that is busy or broken: retried by botocore, then reported (exit 1).
UNAVAILABLE_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "SlowDown",
                     "RequestLimitExceeded", "TooManyRequestsException", "ServiceUnavailable",
                     "InternalError", "InternalFailure", "RequestTimeout", "RequestTimeoutException"}


class S3Unavailable(UserError):
    """AWS could not be reached or kept failing after botocore's retries: not the user's input,
    so the CLI exits 1, not 2."""


@dataclass
class SampleReport:
    """What a fetch took from an S3 prefix: object paths relative to it -> bytes read."""

    uri: str
    max_bytes: int
    taken: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)   # objects known, not used -> size
    cached: bool = False       # served from the local cache
    rows: dict[str, int | None] = field(default_factory=dict)   # rows written per object
    seed: int = 0
    unlisted: list[str] = field(default_factory=list)   # splits whose listing stopped early
    note: str = ""             # how the cache was used: revalidated, rebuilt because, offline

    @property
    def bytes(self) -> int:
        return sum(self.taken.values())

    @property
    def row_count(self) -> int | None:
        counts = [n for n in self.rows.values()]
        return None if not counts or None in counts else sum(counts)

    def by_split(self) -> dict[str, tuple[int, int, int]]:
        """split -> (objects taken, objects known, bytes read); "" for files outside splits."""
        out: dict[str, tuple[int, int, int]] = {}
        for rel in sorted({**self.taken, **self.skipped}):
            n, total, nbytes = out.get(_split_of(rel), (0, 0, 0))
            taken = rel in self.taken
            out[_split_of(rel)] = (n + taken, total + 1, nbytes + self.taken.get(rel, 0))
        return out

    def summary(self) -> str:
        total = len(self.taken) + len(self.skipped)
        rows = f"{self.row_count} rows from " if self.row_count is not None else ""
        text = f"{rows}{len(self.taken)} of {total} objects, {size_text(self.bytes)} read"
        if self.skipped and not self.rows:
            text += f"; {len(self.skipped)} skipped (over the {size_text(self.max_bytes)} budget)"
        if self.unlisted:
            text += f"; listing stopped at {LIST_WINDOW} objects in {', '.join(s or '(top level)' for s in self.unlisted)}"
        return text + (f" ({self.note})" if self.note else "")


def size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _split_of(rel: str) -> str:
    return rel.split("/", 1)[0] if "/" in rel else ""


# ---------------------------------------------------------------- AWS plumbing


def _client(service: str, region: str | None = None) -> Any:
    """A boto3 client from the default chain (AWS_PROFILE, env, SSO, instance role), retrying
    throttling, 5xx, timeouts and resets in botocore's standard mode (AWS_RETRY_MODE and
    AWS_MAX_ATTEMPTS, when set, win)."""
    import boto3
    from botocore.config import Config
    retries = {} if os.environ.get("AWS_RETRY_MODE") else {"retries": {"mode": "standard"}}
    return boto3.session.Session().client(service, region_name=region, config=Config(
        connect_timeout=10, read_timeout=60, **retries))


@contextlib.contextmanager
def _aws_errors(what: str) -> Iterator[None]:
    """Every botocore error as one UserError naming `what`, the AWS error code and the fix."""
    from botocore import exceptions as bx
    try:
        yield
    except (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError,
            bx.SSOError, bx.TokenRetrievalError) as e:
        raise UserError(f"no usable AWS credentials: {e}", file=what, fix=LOGIN_FIX) from None
    except bx.ProfileNotFound as e:
        raise UserError(str(e), file=what, field="AWS_PROFILE",
                        fix="use a profile from `aws configure list-profiles`") from None
    except bx.NoRegionError:
        raise UserError("no AWS region configured", file=what,
                        fix="set AWS_REGION (or AWS_DEFAULT_REGION)") from None
    except (bx.ConnectionError, bx.HTTPClientError) as e:   # unreachable, timeouts, resets
        raise S3Unavailable(f"cannot reach AWS: {e}", file=what,
                            fix="check the network, the proxy and AWS_ENDPOINT_URL; "
                                "retried already (AWS_MAX_ATTEMPTS raises the attempts)") from None
    except bx.ClientError as e:
        raise _client_error(e, what) from None
    except bx.BotoCoreError as e:
        raise UserError(f"AWS call failed: {e}", file=what, fix="check the URI, the ARN and the AWS settings") from None


def _client_error(e: Any, what: str) -> UserError:
    error, meta = e.response.get("Error", {}), e.response.get("ResponseMetadata", {})
    code, status = str(error.get("Code", "")), meta.get("HTTPStatusCode")
    attempts = meta.get("RetryAttempts", 0) + 1
    said = f"{e.operation_name} answered {code or 'an error'} (HTTP {status})"
    if error.get("Message"):
        said += f": {error['Message']}"
    if code in DENIED_CODES or status == 403:
        return UserError(f"AWS refused access: {said}", file=what, fix=LOGIN_FIX)
    if code in NOT_FOUND_CODES or status == 404:
        return UserError(said, file=what, fix="check the name and the region (AWS_REGION)")
    if code in ("PreconditionFailed", "412") or status == 412:
        return UserError(f"an object changed while it was being read ({said})", file=what,
                         fix="run again: the new version is sampled")
    if code in UNAVAILABLE_CODES or (status or 0) >= 500:
        return S3Unavailable(f"{said}, after {attempts} attempt(s)", file=what,
                             fix="try again later; if it persists, check the AWS Health Dashboard "
                                 "(AWS_MAX_ATTEMPTS raises the attempts)")
    return UserError(said, file=what, fix=f"look up the AWS error code {code} for {e.operation_name}")


def _region(execution_arn: str) -> str:
    m = EXECUTION_ARN.fullmatch(execution_arn)
    if not m:
        raise UserError("not a pipeline execution ARN", file=execution_arn,
                        fix="use arn:aws:sagemaker:REGION:ACCOUNT:pipeline/NAME/execution/ID "
                            "(`aws sagemaker list-pipeline-executions --pipeline-name NAME`)")
    return m[1]


def _parse_uri(uri: str) -> tuple[str, str]:
    m = re.fullmatch(r"s3://([^/]+)/*(.*)", uri)
    if not m:
        raise UserError("not an S3 URI", file=uri, fix="write s3://BUCKET/PREFIX")
    return m[1], m[2].rstrip("/")


# ---------------------------------------------------------------- discovery


def _list_steps(execution_arn: str, sm: Any) -> dict[str, dict]:
    """Step name -> its Metadata (ProcessingJob, TrainingJob, Condition, ...)."""
    steps: dict[str, dict] = {}
    pages = sm.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=execution_arn)
    for page in pages:
        for step in page.get("PipelineExecutionSteps", []):
            steps.setdefault(step["StepName"], step.get("Metadata", {}))  # newest attempt first
    return steps


def _step_outputs(metadata: dict, sm: Any) -> dict[str, str]:
    """Output name -> S3 URI of a processing step; `model` -> model.tar.gz of a training step."""
    if "ProcessingJob" in metadata:
        job = sm.describe_processing_job(ProcessingJobName=_job_name(metadata["ProcessingJob"]))
        return {o["OutputName"]: o["S3Output"]["S3Uri"]
                for o in job.get("ProcessingOutputConfig", {}).get("Outputs", []) if "S3Output" in o}
    if "TrainingJob" in metadata:
        job = sm.describe_training_job(TrainingJobName=_job_name(metadata["TrainingJob"]))
        uri = job.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        return {"model": uri} if uri else {}
    return {}


def _job_name(job: dict) -> str:
    return job["Arn"].rsplit("/", 1)[-1]


def discover_outputs(execution_arn: str, *, sagemaker: Any = None) -> dict[str, dict[str, str]]:
    """Step name -> {output name -> S3 URI} for the steps of a pipeline execution that wrote to S3."""
    region = _region(execution_arn)
    with _aws_errors(execution_arn):
        sm = sagemaker or _client("sagemaker", region)
        steps = _list_steps(execution_arn, sm)
        return {name: outputs for name, meta in steps.items() if (outputs := _step_outputs(meta, sm))}


# ---------------------------------------------------------------- fetching


def fetch_output(execution_arn: str, step_name: str, output_name: str, dest: str | Path | None = None,
                 *, sagemaker: Any = None, s3: Any = None, **options: Any) -> Path:
    """A sample of one step output of a pipeline execution; see `fetch_uri` for `options`."""
    region = _region(execution_arn)
    with _aws_errors(execution_arn):
        sm = sagemaker or _client("sagemaker", region)
        steps = _list_steps(execution_arn, sm)
        if step_name not in steps:
            raise UserError(f"no step {step_name!r} in this pipeline execution", file=execution_arn,
                            field=step_name, fix=f"use one of: {', '.join(sorted(steps)) or '(none)'}")
        outputs = _step_outputs(steps[step_name], sm)
        s3 = s3 or _client("s3", region)
    if output_name not in outputs:
        raise UserError(f"step {step_name} has no S3 output {output_name!r}", file=execution_arn,
                        field=f"{step_name}.{output_name}",
                        fix=f"use one of: {', '.join(sorted(outputs))}" if outputs
                        else f"pick another step: {step_name} writes nothing to S3")
    return fetch_uri(outputs[output_name], dest, s3=s3, **options)


def fetch_uri(s3_uri: str, dest: str | Path | None = None, *, rows: int | None = None, seed: int = 0,
              max_bytes: int = DEFAULT_MAX_BYTES, anonymize: dict[str, str] | None = None,
              salt: bytes = b"", cache_duration: float = DEFAULT_CACHE_SECONDS, offline: bool = False,
              s3: Any = None, on_report: Callable[[SampleReport], None] | None = None) -> Path:
    """A sample of the data under `s3_uri` (a prefix or one object): `rows` rows (None: whole
    objects), reading at most `max_bytes` from S3, with the `anonymize` rules applied (hashes
    under `salt`).

    It lands in the cache and is hard-linked into `dest` when given (copied only across
    filesystems). Returns the folder holding it; `on_report` gets what was taken.
    """
    if max_bytes <= 0:
        raise UserError(f"byte budget {max_bytes} is not positive", field="max_bytes",
                        fix="give a budget in MiB (--max-mb)")
    if rows is not None and rows < 1:
        raise UserError(f"{rows} rows asked for", field="rows", fix="ask for at least 1 row (--rows)")
    bucket, key = _parse_uri(s3_uri)
    rules = dict(anonymize or {})
    params = {"rows": rows, "seed": seed, "anonymize": rules,
              "salt": hashlib.sha256(salt).hexdigest()[:16] if rules else "",
              "max_bytes": None if rows else max_bytes}   # a row sample doesn't depend on the budget
    folder = s3_cache.entry(s3_uri, params)
    manifest = s3_cache.load(folder)
    # mode 400 doesn't stop root editing the cache through a link: served only as it was sampled
    tampered = s3_cache.changed_on_disk(folder, manifest) if manifest else None
    if tampered:
        s3_cache.drop(folder)
        manifest = None
    if offline:
        if manifest is None:
            raise UserError("offline, and no cached sample of this URI with these settings"
                            + (f" (dropped: {tampered})" if tampered else ""), file=s3_uri,
                            fix="run once without --offline (`cursus-local s3-cache list` shows the cache)")
        report = _report(manifest, "offline: the cached sample, not checked against S3")
    else:
        with _aws_errors(s3_uri):
            s3 = s3 or _client("s3")
            report = _revalidated(s3, bucket, folder, manifest, cache_duration) if manifest else None
            if report is None:
                why = (f"rebuilt: {manifest['stale']}" if manifest and manifest.get("stale")
                       else f"cache entry rebuilt: {tampered}" if tampered else "")
                report = _build(s3, bucket, key, folder, params, max_bytes,
                                Anonymizer(rules, salt), why)
    if on_report:
        on_report(report)
    data = folder / s3_cache.DATA
    if dest is None:
        return data
    linked = _link(data, Path(dest), report)
    s3_cache.record_files(folder)
    return linked


def _report(manifest: dict, note: str) -> SampleReport:
    report = SampleReport(**manifest["report"])
    report.cached, report.note = True, note
    return report


def _revalidated(s3: Any, bucket: str, folder: Path, manifest: dict, duration: float) -> SampleReport | None:
    """The cached report if the sample is younger than `duration` and every object it used still
    has its ETag (one HEAD each, no data); None when it must be rebuilt (`manifest["stale"]` says why)."""
    age = time.time() - manifest["created"]
    if age > duration:
        manifest["stale"] = f"older than the cache duration ({age / 3600:.1f} h)"
        return None
    objects = manifest["objects"]

    def etag(rel: str) -> str | None:
        from botocore.exceptions import ClientError
        try:
            return s3.head_object(Bucket=bucket, Key=objects[rel]["key"])["ETag"]
        except ClientError as e:
            if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise

    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        now = dict(zip(objects, pool.map(etag, objects)))
    if changed := sorted(rel for rel, tag in now.items() if tag != objects[rel]["etag"]):
        manifest["stale"] = f"{changed[0]}{f' and {len(changed) - 1} more' if len(changed) > 1 else ''} changed in S3"
        return None
    manifest["validated"] = time.time()
    s3_cache.save(folder, manifest)
    return _report(manifest, f"from the cache, {len(objects)} object(s) unchanged in S3")


def _build(s3: Any, bucket: str, key: str, folder: Path, params: dict, max_bytes: int,
           anonymizer: Anonymizer, note: str) -> SampleReport:
    uri = f"s3://{bucket}/{key}"
    rows, seed = params["rows"], params["seed"]
    objects, unlisted = list_objects(s3, bucket, key, LIST_WINDOW if rows else None)
    if not objects:
        raise UserError("no data objects under this S3 prefix", file=uri,
                        fix="check the URI; the step writing it may have failed or written nothing")
    by_rel = {o.rel: o for o in objects}
    pieces = plan(objects, rows, seed) if rows else {rel: None for rel in _choose(uri, objects, max_bytes, seed)}
    reader = Reader(s3, bucket, max_bytes, uri)
    audit = s3_cache.root()
    written: dict[str, int | None] = {}

    def take(rel: str) -> None:
        obj = by_rel[rel]
        try:
            written[rel] = sample_object(reader, obj, pieces[rel], tmp / s3_cache.DATA / rel, anonymizer)
        finally:   # every read is recorded, a failed one too
            s3_audit.record(audit, "read", f"s3://{bucket}/{obj.key}", etag=obj.etag,
                            bytes=reader.per_object.get(rel, 0), rows=written.get(rel),
                            anonymized=sorted(anonymizer.rules))

    with s3_cache.building(folder) as tmp:
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            list(pool.map(take, sorted(pieces)))
        if anonymizer:
            anonymizer.check_all_used(uri)
        report = SampleReport(uri, max_bytes, {r: reader.per_object.get(r, 0) for r in sorted(pieces)},
                              skipped={o.rel: o.size for o in objects if o.rel not in pieces},
                              rows=written if rows or anonymizer else {}, seed=seed, unlisted=unlisted,
                              note=note)
        now = time.time()
        s3_cache.save(tmp, {"uri": uri, "params": params, "created": now, "validated": now,
                            "objects": {r: {"key": by_rel[r].key, "etag": by_rel[r].etag,
                                            "size": by_rel[r].size, "last_modified": by_rel[r].last_modified}
                                        for r in pieces},
                            "report": asdict(report)})
    return report


def _choose(uri: str, objects: list[Obj], max_bytes: int, seed: int) -> list[str]:
    """Whole objects, from each split in turn, in an order the seed shuffles; a split stops at its
    first misfit."""
    rng = random.Random(seed)
    queues: dict[str, list[Obj]] = {}
    for o in sorted(objects, key=lambda o: o.rel):
        queues.setdefault(o.split, []).append(o)
    for queue in queues.values():
        rng.shuffle(queue)
    needed = sum(q[0].size for q in queues.values())
    if needed > max_bytes:
        raise UserError(f"one object per split ({', '.join(q[0].rel for q in queues.values())}) is "
                        f"{size_text(needed)}, over the {size_text(max_bytes)} budget", file=uri,
                        fix=f"raise the budget to at least {needed / 2**20:.2f} MiB (--max-mb), "
                            "or sample rows (--rows)")
    taken, total = [], 0
    while queues:
        for split, queue in list(queues.items()):
            if total + queue[0].size > max_bytes:
                del queues[split]
                continue
            total += queue[0].size
            taken.append(queue.pop(0).rel)
            if not queue:
                del queues[split]
    return taken


def _link(data: Path, dest: Path, report: SampleReport) -> Path:
    """The cached sample hard-linked into `dest`, which must be empty or hold only this sample's
    files; copied where a link can't be made (another filesystem)."""
    if dest.resolve() == data.resolve():
        return data
    if dest.exists():
        stray = [p for p in ([dest] if dest.is_file() else dest.rglob("*"))
                 if p.is_file() and p.relative_to(dest).as_posix() not in report.taken]
        if stray:
            raise UserError(f"holds files that are not part of this sample ({stray[0].name})",
                            file=str(dest), fix="download into an empty or new folder")
    for rel in report.taken:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(data / rel, target)
        except OSError:
            shutil.copyfile(data / rel, target)
    return dest


# ---------------------------------------------------------------- outputs


def upload_folder(folder: str | Path, s3_uri: str, *, s3: Any = None) -> int:
    """Every file under `folder` to `s3_uri` + its path relative to `folder`, as a ProcessingOutput's
    EndOfJob upload does; returns the bytes sent. AWS errors come as one UserError naming the URI."""
    folder = Path(folder)
    bucket, prefix = _parse_uri(s3_uri)
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    def put(path: Path) -> None:
        key = "/".join(part for part in (prefix, path.relative_to(folder).as_posix()) if part)
        with path.open("rb") as body:
            s3.upload_fileobj(body, bucket, key)   # raises ClientError as it is (upload_file wraps it)

    with _aws_errors(s3_uri):
        s3 = s3 or _client("s3")
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            list(pool.map(put, files))
    return sum(p.stat().st_size for p in files)


# ---------------------------------------------------------------- the cache, on demand


def cache_entries() -> list[tuple[Path, dict]]:
    return s3_cache.entries()


def prune_cache(older_than: float) -> list[tuple[Path, dict]]:
    gone = s3_cache.prune(older_than)
    for folder, manifest in gone:
        s3_audit.record(s3_cache.root(), "prune", manifest["uri"], sample=str(folder))
    return gone


def purge_cache() -> list[Path]:
    gone = s3_cache.purge()
    s3_audit.record(s3_cache.root(), "purge", "s3://*", samples=len(gone))
    return gone
