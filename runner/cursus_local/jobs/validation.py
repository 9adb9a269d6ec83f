"""Validating a job request as the service does: botocore's SageMaker model (types, required
fields, lengths, ranges, enums, patterns) in the service's ValidationException wording, then the
rules the service enforces beyond its model."""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
from typing import Any

from ..errors import UserError
from ..redact import Secrets
from ..results import cache_root

PROCESSING_ROOT = "/opt/ml/processing/"


class JobRequestError(UserError):
    """SageMaker would reject this request; the message uses the service's wording."""


@functools.lru_cache(maxsize=None)
def input_shape(operation: str = "CreateProcessingJob") -> dict:
    """The operation's input shape from botocore's SageMaker model, as plain data.

    Loading that model takes ~0.1 s per run, so the shape is kept per installed botocore: keyed by
    its package file's path, size and mtime, which any install changes (importlib.metadata's
    version() scans site-packages: ~15 ms on every run)."""
    import hashlib
    import importlib.util
    origin = importlib.util.find_spec("botocore").origin
    st = os.stat(origin)
    installed = hashlib.blake2b(f"{origin}:{st.st_size}:{st.st_mtime_ns}".encode(), digest_size=8).hexdigest()
    cached = cache_root() / f"botocore-{installed}-sagemaker-{operation}.json"
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


OPERATIONS = {"ProcessingJobName": ("CreateProcessingJob", "ProcessingJob"),
              "TrainingJobName": ("CreateTrainingJob", "TrainingJob"),
              "ModelName": ("CreateModel", "Model")}


def operation_of(request: dict) -> tuple[str, str]:
    """(operation, job kind) of a Create*Job request, told by its name field."""
    for key, found in OPERATIONS.items():
        if key in request:
            return found
    return OPERATIONS["ProcessingJobName"]


def validate_request(request: dict, operation: str | None = None, secret_names: tuple[str, ...] = ()) -> None:
    """Validate a CreateProcessingJob or CreateTrainingJob request (the operation is told by the
    request's name field unless given); values under `secret_names` (--secret-env) are masked too."""
    found, kind = operation_of(request)
    operation = operation or found
    errors = _constraint_errors(request, input_shape(operation), "")
    errors += SERVICE_RULES.get(operation, lambda r: [])(request)
    if errors:
        raise JobRequestError(
            # the service's wording quotes values: never a secret one
            Secrets.of_request(request, marked=secret_names).text(f"{len(errors)} validation error(s) detected: " + "; ".join(errors)),
            field=f"{kind} {request.get(kind + 'Name', '?')}",
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


def container_path(local: str) -> str:
    """A LocalPath as the container sees it: `..` and `//` resolved (what is checked is what is
    mounted)."""
    return posixpath.normpath(local) if local else local


def under_processing_root(local: str) -> bool:
    """Inside /opt/ml/processing/ once normalised (`/opt/ml/processing/x/../../../etc` is /etc),
    and not that folder itself."""
    path = container_path(local)
    return local.startswith("/") and path.startswith(PROCESSING_ROOT) and path != PROCESSING_ROOT.rstrip("/")


def folder_name_pattern() -> re.Pattern:
    """What an input or output name may be. botocore's model gives ProcessingInput.InputName and
    ProcessingOutput.OutputName no pattern (any String), but here a name is a folder on the host;
    the service's own pattern for names that are folders is ChannelName's (CreateTrainingJob)."""
    return re.compile(_channel_name()["pattern"])


def folder_name_length() -> int:
    """The longest an input or output name may be: ChannelName's max, as for its pattern."""
    return int(_channel_name()["max"])


def _channel_name() -> dict:
    return input_shape("CreateTrainingJob")["members"]["InputDataConfig"]["member"]["members"]["ChannelName"]


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
            if not under_processing_root(local):
                errors.append(f"{kind} '{names[items.index(item)]}' LocalPath '{local}' must be a path "
                              f"under {PROCESSING_ROOT}")
            paths.append((container_path(local), names[items.index(item)]))
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


def _training_rule_errors(request: dict) -> list[str]:
    """CreateTrainingJob's rules beyond its model (the service's ValidationException wording where
    it is known)."""
    errors = []
    spec = request.get("AlgorithmSpecification") or {}
    if bool(spec.get("TrainingImage")) == bool(spec.get("AlgorithmName")):
        errors.append("Exactly one of AlgorithmSpecification.TrainingImage or "
                      "AlgorithmSpecification.AlgorithmName must be specified")
    channels = request.get("InputDataConfig") or []
    names = [c.get("ChannelName") for c in channels]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"Channel names must be unique; '{dup}' is used more than once")
    for channel in channels:
        mode = channel.get("InputMode") or spec.get("TrainingInputMode")
        if channel.get("CompressionType") == "Gzip" and mode != "Pipe":
            errors.append(f"Channel '{channel.get('ChannelName')}': CompressionType Gzip is only "
                          "supported with input mode Pipe; in File mode leave it unset or None")
        if "FileSystemDataSource" in (channel.get("DataSource") or {}) and not request.get("VpcConfig"):
            errors.append(f"Channel '{channel.get('ChannelName')}': a FileSystemDataSource needs VpcConfig")
    if request.get("ResourceConfig") is None:
        errors.append("Value null at 'resourceConfig' failed to satisfy constraint: Member must not be null")
    if request.get("StoppingCondition") is None:
        errors.append("Value null at 'stoppingCondition' failed to satisfy constraint: "
                      "Member must not be null")
    for key in (request.get("HyperParameters") or {}):
        if not key:
            errors.append("Hyperparameter names must not be empty")
    return errors


SERVICE_RULES = {"CreateProcessingJob": _service_rule_errors, "CreateTrainingJob": _training_rule_errors}
