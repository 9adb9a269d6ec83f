"""A Training step run as the very request SageMaker's CreateTrainingJob takes, in script mode, as the
SageMaker Python SDK v2's Framework estimator (XGBoost, PyTorch, SKLearn ...) fills it.

What the request holds, and where it comes from:
- `AlgorithmSpecification`: `TrainingImage` (the run's `--image` / node `image:`, else `compute.image`,
  else the training stand-in of the step's framework at the run's framework version:
  `contracts.image_for(step, version, purpose="training")`) and `TrainingInputMode: File`.
- `HyperParameters`: every value a JSON-encoded string, as `EstimatorBase._json_encode_hyperparameters`
  makes it (`"training"` -> `'"training"'`, 20 -> `'20'`), plus the script-mode entries
  `Framework._script_mode_hyperparam_update` adds: `sagemaker_program` (the entry point),
  `sagemaker_submit_directory` (where the SDK uploads `sourcedir.tar.gz`), `sagemaker_container_log_level`
  (logging.INFO = 20), `sagemaker_job_name` and `sagemaker_region`. The interface's `job_arguments`
  (e.g. `--job_type training`) and fixed `arguments` become hyperparameters named after the flag
  (`job_type`): the training toolkit hands them back to the script as `--job_type training`.
- `InputDataConfig`: one channel per input under `/opt/ml/input/data/<channel>`; an input at
  `/opt/ml/input/data` with `channels: [train, val, test]` fans out into one channel per name, each
  bound to `<bound folder>/<channel>` (`<bound S3 URI>/<channel>`).
- An input whose path is inside `/opt/ml/code` (Cursus's `/opt/ml/code/hyperparams/hyperparameters.json`)
  is no channel: it is part of the SDK's `source_dir`, which lands at `/opt/ml/code`. It is placed
  there (the local file stands behind it; nothing copied). An input anywhere else can't be expressed in
  CreateTrainingJob at all: a UserError names the file, the field and the fix.
- `OutputDataConfig.S3OutputPath`: the SDK's default `s3://<bucket>`; the model lands at
  `<S3OutputPath>/<job>/output/model.tar.gz` (ModelArtifacts.S3ModelArtifacts) and `/opt/ml/output/data`
  at `.../output/output.tar.gz`. Locally, the folder of the `/opt/ml/model` output will hold
  `model.tar.gz` (what downstream steps receive) and the folder of the `/opt/ml/output/data` output
  `output.tar.gz`.
- `ResourceConfig`, `StoppingCondition`, `Environment`, `EnableNetworkIsolation`, `RoleArn` from the
  step's `compute:` and the run options, as for processing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from ..errors import UserError
from ..status import JobStatus
from . import contracts
from .base import Job
from .bindings import check_bound, check_job_arguments, environment, local_input, secret_argument_flags
from .contracts import Step
from .packages import package_access
from .processing import (PLACEHOLDER_BUCKET, RunOptions, _merge_local_defaults, code_folder, entry_script,
                         job_name_for)
from .validation import validate_request

CODE_INPUT = "code"
CODE_DIR = "/opt/ml/code"
DATA_ROOT = "/opt/ml/input/data"
MODEL_DIR = "/opt/ml/model"
OUTPUT_DATA_DIR = "/opt/ml/output/data"
LOG_LEVEL_INFO = 20                    # logging.INFO, the SDK's default container_log_level
DEFAULT_REGION = "us-east-1"
SAGEMAKER_HYPERPARAMETERS = (          # sagemaker_training/params.py: not handed to the script
    "sagemaker_program", "sagemaker_submit_directory", "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region", "sagemaker_container_log_level", "sagemaker_job_name",
    "default_user_module_name", "_tuning_objective_metric", "sagemaker_s3_output")


def is_training_step(step: Step) -> bool:
    """`registry.sagemaker_step_type: Training`, or `compute.kind: estimator`."""
    compute = step.raw.get("compute") or {}
    kind = str(compute.get("kind") or "").lower() if isinstance(compute, dict) else ""
    return step.sagemaker_step_type == "Training" or kind == "estimator"


@dataclass
class TrainingJob(Job):
    """local_inputs is keyed by the interface's input names (what a user or an edge binds), plus
    `code` (the source dir); `channels` says which folder stands behind each channel."""
    channels: dict[str, tuple[str, str]] = field(default_factory=dict)   # channel -> (input, subfolder)
    code_files: dict[str, str] = field(default_factory=dict)   # path under /opt/ml/code -> input name
    entry_point: str = ""
    model_output: str | None = None          # output name of /opt/ml/model
    data_output: str | None = None           # output name of /opt/ml/output/data
    input_bindings: dict[str, str] = field(default_factory=dict)   # input name -> bound S3 URI
    kind: ClassVar[str] = "Training"

    @property
    def image(self) -> str:
        return self.request["AlgorithmSpecification"]["TrainingImage"]

    def input_uris(self) -> dict[str, str]:
        """Input name -> the S3 URI bound to it (a fanned-out input: the prefix of its channels)."""
        return dict(self.input_bindings)

    def channel_source(self, channel: str) -> Path:
        name, sub = self.channels[channel]
        base = self.local_inputs[name]
        return base / sub if sub else base

    @property
    def model_artifacts_uri(self) -> str:
        return f"{self.request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{self.name}/output/model.tar.gz"

    @property
    def output_data_uri(self) -> str:
        return f"{self.request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{self.name}/output/output.tar.gz"


def training_image(step: Step, options: RunOptions) -> str:
    """The run's image (`--image`, a DAG node's `image:`), else `compute.image`, else our training
    stand-in for the step's framework at the run's framework version (contracts.image_for)."""
    if options.image:
        contracts.check_image(step, options.image, "image (this run's value)")
        return options.image
    return contracts.image_for(step, options.framework_version, purpose="training")


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def build_training_job(step: Step, options: RunOptions, output_root: Path) -> TrainingJob:
    """The CreateTrainingJob request for `step`; outputs default to `output_root/<name>`."""
    merged = _merge_local_defaults(step, options)
    name = options.job_name or job_name_for(step.name)
    where = str(step.file)
    bucket = PLACEHOLDER_BUCKET

    check_bound(step, merged.inputs)

    local_inputs: dict[str, Path] = {}
    code = code_folder(merged.code_dir, where)
    entry_script(code, step.entry_point, where)
    local_inputs[CODE_INPUT] = code

    raw_inputs = ((step.raw.get("contract") or {}).get("inputs")) or {}
    channels: dict[str, tuple[str, str]] = {}
    code_files: dict[str, str] = {}
    bindings: dict[str, str] = {}
    config = []
    for input_name, source in merged.inputs.items():
        spec = step.inputs[input_name]
        raw = raw_inputs.get(input_name)
        fan_out = list(raw.get("channels") or []) if isinstance(raw, dict) else []
        uri = source.rstrip("/") if "://" in source else f"s3://{bucket}/{name}/input/{input_name}"
        bindings[input_name] = uri
        path = local_input(step, input_name, source, merged.produced_inputs)
        if path is not None:
            local_inputs[input_name] = path
        field_ = f"contract.inputs.{input_name}.path"
        if spec.path == CODE_DIR or spec.path.startswith(CODE_DIR + "/"):
            rel = spec.path[len(CODE_DIR) + 1:]
            if not rel:
                raise UserError(f"input {input_name} is the whole code folder {CODE_DIR}", file=where,
                                field=field_, fix="bind the code with --code DIR (or local.code) instead")
            if rel.startswith("/") or ".." in Path(rel).parts:   # it is placed inside the code folder
                raise UserError(f"input {input_name}'s path {spec.path} leaves {CODE_DIR}", file=where,
                                field=field_, fix=f"use a path inside {CODE_DIR}, with no '..'")
            code_files[rel] = input_name
            continue
        if spec.path == DATA_ROOT:
            if not fan_out:
                raise UserError(
                    f"input {input_name} is {DATA_ROOT} itself: a training job's data arrives in "
                    f"channels, {DATA_ROOT}/<channel>", file=where, field=f"contract.inputs.{input_name}",
                    fix=f"add `channels: [train, val, test]` (one channel per subfolder) or set `path: "
                        f"{DATA_ROOT}/{input_name}`")
            for channel in fan_out:
                _check_channel_name(str(channel), where, f"contract.inputs.{input_name}.channels")
                channels[str(channel)] = (input_name, str(channel))
                config.append(_channel(str(channel), f"{uri}/{channel}",
                                       input_name in merged.sharded_inputs))
            continue
        if spec.path.startswith(DATA_ROOT + "/") and "/" not in spec.path[len(DATA_ROOT) + 1:] and not fan_out:
            channel = spec.path[len(DATA_ROOT) + 1:]
            _check_channel_name(channel, where, field_)
            channels[channel] = (input_name, "")
            config.append(_channel(channel, uri, input_name in merged.sharded_inputs))
            continue
        raise UserError(
            f"input {input_name} is at {spec.path}: CreateTrainingJob delivers data only as channels at "
            f"{DATA_ROOT}/<channel> (and code in {CODE_DIR}); SageMaker has no way to put it there",
            file=where, field=field_,
            fix=f"set `path: {DATA_ROOT}/{input_name}`"
                + (" and drop `channels:`, or set the path to {DATA_ROOT} to fan out" if fan_out else ""))

    unknown = set(merged.outputs) - set(step.outputs)
    if unknown:
        raise UserError(f"unknown output(s) {sorted(unknown)}", file=where, field="contract.outputs",
                        fix=f"use one of {sorted(step.outputs)}")
    model_output = data_output = None
    for out_name, spec in step.outputs.items():
        if spec.path == MODEL_DIR:
            model_output = out_name
        elif spec.path == OUTPUT_DATA_DIR:
            data_output = out_name
        else:
            raise UserError(
                f"output {out_name} is at {spec.path}: a training job uploads only {MODEL_DIR} (as "
                f"model.tar.gz) and {OUTPUT_DATA_DIR} (as output.tar.gz)", file=where,
                field=f"contract.outputs.{out_name}.path",
                fix=f"write the files under {MODEL_DIR} or {OUTPUT_DATA_DIR} and set the path to it")
    local_outputs = {n: Path(merged.outputs.get(n) or output_root / n).resolve() for n in step.outputs}

    env = environment(step, merged.env)

    hyperparameters = {k: json.dumps(v) for k, v in _hyperparameters(step, merged.job_arguments).items()}
    hyperparameters.update({   # Framework._script_mode_hyperparam_update, JSON-encoded like the rest
        "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/{name}/source/sourcedir.tar.gz"),
        "sagemaker_program": json.dumps(step.entry_point),
        "sagemaker_container_log_level": json.dumps(LOG_LEVEL_INFO),
        "sagemaker_job_name": json.dumps(name),
        "sagemaker_region": json.dumps(region()),
    })
    isolated = bool(step.network_isolation if merged.network_isolation is None else merged.network_isolation)
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": training_image(step, merged),
                                   "TrainingInputMode": "File"},
        "RoleArn": merged.role_arn,
        "InputDataConfig": config,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}"},
        "ResourceConfig": {"InstanceCount": merged.instance_count or step.instance_count,
                           "InstanceType": merged.instance_type or step.instance_type,
                           "VolumeSizeInGB": step.volume_size_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": merged.max_runtime_seconds or step.max_runtime_seconds},
        "HyperParameters": hyperparameters,
        "Environment": env,
        "EnableNetworkIsolation": isolated,
    }
    if not config:   # the service takes no empty list; a job may have no channel at all
        del request["InputDataConfig"]
    validate_request(request, secret_names=(*merged.secret_env, *secret_argument_flags(step)))
    local_env, local_mounts, notes = package_access(merged.wheelhouse, merged.pip_offline, isolated, where)
    return TrainingJob(request, local_inputs, local_outputs, step.name, str(step.file),
                       local_env=local_env, local_mounts=local_mounts, notes=notes, channels=channels, code_files=code_files, entry_point=step.entry_point,
                       model_output=model_output, data_output=data_output, input_bindings=bindings)


def _hyperparameters(step: Step, values: dict[str, str]) -> dict[str, str]:
    """Job arguments and fixed arguments, named after their flag (`--job_type` -> `job_type`)."""
    check_job_arguments(step, values)
    out = {}
    for arg in step.job_arguments:
        value = values.get(arg.source, arg.default)
        if value is None:
            raise UserError(f"job argument {arg.source} ({arg.flag}) has no value", file=str(step.file),
                            field="contract.job_arguments", fix=f"--job-arg {arg.source}=VALUE")
        out[arg.flag.lstrip("-")] = value
    for flag, value in step.arguments.items():
        out[flag.lstrip("-")] = value
    return out


def _channel(name: str, uri: str, sharded: bool) -> dict:
    """A channel as sagemaker.inputs.TrainingInput makes it (File mode)."""
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri,
        "S3DataDistributionType": "ShardedByS3Key" if sharded else "FullyReplicated"}},
        "InputMode": "File"}


# --- the container side of script mode: what sagemaker-training's toolkit computes ----------------

def decoded_hyperparameters(request: dict) -> dict:
    """environment.read_hyperparameters: each value json.loads'ed where it parses, else kept."""
    out = {}
    for key, value in (request.get("HyperParameters") or {}).items():
        try:
            out[key] = json.loads(value)
        except (ValueError, TypeError):
            out[key] = value
    return out


def split_hyperparameters(request: dict) -> tuple[dict, dict]:
    """(the script's hyperparameters, the sagemaker_* ones): mapping.split_by_criteria."""
    every = decoded_hyperparameters(request)
    sm = {k: v for k, v in every.items() if k in SAGEMAKER_HYPERPARAMETERS or k.startswith("sagemaker_")}
    return {k: v for k, v in every.items() if k not in sm}, sm


def _decode(value) -> str:
    return "" if value is None else str(value)


def to_cmd_args(hyperparameters: dict) -> list[str]:
    """mapping.to_cmd_args: sorted keys; `--key` (`-k` for one letter); str() of the decoded value
    (so true -> "True"); a mapping value as `k=v,k2=v2`."""
    args = []
    for key in sorted(hyperparameters):
        name = _decode(key)
        args.append(f"--{name}" if len(name) > 1 else f"-{name}" if name else "")
        value = hyperparameters[key]
        args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())) if hasattr(value, "items")
                    else _decode(value))
    return args


def to_env_value(value) -> str:
    """mapping.to_env_vars' format_value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def input_data_config(request: dict) -> dict:
    """/opt/ml/input/config/inputdataconfig.json: per channel its settings, as the service writes it."""
    out = {}
    for channel in request.get("InputDataConfig", []):
        s3 = channel["DataSource"]["S3DataSource"]
        entry = {"TrainingInputMode": channel.get("InputMode") or
                 request["AlgorithmSpecification"]["TrainingInputMode"],
                 "S3DistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
                 "RecordWrapperType": channel.get("RecordWrapperType", "None")}
        if channel.get("ContentType"):
            entry["ContentType"] = channel["ContentType"]
        out[channel["ChannelName"]] = entry
    return out


CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]+")   # botocore's ChannelName pattern


def _check_channel_name(channel: str, where: str, field_: str) -> None:
    """A channel is a folder name on the host and in the container: the service's pattern, and
    neither '.' nor '..' (which the pattern lets through, and which would name a parent folder)."""
    if not CHANNEL_NAME.fullmatch(channel) or channel in (".", ".."):
        raise UserError(f"channel name {channel!r} is not a channel name", file=where, field=field_,
                        fix="use letters, digits, '.', '-' and '_' (e.g. train, val, test)")


def resource_config(host: str, hosts: list[str], instance_type: str) -> dict:
    return {"current_host": host, "current_instance_type": instance_type,
            "current_group_name": "homogeneousCluster", "hosts": hosts,
            "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                 "instance_type": instance_type, "hosts": hosts}],
            "network_interface_name": "eth0"}


def entry_command(entry_point: str, code_dir: Path, args: list[str]) -> list[str]:
    """runner.ProcessRunner._create_command: a package (setup.py beside it) runs as `python -m`,
    a .py as `python <file>`, anything else through /bin/sh; requirements.txt is installed first
    (modules.install_requirements) for a plain program, `pip install .` for a package."""
    import shlex
    has_setup = (code_dir / "setup.py").is_file()
    if entry_point.endswith(".sh") or not (entry_point.endswith(".py") or has_setup):
        return ["/bin/sh", "-c", f"./{entry_point} {' '.join(shlex.quote(a) for a in args)}"]
    if has_setup:
        run = ["python3", "-m", entry_point.replace(".py", "")] + args
        install = "python3 -m pip install . -r requirements.txt" if (code_dir / "requirements.txt").is_file() \
            else "python3 -m pip install ."
    else:
        run = ["python3", entry_point] + args
        install = "python3 -m pip install -r requirements.txt" if (code_dir / "requirements.txt").is_file() \
            else ""
    if not install:
        return run
    return ["/bin/sh", "-c", f"{install} && exec {' '.join(shlex.quote(a) for a in run)}"]


def sm_environment(job: TrainingJob, host: str, hosts: list[str], instance_type: str, num_cpus: int,
                   num_gpus: int = 0) -> dict[str, str]:
    """The SM_* variables sagemaker-training's Environment.to_env_vars() gives the script, plus what
    the toolkit puts in os.environ (CURRENT_HOST, SAGEMAKER_JOB_NAME, SAGEMAKER_REGION) and what the
    service sets (TRAINING_JOB_NAME, TRAINING_JOB_ARN)."""
    request = job.request
    hps, sm = split_hyperparameters(request)
    framework_params = {k: v for k, v in sm.items() if k not in SAGEMAKER_HYPERPARAMETERS}
    resource = resource_config(host, hosts, instance_type)
    data_config = input_data_config(request)
    channel_dirs = {c: f"{DATA_ROOT}/{c}" for c in data_config}
    program = sm.get("sagemaker_program")
    module_name = program[:-3] if isinstance(program, str) and program.endswith(".py") else program
    groups = resource["instance_groups"]
    env = {
        "hosts": hosts, "network_interface_name": resource["network_interface_name"],
        "hps": hps, "user_entry_point": program, "framework_params": framework_params,
        "resource_config": resource, "input_data_config": data_config,
        "output_data_dir": OUTPUT_DATA_DIR, "channels": sorted(channel_dirs),
        "current_host": host, "current_instance_type": instance_type,
        "current_instance_group": "homogeneousCluster", "current_instance_group_hosts": hosts,
        "instance_groups": ["homogeneousCluster"], "instance_groups_dict": {g["instance_group_name"]: g
                                                                           for g in groups},
        "distribution_instance_groups": [], "is_hetero": False,
        "module_name": str(module_name), "log_level": sm.get("sagemaker_container_log_level", LOG_LEVEL_INFO),
        "framework_module": None, "input_dir": "/opt/ml/input", "input_config_dir": "/opt/ml/input/config",
        "output_dir": "/opt/ml/output", "num_cpus": num_cpus, "num_gpus": num_gpus, "num_neurons": 0,
        "model_dir": MODEL_DIR,
        "module_dir": str(sm.get("sagemaker_submit_directory", CODE_DIR)),
        "user_args": to_cmd_args(hps), "output_intermediate_dir": "/opt/ml/output/intermediate",
    }
    training_env = {   # dict(Environment): every property of the toolkit's Environment
        "additional_framework_parameters": framework_params, "channel_input_dirs": channel_dirs,
        "current_host": host, "current_instance_group": "homogeneousCluster",
        "current_instance_group_hosts": hosts, "current_instance_type": instance_type,
        "distribution_hosts": hosts, "distribution_instance_groups": [],
        "framework_module": None, "hosts": hosts, "hyperparameters": hps,
        "input_config_dir": "/opt/ml/input/config", "input_data_config": data_config,
        "input_dir": "/opt/ml/input", "instance_groups": ["homogeneousCluster"],
        "instance_groups_dict": env["instance_groups_dict"], "is_hetero": False,
        "is_master": host == hosts[0], "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": False, "is_smddprun_installed": False,
        "job_name": job.name, "log_level": env["log_level"], "master_hostname": hosts[0],
        "model_dir": MODEL_DIR, "module_dir": env["module_dir"], "module_name": env["module_name"],
        "network_interface_name": "eth0", "num_cpus": num_cpus, "num_gpus": num_gpus, "num_neurons": 0,
        "output_data_dir": OUTPUT_DATA_DIR, "output_dir": "/opt/ml/output",
        "output_intermediate_dir": "/opt/ml/output/intermediate", "resource_config": resource,
        "topology": [], "user_entry_point": program,
    }
    env["training_env"] = training_env
    for channel, path in channel_dirs.items():
        env[f"channel_{channel}"] = path
    for key, value in hps.items():
        env[f"hp_{key}"] = value
    out = {f"SM_{k.upper()}": to_env_value(v) for k, v in env.items()}
    out.update({
        "CURRENT_HOST": host, "SAGEMAKER_JOB_NAME": str(sm.get("sagemaker_job_name", "")),
        "SAGEMAKER_REGION": str(sm.get("sagemaker_region") or ""),
        "TRAINING_JOB_NAME": job.name, "TRAINING_JOB_ARN": training_job_arn(job),
    })
    return out


def failure_file_text(command: list[str], exit_code: int, extra_info: str | None = None) -> str:
    """What the toolkit writes to /opt/ml/output/failure when the script exits non-zero
    (errors._CalledProcessError, as ExecuteUserScriptError; ProcessRunner captures no stderr)."""
    cmd = " ".join(command)
    if extra_info is None:
        return f'ExecuteUserScriptError:\nExitCode {exit_code}\nErrorMessage ""\nCommand "{cmd}"'
    return (f'ExecuteUserScriptError:\nExitCode {exit_code}\nErrorMessage ""\nExtraInfo "{extra_info}"\n'
            f'Command "{cmd}"')


# --- the DescribeTrainingJob-shaped view of a finished job -----------------------------------------

def training_job_arn(job: TrainingJob) -> str:
    return f"arn:aws:sagemaker:{region()}:000000000000:training-job/{job.name.lower()}"


def describe(job: TrainingJob, *, status: str, secondary: str, created: float, started: float | None,
             ended: float | None, failure_reason: str = "") -> dict:
    """DescribeTrainingJob's response for this job (the request echoed, plus status fields)."""
    status = JobStatus(status)

    def ts(t):
        return datetime.fromtimestamp(t, timezone.utc).isoformat() if t else None

    out = {k: v for k, v in job.request.items() if k != "Tags"}
    out.update({
        "TrainingJobArn": training_job_arn(job),
        "ModelArtifacts": {"S3ModelArtifacts": job.model_artifacts_uri},
        "TrainingJobStatus": status, "SecondaryStatus": secondary,
        "CreationTime": ts(created), "LastModifiedTime": ts(ended or started or created),
    })
    transitions = [{"Status": "Starting", "StartTime": ts(created), "EndTime": ts(started or ended),
                    "StatusMessage": "Preparing the instances for training"}]
    if started:
        out["TrainingStartTime"] = ts(started)
        transitions.append({"Status": "Training", "StartTime": ts(started), "EndTime": ts(ended),
                            "StatusMessage": "Training image download completed. Training in progress."})
    if ended:
        out["TrainingEndTime"] = ts(ended)
        seconds = max(1, round(ended - (started or created)))
        out["TrainingTimeInSeconds"] = out["BillableTimeInSeconds"] = seconds
        transitions.append({"Status": secondary, "StartTime": ts(ended), "EndTime": ts(ended),
                            "StatusMessage": _SECONDARY_MESSAGES.get(secondary, secondary)})
    out["SecondaryStatusTransitions"] = transitions
    if failure_reason:
        out["FailureReason"] = failure_reason[:1024]
    return out


_SECONDARY_MESSAGES = {
    "Completed": "Training job completed", "Failed": "Training job failed",
    "Stopped": "Training job stopped", "MaxRuntimeExceeded": "Training job stopped: MaxRuntimeInSeconds reached",
}


def safe_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text)
