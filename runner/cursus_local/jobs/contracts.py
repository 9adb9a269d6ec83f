"""The step model, loaded from Cursus `*.step.yaml` interface files (as they are) or our own YAML.

Our own format is a superset of Cursus's: the same `contract:` section, plus optional
`compute:` keys for the processing resources and a `local:` section with the defaults that
`cursus-local run-step` uses (code folder, input folders, env, job arguments). `suites:` names the
GX suite each input must pass and each output must pass (`{inputs: {name: file}, outputs: ...}`);
they drive handoff checks, static schema compatibility and synthetic data. Everything else
in the file (`spec:`, `registry:`, `patterns:` ...) is kept in `Step.raw`.
"""

from __future__ import annotations

import difflib
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import yamlfile
from ..errors import UserError
from ..fields import Fields

DEFAULT_IMAGE_REPO = "cursus-local/{kind}-processing"
DEFAULT_FRAMEWORK_VERSION = "1.2-1"    # sklearn's; every framework has its own (FRAMEWORKS)
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
    image: str = ""                # the default image (kind + version); "" when none resolves
    kind: str = "sklearn"          # compute.kind: sklearn | xgboost | framework | script | ...
    sdk_class: str | None = None   # compute.sdk_class: SKLearn | XGBoost | PyTorch ...
    source_dir: bool = False       # contract.source_dir: the whole code folder ships (framework)
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
    return parse_step(step_document(path) or {}, path)


def step_document(path: Path) -> Any:
    """The YAML document of a step file; a file that can't be read as UTF-8 text is a UserError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the step file: {exc}", file=str(path), field="(file)",
                        fix="save it as UTF-8 YAML text, or move it out of the steps folder") from None
    return yamlfile.load(text, file=str(path))


# The keys a step file may have, per level: Cursus's interface keys and our additions. A typo
# (`suite:` for `suites:`) would otherwise drop what it meant, silently.
STEP_KEYS = {
    "": ("name", "step_type", "node_type", "description", "registry", "compute", "contract", "spec",
         "patterns", "variants", "local", "suites"),
    "registry": ("sagemaker_step_type", "description", "requires", "config_class", "builder_step_name",
                 "spec_type", "job_types"),
    "compute": ("kind", "sdk_class", "framework_version", "framework_version_field",
                "framework_version_default", "py_version", "py_version_field", "retrieve_image",
                "retrieve_framework", "lock_training_region", "image", "image_uri_field",
                "container_entrypoint", "instance_type", "instance_count", "volume_size_in_gb",
                "max_runtime_in_seconds", "enable_network_isolation"),
    "contract": ("entry_point", "inputs", "outputs", "arguments", "job_arguments", "env_vars",
                 "framework_requirements", "description", "source_dir", "input_source_overrides",
                 "include_job_type_in_path", "circular_ref_check"),
    "contract.inputs.*": ("path", "required", "channels", "description"),
    "contract.outputs.*": ("path", "description"),
    "contract.env_vars": ("required", "optional"),
    "contract.job_arguments[]": ("flag", "source", "default", "description"),
    "local": ("code", "inputs", "outputs", "env", "job_arguments"),
    "suites": ("inputs", "outputs"),
    "spec": ("step_type", "node_type", "dependencies", "outputs"),
    "spec.dependencies.*": ("logical_name", "type", "dependency_type", "required", "compatible_sources",
                            "semantic_keywords", "data_type", "description"),
    "spec.outputs.*": ("logical_name", "type", "output_type", "property_path", "data_type", "description",
                       "aliases", "semantic_keywords"),
    "variants.*": ("step_type", "description", "spec", "contract", "patterns"),
}


def _check_keys(f: Fields, doc: dict) -> None:
    """Every key at every level of the step file is one we know (`*`: each entry of a mapping,
    `[]`: each item of a list); a section of another shape is left to its own check."""
    for level, allowed in STEP_KEYS.items():
        for where, section in _sections(doc, level.split(".") if level else [], ""):
            if isinstance(section, dict):
                # a Cursus interface may hold a value under the config field it names itself
                named = [v for k, v in section.items() if k.endswith("_field") and isinstance(v, str)] \
                    if level == "compute" else []
                f.known_keys(section, (*allowed, *named), where)


def _sections(value: Any, parts: list[str], where: str):
    if not parts:
        yield where, value
        return
    head, rest = parts[0], parts[1:]
    if head == "*" and isinstance(value, dict):
        for key, item in value.items():
            yield from _sections(item, rest, f"{where}.{key}")
    elif head.endswith("[]") and isinstance(value, dict) and isinstance(value.get(head[:-2]), list):
        for i, item in enumerate(value[head[:-2]]):
            yield from _sections(item, rest, f"{where}.{head[:-2]}[{i}]".lstrip("."))
    elif isinstance(value, dict) and head in value:
        yield from _sections(value[head], rest, f"{where}.{head}".lstrip("."))


def parse_step(doc: Any, path: Path) -> Step:
    f = Fields(path)
    f.mapping(doc, "(top level)", "a step file is a mapping with a `contract:` section", required=True)
    _check_keys(f, doc)
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
    normal = posixpath.normpath(entry_point.strip())
    if entry_point.startswith("/") or normal == "." or normal.startswith("../") or normal == "..":
        # the script is shipped and run: /etc/shadow or ../../etc/shadow would ship a host file
        f.fail("contract.entry_point", f"{entry_point!r} is not a path inside the code folder",
               "name the script by its path relative to the code folder (--code or local.code), "
               "e.g. `entry_point: preprocess.py`")

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
        kind=str(compute.get("kind") or DEFAULT_KIND),
        sdk_class=None if compute.get("sdk_class") is None else str(compute["sdk_class"]),
        source_dir=_bool(f, contract.get("source_dir", False), "contract.source_dir"),
        instance_type=str(compute.get("instance_type") or DEFAULT_INSTANCE_TYPE),
        instance_count=count("instance_count", 1),
        volume_size_gb=count("volume_size_in_gb", 30),
        max_runtime_seconds=count("max_runtime_in_seconds", DEFAULT_MAX_RUNTIME),
        network_isolation=_bool(f, compute.get("enable_network_isolation", False),
                                "compute.enable_network_isolation"),
        local=_local_section(f, doc.get("local")),
        raw=doc,
    )
    suites = f.mapping(doc.get("suites") or {}, "suites",
                       "write `suites: {inputs: {name: file.json}, outputs: {...}}`")
    step.input_suites = _suite_paths(f, suites.get("inputs"), "suites.inputs", step.inputs)
    step.output_suites = _suite_paths(f, suites.get("outputs"), "suites.outputs", step.outputs)
    if "instance_type" in compute:
        check_instance_type(step, step.instance_type, "compute.instance_type")
    try:   # a kind or version with no stand-in is reported when the job is built (preflight)
        step.image = image_for(step)
    except UserError:
        step.image = ""
    return step


def _bool(f: Fields, value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        f.fail(field, f"expected true or false, got {value!r}", f"write `{field.rsplit('.', 1)[-1]}: true`")
    return value


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
    """`local:` paths are relative to the step file: made absolute now. A symlink is kept as
    given: the build resolves it, refuses a system folder and says what is really mounted."""
    value = f.mapping(value or {}, "local", "write `local: {code: ../scripts, inputs: {...}}`")
    base = f.path.parent

    def path(given: Any) -> Path:
        return Path(os.path.abspath(base / str(given)))

    out = dict(value)
    if "code" in value:
        out["code"] = path(value["code"])
    for key in ("inputs", "outputs"):
        mapping = f.mapping(value.get(key) or {}, f"local.{key}", f"write `{key}: {{name: ./folder}}`")
        out[key] = {str(k): path(v) if "://" not in str(v) else str(v)
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
    import difflib
    known = sorted({step_name_of(p) for base in search_dirs for folder in (base / "steps", base)
                    if folder.is_dir() for p in folder.iterdir() if p.name.endswith(STEP_SUFFIXES)})
    close = difflib.get_close_matches(name_or_path, known, n=1)
    raise UserError(f"no step named {name_or_path!r}", field="step",
                    fix=(f"did you mean {close[0]!r}? " if close else "")
                    + "run from a scenario folder (with steps/<name>.step.yaml), pass --scenario DIR, "
                    f"or give the step file's path; looked in: {', '.join(tried)}")


# --- job kinds, framework versions and stand-in images ---------------------------------------------
# Cursus reads `compute.kind` (+ `sdk_class`, `framework_version_field`) from the interface and builds
# the SDK object from it (TianpeiLuke/cursus `src/cursus/core/base/builder_base.py`,
# `_create_compute`): sklearn -> SKLearnProcessor, xgboost -> XGBoostProcessor, framework ->
# FrameworkProcessor(estimator_cls=<sdk_class>), script / byo_container -> ScriptProcessor with an
# image it names, estimator -> the <sdk_class> estimator (a Training job). images/README.md
# ("Processing kinds") has the table below in prose.

PROCESSING_KINDS = {
    "sklearn": "SKLearnProcessor: the script alone, at /opt/ml/processing/input/code/<file>",
    "xgboost": "XGBoostProcessor (a FrameworkProcessor): sourcedir.tar.gz + runproc.sh",
    "framework": "FrameworkProcessor(estimator_cls=<sdk_class>): sourcedir.tar.gz + runproc.sh",
    "script": "ScriptProcessor in an image you name: the script alone, run with python3",
    "byo_container": "ScriptProcessor in your own image: the script alone, run with "
                     "compute.container_entrypoint (default python3)",
}
OTHER_KINDS = {"estimator": "Training", "model": "CreateModel", "transformer": "Transform"}
KINDS = (*PROCESSING_KINDS, *OTHER_KINDS)
DEFAULT_KIND = "sklearn"       # a step file without `compute.kind` (our older YAML, legacy Cursus steps)
FRAMEWORK_PROCESSOR_KINDS = ("xgboost", "framework")
IMAGE_KINDS = ("script", "byo_container")   # no stand-in: the image is the step's to name


@dataclass(frozen=True)
class Framework:
    """One SageMaker framework image family and the stand-ins this project builds for it.

    `sdk_versions` and `aliases` are the training scope of the SDK's own
    `src/sagemaker/image_uri_config/<name>.json` (aws/sagemaker-python-sdk v2.257.6), which is the
    scope FrameworkProcessor uses (`est.training_image_uri()`)."""
    name: str                    # image_uris framework name
    real_image: str              # the real repository and tag shape
    default_version: str
    default_from: str            # where that default comes from
    stand_ins: tuple[str, ...]   # versions we build an image for
    processing_repo: str
    training_repo: str
    sdk_versions: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...] = ()

    def resolve(self, version: str) -> str:
        """An alias (`2.1`) to its version (`2.1.0`), as image_uris._version_for_config does."""
        return dict(self.aliases).get(version, version)

    def repo(self, purpose: str) -> str:
        return self.training_repo if purpose == "training" else self.processing_repo


FRAMEWORKS = {
    "sklearn": Framework(
        "sklearn", "sagemaker-scikit-learn:<v>-cpu-py3", "1.2-1",
        "Cursus ProcessingStepConfigBase.processing_framework_version",
        ("1.2-1", "1.0-1"), "cursus-local/sklearn-processing",
        # SageMaker runs the same sagemaker-scikit-learn image for training and processing
        "cursus-local/sklearn-processing",
        ("0.20.0", "0.23-1", "1.0-1", "1.2-1", "1.4-2")),
    "xgboost": Framework(
        "xgboost", "sagemaker-xgboost:<v>", "1.7-1",
        "Cursus XGBoostTrainingConfig.framework_version",
        ("1.7-1",), "cursus-local/xgboost-processing", "cursus-local/xgboost-training",
        ("1", "0.90-1", "0.90-2", "1.0-1", "1.2-1", "1.2-2", "1.3-1", "1.5-1", "1.7-1", "3.0-5")),
    "pytorch": Framework(
        "pytorch", "pytorch-training:<v>-cpu-py310", "2.1.0",
        "Cursus BasePipelineConfig/PyTorchTrainingConfig.framework_version",
        ("2.1.0",), "cursus-local/pytorch-processing", "cursus-local/pytorch-training",
        ("0.4.0", "1.0.0", "1.1.0", "1.2.0", "1.3.1", "1.4.0", "1.5.0", "1.6.0", "1.7.1", "1.8.0",
         "1.8.1", "1.9.0", "1.9.1", "1.10.0", "1.10.2", "1.11.0", "1.12.0", "1.12.1", "1.13.1",
         "2.0.0", "2.0.1", "2.1.0", "2.2.0", "2.3.0", "2.4.0", "2.5.1", "2.6.0", "2.7.1", "2.8.0"),
        (("0.4", "0.4.0"), ("1.0", "1.0.0"), ("1.1", "1.1.0"), ("1.2", "1.2.0"), ("1.3", "1.3.1"),
         ("1.4", "1.4.0"), ("1.5", "1.5.0"), ("1.6", "1.6.0"), ("1.7", "1.7.1"), ("1.8", "1.8.1"),
         ("1.9", "1.9.1"), ("1.10", "1.10.2"), ("1.11", "1.11.0"), ("1.12", "1.12.1"),
         ("1.13", "1.13.1"), ("2.0", "2.0.1"), ("2.1", "2.1.0"), ("2.2", "2.2.0"), ("2.3", "2.3.0"),
         ("2.4", "2.4.0"), ("2.5", "2.5.1"), ("2.6", "2.6.0"), ("2.7", "2.7.1"), ("2.8", "2.8.0"))),
}
SDK_CLASS_FRAMEWORK = {"SKLearn": "sklearn", "XGBoost": "xgboost", "PyTorch": "pytorch",
                       "SKLearnModel": "sklearn", "XGBoostModel": "xgboost", "PyTorchModel": "pytorch"}

# Every image this project builds -> its folder under images/ (`# image:` / `# also-tag:` headers;
# tests/test_processing_kinds.py checks this against the Dockerfiles). `images/build.sh <dir>`
# builds one; `make images` builds every one without `# default: no`.
STAND_INS = {
    "cursus-local/sklearn-processing:1.2-1": "sklearn-processing",
    "cursus-local/sklearn-processing:1.0-1": "sklearn-processing-1.0-1",
    "cursus-local/xgboost-processing:1.7-1": "xgboost-1.7-1",
    "cursus-local/xgboost-training:1.7-1": "xgboost-1.7-1",
    "cursus-local/pytorch-training:2.1.0": "pytorch-2.1.0",
    "cursus-local/pytorch-processing:2.1.0": "pytorch-2.1.0",
}
NOT_DEFAULT = {"pytorch-2.1.0"}   # `# default: no`: `make images` skips it (5 GB)
OUR_NAMESPACE = "cursus-local/"


def build_hint(image: str) -> str | None:
    """How to build one of our stand-in images (None for an image we don't build)."""
    folder = STAND_INS.get(image)
    if folder is None:
        return None
    return f"`images/build.sh {folder}`" + ("" if folder in NOT_DEFAULT else " (or `make images`)")


def job_kind(step: Step) -> str:
    """`compute.kind`, checked against the kinds Cursus defines."""
    if step.kind not in KINDS:
        close = difflib.get_close_matches(step.kind, KINDS, n=1)
        Fields(step.file).fail(
            "compute.kind", f"unknown job kind {step.kind!r}; the kinds are: {', '.join(KINDS)}",
            (f"did you mean {close[0]!r}? " if close else "")
            + "set `compute.kind:` to one of them (sklearn for a single script in the scikit-learn "
              "image, framework with sdk_class for a source dir)")
    return step.kind


def framework_of(step: Step, purpose: str = "processing") -> Framework | None:
    """The framework image family of the step's kind; None for script / byo_container."""
    kind = job_kind(step)
    f = Fields(step.file)
    if kind in IMAGE_KINDS:
        return None
    if kind in ("sklearn", "xgboost"):
        return FRAMEWORKS[kind]
    compute = step.raw.get("compute") or {}
    if kind == "estimator" and compute.get("retrieve_image"):
        # the estimator's image is image_uris.retrieve(retrieve_framework or "pytorch", ...)
        name = str(compute.get("retrieve_framework") or "pytorch")
        if name not in FRAMEWORKS:
            f.fail("compute.retrieve_framework", f"no stand-in image family for {name!r}",
                   f"use one of {', '.join(FRAMEWORKS)}, or name an image you can pull in compute.image")
        return FRAMEWORKS[name]
    if step.sdk_class is None:
        f.fail("compute.sdk_class", f"compute.kind {kind!r} needs an sdk_class (the estimator class "
               "whose image runs the job)", f"add `sdk_class:` ({', '.join(SDK_CLASS_FRAMEWORK)})")
    if step.sdk_class not in SDK_CLASS_FRAMEWORK:
        close = difflib.get_close_matches(step.sdk_class, list(SDK_CLASS_FRAMEWORK), n=1)
        f.fail("compute.sdk_class", f"no stand-in image family for sdk_class {step.sdk_class!r}",
               f"did you mean {close[0]!r}?" if close else
               f"use one of {', '.join(SDK_CLASS_FRAMEWORK)}, or name an image you can pull in compute.image")
    return FRAMEWORKS[SDK_CLASS_FRAMEWORK[step.sdk_class]]


def framework_version(step: Step, version: str | None = None) -> tuple[str, str]:
    """(version, where it came from) for the step's framework, first found of:
    `version` (the run's own value: a DAG node, a flag), `compute.framework_version` (our YAML),
    `compute.<framework_version_field>` (the Cursus config field the interface names, e.g.
    `processing_framework_version: 1.0-1`), `compute.framework_version_default` (the interface),
    then the framework's documented default (FRAMEWORKS)."""
    framework = framework_of(step)
    compute = step.raw.get("compute") or {}
    field_name = compute.get("framework_version_field")
    given = []
    for key in ("framework_version", field_name):
        if key and compute.get(key) is not None:
            given.append((str(compute[key]), f"compute.{key}"))
    if len({v for v, _ in given}) > 1:
        Fields(step.file).fail(given[1][1], f"framework version {given[1][0]} differs from "
                               f"{given[0][1]} {given[0][0]}", "give the version once")
    if version:
        return str(version), "framework_version (this run's value)"
    if given:
        return given[0]
    if compute.get("framework_version_default") is not None:
        return str(compute["framework_version_default"]), "compute.framework_version_default"
    assert framework is not None
    return framework.default_version, f"the default for {framework.name} ({framework.default_from})"


def image_for(step: Step, version: str | None = None, purpose: str | None = None) -> str:
    """The image the step's job runs in: `compute.image` when the step names one, else our stand-in
    for its framework (`purpose` "processing" or "training"; default from the step's
    sagemaker_step_type) at its framework version (see framework_version). Raises a UserError naming
    the file, the field, the versions we have and how to build or name an image."""
    f = Fields(step.file)
    compute = step.raw.get("compute") or {}
    purpose = purpose or ("training" if step.sagemaker_step_type == "Training" else "processing")
    explicit = compute.get("image") or (compute.get(compute["image_uri_field"])
                                        if compute.get("image_uri_field") else None)
    if explicit:
        image = str(explicit)
        check_image(step, image, "compute.image")
        return image
    framework = framework_of(step, purpose)
    if framework is None:
        what = ("Cursus derives <account>.dkr.ecr.<region>.amazonaws.com/sais_python_lib_docker_image "
                "from the role" if step.kind == "script" else
                f"Cursus takes it from the config field {compute.get('image_uri_field') or 'image_uri'}")
        f.fail("compute.image", f"compute.kind {step.kind!r} runs in an image the step names ({what}); "
               "this project has no stand-in for it",
               "name an image you can pull or have built: `compute.image: URI` in the step file, "
               "`image:` on the DAG node, or `--image URI` for run-step")
    value, source = framework_version(step, version)
    resolved = framework.resolve(value)
    field = source if source.startswith("compute.") else "compute.framework_version"
    if resolved not in framework.sdk_versions:
        close = difflib.get_close_matches(value, framework.sdk_versions, n=1)
        f.fail(field, f"{framework.name} has no framework version {value!r} on SageMaker "
               f"(from {source}); the SDK knows {', '.join(framework.sdk_versions)}",
               f"did you mean {close[0]!r}?" if close else
               f"use a stand-in version: {', '.join(framework.stand_ins)}")
    image = f"{framework.repo(purpose)}:{resolved}"
    if resolved not in framework.stand_ins:
        f.fail(field, f"no stand-in image for {framework.name} {resolved} (from {source}): "
               f"{image} ({framework.real_image.replace('<v>', resolved)} on SageMaker) is not built "
               f"by this project; the {framework.name} versions we have: {', '.join(framework.stand_ins)}",
               f"set `compute.framework_version: {framework.stand_ins[0]}` (or give that version to "
               "this run), or name an image you can pull: `compute.image: URI`, `image:` on the DAG "
               "node, `--image URI` for run-step")
    return image


def check_image(step: Step, image: str, field: str) -> None:
    """An image in our namespace must be one we build: say which ones there are, and how."""
    if not image.startswith(OUR_NAMESPACE) or image in STAND_INS or image.startswith("cursus-local/runner"):
        return
    repo = image.rsplit(":", 1)[0]
    same = sorted(i for i in STAND_INS if i.rsplit(":", 1)[0] == repo)
    Fields(step.file).fail(
        field, f"image {image} is not one this project builds"
        + (f"; {repo} comes in: {', '.join(i.rsplit(':', 1)[1] for i in same)}" if same else ""),
        "use one of " + ", ".join(f"{i} (built by {build_hint(i)})" for i in (same or sorted(STAND_INS))))


# --- what a run may ask of a step --------------------------------------------------------------------

def require_channel(step: Step, kind: str, name: str, where: str, f: Fields, who: str | None = None,
                    fix_flag: str | None = None) -> None:
    """`name` is one of the step's `kind` ("inputs" / "outputs"); else a did-you-mean and the names."""
    channels = getattr(step, kind)
    if name in channels:
        return
    who = who or step.name
    close = difflib.get_close_matches(name, list(channels), n=1) or [
        c for c in channels if c.lower().startswith(name.lower())][:1]
    names = ", ".join(channels) or "(none)"
    fix = (f"did you mean {close[0]!r}? " if close else "") + (
        f"write {fix_flag} {who}.<{kind[:-1]}>=..., one of: {names}" if fix_flag
        else f"use one of: {names}")
    f.fail(where, f"{who} ({step.file.name}) declares no {kind[:-1]} {name!r}", fix)


# The request member each run option sets, per operation; its range is the service model's.
REQUEST_MEMBERS = {
    "InstanceType": {"CreateProcessingJob": ("ProcessingResources", "ClusterConfig", "InstanceType"),
                     "CreateTrainingJob": ("ResourceConfig", "InstanceType")},
    "InstanceCount": {"CreateProcessingJob": ("ProcessingResources", "ClusterConfig", "InstanceCount"),
                      "CreateTrainingJob": ("ResourceConfig", "InstanceCount")},
    "MaxRuntimeInSeconds": {"CreateProcessingJob": ("StoppingCondition", "MaxRuntimeInSeconds"),
                            "CreateTrainingJob": ("StoppingCondition", "MaxRuntimeInSeconds")},
}


def check_run_limit(step: Step, member: str, value: int | None, flag: str) -> None:
    """A run option (`--instance-count`, `--max-runtime`) within the range botocore's model gives
    the step's operation; at least 1 whatever the model says (0 hosts or 0 seconds run nothing)."""
    if value is None:
        return
    operation, shape = _request_member(step, member)
    low, high = max(1, shape.get("min", 1)), shape.get("max")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        Fields(step.file).fail(flag, f"{member} must be {bounds} for {operation}, got {value}",
                               f"pass {flag} N with N {bounds}, or leave it out to use the step file's")


def check_instance_type(step: Step, name: str, field: str) -> None:
    """An instance type the service offers for the step's job and whose size we know (for the
    container's limits); else the closest match and the valid ones."""
    from . import instance_types
    operation, shape = _request_member(step, "InstanceType")
    problem = instance_types.check(name, shape.get("enum") or [], operation)
    if problem:
        Fields(step.file).fail(field, *problem)


def _request_member(step: Step, member: str) -> tuple[str, dict]:
    """(operation, the model's shape of `member` in it) for the step's job."""
    from .validation import input_shape
    operation = "CreateTrainingJob" if step.sagemaker_step_type == "Training" else "CreateProcessingJob"
    shape = input_shape(operation)
    for key in REQUEST_MEMBERS[member][operation]:
        shape = shape["members"][key]
    return operation, shape
