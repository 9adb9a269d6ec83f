"""A step run as the very request SageMaker's CreateProcessingJob takes, validated like the service.

`ProcessingJob.request` is the single source of truth for what runs: the same dict can be handed to
`boto3.client("sagemaker").create_processing_job(**request)`. Local folders stand behind placeholder
S3 URIs (`s3://<bucket>/<job-name>/input/<name>`), listed in `local_inputs` / `local_outputs`; a
backend that submits to SageMaker uploads them there first.

The code goes in as the SageMaker Python SDK (v2, `src/sagemaker/processing.py`) puts it, by the
step's `compute.kind`:

- `sklearn`, `script`, `byo_container` (ScriptProcessor, SKLearnProcessor): the script alone is the
  `code` input, `s3://<bucket>/<job>/input/code/<file>` at `/opt/ml/processing/input/code`, and
  `ContainerEntrypoint` is `<command> /opt/ml/processing/input/code/<file>` (command `python3`).
  Files beside the script are not there.
- `framework`, `xgboost` (FrameworkProcessor, XGBoostProcessor): the source dir (the code folder
  when `contract.source_dir: true`, else the script alone) is packed into `sourcedir.tar.gz`, the
  `code` input at `/opt/ml/processing/input/code/`; the SDK's `runproc.sh` is the `entrypoint` input
  at `/opt/ml/processing/input/entrypoint`, and `ContainerEntrypoint` is `/bin/bash
  /opt/ml/processing/input/entrypoint/runproc.sh`. It unpacks the tarball in the code folder,
  installs `requirements.txt` when there is one and runs `python <script> "$@"` there.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from ..errors import UserError
from ..fields import Fields
from ..results import cache_root
from ..status import JobStatus
from . import contracts
from .base import Job
from .bindings import (
    check_bound,
    check_job_arguments,
    check_names,
    check_not_system,
    environment,
    inside,
    local_input,
    mounted_note,
    secret_argument_flags,
)
from .contracts import Step
from .packages import WHEELHOUSE_PATH, package_access  # noqa: F401 (WHEELHOUSE_PATH: re-exported)
from .validation import (
    PROCESSING_ROOT,
    container_path,
    under_processing_root,
    validate_request,
)

CODE_INPUT = "code"
CODE_PATH = "/opt/ml/processing/input/code"
ENTRYPOINT_INPUT = "entrypoint"                          # FrameworkProcessor's runproc.sh input
ENTRYPOINT_PATH = "/opt/ml/processing/input/entrypoint"
SOURCE_DIR_PATH = "/opt/ml/processing/input/code/"      # FrameworkProcessor's `code` destination
SOURCE_TARBALL = "sourcedir.tar.gz"
RUNPROC = "runproc.sh"
CODE_ROOT = "/opt/ml/code/"       # Cursus's "inside the source dir" paths (hyperparams ...)
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
    framework_version: str | None = None   # the value of the interface's framework_version_field
    wheelhouse: str | None = None      # host folder of wheels pip may install from (local only)
    pip_offline: bool = False          # with a wheelhouse: pip uses nothing else (PIP_NO_INDEX)
    secret_env: tuple[str, ...] = ()   # more names whose values are masked in files and output (redact)


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
    f = Fields(step.file)

    kind = processing_kind(step)
    image = merged.image or contracts.image_for(step, merged.framework_version, "processing")
    if merged.image:
        contracts.check_image(step, image, "image (this run's value)")

    check_names(step)
    check_bound(step, merged.inputs)

    local_inputs: dict[str, Path] = {}
    inputs = []
    in_source_dir: dict[str, Path] = {}      # source-dir inputs: path inside the source dir -> host
    notes: list[str] = []
    for input_name, source in merged.inputs.items():
        local_path = step.inputs[input_name].path
        uri = source if "://" in source else f"s3://{PLACEHOLDER_BUCKET}/{name}/input/{input_name}"
        path = local_input(step, input_name, source, merged.produced_inputs)
        if note := mounted_note(input_name, source, path):
            notes.append(note)
        if not under_processing_root(local_path):
            rel = _source_dir_input(step, kind, input_name, local_path, source, path)
            in_source_dir[rel] = path
            notes.append(
                f"input {input_name} ({local_path}) travels inside {SOURCE_TARBALL} at {rel}/, so the "
                f"script finds it at {SOURCE_DIR_PATH}{rel}/ (where FrameworkProcessor unpacks the "
                f"source dir) and next to itself; {local_path} does not exist in a Processing job, on "
                "SageMaker or here: a script that reads it there fails on both. Read it relative to "
                f"the script: Path(__file__).parent / {rel!r}")
            continue
        if path is not None:
            local_inputs[input_name] = path
        distribution = "ShardedByS3Key" if input_name in merged.sharded_inputs else "FullyReplicated"
        inputs.append(_s3_input(input_name, uri, local_path, distribution))

    # The code, as the SDK adds it: after the step's own inputs.
    if merged.code_dir is None:
        raise UserError("no code folder for this step", file=where, field="local.code",
                        fix="pass --code DIR with the folder holding the script, or set local.code")
    code = code_folder(merged.code_dir, where)
    script_path = entry_script(code, step.entry_point, where)
    compute = step.raw.get("compute") or {}
    if kind in contracts.FRAMEWORK_PROCESSOR_KINDS:
        tarball, runproc = stage_source(code, step.entry_point, step.source_dir, in_source_dir)
        local_inputs[CODE_INPUT], local_inputs[ENTRYPOINT_INPUT] = tarball, runproc
        inputs.append(_s3_input(CODE_INPUT, f"s3://{PLACEHOLDER_BUCKET}/{name}/source/{SOURCE_TARBALL}",
                                SOURCE_DIR_PATH))
        inputs.append(_s3_input(ENTRYPOINT_INPUT, f"s3://{PLACEHOLDER_BUCKET}/{name}/source/{RUNPROC}",
                                ENTRYPOINT_PATH))
        entrypoint = ["/bin/bash", f"{ENTRYPOINT_PATH}/{RUNPROC}"]
    else:
        if step.source_dir:
            f.fail("contract.source_dir",
                   f"compute.kind {kind!r} runs a ScriptProcessor, which ships the script alone "
                   "(ScriptProcessor.run has no source_dir)",
                   "set `compute.kind: framework` with `sdk_class: SKLearn` (FrameworkProcessor) to "
                   "ship the code folder, or drop `source_dir: true`")
        script = PurePosixPath(step.entry_point).name
        local_inputs[CODE_INPUT] = script_path                   # one file: lands at LocalPath/<file>
        inputs.append(_s3_input(CODE_INPUT, f"s3://{PLACEHOLDER_BUCKET}/{name}/input/code/{script}",
                                CODE_PATH))
        command = compute.get("container_entrypoint") if kind == "byo_container" else None
        if command is not None and (not isinstance(command, list) or not command
                                    or not all(isinstance(c, str) for c in command)):
            f.fail("compute.container_entrypoint", f"expected a list of strings, got {command!r}",
                   'write e.g. `container_entrypoint: ["bash", "run.sh"]`')
        entrypoint = [*(command or ["python3"]), f"{CODE_PATH}/{script}"]

    unknown = set(merged.outputs) - set(step.outputs)
    if unknown:
        raise UserError(f"unknown output(s) {sorted(unknown)}", file=where, field="contract.outputs",
                        fix=f"use one of {sorted(step.outputs)}")
    local_outputs = {n: _output_folder(step, n, merged.outputs.get(n), output_root) for n in step.outputs}
    for n, spec in step.outputs.items():
        if not under_processing_root(spec.path):
            f.fail(f"contract.outputs.{n}.path", f"SageMaker rejects a ProcessingOutput LocalPath "
                   f"outside {PROCESSING_ROOT} ({spec.path})",
                   f"write the output under {PROCESSING_ROOT}output/, e.g. "
                   f"`path: /opt/ml/processing/output/{n}`")
    s3_outputs = {n: given for n, given in merged.outputs.items() if given.startswith("s3://")}
    outputs = [{"OutputName": n, "AppManaged": False,
                "S3Output": {"S3Uri": s3_outputs.get(n, f"s3://{PLACEHOLDER_BUCKET}/{name}/output/{n}"),
                             "LocalPath": spec.path, "S3UploadMode": "EndOfJob"}}
               for n, spec in step.outputs.items()]

    env = environment(step, merged.env)

    arguments = _arguments(step, merged.job_arguments)
    app: dict[str, Any] = {"ImageUri": image, "ContainerEntrypoint": entrypoint}
    if arguments:
        app["ContainerArguments"] = arguments

    isolated = bool(step.network_isolation if merged.network_isolation is None else merged.network_isolation)
    local_env, local_mounts, package_notes = package_access(merged.wheelhouse, merged.pip_offline,
                                                            isolated, where)
    notes += package_notes

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
        "NetworkConfig": {"EnableNetworkIsolation": isolated},
        "RoleArn": merged.role_arn,
    }
    validate_request(request, secret_names=(*merged.secret_env, *secret_argument_flags(step)))
    return ProcessingJob(request, local_inputs, local_outputs, step.name, str(step.file),
                         local_env=local_env, local_mounts=local_mounts, notes=notes,
                         s3_outputs=s3_outputs)


def processing_kind(step: Step) -> str:
    """The step's `compute.kind`, which must be one a Processing job runs."""
    kind = contracts.job_kind(step)
    if kind not in contracts.PROCESSING_KINDS:
        verb = contracts.OTHER_KINDS[kind]
        Fields(step.file).fail(
            "compute.kind", f"compute.kind {kind!r} makes a {verb} job, not a Processing job"
            + (f" (registry.sagemaker_step_type is {step.sagemaker_step_type!r})"
               if step.sagemaker_step_type != verb else ""),
            f"a Processing step takes one of {', '.join(contracts.PROCESSING_KINDS)}"
            + ("" if step.sagemaker_step_type == verb
               else f"; a {verb} step says `registry.sagemaker_step_type: {verb}`"))
    return kind


def _source_dir_input(step: Step, kind: str, name: str, local_path: str, source: str,
                      path: Path | None) -> str:
    """A bound input whose contract path is not under /opt/ml/processing/: SageMaker rejects it as
    a ProcessingInput. Cursus's /opt/ml/code/<rel> paths are files inside the source dir: with a
    FrameworkProcessor they travel in sourcedir.tar.gz (at <rel>); returns <rel>."""
    f = Fields(step.file)
    field = f"contract.inputs.{name}.path"
    rejected = (f"SageMaker rejects a ProcessingInput whose LocalPath ({local_path}) is not under "
                f"{PROCESSING_ROOT}")
    normal = container_path(local_path)
    if not normal.startswith(CODE_ROOT):
        f.fail(field, rejected, f"put the input under {PROCESSING_ROOT}input/, e.g. "
               f"`path: /opt/ml/processing/input/{name}`")
    if kind not in contracts.FRAMEWORK_PROCESSOR_KINDS:
        f.fail(field, f"{rejected}; {local_path} is inside a source dir, and compute.kind {kind!r} "
               "(ScriptProcessor) ships the script alone",
               "ship the code folder with `compute.kind: framework` (+ `sdk_class`) and "
               "`contract.source_dir: true`, so the file travels in sourcedir.tar.gz; or put the "
               f"input under {PROCESSING_ROOT}input/")
    if path is None:
        f.fail(field, f"{rejected}; input {name} is an S3 URI ({source}), but {local_path} is a "
               "file inside the source dir, which is packed from local files",
               f"download it and bind the local file: --input {name}=PATH")
    return normal[len(CODE_ROOT):].strip("/")


def _output_folder(step: Step, name: str, given: str | None, output_root: Path) -> Path:
    """The host folder of output `name`: the one the run gives (never a system folder), else
    output_root/<name>, which stays inside output_root (also for an s3:// output)."""
    field = f"contract.outputs.{name}"
    if not given or given.startswith("s3://"):   # an S3 output is written here, uploaded at job end
        return inside(output_root, name, field=field)
    folder = Path(given).resolve()
    check_not_system(folder, f"output {name} ({given})", str(step.file), field,
                     f"--output {name}=FOLDER of your own")
    return folder


# --- FrameworkProcessor's source dir and runproc.sh -------------------------------------------------

def runproc_script(user_script: str, command: tuple[str, ...] = ("python",)) -> str:
    """FrameworkProcessor._generate_framework_script (sagemaker-python-sdk v2.257.6,
    src/sagemaker/processing.py), without a CodeArtifact repository: the same text, byte for byte.
    Its command is FrameworkProcessor's default, `python` (Cursus passes none)."""
    codeartifact_login_command = "echo 'CodeArtifact repository not specified. Skipping login.'"
    return textwrap.dedent(
        """\
        #!/bin/bash

        cd /opt/ml/processing/input/code/
        tar -xzf sourcedir.tar.gz

        # Exit on any error. SageMaker uses error code to mark failed job.
        set -e

        if [[ -f 'requirements.txt' ]]; then
            # Optionally log into CodeArtifact
            if ! hash aws 2>/dev/null; then
                echo "AWS CLI is not installed. Skipping CodeArtifact login."
            else
                {codeartifact_login_command}
            fi

            # Some py3 containers has typing, which may breaks pip install
            pip uninstall --yes typing

            python -m pip install -r requirements.txt
        fi

        {entry_point_command} {entry_point} "$@"
    """
    ).format(codeartifact_login_command=codeartifact_login_command,
             entry_point_command=" ".join(command), entry_point=user_script)


def code_folder(given: str, where: str) -> Path:
    """The code folder (--code or local.code), resolved: never a system folder."""
    code = Path(given).resolve()
    check_not_system(code, f"the code folder ({given})", where, "--code",
                     "pass --code DIR (or set local.code) with the folder holding your scripts")
    return code


def entry_script(code: Path, entry_point: str, where: str) -> Path:
    """The script `entry_point` names in the (resolved) code folder. It is shipped into the
    container and run, so it must be a file inside that folder, also once its links are followed:
    `/etc/shadow` or `../../etc/shadow` would ship a host file (under sudo, root's) and print it."""
    path = code / entry_point
    fix = "name the script by its path inside the code folder, e.g. `entry_point: preprocess.py`"
    if not path.resolve().is_relative_to(code):   # the step file's check (contracts) left links
        raise UserError(f"entry point {entry_point} leads to {path.resolve()}, outside the code "
                        f"folder {code}", file=where, field="contract.entry_point", fix=fix)
    if not path.is_file():
        raise UserError(f"entry point {entry_point} not found in {code}", file=where,
                        field="contract.entry_point",
                        fix="pass --code DIR with the folder holding the script, or set local.code")
    return path


def source_files(code: Path, entry_point: str, source_dir: bool) -> list[tuple[str, Path]]:
    """(name in the tarball, host path) at the tarball's top level, as fw_utils.tar_and_upload_dir
    lists them: with a source dir, every entry of the folder; without, the script alone. The
    tarball follows symlinks, so one leading out of the code folder is refused: it would ship a
    host file (/etc/shadow, under sudo) into the container."""
    if source_dir:
        found = [(p.name, p) for p in sorted(code.iterdir())]
    else:
        script = code / entry_point
        found = [(script.name, script)]
    root = code.resolve()
    for _, top in found:
        for path in [top, *(top.rglob("*") if top.is_dir() and not top.is_symlink() else ())]:
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise UserError(f"{path} is a symlink to {path.resolve()}, outside the code folder "
                                f"{root}: the code is packed with what its links lead to",
                                file=str(path), fix="copy the file into the code folder instead of "
                                "linking it, or remove the link")
    return found


def stage_source(code: Path, entry_point: str, source_dir: bool,
                 extra: dict[str, Path] | None = None) -> tuple[Path, Path]:
    """sourcedir.tar.gz and runproc.sh for a FrameworkProcessor job; returns their host paths.

    The tarball holds what utils.create_tar_file packs (`tarfile.open(mode="w:gz",
    dereference=True)`, each entry added recursively under its own name). `extra` adds files at a
    path inside it (a source-dir input: `hyperparams` -> the bound file or folder's files; it
    replaces what the code folder holds there). The gzip header carries no time, so the same files
    give the same bytes. Both files are kept by content under the cache ($CURSUS_LOCAL_CACHE/source),
    outside any run folder: a resumed run moves step folders, a job's inputs must stay put."""
    extra = {k: v for k, v in (extra or {}).items() if v is not None}
    script = entry_point if source_dir else PurePosixPath(entry_point).name
    staging = cache_root() / "source"
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=staging, suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", dereference=True) as tar:
            replaced = tuple(extra)
            for arcname, path in source_files(code, entry_point, source_dir):
                tar.add(path, arcname=arcname,
                        filter=lambda info: None if _under(info.name, replaced) else info)
            for rel, path in sorted(extra.items()):
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
                base = path.parent if path.is_file() else path
                for file in files:
                    tar.add(file, arcname=f"{rel}/{file.relative_to(base).as_posix()}")
        runproc = runproc_script(script).encode()
        digest = hashlib.sha256(tmp.read_bytes() + b"\0" + runproc).hexdigest()[:24]
        final = staging / digest
        if not (final / SOURCE_TARBALL).is_file():
            building = Path(tempfile.mkdtemp(dir=staging, prefix=f"{digest}."))
            tmp.replace(building / SOURCE_TARBALL)
            (building / RUNPROC).write_bytes(runproc)
            try:
                building.rename(final)
            except OSError:        # another run staged the same files first
                shutil.rmtree(building, ignore_errors=True)
        return final / SOURCE_TARBALL, final / RUNPROC
    finally:
        tmp.unlink(missing_ok=True)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + "/") for p in prefixes)


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
    check_job_arguments(step, values)
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
