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
splits, compression, header, file_pattern with {i} and {split}), `seed`, and `inputs: {<input>: {parameters}}` for steps with several
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
from pathlib import Path
from typing import Any

from .. import yamlfile
from ..data.datasets import Layout
from ..errors import UserError
from ..fields import Fields
from ..jobs.contracts import Step, find_step, load_step
from .inputs import check_params, plan_inputs
from .model import (
    DEFAULT_VOLUME,
    DEFAULT_VOLUMES,
    Behavior,
    Case,
    DataFlowTest,
    ScriptTests,
    UnitTest,
)
from .quality import parse_quality_checks

CONFIG_NAME = "test_scenarios.yaml"
TEST_TYPES = ("synthetic", "s3_integration")

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
# per_split is what a sample shows (detect_layout), not something to write by hand
LAYOUT_KEYS = {f.name for f in dataclasses.fields(Layout)} - {"per_split"}
PASSING_WORDS = {"pass", "passes", "succeed", "success"}


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


def scenario_case(config: Path | None, scenario_dir: Path, script: str | None, name: str) -> Case:
    """The data scenario `name` of `script` (generate-data --from-scenario): its parameters,
    rows, seed and layout."""
    if not script:
        raise UserError("--from-scenario needs --script", field="--from-scenario", fix="add --script NAME")
    tests = load_tests(config, scenario_dir, script)[script]
    found = [c for t in tests.unit_tests for c in t.cases if c.name == name]
    if not found:
        names = [c.name for t in tests.unit_tests for c in t.cases]
        raise UserError(f"no data scenario {name!r} for {script}", field="--from-scenario",
                        fix=f"use one of {names}" if names else "add data_scenarios to the config")
    return found[0]


def default_synthetic(tests: ScriptTests, rows: int | None = None) -> UnitTest:
    """One scenario of data generated from the step's input suites alone."""
    case = Case("from_suites", rows or tests.volumes[DEFAULT_VOLUME], seed=tests.seed)
    plan_inputs(tests.step, case)   # fails early if an input can't be generated
    return UnitTest("synthetic_defaults", "synthetic", [case])


def default_performance(tests: ScriptTests) -> list[Case]:
    return [Case(volume, rows, seed=tests.seed, volume=volume)
            for volume, rows in tests.volumes.items()]


class _Reader:
    """Reads a test_scenarios.yaml into the model; `self.f` checks the values, so every error
    names the file, the field and the fix."""

    def __init__(self, file: Path, scenario_dir: Path):
        self.file, self.scenario_dir = file.absolute(), scenario_dir
        self.f = Fields(self.file)
        self.volumes, self.seed = dict(DEFAULT_VOLUMES), 0

    def load(self) -> dict[str, ScriptTests]:
        f = self.f
        doc = yamlfile.load(self.file.read_text(), file=str(self.file))
        doc = f.mapping(doc, "(top level)", "start the file with `script_integration_tests:`")
        f.known_keys(doc, {"script_integration_tests", "data_volumes", "seed"}, "")
        for name, rows in f.mapping(doc.get("data_volumes"), "data_volumes",
                                    "write `data_volumes: {small: 1000, medium: 100000}`").items():
            self.volumes[str(name)] = f.number(rows, f"data_volumes.{name}", int, 1)
        self.seed = f.number(doc.get("seed", 0), "seed", int, 0)
        scripts = f.mapping(doc.get("script_integration_tests"), "script_integration_tests",
                            "write `script_integration_tests: {<script>: {unit_tests: [...]}}`")
        if not scripts:
            f.fail("script_integration_tests", "no scripts",
                   "add one: `currency_conversion: {unit_tests: [...]}`")
        return {str(s): self.script(str(s), section) for s, section in scripts.items()}

    # --- sections ---------------------------------------------------------------------------
    def script(self, script: str, section: Any) -> ScriptTests:
        f, where = self.f, f"script_integration_tests.{script}"
        section = f.mapping(section, where, "write `unit_tests:`, `quality_checks:` ... under it")
        f.known_keys(section, SCRIPT_KEYS, where)
        step = self.step(script, where)
        tests = ScriptTests(script, step, self.file, self.volumes, self.seed)
        for i, raw in enumerate(f.entries(section, "unit_tests", where)):
            tests.unit_tests.append(self.unit_test(step, raw, f"{where}.unit_tests[{i}]", i))
        tests.quality_checks = parse_quality_checks(
            step, f.entries(section, "quality_checks", where), f"{where}.quality_checks", f)
        for i, raw in enumerate(f.entries(section, "performance_tests", where)):
            tests.performance_tests.append(
                self.performance(step, raw, f"{where}.performance_tests[{i}]"))
        for i, raw in enumerate(f.entries(section, "data_flow_tests", where)):
            tests.data_flow_tests.append(self.data_flow(raw, f"{where}.data_flow_tests[{i}]"))
        for kind, items in (("unit test", tests.unit_tests),
                            ("performance test", tests.performance_tests),
                            ("data flow test", tests.data_flow_tests)):
            f.unique([t.name for t in items], f"{where}: {kind}")
        return tests

    def step(self, name: str, where: str) -> Step:
        try:
            return load_step(find_step(name, [self.file.parent, self.scenario_dir]))
        except UserError as exc:
            if exc.file:          # the step file itself is broken: say so
                raise
            self.f.fail(where, f"no step file for script {name!r}",
                        f"create steps/{name}.step.yaml next to {self.file.name}, or fix the name")

    def unit_test(self, step: Step, raw: Any, where: str, index: int) -> UnitTest:
        f = self.f
        raw = f.mapping(raw, where, "write `- {name: ..., test_type: synthetic, data_scenarios: [...]}`")
        f.known_keys(raw, UNIT_TEST_KEYS, where)
        test_type = raw.get("test_type", "synthetic")
        if test_type not in TEST_TYPES:
            f.fail(f"{where}.test_type", f"unknown test type {test_type!r}",
                   f"use one of {', '.join(TEST_TYPES)}")
        name = str(raw.get("name") or f"{test_type}_{index + 1}")
        defaults = {k: raw[k] for k in RUN_KEYS | {"inputs"} if k in raw}
        if test_type == "s3_integration":
            key, build, fix = "s3_test_data", self.s3_case, \
                "write `- {pipeline_execution: ARN, step_name: STEP, output_name: OUTPUT}`"
            items = f.entries(raw, key, where, required=True)
        else:
            if "s3_test_data" in raw:
                f.fail(f"{where}.s3_test_data", "s3_test_data belongs to s3_integration tests",
                       "set `test_type: s3_integration`, or remove s3_test_data")
            key, build, fix = "data_scenarios", self.scenario, "write `- scenario: NAME` and its parameters"
            items = f.entries(raw, key, where) or [{"scenario": "from_suites"}]
        cases = [build(step, {**defaults, **f.mapping(item, f"{where}.{key}[{i}]", fix)},
                       f"{where}.{key}[{i}]", i) for i, item in enumerate(items)]
        f.unique([c.name for c in cases], f"{where}: scenario")
        return UnitTest(name, test_type, cases)

    def scenario(self, step: Step, raw: dict, where: str, index: int) -> Case:
        case = self.run_settings(raw, where, str(raw.get("scenario") or raw.get("name")
                                                 or f"scenario_{index + 1}"))
        case.rows = self.rows(raw.get("data_size", DEFAULT_VOLUME), f"{where}.data_size")
        case.params = self.params(step, case, raw, where, SCENARIO_KEYS)
        return case

    def performance(self, step: Step, raw: Any, where: str) -> Case:
        f = self.f
        raw = f.mapping(raw, where, "write `- {volume: medium, max_seconds: 60, max_memory_mb: 1024}`")
        if "volume" in raw and "rows" in raw:
            f.fail(where, "both `volume` and `rows`", "give one of them")
        volume = raw.get("volume", DEFAULT_VOLUME if "rows" not in raw else "")
        rows = self.rows(raw.get("rows", volume), f"{where}.{'rows' if 'rows' in raw else 'volume'}")
        case = self.run_settings(raw, where, str(raw.get("name") or volume or f"{rows}_rows"))
        case.rows, case.volume = rows, str(volume)
        for key in ("max_seconds", "max_memory_mb"):
            if raw.get(key) is not None:
                setattr(case, key, f.number(raw[key], f"{where}.{key}", float, 0))
        case.params = self.params(step, case, raw, where, PERFORMANCE_KEYS)
        return case

    def s3_case(self, step: Step, raw: dict, where: str, _index: int) -> Case:
        f = self.f
        f.known_keys(raw, S3_KEYS, where)
        for key in ("pipeline_execution", "step_name", "output_name"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                f.fail(f"{where}.{key}", f"missing {key}",
                       "write `pipeline_execution: arn:aws:sagemaker:...:pipeline/NAME/execution/ID`, "
                       "`step_name: <pipeline step>`, `output_name: <its output>`")
        target = raw.get("input") or f.sole(list(step.inputs), f"{where}.input", "input")
        if target not in step.inputs:
            f.fail(f"{where}.input", f"no input {target!r} in {step.name}",
                   f"use one of {sorted(step.inputs)}")
        source = {k: raw[k] for k in ("pipeline_execution", "step_name", "output_name")}
        source["input"] = target
        if "max_bytes" in raw:
            source["max_bytes"] = f.number(raw["max_bytes"], f"{where}.max_bytes", int, 1)
        case = self.run_settings(raw, where, str(raw.get("name") or
                                                 f"{raw['step_name']}.{raw['output_name']}"))
        case.s3_source = source
        return case

    def run_settings(self, raw: dict, where: str, name: str) -> Case:
        f = self.f
        case = Case(name, 0, seed=self.seed)
        if "seed" in raw:
            case.seed = f.number(raw["seed"], f"{where}.seed", int, 0)
        case.env = f.strings(raw.get("env"), f"{where}.env")
        case.job_arguments = f.strings(raw.get("job_arguments"), f"{where}.job_arguments")
        if raw.get("code") is not None:
            case.code = (self.file.parent / str(raw["code"])).resolve()
            if not case.code.is_dir():
                f.fail(f"{where}.code", f"no folder {case.code}",
                       "give the folder holding the script, relative to this file")
        if raw.get("layout") is not None:
            case.layout = self.layout(raw["layout"], f"{where}.layout")
        case.behavior = self.behavior(raw.get("expected_behavior"), f"{where}.expected_behavior")
        return case

    def params(self, step: Step, case: Case, raw: dict, where: str, known: set) -> dict[str, dict]:
        """Synthetic parameters per input: the other keys for the only input, or `inputs:`.
        They are checked against the step's input suites here; no data is generated."""
        f = self.f
        top = {k: v for k, v in raw.items() if k not in known}
        per_input = f.mapping(raw.get("inputs"), f"{where}.inputs",
                              "write `inputs: {<input>: {<parameter>: ...}}`")
        for name in per_input:
            if name not in step.inputs:
                f.fail(f"{where}.inputs.{name}", f"no input {name!r} in {step.name}",
                       f"use one of {sorted(step.inputs)}")
        params = {}
        for name, value in per_input.items():
            params[name] = dict(f.mapping(value, f"{where}.inputs.{name}", "write parameters as a mapping"))
            if "layout" in params[name]:
                case.input_layouts[name] = self.layout(params[name].pop("layout"),
                                                       f"{where}.inputs.{name}.layout")
        if top:
            target = f.sole(list(step.inputs), f"{where}.{next(iter(top))}", "input",
                            fix="put the parameters under `inputs: {<input>: {...}}`")
            params[target] = {**top, **params.get(target, {})}
        case.params = params
        try:
            check_params(step, case)
        except UserError as exc:   # name this file and the parameter's own field
            field_name = (exc.field or "").removeprefix("params.")
            close = difflib.get_close_matches(field_name, known, n=1) if field_name in top else []
            raise UserError(exc.message, file=str(self.file),
                            field=f"{where}.{field_name}" if field_name else where,
                            fix=f"did you mean {close[0]!r}?" if close
                            else exc.fix or "see the synthetic parameters in synthetic.py") from None
        return params

    def data_flow(self, raw: Any, where: str) -> DataFlowTest:
        f = self.f
        raw = f.mapping(raw, where, "write `- {upstream_script: A, downstream_script: B}`")
        f.known_keys(raw, FLOW_KEYS, where)
        up, down = (self.step(str(raw.get(k) or f.fail(f"{where}.{k}", f"missing {k}",
                                                         f"name a step: `{k}: <script>`")),
                              f"{where}.{k}") for k in ("upstream_script", "downstream_script"))
        size = raw.get("test_data_size")
        return DataFlowTest(
            str(raw.get("name") or f"{up.name}_to_{down.name}"), up, down,
            None if size is None else self.rows(size, f"{where}.test_data_size"),
            bool(raw.get("expected_schema_compatibility", True)),
            f.number(raw.get("seed", self.seed), f"{where}.seed", int, 0))

    # --- values that mean something only here ---------------------------------------------
    def rows(self, value: Any, where: str) -> int:
        """A number of rows, or the name of a data volume."""
        if isinstance(value, str):
            if value not in self.volumes:
                self.f.fail(where, f"unknown data volume {value!r}",
                            f"use a number of rows or one of {', '.join(self.volumes)} (data_volumes:)")
            return self.volumes[value]
        return self.f.number(value, where, int, 0)

    def layout(self, value: Any, where: str) -> Layout:
        value = self.f.mapping(value, where,
                               "write `layout: {format: parquet, shards: 2, splits: [train, test]}`")
        self.f.known_keys(value, LAYOUT_KEYS, where)
        try:
            return Layout(**value)
        except UserError as exc:
            self.f.fail(f"{where}.{exc.field}", exc.message, exc.fix)

    def behavior(self, value: Any, where: str) -> Behavior:
        if value is None or (isinstance(value, str) and value.lower() in PASSING_WORDS):
            return Behavior()
        if isinstance(value, str):
            return Behavior(succeed=value.lower() != "fail", label=value)
        value = self.f.mapping(value, where, "write `pass`, `fail` or `{exit_code: 1, message: TEXT}`")
        self.f.known_keys(value, {"status", "exit_code", "message", "label"}, where)
        status = str(value.get("status", "fail")).lower()
        if status not in PASSING_WORDS | {"fail"}:
            self.f.fail(f"{where}.status", f"unknown status {status!r}", "use pass or fail")
        code = value.get("exit_code")
        if code is not None:
            code = self.f.number(code, f"{where}.exit_code", int, 0, 255)
        return Behavior(status != "fail", code, value.get("message"), str(value.get("label", "")))
