"""Real data from earlier SageMaker pipeline runs: find each step's S3 outputs, fetch a sample.

A sample is whole objects, taken in key order from every split folder (`train/`, `test/`, ...)
in turn until a byte budget is spent: every split keeps data, and the layout (`{split}/part-*`)
is the one datasets.py reads. Marker, checksum, hidden and empty objects are left out, as
datasets.py ignores them. Samples are cached per URI under `$CURSUS_LOCAL_CACHE/s3/` (default
`~/.cache/cursus-local/s3/`) and reused without asking S3 again: a pipeline execution's outputs
don't change once written. boto3 is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import UserError
from ..results import cache_root
from .datasets import is_junk

DEFAULT_MAX_BYTES = 100 * 2**20
DOWNLOAD_THREADS = 8
EXECUTION_ARN = re.compile(r"arn:aws[\w-]*:sagemaker:([\w-]+):\d{12}:pipeline/[^/]+/execution/[^/]+")
LOGIN_FIX = "set AWS_PROFILE to a profile that may read it, or log in again (`aws sso login`)"
# Error codes that mean "who you are may not do this" (S3 and SageMaker spellings).
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
                "InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch",
                "UnrecognizedClientException"}


@dataclass
class SampleReport:
    """What a fetch took from an S3 prefix: object paths relative to it -> size in bytes."""

    uri: str
    max_bytes: int
    taken: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    cached: bool = False     # read from the local cache, S3 not asked

    @property
    def bytes(self) -> int:
        return sum(self.taken.values())

    def by_split(self) -> dict[str, tuple[int, int, int]]:
        """split -> (objects taken, objects in all, bytes taken); "" for files outside splits."""
        out: dict[str, tuple[int, int, int]] = {}
        for rel, size in sorted({**self.taken, **self.skipped}.items()):
            n, total, nbytes = out.get(_split_of(rel), (0, 0, 0))
            taken = rel in self.taken
            out[_split_of(rel)] = (n + taken, total + 1, nbytes + size * taken)
        return out

    def summary(self) -> str:
        total = len(self.taken) + len(self.skipped)
        text = (f"{len(self.taken)} of {total} objects, {size_text(self.bytes)} of "
                f"{size_text(self.bytes + sum(self.skipped.values()))}")
        if self.skipped:
            text += f"; {len(self.skipped)} skipped (over the {size_text(self.max_bytes)} budget)"
        return text + (" (from the local cache)" if self.cached else "")


def size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _split_of(rel: str) -> str:
    return rel.split("/", 1)[0] if "/" in rel else ""


# ---------------------------------------------------------------- AWS plumbing


def _client(service: str, region: str | None = None) -> Any:
    """A boto3 client from the default chain (AWS_PROFILE, env, SSO, instance role)."""
    import boto3
    return boto3.session.Session().client(service, region_name=region)   # today's env and profile


@contextlib.contextmanager
def _aws_errors(what: str) -> Iterator[None]:
    """botocore's credential, permission and not-found errors as UserErrors naming `what`."""
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
    except bx.EndpointConnectionError as e:
        raise UserError(f"cannot reach AWS: {e}", file=what,
                        fix="check the network, the proxy and AWS_ENDPOINT_URL") from None
    except bx.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in DENIED_CODES or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
            raise UserError(f"AWS refused access: {e}", file=what, fix=LOGIN_FIX) from None
        if code in ("NoSuchBucket", "ResourceNotFound"):
            raise UserError(str(e), file=what, fix="check the name and the region (AWS_REGION)") from None
        raise


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


def cache_dir(s3_uri: str) -> Path:
    """The cache folder of `s3_uri`: the key's readable tail plus a hash of the whole URI."""
    bucket, key = _parse_uri(s3_uri)
    root = cache_root()
    digest = hashlib.sha256(f"s3://{bucket}/{key}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^\w.-]+", "_", key)[-80:]
    return root / "s3" / bucket / f"{readable}-{digest}"


def fetch_output(execution_arn: str, step_name: str, output_name: str, dest: str | Path | None = None,
                 *, max_bytes: int = DEFAULT_MAX_BYTES, sagemaker: Any = None, s3: Any = None,
                 on_report: Callable[[SampleReport], None] | None = None) -> Path:
    """A sample of one step output of a pipeline execution; see `fetch_uri`."""
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
    return fetch_uri(outputs[output_name], dest, max_bytes=max_bytes, s3=s3, on_report=on_report)


def fetch_uri(s3_uri: str, dest: str | Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
              s3: Any = None, on_report: Callable[[SampleReport], None] | None = None) -> Path:
    """A sample of the objects under `s3_uri` (a prefix or one object), at most `max_bytes`.

    It lands in the URI's cache folder, reused when it holds a sample for this budget, and is
    copied into `dest` when given. Returns the folder holding it; `on_report` gets what was taken.
    """
    if max_bytes <= 0:
        raise UserError(f"byte budget {max_bytes} is not positive", field="max_bytes",
                        fix="give a budget of at least one object per split")
    bucket, key = _parse_uri(s3_uri)
    folder = cache_dir(s3_uri)
    report = _cached(folder, max_bytes)
    if report is None:
        with _aws_errors(s3_uri):
            report = _download(s3 or _client("s3"), bucket, key, folder, max_bytes)
    if on_report:
        on_report(report)
    return folder if dest is None else _copy(folder, Path(dest), report)


def _manifest(folder: Path) -> Path:
    return folder.with_name(folder.name + ".json")


def _cached(folder: Path, max_bytes: int) -> SampleReport | None:
    """The cached sample's report, if one is there for this budget (or is the whole prefix)."""
    try:
        report = SampleReport(**json.loads(_manifest(folder).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    fits = report.max_bytes == max_bytes or (not report.skipped and report.bytes <= max_bytes)
    if not (fits and folder.is_dir()):
        return None
    report.cached = True
    return report


def _list(s3: Any, bucket: str, key: str) -> dict[str, tuple[str, int]]:
    """Relative path -> (key, size) of the data objects under `key`, or of the object `key` itself."""
    prefix = f"{key}/" if key else ""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            k = obj["Key"]
            rel = k.rsplit("/", 1)[-1] if k == key else k[len(prefix):] if k.startswith(prefix) else ""
            if rel and not is_junk(rel, obj["Size"]):
                found[rel] = (k, obj["Size"])
    return found


def _choose(uri: str, sizes: dict[str, int], max_bytes: int) -> list[str]:
    """Whole objects in key order from each split in turn; a split stops at its first misfit."""
    queues: dict[str, list[str]] = {}
    for rel in sorted(sizes):
        queues.setdefault(_split_of(rel), []).append(rel)
    needed = sum(sizes[q[0]] for q in queues.values())
    if needed > max_bytes:
        raise UserError(f"one object per split ({', '.join(q[0] for q in queues.values())}) is "
                        f"{size_text(needed)}, over the {size_text(max_bytes)} budget", file=uri,
                        fix=f"raise the budget to at least {-(-needed // 2**20)} MB (--max-mb)")
    taken, total = [], 0
    while queues:
        for split, queue in list(queues.items()):
            if total + sizes[queue[0]] > max_bytes:
                del queues[split]
                continue
            total += sizes[queue[0]]
            taken.append(queue.pop(0))
            if not queue:
                del queues[split]
    return taken


def _download(s3: Any, bucket: str, key: str, folder: Path, max_bytes: int) -> SampleReport:
    uri = f"s3://{bucket}/{key}"
    objects = _list(s3, bucket, key)
    if not objects:
        raise UserError("no data objects under this S3 prefix", file=uri,
                        fix="check the URI; the step writing it may have failed or written nothing")
    sizes = {rel: size for rel, (_, size) in objects.items()}
    taken = _choose(uri, sizes, max_bytes)
    report = SampleReport(uri, max_bytes, {r: sizes.pop(r) for r in taken}, skipped=sizes)

    def get(rel: str) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = s3.get_object(Bucket=bucket, Key=objects[rel][0])["Body"]
        with open(path, "wb") as f:
            shutil.copyfileobj(body, f, 2**20)

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            list(pool.map(get, taken))
        _manifest(folder).unlink(missing_ok=True)   # no manifest: the folder is not a valid cache
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _manifest(folder).write_text(json.dumps(asdict(report), indent=1))
    return report


def _copy(folder: Path, dest: Path, report: SampleReport) -> Path:
    """The cached sample copied into `dest`, which must be empty or hold only this sample."""
    if dest.resolve() == folder.resolve():
        return folder
    if dest.exists():
        stray = [p for p in ([dest] if dest.is_file() else dest.rglob("*"))
                 if p.is_file() and p.relative_to(dest).as_posix() not in report.taken]
        if stray:
            raise UserError(f"holds files that are not part of this sample ({stray[0].name})",
                            file=str(dest), fix="download into an empty or new folder")
    for rel in report.taken:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / rel, dest / rel)
    return dest
