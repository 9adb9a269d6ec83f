"""A step run as the very request SageMaker's CreateProcessingJob takes, validated like the service.

`ProcessingJob.request` is the single source of truth for what runs: the same dict can be handed to
`boto3.client("sagemaker").create_processing_job(**request)`. Local folders stand behind placeholder
S3 URIs (`s3://<bucket>/<job-name>/input/<name>`), listed in `local_inputs` / `local_outputs`; a
backend that submits to SageMaker uploads them there first.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserError
from ..status import JobStatus
from .base import Job
from .contracts import Step
from .validation import validate_request

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
    produced_inputs: frozenset[str] = frozenset()           # fed by a step that has not run yet
    role_arn: str = DEFAULT_ROLE
    use_local_defaults: bool = True    # the step file's `local:` inputs/env/args (run-step); a DAG says all


@dataclass
class ProcessingJob(Job):
    kind: ClassVar[str] = "Processing"

    @property
    def image(self) -> str:
        return self.request["AppSpecification"]["ImageUri"]

    def input_uris(self) -> dict[str, str]:
        return {i["InputName"]: i["S3Input"]["S3Uri"] for i in self.request["ProcessingInputs"]}


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
            if not path.exists() and input_name not in merged.produced_inputs:
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
    return ProcessingJob(request, local_inputs, local_outputs, step.name, str(step.file))


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


# --- the DescribeProcessingJob-shaped view of a finished job ---------------------------------------

def describe(job: ProcessingJob, *, status: str, created: float, started: float | None,
             ended: float | None, exit_message: str = "", failure_reason: str = "") -> dict:
    """DescribeProcessingJob's response for this job (the request echoed, plus status fields)."""
    status = JobStatus(status)
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
