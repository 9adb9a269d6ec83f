"""The step model, loaded from Cursus `*.step.yaml` interface files (as they are) or our own YAML.

Our own format is a superset of Cursus's: the same `contract:` section, plus optional
`compute:` keys for the processing resources and a `local:` section with the defaults that
`cursus-local run-step` uses (code folder, input folders, env, job arguments). `suites:` names the
GX suite each input must pass and each output must pass (`{inputs: {name: file}, outputs: ...}`);
they drive handoff checks, static schema compatibility and synthetic data. Everything else
in the file (`spec:`, `registry:`, `patterns:` ...) is kept in `Step.raw`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..fields import Fields

DEFAULT_IMAGE_REPO = "cursus-local/{kind}-processing"
DEFAULT_FRAMEWORK_VERSION = "1.2-1"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_MAX_RUNTIME = 86400
STEP_SUFFIXES = (".step.yaml", ".step.yml")


@dataclass(frozen=True)
class InputSpec:
    name: str
    path: str
    required: bool = True


@dataclass(frozen=True)
class OutputSpec:
    name: str
    path: str


@dataclass(frozen=True)
class JobArgument:
    """`--flag value`, the value taken from the run's job arguments by `source` name."""
    flag: str
    source: str
    default: str | None = None


@dataclass
class Step:
    name: str                      # logical name: the file's stem, e.g. "currency_conversion"
    file: Path
    entry_point: str
    step_type: str | None = None   # Cursus step_type, e.g. "CurrencyConversion"
    sagemaker_step_type: str = "Processing"
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    env_required: list[str] = field(default_factory=list)
    env_optional: dict[str, str] = field(default_factory=dict)
    arguments: dict[str, str] = field(default_factory=dict)   # fixed `--name value` pairs
    job_arguments: list[JobArgument] = field(default_factory=list)
    image: str = ""
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME
    network_isolation: bool = False
    local: dict[str, Any] = field(default_factory=dict)       # run-step defaults, paths resolved
    input_suites: dict[str, Path] = field(default_factory=dict)   # GX suite an input must pass
    output_suites: dict[str, Path] = field(default_factory=dict)  # GX suite an output must pass
    raw: dict[str, Any] = field(default_factory=dict)         # the whole document

    @property
    def spec(self) -> dict[str, Any]:
        return self.raw.get("spec") or {}


def step_name_of(path: Path) -> str:
    name = path.name
    for suffix in STEP_SUFFIXES + (".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def load_step(path: str | Path) -> Step:
    """Load a step file; every error names the file, the field and the fix."""
    path = Path(path).absolute()
    if not path.is_file():
        raise UserError("no such step file", file=str(path),
                        fix="pass a path to a *.step.yaml file, or a step name found in ./steps/")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"not valid YAML: {exc}", file=str(path), fix="fix the YAML syntax") from exc
    return parse_step(doc, path)


def parse_step(doc: Any, path: Path) -> Step:
    f = Fields(path)
    f.mapping(doc, "(top level)", "a step file is a mapping with a `contract:` section", required=True)
    contract = f.mapping(doc.get("contract"), "contract",
                         "add a `contract:` section with entry_point, inputs, outputs, env_vars",
                         required=True)
    compute = f.mapping(doc.get("compute") or {}, "compute",
                        "make `compute:` a mapping (kind, image, instance_type...)")
    registry = doc.get("registry") or {}

    entry_point = contract.get("entry_point")
    if not isinstance(entry_point, str) or not entry_point.strip():
        f.fail("contract.entry_point", "missing or empty",
               "name the script, e.g. `entry_point: currency_conversion.py`")

    def count(key: str, default: int) -> int:
        return f.positive_int(compute.get(key, default), f"compute.{key}", default)

    step = Step(
        name=str(doc.get("name") or step_name_of(path)),
        file=path,
        entry_point=entry_point,
        step_type=doc.get("step_type"),
        sagemaker_step_type=str(registry.get("sagemaker_step_type") or "Processing"),
        inputs={n: InputSpec(n, **spec) for n, spec in _channels(f, contract, "inputs").items()},
        outputs={n: OutputSpec(n, spec["path"]) for n, spec in _channels(f, contract, "outputs").items()},
        env_required=_env_required(f, contract),
        env_optional=f.strings((contract.get("env_vars") or {}).get("optional"),
                               "contract.env_vars.optional"),
        arguments=f.strings(contract.get("arguments"), "contract.arguments"),
        job_arguments=_job_arguments(f, contract.get("job_arguments")),
        image=str(compute.get("image") or _default_image(compute)),
        instance_type=str(compute.get("instance_type") or DEFAULT_INSTANCE_TYPE),
        instance_count=count("instance_count", 1),
        volume_size_gb=count("volume_size_in_gb", 30),
        max_runtime_seconds=count("max_runtime_in_seconds", DEFAULT_MAX_RUNTIME),
        network_isolation=bool(compute.get("enable_network_isolation", False)),
        local=_local_section(f, doc.get("local")),
        raw=doc,
    )
    suites = f.mapping(doc.get("suites") or {}, "suites",
                       "write `suites: {inputs: {name: file.json}, outputs: {...}}`")
    step.input_suites = _suite_paths(f, suites.get("inputs"), "suites.inputs", step.inputs)
    step.output_suites = _suite_paths(f, suites.get("outputs"), "suites.outputs", step.outputs)
    return step


def _default_image(compute: dict) -> str:
    """The stand-in image for a Cursus `compute:` section (FrameworkProcessor(SKLearn) -> sklearn)."""
    kind = str(compute.get("sdk_class") or compute.get("kind") or "sklearn").lower()
    version = compute.get("framework_version") or compute.get("framework_version_default") \
        or DEFAULT_FRAMEWORK_VERSION
    return f"{DEFAULT_IMAGE_REPO.format(kind=kind)}:{version}"


# --- the contract's sections ----------------------------------------------------------------------
# An empty `inputs:` or `outputs:` is legitimate: a Cursus step such as Registration writes
# nothing (its effect is a side effect), and a source step such as CradleDataLoading reads nothing.

def _channels(f: Fields, contract: dict, key: str) -> dict[str, dict]:
    is_input = key == "inputs"
    where = f"contract.{key}"
    value = f.mapping(contract.get(key) or {}, where,
                      f"write `{key}:` as `name: {{path: /opt/ml/processing/...}}`")
    out = {}
    for name, spec in value.items():
        if isinstance(spec, str):          # short form `name: /opt/ml/processing/...`
            spec = {"path": spec}
        f.mapping(spec, f"{where}.{name}", f"write `{name}: {{path: /opt/ml/...}}`", required=True)
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            f.fail(f"{where}.{name}.path", f"expected an absolute container path, got {path!r}",
                   f"set `path: /opt/ml/processing/{'input' if is_input else 'output'}/{name}`")
        entry = {"path": path.rstrip("/") or "/"}
        if is_input:
            required = spec.get("required", True)
            if not isinstance(required, bool):
                f.fail(f"{where}.{name}.required", f"expected true or false, got {required!r}",
                       "write `required: true` or `required: false`")
            entry["required"] = required
        out[str(name)] = entry
    return out


def _env_required(f: Fields, contract: dict) -> list[str]:
    env = f.mapping(contract.get("env_vars") or {}, "contract.env_vars",
                    "write `env_vars: {required: [...], optional: {...}}`")
    required = env.get("required") or []
    if not isinstance(required, list) or not all(isinstance(v, str) for v in required):
        f.fail("contract.env_vars.required", f"expected a list of names, got {required!r}",
               "write `required: [LABEL_FIELD, ...]`")
    return list(required)


def _job_arguments(f: Fields, value: Any) -> list[JobArgument]:
    out = []
    for i, item in enumerate(value or []):
        where = f"contract.job_arguments[{i}]"
        f.mapping(item, where, "write `- {flag: --job_type, source: job_type}`", required=True)
        flag = item.get("flag")
        if not isinstance(flag, str) or not flag.startswith("-"):
            f.fail(f"{where}.flag", f"expected a flag like --job_type, got {flag!r}",
                   "write `flag: --job_type`")
        source = str(item.get("source") or flag.lstrip("-"))
        default = item.get("default")
        out.append(JobArgument(flag, source, None if default is None else str(default)))
    return out


def _suite_paths(f: Fields, value: Any, where: str, channels: dict) -> dict[str, Path]:
    """GX suite files per channel, relative to the step file; they must exist."""
    value = f.mapping(value or {}, where, "write `name: path/to/suite.json`")
    out = {}
    for name, rel in value.items():
        if name not in channels:
            f.fail(f"{where}.{name}", f"no such channel {name!r}", f"use one of {sorted(channels)}")
        path = (f.path.parent / str(rel)).resolve()
        if not path.is_file():
            f.fail(f"{where}.{name}", f"suite file {path} does not exist",
                   "create it (cursus-local suggest-suite writes one) or fix the path")
        out[str(name)] = path
    return out


def _local_section(f: Fields, value: Any) -> dict[str, Any]:
    """`local:` paths are relative to the step file; resolve them now."""
    value = f.mapping(value or {}, "local", "write `local: {code: ../scripts, inputs: {...}}`")
    base = f.path.parent
    out = dict(value)
    if "code" in value:
        out["code"] = (base / str(value["code"])).resolve()
    for key in ("inputs", "outputs"):
        mapping = f.mapping(value.get(key) or {}, f"local.{key}", f"write `{key}: {{name: ./folder}}`")
        out[key] = {str(k): (base / str(v)).resolve() if "://" not in str(v) else str(v)
                    for k, v in mapping.items()}
    out["env"] = f.strings(value.get("env"), "local.env")
    out["job_arguments"] = f.strings(value.get("job_arguments"), "local.job_arguments")
    return out


def find_step(name_or_path: str, search_dirs: list[Path]) -> Path:
    """A step file by path, or by logical name in `<dir>/steps/` or `<dir>/` for each dir."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return candidate
    tried = []
    for base in search_dirs:
        for folder in (base / "steps", base):
            for suffix in STEP_SUFFIXES:
                path = folder / f"{name_or_path}{suffix}"
                tried.append(str(path))
                if path.is_file():
                    return path
    raise UserError(f"no step named {name_or_path!r}", field="step",
                    fix="run from a scenario folder (with steps/<name>.step.yaml), pass --scenario DIR, "
                        f"or give the step file's path; looked in: {', '.join(tried)}")
