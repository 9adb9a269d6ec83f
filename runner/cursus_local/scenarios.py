"""Script unit tests from `test_scenarios.yaml`: each scenario runs the script in its container on
synthetic (or S3-sampled) data and checks what it does: it passes its quality checks and its
output suites, or it fails the way `expected_behavior` says. Performance tests time named data
volumes against budgets; data-flow tests run an upstream and a downstream script together.

    script_integration_tests:
      currency_conversion:                    # steps/currency_conversion.step.yaml
        unit_tests:
          - name: synthetic_currency_conversion
            test_type: synthetic              # default; or s3_integration (below)
            data_scenarios:
              - scenario: multi_currency_data
                currencies: [USD, EUR, GBP]   # synthetic parameters, see synthetic.py
                data_size: 1000               # rows, or a volume name (small, medium, large)
              - scenario: unknown_variable
                env: {CURRENCY_CONVERSION_VARS: '["price"]'}
                expected_behavior: {exit_code: 1, message: "KeyError: 'price'"}
          - name: from_production
            test_type: s3_integration
            s3_test_data:
              - {pipeline_execution: "arn:aws:sagemaker:...", step_name: TabularPreprocessing,
                 output_name: processed_data}  # optional: input, max_bytes
        quality_checks:                       # on the step's first output (or `output:`)
          - check_type: null_value_validation
            max_null_percentage: 0.0          # a fraction; `columns:` (default: every column)
        performance_tests:
          - {volume: medium, max_seconds: 30, max_memory_mb: 1024}
        data_flow_tests:
          - {name: from_preprocessing, upstream_script: tabular_preprocessing,
             downstream_script: currency_conversion, test_data_size: small}
    data_volumes: {small: 1000, medium: 100000, large: 1000000}   # optional, these are the defaults
    seed: 0                                                       # optional

A data scenario (or performance test) may also set `env`, `job_arguments`, `code` (a folder
holding the script, relative to this file), `layout` (datasets.Layout fields: format, shards,
splits, compression, header), `seed`, and `inputs: {<input>: {parameters}}` for steps with several
inputs (each may hold its own `layout:`); a unit test entry may set the same keys (and `inputs`)
as defaults for its scenarios. Every other key is a
synthetic parameter for the step's input suite. The data is written in the layout of the step's
`local.inputs` sample (unless `layout:` says otherwise), else as one CSV.

`expected_behavior`: omitted, `pass` or a label (e.g. `use_default`): the script must succeed and
its checks pass; `fail`: it must exit non-zero; `{exit_code: N, message: TEXT}`: with that code
and TEXT in its exit message or log. Quality checks, each a set of GX expectations run by
`checks.validate`: schema_validation (required_columns, column_types), data_range_validation
(column(s), min_value, max_value), null_value_validation, unique_validation (column(s)),
value_set_validation (column, value_set), regex_validation (column, regex), row_count_validation
(min_value, max_value) and expectation (type, kwargs: any GX expectation); each may set `name`,
`output` and `severity`. The output quality score is the mean over all evaluated expectations
(quality checks and output suites, per split) of the fraction of values that pass.

Performance tests record the container's wall time, CPU time and peak memory; `max_seconds`
(container wall time) and `max_memory_mb` (peak) fail the test when exceeded. Their outputs are
not quality-checked: that is the unit tests' job.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from . import results
from .contracts import Step, find_step, load_step
from .datasets import Layout
from .errors import UserError
from .job import RunOptions
from .run_step import StepRun, run_step

DEFAULT_VOLUMES = {"small": 1_000, "medium": 100_000, "large": 1_000_000}
DEFAULT_VOLUME = "small"
CONFIG_NAME = "test_scenarios.yaml"
PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
TEST_TYPES = ("synthetic", "s3_integration")
PARTS = ("synthetic", "s3_integration", "performance", "data_flow")
EXAMPLE_ROWS = 5
LOG_TAIL = 15

RUN_KEYS = {"env", "job_arguments", "code", "layout", "seed", "expected_behavior", "description"}
SCENARIO_KEYS = RUN_KEYS | {"scenario", "name", "inputs", "data_size"}
PERFORMANCE_KEYS = RUN_KEYS - {"expected_behavior"} | {"name", "volume", "rows", "inputs",
                                                      "max_seconds", "max_memory_mb"}
S3_KEYS = RUN_KEYS | {"name", "pipeline_execution", "step_name", "output_name", "input",
                      "max_bytes", "inputs"}   # layout, seed, inputs: for the step's other inputs
UNIT_TEST_KEYS = RUN_KEYS | {"name", "test_type", "data_scenarios", "s3_test_data", "inputs"}
SCRIPT_KEYS = {"unit_tests", "quality_checks", "performance_tests", "data_flow_tests"}
FLOW_KEYS = {"name", "upstream_script", "downstream_script", "test_data_size",
             "expected_schema_compatibility", "seed"}
LAYOUT_KEYS = {f.name for f in dataclasses.fields(Layout)}
PASSING_WORDS = {"pass", "passes", "succeed", "success"}

# on_event(kind, label, text): kind "start" (text: what runs) or "done" (text: PASS / FAIL)
TestEvent = Callable[[str, str, str], None]


# ----------------------------------------------------------------------------- the model

@dataclass
class Behavior:
    succeed: bool = True
    exit_code: int | None = None
    message: str | None = None
    label: str = ""

    def describe(self) -> str:
        if self.succeed:
            return f"pass ({self.label})" if self.label else "pass"
        return ", ".join(["fail"] + ([f"exit code {self.exit_code}"] if self.exit_code is not None
                                     else []) + ([f"message {self.message!r}"] if self.message else []))


@dataclass
class Case:
    """One run of the script: a data scenario, an S3 source or a performance test."""
    name: str
    rows: int
    params: dict[str, dict] = field(default_factory=dict)   # input -> synthetic parameters
    seed: int = 0
    env: dict[str, str] = field(default_factory=dict)
    job_arguments: dict[str, str] = field(default_factory=dict)
    code: Path | None = None
    layout: Layout | None = None
    input_layouts: dict[str, Layout] = field(default_factory=dict)   # per input, from `inputs:`
    behavior: Behavior = field(default_factory=Behavior)
    volume: str = ""
    max_seconds: float | None = None
    max_memory_mb: float | None = None
    s3_source: dict | None = None      # {pipeline_execution, step_name, output_name, input, max_bytes}


@dataclass
class UnitTest:
    name: str
    test_type: str
    cases: list[Case]


@dataclass
class QualityCheck:
    name: str
    check_type: str
    output: str
    expectations: list[dict]           # GX expectations; `column: None` means every column


@dataclass
class DataFlowTest:
    name: str
    upstream: Step
    downstream: Step
    rows: int | None                   # None: the upstream's own sample data
    expect_compatible: bool = True
    seed: int = 0


@dataclass
class ScriptTests:
    script: str
    step: Step
    config: Path | None = None
    volumes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_VOLUMES))
    seed: int = 0
    unit_tests: list[UnitTest] = field(default_factory=list)
    quality_checks: list[QualityCheck] = field(default_factory=list)
    performance_tests: list[Case] = field(default_factory=list)
    data_flow_tests: list[DataFlowTest] = field(default_factory=list)

    def of_type(self, test_type: str) -> list[UnitTest]:
        return [t for t in self.unit_tests if t.test_type == test_type]


# ----------------------------------------------------------------------------- loading

def default_config(scenario_dir: Path) -> Path:
    return Path(scenario_dir) / CONFIG_NAME


def load_tests(config: Path | None, scenario_dir: Path, script: str | None = None
               ) -> dict[str, ScriptTests]:
    """The tests of every script in `config` (or of `script` only). With no config file, or a
    script the file doesn't name, that script gets empty tests (its step's suites still apply)."""
    scenario_dir = Path(scenario_dir)
    found = {}
    if config is not None and Path(config).is_file():
        found = _Reader(Path(config), scenario_dir).load()
    elif config is not None and config != default_config(scenario_dir):
        raise UserError("no such test scenarios file", file=str(config),
                        fix=f"pass --config PATH to a {CONFIG_NAME}, or omit it")
    if script is None:
        if not found:
            raise UserError(f"no scripts to test: {config or CONFIG_NAME} names none", field="--script",
                            fix=f"pass --script NAME, or write {default_config(scenario_dir)}")
        return found
    if script not in found:
        step = load_step(find_step(script, [scenario_dir, Path.cwd()]))
        volumes = next(iter(found.values())).volumes if found else dict(DEFAULT_VOLUMES)
        found = {script: ScriptTests(script, step, volumes=volumes)}
    return {script: found[script]}


def default_synthetic(tests: ScriptTests, rows: int | None = None) -> UnitTest:
    """One scenario of data generated from the step's input suites alone."""
    case = Case("from_suites", rows or tests.volumes[DEFAULT_VOLUME], seed=tests.seed)
    plan_inputs(tests.step, case)   # fails early if an input can't be generated
    return UnitTest("synthetic_defaults", "synthetic", [case])


def default_performance(tests: ScriptTests) -> list[Case]:
    return [Case(volume, rows, seed=tests.seed, volume=volume)
            for volume, rows in tests.volumes.items()]


class _Reader:
    """Reads a test_scenarios.yaml; every error names the file, the field and the fix."""

    def __init__(self, file: Path, scenario_dir: Path):
        self.file, self.scenario_dir = file.absolute(), scenario_dir
        self.volumes, self.seed = dict(DEFAULT_VOLUMES), 0

    def fail(self, where: str, message: str, fix: str | None = None):
        raise UserError(message, file=str(self.file), field=where, fix=fix)

    def load(self) -> dict[str, ScriptTests]:
        try:
            doc = yaml.safe_load(self.file.read_text())
        except yaml.YAMLError as exc:
            raise UserError(f"not valid YAML: {exc}", file=str(self.file),
                            fix="fix the YAML syntax") from None
        doc = self.mapping(doc, "(top level)", "start the file with `script_integration_tests:`")
        self.only(doc, "(top level)", {"script_integration_tests", "data_volumes", "seed"})
        for name, rows in self.mapping(doc.get("data_volumes"), "data_volumes",
                                       "write `data_volumes: {small: 1000, medium: 100000}`").items():
            self.volumes[str(name)] = self.number(rows, f"data_volumes.{name}", int, 1)
        self.seed = self.number(doc.get("seed", 0), "seed", int, 0)
        scripts = self.mapping(doc.get("script_integration_tests"), "script_integration_tests",
                               "write `script_integration_tests: {<script>: {unit_tests: [...]}}`")
        if not scripts:
            self.fail("script_integration_tests", "no scripts",
                      "add one: `currency_conversion: {unit_tests: [...]}`")
        return {str(s): self.script(str(s), section) for s, section in scripts.items()}

    # --- sections ---------------------------------------------------------------------------
    def script(self, script: str, section: Any) -> ScriptTests:
        where = f"script_integration_tests.{script}"
        section = self.mapping(section, where, "write `unit_tests:`, `quality_checks:` ... under it")
        self.only(section, where, SCRIPT_KEYS)
        step = self.step(script, where)
        tests = ScriptTests(script, step, self.file, self.volumes, self.seed)
        for i, raw in enumerate(self.entries(section, "unit_tests", where)):
            tests.unit_tests.append(self.unit_test(step, raw, f"{where}.unit_tests[{i}]", i))
        for i, raw in enumerate(self.entries(section, "quality_checks", where)):
            tests.quality_checks.append(self.quality_check(step, raw, f"{where}.quality_checks[{i}]"))
        _name_duplicates(tests.quality_checks)
        for i, raw in enumerate(self.entries(section, "performance_tests", where)):
            tests.performance_tests.append(
                self.performance(step, raw, f"{where}.performance_tests[{i}]"))
        for i, raw in enumerate(self.entries(section, "data_flow_tests", where)):
            tests.data_flow_tests.append(self.data_flow(raw, f"{where}.data_flow_tests[{i}]"))
        for kind, items in (("unit test", tests.unit_tests),
                            ("performance test", tests.performance_tests),
                            ("data flow test", tests.data_flow_tests)):
            self.unique_names([t.name for t in items], f"{where}: {kind}")
        return tests

    def step(self, name: str, where: str) -> Step:
        try:
            return load_step(find_step(name, [self.file.parent, self.scenario_dir]))
        except UserError as exc:
            if exc.file:          # the step file itself is broken: say so
                raise
            self.fail(where, f"no step file for script {name!r}",
                      f"create steps/{name}.step.yaml next to {self.file.name}, or fix the name")

    def unit_test(self, step: Step, raw: Any, where: str, index: int) -> UnitTest:
        raw = self.mapping(raw, where, "write `- {name: ..., test_type: synthetic, data_scenarios: [...]}`")
        self.only(raw, where, UNIT_TEST_KEYS)
        test_type = raw.get("test_type", "synthetic")
        if test_type not in TEST_TYPES:
            self.fail(f"{where}.test_type", f"unknown test type {test_type!r}",
                      f"use one of {', '.join(TEST_TYPES)}")
        name = str(raw.get("name") or f"{test_type}_{index + 1}")
        defaults = {k: raw[k] for k in RUN_KEYS | {"inputs"} if k in raw}
        if test_type == "s3_integration":
            key, build, fix = "s3_test_data", self.s3_case, \
                "write `- {pipeline_execution: ARN, step_name: STEP, output_name: OUTPUT}`"
            items = self.entries(raw, key, where, required=True)
        else:
            if "s3_test_data" in raw:
                self.fail(f"{where}.s3_test_data", "s3_test_data belongs to s3_integration tests",
                          "set `test_type: s3_integration`, or remove s3_test_data")
            key, build, fix = "data_scenarios", self.scenario, "write `- scenario: NAME` and its parameters"
            items = self.entries(raw, key, where) or [{"scenario": "from_suites"}]
        cases = [build(step, {**defaults, **self.mapping(item, f"{where}.{key}[{i}]", fix)},
                       f"{where}.{key}[{i}]", i) for i, item in enumerate(items)]
        self.unique_names([c.name for c in cases], f"{where}: scenario")
        return UnitTest(name, test_type, cases)

    def scenario(self, step: Step, raw: dict, where: str, index: int) -> Case:
        case = self.run_settings(raw, where, str(raw.get("scenario") or raw.get("name")
                                                 or f"scenario_{index + 1}"))
        case.rows = self.rows(raw.get("data_size", DEFAULT_VOLUME), f"{where}.data_size")
        case.params = self.params(step, case, raw, where, SCENARIO_KEYS)
        return case

    def performance(self, step: Step, raw: Any, where: str) -> Case:
        raw = self.mapping(raw, where, "write `- {volume: medium, max_seconds: 60, max_memory_mb: 1024}`")
        if "volume" in raw and "rows" in raw:
            self.fail(where, "both `volume` and `rows`", "give one of them")
        volume = raw.get("volume", DEFAULT_VOLUME if "rows" not in raw else "")
        rows = self.rows(raw.get("rows", volume), f"{where}.{'rows' if 'rows' in raw else 'volume'}")
        case = self.run_settings(raw, where, str(raw.get("name") or volume or f"{rows}_rows"))
        case.rows, case.volume = rows, str(volume)
        for key in ("max_seconds", "max_memory_mb"):
            if raw.get(key) is not None:
                setattr(case, key, self.number(raw[key], f"{where}.{key}", float, 0))
        case.params = self.params(step, case, raw, where, PERFORMANCE_KEYS)
        return case

    def s3_case(self, step: Step, raw: dict, where: str, _index: int) -> Case:
        self.only(raw, where, S3_KEYS)
        for key in ("pipeline_execution", "step_name", "output_name"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                self.fail(f"{where}.{key}", f"missing {key}",
                          "write `pipeline_execution: arn:aws:sagemaker:...:pipeline/NAME/execution/ID`, "
                          "`step_name: <pipeline step>`, `output_name: <its output>`")
        target = raw.get("input") or self.sole(list(step.inputs), f"{where}.input", "input")
        if target not in step.inputs:
            self.fail(f"{where}.input", f"no input {target!r} in {step.name}",
                      f"use one of {sorted(step.inputs)}")
        source = {k: raw[k] for k in ("pipeline_execution", "step_name", "output_name")}
        source["input"] = target
        if "max_bytes" in raw:
            source["max_bytes"] = self.number(raw["max_bytes"], f"{where}.max_bytes", int, 1)
        case = self.run_settings(raw, where, str(raw.get("name") or
                                                 f"{raw['step_name']}.{raw['output_name']}"))
        case.s3_source = source
        return case

    def run_settings(self, raw: dict, where: str, name: str) -> Case:
        case = Case(name, 0, seed=self.seed)
        if "seed" in raw:
            case.seed = self.number(raw["seed"], f"{where}.seed", int, 0)
        case.env = self.string_map(raw.get("env"), f"{where}.env")
        case.job_arguments = self.string_map(raw.get("job_arguments"), f"{where}.job_arguments")
        if raw.get("code") is not None:
            case.code = (self.file.parent / str(raw["code"])).resolve()
            if not case.code.is_dir():
                self.fail(f"{where}.code", f"no folder {case.code}",
                          "give the folder holding the script, relative to this file")
        if raw.get("layout") is not None:
            case.layout = self.layout(raw["layout"], f"{where}.layout")
        case.behavior = self.behavior(raw.get("expected_behavior"), f"{where}.expected_behavior")
        return case

    def params(self, step: Step, case: Case, raw: dict, where: str, known: set) -> dict[str, dict]:
        """Synthetic parameters per input: the other keys for the only input, or `inputs:`."""
        top = {k: v for k, v in raw.items() if k not in known}
        per_input = self.mapping(raw.get("inputs"), f"{where}.inputs",
                                 "write `inputs: {<input>: {<parameter>: ...}}`")
        for name in per_input:
            if name not in step.inputs:
                self.fail(f"{where}.inputs.{name}", f"no input {name!r} in {step.name}",
                          f"use one of {sorted(step.inputs)}")
        params = {}
        for name, value in per_input.items():
            params[name] = dict(self.mapping(value, f"{where}.inputs.{name}", "write parameters as a mapping"))
            if "layout" in params[name]:
                case.input_layouts[name] = self.layout(params[name].pop("layout"),
                                                       f"{where}.inputs.{name}.layout")
        if top:
            target = self.sole(list(step.inputs), f"{where}.{next(iter(top))}", "input",
                               fix_hint="put the parameters under `inputs: {<input>: {...}}`")
            params[target] = {**top, **params.get(target, {})}
        case.params = params
        try:
            plan_inputs(step, case, dry_run=True)
        except UserError as exc:
            field_name = (exc.field or "").removeprefix("params.")
            close = difflib.get_close_matches(field_name, known, n=1) if field_name in top else []
            raise UserError(exc.message, file=str(self.file),
                            field=f"{where}.{field_name}" if field_name else where,
                            fix=f"did you mean {close[0]!r}?" if close
                            else exc.fix or "see the synthetic parameters in synthetic.py") from None
        return params

    def quality_check(self, step: Step, raw: Any, where: str) -> QualityCheck:
        raw = self.mapping(raw, where, "write `- {check_type: null_value_validation, max_null_percentage: 0.05}`")
        kind = raw.get("check_type")
        if kind not in QUALITY_CHECKS:
            close = difflib.get_close_matches(str(kind), QUALITY_CHECKS, n=1)
            self.fail(f"{where}.check_type", f"unknown check type {kind!r}",
                      f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(QUALITY_CHECKS)}")
        build, keys = QUALITY_CHECKS[kind]
        self.only(raw, where, keys | {"check_type", "name", "output", "severity"})
        output = raw.get("output") or next(iter(step.outputs), None)
        if output not in step.outputs:
            self.fail(f"{where}.output", f"no output {output!r} in {step.name}",
                      f"use one of {sorted(step.outputs)}")
        severity = raw.get("severity", "critical")
        expectations = build(_CheckArgs(self, raw, where))
        for e in expectations:
            e["severity"] = severity
        from .checks import check_suite
        try:
            check_suite({"name": kind, "expectations": [e for e in expectations
                                                        if e["kwargs"].get("column", "") is not None]})
        except UserError as exc:
            self.fail(where, exc.message, exc.fix)
        return QualityCheck(str(raw.get("name") or kind), kind, output, expectations)

    def data_flow(self, raw: Any, where: str) -> DataFlowTest:
        raw = self.mapping(raw, where, "write `- {upstream_script: A, downstream_script: B}`")
        self.only(raw, where, FLOW_KEYS)
        up, down = (self.step(str(raw.get(k) or self.fail(f"{where}.{k}", f"missing {k}",
                                                            f"name a step: `{k}: <script>`")),
                              f"{where}.{k}") for k in ("upstream_script", "downstream_script"))
        size = raw.get("test_data_size")
        return DataFlowTest(
            str(raw.get("name") or f"{up.name}_to_{down.name}"), up, down,
            None if size is None else self.rows(size, f"{where}.test_data_size"),
            bool(raw.get("expected_schema_compatibility", True)),
            self.number(raw.get("seed", self.seed), f"{where}.seed", int, 0))

    # --- values -----------------------------------------------------------------------------
    def mapping(self, value: Any, where: str, fix: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__}", fix)
        return value

    def entries(self, section: dict, key: str, where: str, required: bool = False) -> list:
        value = section.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            self.fail(f"{where}.{key}", f"expected a list, got {type(value).__name__}",
                      f"write `{key}:` followed by `- ...` entries")
        return value

    def only(self, raw: dict, where: str, allowed: set):
        for key in raw:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                self.fail(f"{where}.{key}", f"unknown key {key!r}",
                          f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(sorted(allowed))}")

    def number(self, value: Any, where: str, kind: type, minimum=None, maximum=None):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not (
            kind is int and value != int(value))
        if not ok or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f" from {minimum} to {maximum}" if maximum is not None else f" >= {minimum}"
            self.fail(where, f"expected {'a whole number' if kind is int else 'a number'}{bounds}, "
                             f"got {value!r}", f"write e.g. `{where.rsplit('.', 1)[-1]}: {minimum or 1}`")
        return kind(value)

    def rows(self, value: Any, where: str) -> int:
        if isinstance(value, str):
            if value not in self.volumes:
                self.fail(where, f"unknown data volume {value!r}",
                          f"use a number of rows or one of {', '.join(self.volumes)} (data_volumes:)")
            return self.volumes[value]
        return self.number(value, where, int, 0)

    def string_map(self, value: Any, where: str) -> dict[str, str]:
        value = self.mapping(value, where, "write `NAME: value` pairs")
        return {str(k): v if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict))
                else str(v) for k, v in value.items()}

    def layout(self, value: Any, where: str) -> Layout:
        value = self.mapping(value, where, "write `layout: {format: parquet, shards: 2, splits: [train, test]}`")
        self.only(value, where, LAYOUT_KEYS)
        try:
            return Layout(**value)
        except UserError as exc:
            self.fail(f"{where}.{exc.field}", exc.message, exc.fix)

    def behavior(self, value: Any, where: str) -> Behavior:
        if value is None or (isinstance(value, str) and value.lower() in PASSING_WORDS):
            return Behavior()
        if isinstance(value, str):
            return Behavior(succeed=value.lower() != "fail", label=value)
        value = self.mapping(value, where, "write `pass`, `fail` or `{exit_code: 1, message: TEXT}`")
        self.only(value, where, {"status", "exit_code", "message", "label"})
        status = str(value.get("status", "fail")).lower()
        if status not in PASSING_WORDS | {"fail"}:
            self.fail(f"{where}.status", f"unknown status {status!r}", "use pass or fail")
        code = value.get("exit_code")
        if code is not None:
            code = self.number(code, f"{where}.exit_code", int, 0, 255)
        return Behavior(status != "fail", code, value.get("message"), str(value.get("label", "")))

    def sole(self, names: list[str], where: str, what: str, fix_hint: str = "") -> str:
        if len(names) != 1:
            self.fail(where, f"the step has {len(names)} {what}s ({', '.join(names) or 'none'}); "
                             f"which one is meant?", fix_hint or f"name it: `{what}: <{what}>`")
        return names[0]

    def unique_names(self, names: list[str], what: str):
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            self.fail(what, f"names used twice: {dupes}", "give each its own `name:`")


# ----------------------------------------------------------------------------- quality checks

class _CheckArgs:
    def __init__(self, reader: _Reader, raw: dict, where: str):
        self.reader, self.raw, self.where = reader, raw, where

    def get(self, key: str, default=None):
        return self.raw.get(key, default)

    def columns(self, required: bool = True) -> list[str]:
        value = self.raw.get("columns", self.raw.get("column"))
        if value is None and not required:
            return []
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            self.reader.fail(f"{self.where}.column", f"expected a column name or a list, got {value!r}",
                             "write `column: converted_amount` or `columns: [a, b]`")
        return values

    def fraction(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1:
            self.reader.fail(f"{self.where}.{key}", f"{value} is more than 1: this is a fraction",
                             f"write 0.05 for 5% (`{key}: 0.05`)")
        return self.reader.number(value, f"{self.where}.{key}", float, 0, 1)

    def bounds(self) -> dict:
        out = {k: self.raw[k] for k in ("min_value", "max_value") if self.raw.get(k) is not None}
        if not out:
            self.reader.fail(self.where, "no bounds", "give min_value, max_value or both")
        for key, value in out.items():
            if not isinstance(value, (int, float, str)) or isinstance(value, bool):
                self.reader.fail(f"{self.where}.{key}", f"expected a number, got {value!r}",
                                 f"write `{key}: 0`")
        return out


def _expect(kind: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs}


def _schema(a: _CheckArgs) -> list[dict]:
    required = a.get("required_columns") or []
    types = a.reader.mapping(a.get("column_types"), f"{a.where}.column_types",
                             "write `column_types: {amount: float64}`")
    if not isinstance(required, list) or not (required or types):
        a.reader.fail(f"{a.where}.required_columns", "expected a list of column names",
                      "write `required_columns: [order_id, converted_amount]`")
    return ([_expect("column_to_exist", column=c) for c in required if c not in types]
            + [_expect("column_values_to_be_of_type", column=c, type_=t) for c, t in types.items()])


def _nulls(a: _CheckArgs) -> list[dict]:
    mostly = round(1 - a.fraction("max_null_percentage", 0.0), 6)
    return [_expect("column_values_to_not_be_null", column=c, mostly=mostly)
            for c in a.columns(required=False) or [None]]


def _row_count(a: _CheckArgs) -> list[dict]:
    bounds = {k: a.reader.number(v, f"{a.where}.{k}", int, 0) for k, v in a.bounds().items()}
    return [_expect("table_row_count_to_be_between", min_value=bounds.get("min_value"),
                    max_value=bounds.get("max_value"))]


def _raw_expectation(a: _CheckArgs) -> list[dict]:
    kind = a.get("type")
    if not isinstance(kind, str) or not kind.startswith("expect_"):
        a.reader.fail(f"{a.where}.type", f"expected a GX expectation type, got {kind!r}",
                      "write `type: expect_column_values_to_be_between`")
    return [{"type": kind, "kwargs": dict(a.reader.mapping(a.get("kwargs"), f"{a.where}.kwargs",
                                                           "write `kwargs: {column: ...}`"))}]


# check_type -> (builder, its keys)
QUALITY_CHECKS: dict[str, tuple[Callable[[_CheckArgs], list[dict]], set]] = {
    "schema_validation": (_schema, {"required_columns", "column_types"}),
    "data_range_validation": (lambda a: [_expect("column_values_to_be_between", column=c, **a.bounds())
                                         for c in a.columns()],
                              {"column", "columns", "min_value", "max_value"}),
    "null_value_validation": (_nulls, {"column", "columns", "max_null_percentage"}),
    "unique_validation": (lambda a: [_expect("column_values_to_be_unique", column=c)
                                     for c in a.columns()], {"column", "columns"}),
    "value_set_validation": (lambda a: [_expect("column_values_to_be_in_set", column=c,
                                                value_set=list(a.get("value_set") or []))
                                        for c in a.columns()], {"column", "columns", "value_set"}),
    "regex_validation": (lambda a: [_expect("column_values_to_match_regex", column=c,
                                            regex=str(a.get("regex") or ""))
                                    for c in a.columns()], {"column", "columns", "regex"}),
    "row_count_validation": (_row_count, {"min_value", "max_value"}),
    "expectation": (_raw_expectation, {"type", "kwargs"}),
}


def _name_duplicates(checks: list[QualityCheck]):
    """Two checks of one type get their column (or position) in their names."""
    names = [c.name for c in checks]
    for i, check in enumerate(checks):
        if names.count(check.name) > 1:
            columns = {e["kwargs"].get("column") for e in check.expectations} - {None}
            check.name += f"[{','.join(sorted(columns))}]" if columns else f"[{i + 1}]"


@dataclass
class Quality:
    statuses: dict[str, str] = field(default_factory=dict)     # check -> PASS | WARN | FAIL
    details: dict[str, dict] = field(default_factory=dict)     # for checks that didn't pass
    score: float | None = None

    @property
    def failed(self) -> bool:
        return FAIL in self.statuses.values()


def evaluate_outputs(step: Step, quality_checks: list[QualityCheck],
                     outputs: dict[str, Path]) -> Quality:
    """Quality checks and the step's output suites on what the script wrote."""
    from . import checks, datasets

    quality, fractions = Quality(), []
    for output, folder in outputs.items():
        mine = [c for c in quality_checks if c.output == output]
        groups: list[tuple[dict, list[str]]] = []   # (suite, the check owning each expectation)
        if mine:
            try:
                columns = datasets.read_table(folder).column_names if any(
                    e["kwargs"].get("column", "") is None for c in mine for e in c.expectations) else []
            except UserError as exc:
                _all_fail(quality, [c.name for c in mine], exc.message)
                continue
            expectations, owners = [], []
            for check in mine:
                for e in check.expectations:
                    for column in (columns if e["kwargs"].get("column", "") is None else [""]):
                        expectations.append({**e, "kwargs": {**e["kwargs"], "column": column}}
                                            if column else dict(e))
                        owners.append(check.name)
            groups.append(({"name": f"{step.name}.quality_checks", "expectations": expectations},
                           owners))
        if output in step.output_suites:
            suite = checks.load_suite(step.output_suites[output])
            groups.append((suite, [f"suite:{suite['name']}"] * len(suite["expectations"])))
        for suite, owners in groups:
            try:
                result = checks.validate(suite, folder)
            except UserError as exc:
                _all_fail(quality, list(dict.fromkeys(owners)), exc.message)
                continue
            by_owner: dict[str, list] = {o: [] for o in owners}
            for i, r in enumerate(result.expectations):
                by_owner[owners[i % len(owners)]].append(r)
                fractions.append(_pass_fraction(r))
            for owner, items in by_owner.items():
                quality.statuses[owner] = _status(items)
                if quality.statuses[owner] != PASS:
                    quality.details[owner] = _failure_details(folder, items)
    quality.score = round(sum(fractions) / len(fractions), 4) if fractions else None
    return quality


def _all_fail(quality: Quality, names: list[str], message: str):
    for name in names:
        quality.statuses[name] = FAIL
        quality.details[name] = {"status": FAIL, "message": message}


def _status(items: list) -> str:
    failed = [r for r in items if not r.success]
    if any(r.severity == "critical" for r in failed):
        return FAIL
    return WARN if failed else PASS


def _pass_fraction(r) -> float:
    if r.unexpected_percent is not None and not math.isnan(r.unexpected_percent):
        return max(0.0, 1 - r.unexpected_percent / 100)
    return float(r.success)


def _failure_details(folder: Path, items: list) -> dict:
    """The failing expectations with their failing rows: count, values and example rows."""
    import pyarrow.compute as pc

    failed = [r for r in items if not r.success]
    critical = [r for r in failed if r.severity == "critical"]
    failures, masks, tables = [], {}, {}
    for r in critical + [r for r in failed if r.severity != "critical"]:
        failure = {"expectation": r.type, "column": r.column, "split": r.split, "severity": r.severity,
                   "message": r.message, "failing_rows": r.unexpected_count,
                   "examples": r.unexpected_examples}
        if (mask := _failing_mask(folder, r, tables)) is not None:
            table = tables[r.split]
            failure["failing_rows"] = pc.sum(mask).as_py() or 0
            failure["example_rows"] = _jsonable(table.filter(mask).slice(0, EXAMPLE_ROWS).to_pylist())
            if r in critical or not critical:   # count the rows behind the status
                masks[r.split] = pc.or_(masks[r.split], mask) if r.split in masks else mask
        failures.append(failure)
    counted = sum(pc.sum(m).as_py() or 0 for m in masks.values())
    uncounted = sum(f["failing_rows"] or 0 for f in failures if "example_rows" not in f
                    and (f["severity"] == "critical" or not critical))
    return {"status": _status(items), "failing_rows": counted + uncounted, "failures": failures}


def _failing_mask(folder: Path, r, tables: dict):
    """Which rows of its split fail a null, range or value-set expectation (None: other kinds).
    `tables` caches the splits read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import datasets
    if r.column is None or r.type not in ROW_PREDICATES:
        return None
    try:
        if not tables:
            tables.update(datasets.read_splits(folder))
        values, k = tables[r.split].column(r.column), r.kwargs
        if r.type == "expect_column_values_to_not_be_null":
            mask = pc.is_null(values, nan_is_null=True)
        elif r.type == "expect_column_values_to_be_between":
            low = pc.less(values, k["min_value"]) if k.get("min_value") is not None else None
            high = pc.greater(values, k["max_value"]) if k.get("max_value") is not None else None
            mask = low if high is None else high if low is None else pc.or_(low, high)
        else:
            outside = pc.invert(pc.is_in(values, value_set=pa.array(k["value_set"]).cast(values.type)))
            mask = pc.and_(outside, pc.is_valid(values))   # GX leaves nulls to the null checks
        return pc.fill_null(mask, False)
    except (KeyError, UserError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


ROW_PREDICATES = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
                  "expect_column_values_to_be_in_set")


def _jsonable(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


# ----------------------------------------------------------------------------- synthetic inputs

@dataclass
class InputPlan:
    """Where one input's data comes from: generated (suite and/or parameters) or a sample as is."""
    name: str
    suite: Path | None = None
    params: dict = field(default_factory=dict)
    layout: Layout | None = None
    sample: Path | None = None


def plan_inputs(step: Step, case: Case, *, suites: dict[str, Path] | None = None,
                dry_run: bool = False) -> list[InputPlan]:
    """An input with a suite (or `columns:` parameters) is generated, in the layout of its
    `local.inputs` sample unless the case gives one; one with only a sample uses it as is.
    `dry_run` generates two rows of each to check the parameters against the suites."""
    from . import checks, datasets, synthetic

    suites = {**step.input_suites, **(suites or {})}
    plans = []
    for name, spec in step.inputs.items():
        params = case.params.get(name, {})
        sample = step.local.get("inputs", {}).get(name)
        sample = sample if isinstance(sample, Path) and sample.exists() else None
        if name in suites or params.get("columns"):
            layout = case.input_layouts.get(name) or case.layout or (
                datasets.detect_layout(sample) if sample else None)
            plans.append(InputPlan(name, suites.get(name), params, layout))
            if dry_run:
                suite = checks.load_suite(suites[name]) if name in suites else None
                synthetic.generate(suite, rows=2, seed=case.seed,
                                   params={k: v for k, v in params.items() if k != "data_size"})
        elif sample:
            plans.append(InputPlan(name, sample=sample))
        elif spec.required:
            raise UserError(f"input {name!r} has no suite to generate data from and no sample",
                            file=str(step.file), field=f"suites.inputs.{name}",
                            fix="add `suites: {inputs: {" + name + ": <suite.json>}}` to the step "
                                "(cursus-local suggest-suite drafts one from real data), or give "
                                f"`inputs: {{{name}: {{columns: ...}}}}` in the scenario")
    return plans


def write_inputs(plans: list[InputPlan], folder: Path, rows: int, seed: int,
                 single_in_folder: bool = False) -> dict[str, Path]:
    """Generate each planned input into `folder/<input>` (`folder` itself if single_in_folder
    and there is one input); deterministic for a seed. Returns input -> its data."""
    from . import checks, synthetic

    bound = {}
    for i, plan in enumerate(plans):
        if plan.sample is not None:
            bound[plan.name] = plan.sample
            continue
        target = folder if single_in_folder and len(plans) == 1 else folder / plan.name
        suite = checks.load_suite(plan.suite) if plan.suite else None
        synthetic.generate_to(target, suite, rows, seed=seed + i, params=plan.params,
                              layout=plan.layout)
        bound[plan.name] = target
    return bound


# ----------------------------------------------------------------------------- running

@dataclass
class Report:
    data: dict
    file: Path
    failed: int

    @property
    def passed(self) -> bool:
        return self.failed == 0


class ScriptTester:
    """Runs one script's tests into `run_dir` and writes `run_dir/unit_tests.json`."""

    def __init__(self, tests: ScriptTests, backend, run_dir: Path, *,
                 on_event: TestEvent | None = None, aws_clients: dict | None = None):
        self.tests, self.step, self.backend = tests, tests.step, backend
        self.run_dir = Path(run_dir).resolve()
        self.emit = on_event or (lambda *a: None)
        self.aws_clients = aws_clients or {}      # sagemaker= / s3= for s3data.fetch_output

    def run(self, parts: tuple[str, ...] = PARTS, *, synthetic: list[UnitTest] | None = None,
            performance: list[Case] | None = None) -> Report:
        """The given parts (synthetic, s3_integration, performance, data_flow); `synthetic` and
        `performance` replace the configured ones (defaults when the config has none)."""
        started = datetime.now(timezone.utc)
        body: dict[str, Any] = {
            "script_name": self.step.name, "test_execution_id": self.run_dir.name,
            "timestamp": started.isoformat(timespec="seconds"), "step_file": str(self.step.file),
            "config": str(self.tests.config) if self.tests.config else None,
            "run_folder": str(self.run_dir)}
        failed = 0
        for test_type in ("synthetic", "s3_integration"):
            if test_type in parts:
                units = synthetic if test_type == "synthetic" and synthetic is not None \
                    else self.tests.of_type(test_type)
                entries = [self.unit_case(t, c) for t in units for c in t.cases]
                if entries:
                    body[f"{test_type}_tests"] = _summary(entries, test_type)
                    failed += sum(e["status"] != PASS for e in entries)
        cases = performance if performance is not None else self.tests.performance_tests
        if "performance" in parts and cases:
            perf = [self.performance_case(c) for c in cases]
            body["performance_tests"] = _summary(perf, "performance")
            failed += sum(e["status"] != PASS for e in perf)
        report = {"script_unit_tests": body}
        if "data_flow" in parts and self.tests.data_flow_tests:
            flows = [self.data_flow(t) for t in self.tests.data_flow_tests]
            report["data_flow_tests"] = {
                "test_execution_id": self.run_dir.name, "timestamp": body["timestamp"],
                "total_connections_tested": len(flows),
                "successful_connections": sum(f["status"] != FAIL for f in flows),
                "failed_connections": sum(f["status"] == FAIL for f in flows), "results": flows}
            failed += report["data_flow_tests"]["failed_connections"]
        body["status"] = PASS if not failed else FAIL
        body["duration_seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 3)
        file = results.write_json(self.run_dir / "unit_tests.json", report)
        return Report(report, file, failed)

    # --- unit tests ---------------------------------------------------------------------------
    def unit_case(self, test: UnitTest, case: Case) -> dict:
        label = f"{self.step.name}/{test.name}/{case.name}"
        self.emit("start", label, case.behavior.describe())
        folder = self.run_dir / _slug(self.step.name) / _slug(test.name) / _slug(case.name)
        entry: dict[str, Any] = {"scenario": case.name, "test": test.name, "test_type": test.test_type}
        if case.s3_source:
            entry["s3_source"] = _s3_label(case.s3_source)
            inputs = self.fetch_s3(case, folder / "input")
            entry["data_sample_size"] = _rows_in(inputs[case.s3_source["input"]])
        else:
            entry["rows"] = case.rows
            inputs = write_inputs(plan_inputs(self.step, case), folder / "input", case.rows, case.seed)
        run = self.run_script(folder, inputs, case)
        entry.update(_usage(run))
        entry["expected_behavior"] = case.behavior.describe()
        entry["exit_code"] = run.result.exit_code
        if run.result.describe.get("ExitMessage"):
            entry["exit_message"] = run.result.describe["ExitMessage"]
        ok, reason = _behaved(case.behavior, run)
        quality = Quality()
        if ok and case.behavior.succeed:
            quality = evaluate_outputs(self.step, self.tests.quality_checks, run.result.outputs)
            if quality.failed:
                ok, reason = False, "quality checks failed: " + ", ".join(
                    n for n, s in quality.statuses.items() if s == FAIL)
        entry.update(status=PASS if ok else FAIL, output_quality_score=quality.score,
                     quality_checks=quality.statuses)
        if case.s3_source:
            suites = [s for n, s in quality.statuses.items() if n.startswith("suite:")]
            entry["output_validation"] = FAIL if FAIL in suites else WARN if WARN in suites else PASS
        if reason:
            entry["reason"] = reason
        if quality.details:
            entry["quality_details"] = quality.details
        if not ok and run.result.status != "Completed":
            entry["log_tail"] = _log_tail(run)
        entry["inputs"] = {k: str(v) for k, v in inputs.items()}
        entry["run_folder"] = str(run.folder)
        self.emit("done", label, entry["status"])
        return entry

    def fetch_s3(self, case: Case, folder: Path) -> dict[str, Path]:
        from .s3data import fetch_output   # boto3 only when S3 data is asked for
        source = case.s3_source
        kwargs = {"max_bytes": source["max_bytes"]} if "max_bytes" in source else {}
        path = fetch_output(source["pipeline_execution"], source["step_name"], source["output_name"],
                            folder / source["input"], **kwargs, **self.aws_clients)
        bound = {source["input"]: Path(path)}
        others = [p for p in plan_inputs(self.step, case) if p.name != source["input"]]
        return {**bound, **write_inputs(others, folder, self.tests.volumes[DEFAULT_VOLUME], case.seed)}

    def run_script(self, folder: Path, inputs: dict[str, Path], case: Case) -> StepRun:
        """The script on `inputs`, its outputs and logs under `folder` (whatever `local:` says)."""
        options = RunOptions(inputs={k: str(v) for k, v in inputs.items()},
                             outputs={n: str(folder / "output" / n) for n in self.step.outputs},
                             env=case.env, job_arguments=case.job_arguments,
                             code_dir=str(case.code) if case.code else None)
        run = run_step(self.step, options, self.run_dir, self.backend,
                       name=str(folder.relative_to(self.run_dir)))
        if run.result.interrupted:
            raise KeyboardInterrupt
        return run

    # --- performance --------------------------------------------------------------------------
    def performance_case(self, case: Case) -> dict:
        label = f"{self.step.name}/performance/{case.name}"
        self.emit("start", label, f"{case.rows:,} rows")
        folder = self.run_dir / _slug(self.step.name) / "performance" / _slug(case.name)
        started = time.perf_counter()
        inputs = write_inputs(plan_inputs(self.step, case), folder / "input", case.rows, case.seed)
        generation = time.perf_counter() - started
        run = self.run_script(folder, inputs, case)
        usage = _usage(run)
        budgets = {}
        if case.max_seconds is not None:
            budgets["max_seconds"] = _budget(case.max_seconds, usage["duration_seconds"])
        if case.max_memory_mb is not None:
            budgets["max_memory_mb"] = _budget(case.max_memory_mb, usage["peak_memory_mb"])
        ok, reason = _behaved(Behavior(), run)
        over = [f"{k} {b['actual']} > {b['limit']}" for k, b in budgets.items() if b["status"] == FAIL]
        if ok and over:
            ok, reason = False, "over budget: " + "; ".join(over)
        entry = {"name": case.name, "volume": case.volume or None, "rows": case.rows,
                 "status": PASS if ok else FAIL, **usage,
                 "rows_per_second": round(case.rows / usage["duration_seconds"])
                 if usage["duration_seconds"] else None,
                 "generation_seconds": round(generation, 3), "budgets": budgets,
                 "exit_code": run.result.exit_code, "run_folder": str(run.folder)}
        if reason:
            entry["reason"] = reason
        if run.result.status != "Completed":
            entry["log_tail"] = _log_tail(run)
        self.emit("done", label, entry["status"])
        return entry

    # --- data flow ----------------------------------------------------------------------------
    def data_flow(self, test: DataFlowTest) -> dict:
        """Upstream then downstream on that very output, with the pipeline's handoff checks."""
        from .flow import flow_result, two_step_dag
        from .sequencer import Sequencer

        label = f"{self.step.name}/data_flow/{test.name}"
        self.emit("start", label, f"{test.upstream.name} -> {test.downstream.name}")
        folder = self.run_dir / _slug(self.step.name) / "data_flow" / _slug(test.name)
        dag = two_step_dag(test.upstream, test.downstream)
        if test.rows is not None:   # synthetic upstream inputs of that size
            case = Case(test.name, test.rows, seed=test.seed)
            generated = write_inputs(plan_inputs(test.upstream, case), folder / "input",
                                     test.rows, test.seed)
            dag.nodes[test.upstream.name].inputs = {k: str(v) for k, v in generated.items()}
        result = Sequencer(dag, self.backend, runs_dir=folder, use_cache=False).run()
        flow = {"name": test.name, **flow_result(result, test.upstream.name, test.downstream.name)}
        compatible = flow["status"] != FAIL
        flow["expected_schema_compatibility"] = test.expect_compatible
        if result.steps[test.upstream.name].status not in ("passed", "cached"):
            flow["status"] = FAIL      # nothing was handed over: no verdict on compatibility
        elif compatible != test.expect_compatible:
            flow["status"] = FAIL
            flow["issues"].append("the handoff was compatible, but expected_schema_compatibility is "
                                  "false" if compatible else "expected a compatible handoff")
        elif not test.expect_compatible:
            flow["status"] = PASS      # incompatible, as expected
        flow["data_sample_size"] = flow["data_sample_size"] or test.rows
        self.emit("done", label, flow["status"])
        return flow


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "unnamed"


def _s3_label(source: dict) -> str:
    return f"{source['pipeline_execution']} {source['step_name']}.{source['output_name']}"


def _rows_in(path: Path) -> int | None:
    from . import datasets
    try:
        return datasets.read_table(path).num_rows
    except UserError:
        return None


def _usage(run: StepRun) -> dict:
    result = run.result
    peak = result.peak_memory_bytes
    return {"execution_time": f"{result.duration_seconds:.2f}s",
            "duration_seconds": result.duration_seconds,
            "cpu_seconds": None if result.cpu_seconds is None else round(result.cpu_seconds, 3),
            "peak_memory_mb": None if peak is None else round(peak / 2**20, 1)}


def _budget(limit: float, actual: float | None) -> dict:
    if actual is None:   # the cgroup wasn't readable: say so rather than pass silently
        return {"limit": limit, "actual": None, "status": WARN, "note": "not measured here"}
    return {"limit": limit, "actual": actual, "status": PASS if actual <= limit else FAIL}


def _behaved(expected: Behavior, run: StepRun) -> tuple[bool, str]:
    """Did the run end as expected? (ok, why not)."""
    result = run.result
    info = result.describe
    why = info.get("ExitMessage") or info.get("FailureReason") or "; ".join(result.notes)
    if expected.succeed:
        if result.status == "Completed":
            return True, ""
        return False, f"the script {result.status.lower()} (exit code {result.exit_code}): {why}"
    if result.status == "Completed":
        return False, f"expected the script to fail ({expected.describe()}), but it succeeded"
    if expected.exit_code is not None and result.exit_code != expected.exit_code:
        return False, f"exit code {result.exit_code}, expected {expected.exit_code}: {why}"
    if expected.message:
        logs = "\n".join(h.log.read_text(errors="replace") for h in result.hosts
                         if h.log and h.log.exists())
        if expected.message not in f"{why}\n{logs}":
            return False, f"failed without the expected message {expected.message!r}: {why}"
    return True, ""


def _log_tail(run: StepRun) -> list[str]:
    lines = []
    for host in run.result.hosts:
        if host.log and host.log.exists():
            lines += host.log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    return lines


def _summary(entries: list[dict], kind: str) -> dict:
    passed = sum(e["status"] == PASS for e in entries)
    counts = {"synthetic": ("total_scenarios", "passed_scenarios", "failed_scenarios"),
              "s3_integration": ("total_s3_sources", "successful_sources", "failed_sources"),
              "performance": ("total_tests", "passed_tests", "failed_tests")}[kind]
    return {counts[0]: len(entries), counts[1]: passed, counts[2]: len(entries) - passed,
            "results": entries}
