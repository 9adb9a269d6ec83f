"""`validate-s3-access`: may who you are list, read and (output paths) write each S3 path that
s3_integration.yaml names? Each operation gets PASS, FAIL with the AWS error code, or SKIP.

- list: one ListObjectsV2 page of the prefix;
- read: a 1-byte ranged GET of one object listed (no data to speak of crosses the network);
- write (output paths only): a PUT of an empty hidden marker under the prefix, then its DELETE.

Pipeline sources are resolved first, as `discover-s3-data` does: the execution the pattern picks,
then the outputs of the steps named. A source that cannot be resolved is one FAIL row. Messages are
masked against the credentials in use: no key is ever printed. Imported by the command only
(botocore at import).
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..errors import UserError
from ..redact import redact_text
from .datasets import is_junk
from .s3 import _aws_errors, _client, _parse_uri, discover_outputs
from .s3_config import DataSource, S3Settings

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
MARKER = ".cursus-local-access-check-"   # hidden: datasets.py ignores one left behind
LISTED = 50                               # keys looked at for an object to read


@dataclass
class Check:
    operation: str          # resolve | list | read | write
    status: str
    code: str = ""          # the AWS error code of a FAIL
    detail: str = ""


@dataclass
class PathAccess:
    uri: str
    origin: str             # which entry of the file asked for it
    write: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)


def validate(settings: S3Settings, *, s3: Any = None, sagemaker: Any = None) -> list[PathAccess]:
    """Every path of `settings`, checked. AWS errors that are no one path's (no credentials, AWS
    unreachable) raise as in data.s3: exit 2 or 1."""
    if not settings.sources and not settings.output_paths:
        raise UserError("no S3 paths to check", file=str(settings.file or "s3_integration.yaml"),
                        field="s3_integration.test_data_sources",
                        fix="add `test_data_sources:` (pipeline_name or s3_path entries) or `output_paths:`")
    with _aws_errors(str(settings.file or "s3_integration.yaml")):
        s3 = s3 or _client("s3", settings.region)
        secrets = _credentials(s3)
        paths = [p for source in settings.sources for p in _resolve(source, settings.region, sagemaker)]
        paths += [PathAccess(uri, "output_paths", write=True) for uri in settings.output_paths]
        for path in paths:
            if not path.checks:    # resolved
                path.checks = _check(s3, path.uri, path.write)
            for check in path.checks:
                check.detail = redact_text(check.detail, secrets)
    return paths


def _credentials(client: Any) -> list[str]:
    creds = client._request_signer._credentials   # what signs the requests, to mask in messages
    if creds is None:
        return []
    frozen = creds.get_frozen_credentials()
    return [v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v]


# ---------------------------------------------------------------- which paths


def _resolve(source: DataSource, region: str | None, sagemaker: Any) -> list[PathAccess]:
    if source.s3_path:
        return [PathAccess(source.s3_path, source.where, write=False)]
    origin = f"{source.pipeline_name} ({source.execution_pattern})"
    try:
        with _aws_errors(origin):
            sm = sagemaker or _client("sagemaker", region)
            arn = _execution(sm, source.pipeline_name, source.execution_pattern)
            outputs = discover_outputs(arn, sagemaker=sm)
    except UserError as e:   # this source's, not the whole file's: one FAIL row, the others go on
        return [PathAccess(f"pipeline {source.pipeline_name}", origin, False,
                           [Check("resolve", FAIL, _code(e.message), e.message)])]
    wanted = source.steps or {step: [] for step in outputs}
    paths = []
    for step, names in wanted.items():
        if step not in outputs:
            paths.append(PathAccess(f"{source.pipeline_name} step {step}", origin, False, [Check(
                "resolve", FAIL, detail=f"no step {step!r} wrote to S3 in {arn}; steps that did: "
                                        f"{', '.join(sorted(outputs)) or '(none)'}")]))
            continue
        for name in names or sorted(outputs[step]):
            if name in outputs[step]:
                paths.append(PathAccess(outputs[step][name], f"{origin} {step}.{name}", write=False))
            else:
                paths.append(PathAccess(f"{source.pipeline_name} {step}.{name}", origin, False, [Check(
                    "resolve", FAIL, detail=f"step {step} has no S3 output {name!r}; it has: "
                                            f"{', '.join(sorted(outputs[step]))}")]))
    return paths


def _execution(sm: Any, pipeline: str, pattern: str) -> str:
    """The execution ARN `pattern` picks: itself when an ARN, else the newest succeeded execution
    (`latest`) or the newest succeeded one whose display name or id matches the glob."""
    if pattern.startswith("arn:"):
        return pattern
    pages = sm.get_paginator("list_pipeline_executions").paginate(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending")
    for page in pages:
        for e in page.get("PipelineExecutionSummaries", []):
            arn = e["PipelineExecutionArn"]
            names = (e.get("PipelineExecutionDisplayName", ""), arn.rsplit("/", 1)[-1])
            if e.get("PipelineExecutionStatus") == "Succeeded" and (
                    pattern == "latest" or any(fnmatch.fnmatchcase(n, pattern) for n in names)):
                return arn
    raise UserError(f"no succeeded execution of pipeline {pipeline!r} matches {pattern!r}", file=pipeline,
                    fix="check the pipeline name and the pattern (`aws sagemaker list-pipeline-executions`)")


def _code(message: str) -> str:
    """The AWS error code data.s3 put in a message (`... answered NoSuchBucket (HTTP 404)`)."""
    m = re.search(r"answered (\S+) \(HTTP", message)
    return m[1] if m else ""


# ---------------------------------------------------------------- the checks


def _check(s3: Any, uri: str, write: bool) -> list[Check]:
    bucket, key = _parse_uri(uri)
    prefix = f"{key}/" if key else ""
    checks, found = [], None
    try:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=LISTED)
        if not page.get("Contents") and key:   # the URI may name one object
            page = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
            page["Contents"] = [o for o in page.get("Contents", []) if o["Key"] == key]
        objects = [o for o in page.get("Contents", []) if o["Size"] > 0]
        found = next((o["Key"] for o in objects if not is_junk(o["Key"][len(prefix):], o["Size"])),
                     objects[0]["Key"] if objects else None)
        checks.append(Check("list", PASS, detail=f"{page.get('KeyCount', len(page.get('Contents', [])))} key(s)"
                                                 f"{' or more' if page.get('IsTruncated') else ''}"))
    except ClientError as e:
        checks.append(_failed("list", e))
    if found is not None:
        try:
            s3.get_object(Bucket=bucket, Key=found, Range="bytes=0-0")["Body"].read()
            checks.append(Check("read", PASS, detail=f"s3://{bucket}/{found}"))
        except ClientError as e:
            checks.append(_failed("read", e))
    elif checks[0].status == PASS:   # listed, nothing in it: fine for an output, not for test data
        checks.append(Check("read", SKIP if write else FAIL, detail="no object under this prefix"))
    else:
        checks.append(Check("read", SKIP, detail="nothing listed to read"))
    if write:
        checks.append(_write(s3, bucket, f"{prefix}{MARKER}{uuid.uuid4().hex[:12]}"))
    return checks


def _write(s3: Any, bucket: str, key: str) -> Check:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    except ClientError as e:
        return _failed("write", e)
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except ClientError as e:
        check = _failed("write", e)
        check.detail = f"written, but not deleted: s3://{bucket}/{key} is left ({check.detail})"
        return check
    return Check("write", PASS, detail="put and deleted a marker")


def _failed(operation: str, e: Any) -> Check:
    error = e.response.get("Error", {})
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code") or status or "")
    message = error.get("Message") or ""
    return Check(operation, FAIL, code, f"{e.operation_name}: HTTP {status}" + (f", {message}" if message else ""))
