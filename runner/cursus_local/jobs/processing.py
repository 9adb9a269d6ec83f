"""A step run as the very request SageMaker's CreateProcessingJob takes, validated like the service.

`ProcessingJob.request` is the single source of truth for what runs: the same dict can be handed to
`boto3.client("sagemaker").create_processing_job(**request)`. Local folders stand behind placeholder
S3 URIs (`s3://<bucket>/<job-name>/input/<name>`), listed in `local_inputs` / `local_outputs`; a
backend that submits to SageMaker uploads them there first.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contracts import Step
from ..errors import UserError
from ..results import cache_root

PROCESSING_ROOT = "/opt/ml/processing/"
CODE_INPUT = "code"
CODE_PATH = "/opt/ml/processing/input/code"
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/cursus-local"
PLACEHOLDER_BUCKET = os.environ.get("CURSUS_LOCAL_BUCKET", "cursus-local")


@dataclass
class RunOptions:
    """What the user adds to a step for one run (CLI flags, DAG node settings, `local:` defaults)."""
    inputs: dict[str, str] = field(default_factory=dict)     # name -> local path or s3:// URI
    outputs: dict[str, str] = field(default_factory=dict)    # name -> local folder
    env: dict[str, str] = field(default_factory=dict)
    job_arguments: dict[str, str] = field(default_factory=dict)
    code_dir: str | None = None
    image: str | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    max_runtime_seconds: int | None = None
    network_isolation: bool | None = None
    sharded_inputs: tuple[str, ...] = ()                     # inputs split by S3 key
    job_name: str | None = None
    role_arn: str = DEFAULT_ROLE
    use_local_defaults: bool = True    # the step file's `local:` inputs/env/args (run-step); a DAG says all


@dataclass
class ProcessingJob:
    request: dict[str, Any]
    local_inputs: dict[str, Path]     # InputName -> host file or folder
    local_outputs: dict[str, Path]    # OutputName -> host folder the results land in
    step_name: str = ""

    @property
    def name(self) -> str:
        return self.request["ProcessingJobName"]


def job_name_for(step_name: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
    base = re.sub(r"[^a-zA-Z0-9]+", "-", step_name).strip("-")[: 62 - len(stamp)] or "step"
    return f"{base}-{stamp}"


def build_job(step: Step, options: RunOptions, output_root: Path) -> ProcessingJob:
    """The CreateProcessingJob request for `step`; outputs default to `output_root/<name>`."""
    merged = _merge_local_defaults(step, options)
    name = options.job_name or job_name_for(step.name)
    where = str(step.file)

    unknown = set(merged.inputs) - set(step.inputs)
    if unknown:
        raise UserError(f"unknown input(s) {sorted(unknown)}", file=where, field="contract.inputs",
                        fix=f"use one of {sorted(step.inputs)}")
    missing = [n for n, spec in step.inputs.items() if spec.required and n not in merged.inputs]
    if missing:
        raise UserError(f"required input(s) {missing} not bound", file=where, field="contract.inputs",
                        fix=" ".join(f"--input {n}=PATH" for n in missing))

    local_inputs: dict[str, Path] = {}
    inputs = []
    if merged.code_dir is not None:
        code = Path(merged.code_dir).resolve()
        if not (code / step.entry_point).is_file():
            raise UserError(f"entry point {step.entry_point} not found in {code}", file=where,
                            field="contract.entry_point",
                            fix="pass --code DIR with the folder holding the script, or set local.code")
        local_inputs[CODE_INPUT] = code
        inputs.append(_s3_input(CODE_INPUT, f"s3://{PLACEHOLDER_BUCKET}/{name}/input/code", CODE_PATH))
    for input_name, source in merged.inputs.items():
        uri = source if "://" in source else f"s3://{PLACEHOLDER_BUCKET}/{name}/input/{input_name}"
        if "://" not in source:
            path = Path(source).resolve()
            if not path.exists():
                raise UserError(f"input {input_name} points to {path}, which does not exist",
                                file=where, field=f"contract.inputs.{input_name}",
                                fix=f"--input {input_name}=EXISTING_PATH")
            local_inputs[input_name] = path
        distribution = "ShardedByS3Key" if input_name in merged.sharded_inputs else "FullyReplicated"
        inputs.append(_s3_input(input_name, uri, step.inputs[input_name].path, distribution))

    unknown = set(merged.outputs) - set(step.outputs)
    if unknown:
        raise UserError(f"unknown output(s) {sorted(unknown)}", file=where, field="contract.outputs",
                        fix=f"use one of {sorted(step.outputs)}")
    local_outputs = {n: Path(merged.outputs.get(n) or output_root / n).resolve() for n in step.outputs}
    outputs = [{"OutputName": n, "AppManaged": False,
                "S3Output": {"S3Uri": f"s3://{PLACEHOLDER_BUCKET}/{name}/output/{n}",
                             "LocalPath": spec.path, "S3UploadMode": "EndOfJob"}}
               for n, spec in step.outputs.items()]

    env = {**step.env_optional, **merged.env}
    missing_env = [k for k in step.env_required if k not in env]
    if missing_env:
        raise UserError(f"required environment variable(s) {missing_env} not set", file=where,
                        field="contract.env_vars.required",
                        fix=" ".join(f"--env {k}=VALUE" for k in missing_env))

    entrypoint = ["python3", f"{CODE_PATH}/{step.entry_point}"] if CODE_INPUT in local_inputs else None
    arguments = _arguments(step, merged.job_arguments)
    app: dict[str, Any] = {"ImageUri": merged.image or step.image}
    if entrypoint:
        app["ContainerEntrypoint"] = entrypoint
    if arguments:
        app["ContainerArguments"] = arguments

    request = {
        "ProcessingJobName": name,
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": outputs},
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": merged.instance_count or step.instance_count,
            "InstanceType": merged.instance_type or step.instance_type,
            "VolumeSizeInGB": step.volume_size_gb}},
        "StoppingCondition": {"MaxRuntimeInSeconds":
                              merged.max_runtime_seconds or step.max_runtime_seconds},
        "AppSpecification": app,
        "Environment": env,
        "NetworkConfig": {"EnableNetworkIsolation": bool(
            step.network_isolation if merged.network_isolation is None else merged.network_isolation)},
        "RoleArn": merged.role_arn,
    }
    validate_request(request)
    return ProcessingJob(request, local_inputs, local_outputs, step.name)


def _merge_local_defaults(step: Step, options: RunOptions) -> RunOptions:
    """Options given explicitly win over the step file's `local:` defaults (its code folder always
    applies; its inputs, env and job arguments only where `use_local_defaults`)."""
    local = step.local if options.use_local_defaults else {k: v for k, v in step.local.items() if k == "code"}
    merged = RunOptions(**{**options.__dict__})
    merged.inputs = {**{k: str(v) for k, v in local.get("inputs", {}).items()}, **options.inputs}
    merged.outputs = {**{k: str(v) for k, v in local.get("outputs", {}).items()}, **options.outputs}
    merged.env = {**local.get("env", {}), **options.env}
    merged.job_arguments = {**local.get("job_arguments", {}), **options.job_arguments}
    if merged.code_dir is None:
        merged.code_dir = str(local["code"]) if "code" in local else str(step.file.parent)
    return merged


def _arguments(step: Step, values: dict[str, str]) -> list[str]:
    args: list[str] = []
    known = {a.source for a in step.job_arguments}
    unknown = set(values) - known
    if unknown:
        raise UserError(f"unknown job argument(s) {sorted(unknown)}", file=str(step.file),
                        field="contract.job_arguments",
                        fix=f"use one of {sorted(known)}" if known else "this step takes no job arguments")
    for arg in step.job_arguments:
        value = values.get(arg.source, arg.default)
        if value is None:
            raise UserError(f"job argument {arg.source} ({arg.flag}) has no value", file=str(step.file),
                            field="contract.job_arguments", fix=f"--job-arg {arg.source}=VALUE")
        args += [arg.flag, value]
    for flag, value in step.arguments.items():
        args += [flag if flag.startswith("-") else f"--{flag}", value]
    return args


def _s3_input(name: str, uri: str, local_path: str, distribution: str = "FullyReplicated") -> dict:
    return {"InputName": name, "AppManaged": False,
            "S3Input": {"S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix",
                        "S3InputMode": "File", "S3DataDistributionType": distribution,
                        "S3CompressionType": "None"}}


# --- validation: botocore's service model, then the rules the service adds -----------------------

class JobRequestError(UserError):
    """SageMaker would reject this request; the message uses the service's wording."""


@functools.lru_cache(maxsize=None)
def input_shape(operation: str = "CreateProcessingJob") -> dict:
    """The operation's input shape from botocore's SageMaker model, as plain data.

    Loading that model takes ~0.1 s per run, so the shape is kept per botocore version."""
    from importlib.metadata import version
    cached = cache_root() / f"botocore-{version('botocore')}-sagemaker-{operation}.json"
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    import botocore.session
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation)
    shape = _plain_shape(model.input_shape)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(shape))
        tmp.replace(cached)
    except OSError:   # a read-only home: validate without the cache
        pass
    return shape


def _plain_shape(shape) -> dict:
    out = {"type": shape.type_name,
           **{k: v for k, v in shape.metadata.items() if k in ("min", "max", "pattern")}}
    if getattr(shape, "enum", None):
        out["enum"] = list(shape.enum)
    if shape.type_name == "structure":
        out["required"] = list(shape.required_members)
        out["members"] = {n: _plain_shape(m) for n, m in shape.members.items()}
    elif shape.type_name == "list":
        out["member"] = _plain_shape(shape.member)
    elif shape.type_name == "map":
        out["key"], out["value"] = _plain_shape(shape.key), _plain_shape(shape.value)
    return out


def validate_request(request: dict) -> None:
    errors = _constraint_errors(request, input_shape(), "")
    errors += _service_rule_errors(request)
    if errors:
        raise JobRequestError(
            f"{len(errors)} validation error(s) detected: " + "; ".join(errors),
            field=f"ProcessingJob {request.get('ProcessingJobName', '?')}",
            fix="change the step file or run options so the request meets these constraints")


PYTHON_TYPES = {"structure": dict, "map": dict, "list": list, "string": str, "integer": int,
                "long": int, "boolean": bool, "float": (int, float), "double": (int, float)}


def _constraint_errors(value: Any, shape: dict, path: str) -> list[str]:
    """Type, required, length, range, enum and pattern constraints, in SageMaker's
    ValidationException wording."""
    errors = []

    def fail(constraint: str):
        shown = value if not isinstance(value, (list, dict)) else "..."
        errors.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must {constraint}")

    kind = shape["type"]
    expected = PYTHON_TYPES.get(kind)
    if expected and (not isinstance(value, expected) or (kind == "integer" and isinstance(value, bool))):
        fail(f"be of type {kind}")
        return errors
    size = value if kind in ("integer", "long") else len(value) if kind in ("string", "list", "map") else None
    what = "value" if kind in ("integer", "long") else "length"
    if size is not None and "min" in shape and size < shape["min"]:
        fail(f"have {what} greater than or equal to {shape['min']}")
    if size is not None and "max" in shape and size > shape["max"]:
        fail(f"have {what} less than or equal to {shape['max']}")
    if kind == "string":
        if shape.get("enum") and value not in shape["enum"]:
            fail(f"satisfy enum value set: [{', '.join(shape['enum'])}]")
        pattern = _pattern(shape.get("pattern"))
        if pattern is not None and not pattern.fullmatch(value):
            fail(f"satisfy regular expression pattern: {shape['pattern']}")
    elif kind == "list":
        for i, item in enumerate(value, 1):
            errors += _constraint_errors(item, shape["member"], f"{path}.{i}.member")
    elif kind == "map":
        for key, item in value.items():
            errors += _constraint_errors(key, shape["key"], f"{path}.key")
            errors += _constraint_errors(item, shape["value"], f"{path}.{key}")
    elif kind == "structure":
        def child(name):
            camel = name[0].lower() + name[1:]
            return f"{path}.{camel}" if path else camel
        for name in shape["required"]:
            if value.get(name) is None:
                errors.append(f"Value null at '{child(name)}' failed to satisfy constraint: "
                              "Member must not be null")
        for name, item in value.items():
            if name not in shape["members"]:
                errors.append(f"Unknown parameter '{child(name)}', must be one of: "
                              + ", ".join(shape["members"]))
            else:
                errors += _constraint_errors(item, shape["members"][name], child(name))
    return errors


@functools.lru_cache(maxsize=None)
def _pattern(text: str | None):
    if not text or text in (".*", "[\\S\\s]*"):
        return None
    try:
        return re.compile(text)
    except re.error:  # Java-only syntax such as \p{L}: the service checks it, we can't
        return None


def _service_rule_errors(request: dict) -> list[str]:
    """Rules the service enforces beyond its model."""
    errors = []
    inputs = request.get("ProcessingInputs", [])
    outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    paths = []
    for kind, items, key in (("ProcessingInput", inputs, "S3Input"), ("ProcessingOutput", outputs, "S3Output")):
        names = [item.get("InputName") or item.get("OutputName") for item in items]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            errors.append(f"{kind} names must be unique; '{dup}' is used more than once")
        for item in items:
            local = (item.get(key) or {}).get("LocalPath", "")
            if not local.startswith(PROCESSING_ROOT) or local.rstrip("/") == PROCESSING_ROOT.rstrip("/"):
                errors.append(f"{kind} '{names[items.index(item)]}' LocalPath '{local}' must be a path "
                              f"under {PROCESSING_ROOT}")
            paths.append((local.rstrip("/"), names[items.index(item)]))
    for i, (a, name_a) in enumerate(paths):
        for b, name_b in paths[i + 1:]:
            if a == b or b.startswith(a + "/") or a.startswith(b + "/"):
                errors.append(f"LocalPath of '{name_a}' ({a}) and '{name_b}' ({b}) overlap; "
                              "each input and output needs its own folder")
    for item in inputs:
        s3 = item.get("S3Input") or {}
        if s3.get("S3CompressionType") == "Gzip" and s3.get("S3InputMode") != "Pipe":
            errors.append(f"ProcessingInput '{item.get('InputName')}': S3CompressionType Gzip "
                          "requires S3InputMode Pipe")
    return errors


# --- the DescribeProcessingJob-shaped view of a finished job ---------------------------------------

STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")


def describe(job: ProcessingJob, *, status: str, created: float, started: float | None,
             ended: float | None, exit_message: str = "", failure_reason: str = "") -> dict:
    """DescribeProcessingJob's response for this job (the request echoed, plus status fields)."""
    assert status in STATUSES, status
    from datetime import datetime, timezone

    def ts(t):
        return datetime.fromtimestamp(t, timezone.utc).isoformat() if t else None

    out = {k: v for k, v in job.request.items() if k != "Tags"}
    out.update({
        "ProcessingJobArn": f"arn:aws:sagemaker:local:000000000000:processing-job/{job.name.lower()}",
        "ProcessingJobStatus": status,
        "CreationTime": ts(created), "LastModifiedTime": ts(ended or started or created),
    })
    if started:
        out["ProcessingStartTime"] = ts(started)
    if ended:
        out["ProcessingEndTime"] = ts(ended)
    if exit_message:
        out["ExitMessage"] = exit_message
    if failure_reason:
        out["FailureReason"] = failure_reason
    return out
