"""Script unit tests from test_scenarios.yaml: loading, synthetic inputs, quality checks, and runs
on the real engine (the demo, its deliberately buggy variant, behaviours, budgets, S3 data)."""

import json
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import REPO, write_step
from cursus_local import results
from cursus_local.data import checks, datasets, synthetic
from cursus_local.errors import UserError
from cursus_local.status import Verdict
from cursus_local.unit import config as scenario_config
from cursus_local.unit import inputs
from cursus_local.unit import tester as scenarios
from cursus_local.unit.model import Case
from cursus_local.unit.quality import evaluate_outputs

DEMO = REPO / "scenarios" / "demo"
BUGGY = DEMO / "buggy_currency_conversion" / "test_scenarios.yaml"


def load(tmp_path: Path, doc: dict, script: str = "currency_conversion") -> scenario_config.ScriptTests:
    config = tmp_path / "test_scenarios.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    return scenario_config.load_tests(config, DEMO, script)[script]


def suite_doc(**section) -> dict:
    return {"script_integration_tests": {"currency_conversion": section}}


# ----------------------------------------------------------------------------- loading

def test_the_demo_config_loads_into_cases_and_expectations():
    tests = scenario_config.load_tests(scenario_config.default_config(DEMO), DEMO, "currency_conversion")
    cc = tests["currency_conversion"]
    (unit,) = cc.unit_tests
    multi, missing, unknown = unit.cases
    assert multi.rows == 1000 and multi.params == {
        "input_data": {"currencies": ["USD", "EUR", "GBP"], "marketplace_ids": [1, 2, 3]}}
    assert missing.params == {"input_data": {"missing_currency_rate": 0.1}}
    assert missing.behavior.succeed and missing.behavior.label == "use_default"
    assert (unknown.behavior.succeed, unknown.behavior.exit_code) == (False, 1)
    assert unknown.env == {"CURRENCY_CONVERSION_VARS": '["price"]'}
    by_name = {c.name: c for c in cc.quality_checks}
    assert by_name["data_range_validation"].expectations == [{
        "type": "expect_column_values_to_be_between", "severity": "critical",
        "kwargs": {"column": "converted_amount", "min_value": 0, "max_value": 1000000}}]
    assert by_name["null_value_validation"].expectations[0]["kwargs"] == {"column": None, "mostly": 1.0}
    assert [(p.volume, p.rows, p.max_seconds) for p in cc.performance_tests] == [
        ("small", 1000, 30), ("medium", 100_000, 60)]
    assert cc.data_flow_tests[0].upstream.name == "tabular_preprocessing"


@pytest.mark.parametrize("section, field, words", [
    ({"unit_tests": [{"name": "t", "data_scenario": []}]},
     "unit_tests[0].data_scenario", "did you mean 'data_scenarios'"),
    ({"unit_tests": [{"data_scenarios": [{"scenario": "s", "bogus": 1}]}]},
     "unit_tests[0].data_scenarios[0].bogus", "the columns are"),
    ({"unit_tests": [{"data_scenarios": [{"data_size": "huge"}]}]},
     "data_scenarios[0].data_size", "small, medium, large"),
    ({"quality_checks": [{"check_type": "null_validation"}]},
     "quality_checks[0].check_type", "null_value_validation"),
    ({"quality_checks": [{"check_type": "null_value_validation", "max_null_percentage": 5}]},
     "quality_checks[0].max_null_percentage", "write 0.05 for 5%"),
    ({"quality_checks": [{"check_type": "data_range_validation", "column": "x"}]},
     "quality_checks[0]", "min_value, max_value"),
    ({"quality_checks": [{"check_type": "expectation", "type": "expect_colum_to_exist",
                          "kwargs": {"column": "x"}}]}, "quality_checks[0]", "expect_column_to_exist"),
    ({"unit_tests": [{"test_type": "s3_integration", "s3_test_data": [{"step_name": "a"}]}]},
     "s3_test_data[0].pipeline_execution", "pipeline_execution: arn:aws:sagemaker"),
    ({"unit_tests": [{"data_scenarios": [{"expected_behavior": {"status": "crash"}}]}]},
     "expected_behavior.status", "pass or fail"),
    ({"performance_tests": [{"volume": "small", "max_seconds": -1}]},
     "performance_tests[0].max_seconds", ">= 0"),
])
def test_config_errors_name_the_file_the_field_and_the_fix(tmp_path, section, field, words):
    with pytest.raises(UserError) as error:
        load(tmp_path, suite_doc(**section))
    assert error.value.file == str(tmp_path / "test_scenarios.yaml")
    assert field in error.value.field
    assert words in str(error.value)


def test_an_unknown_script_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(UserError, match="no step file for script 'nope'") as error:
        load(tmp_path, {"script_integration_tests": {"nope": {}}}, "nope")
    assert "steps/nope.step.yaml" in error.value.fix


# ----------------------------------------------------------------------------- synthetic inputs

def test_synthetic_inputs_take_the_samples_layout_are_seeded_and_pass_the_suite(tmp_path):
    tests = scenario_config.load_tests(None, DEMO, "currency_conversion")["currency_conversion"]
    case = Case("c", 900, params={"input_data": {"currencies": ["EUR"]}}, seed=7)
    plans = inputs.plan_inputs(tests.step, case)
    first = inputs.write_inputs(plans, tmp_path / "a", case.rows, case.seed)["input_data"]
    again = inputs.write_inputs(plans, tmp_path / "b", case.rows, case.seed)["input_data"]
    files = sorted(p.relative_to(first) for p in first.rglob("*.csv"))
    assert [str(f) for f in files] == ["test/part-00000.csv", "train/part-00000.csv", "val/part-00000.csv"]
    assert all((first / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert checks.validate(tests.step.input_suites["input_data"], first).status == "PASS"
    table = datasets.read_table(first)
    assert table.num_rows == 900
    assert set(table.column("currency_code").drop_null().to_pylist()) == {"EUR"}

    case.layout = datasets.Layout(format="parquet", shards=2)   # an explicit layout wins
    plans = inputs.plan_inputs(tests.step, case)
    out = inputs.write_inputs(plans, tmp_path / "c", 100, 0)["input_data"]
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]


def test_loading_checks_parameters_without_generating_data(monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("loading the config generated data")
    monkeypatch.setattr(synthetic, "generate", no_data)
    monkeypatch.setattr(synthetic, "generate_to", no_data)
    tests = scenario_config.load_tests(scenario_config.default_config(DEMO), DEMO)
    assert tests["currency_conversion"].unit_tests[0].cases[0].params   # read, checked, not generated
    step = tests["currency_conversion"].step
    with pytest.raises(UserError, match="'colours' names no column") as error:
        inputs.check_params(step, Case("c", 10, params={"input_data": {"colours": ["red"]}}))
    assert error.value.field == "params.colours" and "currency_code" in error.value.fix


def test_generate_writes_a_scenarios_data_in_the_layout_asked_and_checks_it(tmp_path):
    config = scenario_config.default_config(DEMO)
    case = scenario_config.scenario_case(config, DEMO, "currency_conversion", "multi_currency_data")
    made = inputs.generate(tmp_path / "out", scenario_dir=DEMO, script="currency_conversion", case=case,
                           rows=120, params={"currencies": ["GBP"]}, format="parquet", splits="a,b")
    (only,) = made.inputs
    assert (made.rows, made.seed, only.name, only.folder) == (120, case.seed, "input_data", tmp_path / "out")
    assert only.check == Verdict.PASS and only.files == 2 and only.layout.splits == ["a", "b"]
    assert sorted(str(p.relative_to(only.folder)) for p in only.folder.rglob("*.parquet")) == [
        "a/part-00000.parquet", "b/part-00000.parquet"]
    table = datasets.read_table(only.folder)
    assert table.num_rows == 120 and set(table.column("currency_code").drop_null().to_pylist()) == {"GBP"}
    assert set(table.column("marketplace_id").to_pylist()) <= {1, 2, 3}     # the scenario's own
    suite = DEMO / "suites" / "currency_conversion.input_data.json"   # a suite alone, no step
    alone = inputs.generate(tmp_path / "alone", scenario_dir=DEMO, suite=suite, rows=7, seed=3)
    assert [(i.name, i.folder, i.check) for i in alone.inputs] == [("data", tmp_path / "alone", Verdict.PASS)]


@pytest.mark.parametrize("kwargs, field, words", [
    ({}, "--script", "pass --script NAME"),
    ({"script": "currency_conversion", "input": "nope"}, "--input", "use one of ['input_data']"),
    ({"script": "currency_conversion", "params": {"bogus": 1}}, "params.bogus", "the columns are"),
])
def test_generate_errors_name_the_option_and_the_fix(tmp_path, kwargs, field, words):
    with pytest.raises(UserError) as error:
        inputs.generate(tmp_path / "out", scenario_dir=DEMO, **kwargs)
    assert error.value.field == field and words in str(error.value)
    assert not (tmp_path / "out").exists()                  # nothing written before the error


def test_generate_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "kept.csv").write_text("a\n1\n")
    with pytest.raises(UserError, match="not empty") as error:
        inputs.generate(tmp_path, scenario_dir=DEMO, script="currency_conversion")
    assert error.value.file == str(tmp_path) and error.value.fix
    with pytest.raises(UserError, match="no data scenario 'nope'") as error:
        scenario_config.scenario_case(scenario_config.default_config(DEMO), DEMO,
                                      "currency_conversion", "nope")
    assert "multi_currency_data" in error.value.fix


# ----------------------------------------------------------------------------- quality checks

def test_quality_checks_report_status_score_failing_rows_and_examples(tmp_path):
    import pyarrow as pa
    write_step(tmp_path / "steps", "s", "", {"outputs": {"out": {"path": "/opt/ml/processing/output"}}})
    config = tmp_path / "test_scenarios.yaml"
    config.write_text(textwrap.dedent("""
        script_integration_tests:
          s:
            quality_checks:
              - {check_type: schema_validation, required_columns: [id, amount], column_types: {amount: float64}}
              - {check_type: null_value_validation, max_null_percentage: 0.1}
              - {check_type: data_range_validation, column: amount, min_value: 0, max_value: 100}
              - {check_type: data_range_validation, column: id, min_value: 0, severity: warning}
              - {check_type: value_set_validation, column: code, value_set: [USD, EUR]}
              - {check_type: row_count_validation, min_value: 1}
        """))
    tests = scenario_config.load_tests(config, tmp_path, "s")["s"]
    out = tmp_path / "data"
    table = pa.table({"id": [1, 2, 3, -4, 5, 6],
                      "amount": [10.0, None, 250.0, 20.0, None, 30.0],
                      "code": ["USD", "EUR", "JPY", None, "USD", "USD"]})
    datasets.write_table(table, out)
    quality = evaluate_outputs(tests.step, tests.quality_checks, {"out": out})
    assert quality.statuses == {
        "schema_validation": "PASS", "null_value_validation": "FAIL",
        "data_range_validation[amount]": "FAIL", "data_range_validation[id]": "WARN",
        "value_set_validation": "FAIL", "row_count_validation": "PASS"}
    nulls = quality.details["null_value_validation"]
    assert nulls["failing_rows"] == 3             # distinct rows: amount null twice, code once
    assert {(f["column"], f["failing_rows"]) for f in nulls["failures"]} == {("amount", 2), ("code", 1)}
    amount = quality.details["data_range_validation[amount]"]["failures"][0]
    assert amount["failing_rows"] == 1 and amount["example_rows"] == [
        {"id": 3, "amount": 250.0, "code": "JPY"}]
    assert quality.details["value_set_validation"]["failures"][0]["example_rows"][0]["code"] == "JPY"
    assert 0.5 < quality.score < 1


# ----------------------------------------------------------------------------- on the engine

@pytest.fixture(scope="module")
def demo_report(tmp_path_factory, backend):
    tests = scenario_config.load_tests(scenario_config.default_config(DEMO), DEMO, "currency_conversion")
    run_dir = tmp_path_factory.mktemp("runs") / "demo-run"
    tester = scenarios.ScriptTester(tests["currency_conversion"], backend, run_dir)
    return tester.run(("synthetic", "data_flow"))


@pytest.mark.docker
def test_the_demo_scenarios_pass_and_the_report_has_the_design_shape(demo_report):
    assert demo_report.passed
    data = results.read_run_file(demo_report.file)   # its paths are relative to its folder
    body = data["script_unit_tests"]
    assert demo_report.file.name == "unit_tests.json" and body["test_execution_id"] == "demo-run"
    synthetic = body["synthetic_tests"]
    assert (synthetic["total_scenarios"], synthetic["passed_scenarios"], synthetic["failed_scenarios"]) == (3, 3, 0)
    multi, missing, unknown = synthetic["results"]
    assert multi["quality_checks"]["null_value_validation"] == "PASS"
    assert 0 < multi["output_quality_score"] <= 1 and multi["execution_time"].endswith("s")
    assert multi["peak_memory_mb"] > 0 and multi["cpu_seconds"] > 0
    run_folder = Path(missing["run_folder"])
    assert run_folder == demo_report.file.parent / "currency_conversion/synthetic_currency_conversion/missing_currency_data"
    converted = datasets.read_table(run_folder / "output/processed_data")
    assert converted.column("currency_code").null_count == 0    # the real script uses the default
    assert unknown["status"] == "PASS" and unknown["exit_code"] == 1
    assert unknown["exit_message"] == "KeyError: 'price'" and unknown["quality_checks"] == {}
    (flow,) = data["data_flow_tests"]["results"]
    assert flow["connection"] == "tabular_preprocessing -> currency_conversion"
    assert flow["status"] != "FAIL" and flow["data_sample_size"] == 1000


@pytest.mark.docker
def test_the_buggy_variant_is_caught_with_the_failing_rows(tmp_path, backend):
    tests = scenario_config.load_tests(BUGGY, DEMO, "currency_conversion")["currency_conversion"]
    report = scenarios.ScriptTester(tests, backend, tmp_path / "run").run(("synthetic",))
    present, missing = report.data["script_unit_tests"]["synthetic_tests"]["results"]
    assert present["status"] == "PASS" and missing["status"] == "FAIL"
    assert "null_value_validation" in missing["reason"]
    assert missing["quality_checks"]["null_value_validation"] == "FAIL"
    assert missing["quality_checks"]["suite:currency_conversion.processed_data"] == "FAIL"
    detail = missing["quality_details"]["null_value_validation"]
    assert 90 <= detail["failing_rows"] <= 110                  # 10% of 1000 rows
    example = detail["failures"][0]["example_rows"][0]
    assert example["currency_code"] is None and example["converted_amount"] is None
    assert report.failed == 1


def behaviour_step(tmp_path: Path) -> scenario_config.ScriptTests:
    """A step that fails with exit code 3 and a message when MODE=boom, else copies its input."""
    write_step(tmp_path / "steps", "b", """
        import os, shutil, sys
        from pathlib import Path
        if os.environ.get("MODE") == "boom":
            print("about to fail")
            Path("/opt/ml/output/message").write_text("ValueError: boom")
            sys.exit(3)
        shutil.copytree("/opt/ml/processing/input/data", "/opt/ml/processing/output", dirs_exist_ok=True)
    """, {"inputs": {"data": {"path": "/opt/ml/processing/input/data"}},
          "outputs": {"out": {"path": "/opt/ml/processing/output"}}})
    config = tmp_path / "test_scenarios.yaml"
    config.write_text(textwrap.dedent("""
        script_integration_tests:
          b:
            unit_tests:
              - name: behaviours
                inputs: &ids {data: {columns: {id: {unique: true}}}}   # the step has no input suite
                data_scenarios:
                  - {scenario: fails_as_expected, env: {MODE: boom}, expected_behavior: {exit_code: 3, message: boom}}
                  - {scenario: wrong_code, env: {MODE: boom}, expected_behavior: {exit_code: 4}}
                  - {scenario: wrong_message, env: {MODE: boom}, expected_behavior: {message: "KeyError"}}
                  - {scenario: unexpected_failure, env: {MODE: boom}}
                  - {scenario: unexpected_success, expected_behavior: fail}
                  - scenario: passes
            performance_tests:
              - {name: within_budget, rows: 500, max_seconds: 120, max_memory_mb: 4096, inputs: *ids}
              - {name: too_slow, rows: 500, max_seconds: 0.001, inputs: *ids}
              - {name: too_big, rows: 500, max_memory_mb: 1, inputs: *ids}
            quality_checks:
              - {check_type: unique_validation, column: id}
        """))
    return scenario_config.load_tests(config, tmp_path, "b")["b"]


@pytest.mark.docker
def test_expected_behaviour_and_budgets_decide_pass_or_fail(tmp_path, backend):
    tests = behaviour_step(tmp_path)
    report = scenarios.ScriptTester(tests, backend, tmp_path / "run").run(("synthetic", "performance"))
    body = report.data["script_unit_tests"]
    got = {r["scenario"]: r for r in body["synthetic_tests"]["results"]}
    assert {n: r["status"] for n, r in got.items()} == {
        "fails_as_expected": "PASS", "wrong_code": "FAIL", "wrong_message": "FAIL",
        "unexpected_failure": "FAIL", "unexpected_success": "FAIL", "passes": "PASS"}
    assert "exit code 3, expected 4" in got["wrong_code"]["reason"]
    assert "without the expected message 'KeyError'" in got["wrong_message"]["reason"]
    assert "ValueError: boom" in got["unexpected_failure"]["reason"]
    assert "about to fail" in got["unexpected_failure"]["log_tail"]
    assert "but it succeeded" in got["unexpected_success"]["reason"]
    assert got["passes"]["quality_checks"] == {"unique_validation": "PASS"}
    perf = {r["name"]: r for r in body["performance_tests"]["results"]}
    assert perf["within_budget"]["status"] == "PASS"
    assert perf["within_budget"]["budgets"]["max_memory_mb"]["actual"] > 1
    assert perf["too_slow"]["status"] == "FAIL" and "max_seconds" in perf["too_slow"]["reason"]
    assert perf["too_big"]["status"] == "FAIL" and "max_memory_mb" in perf["too_big"]["reason"]
    for entry in perf.values():
        assert entry["rows"] == 500 and entry["duration_seconds"] > 0 and entry["cpu_seconds"] > 0
    assert report.failed == 4 + 2


@pytest.mark.docker
def test_s3_integration_runs_the_script_on_a_fetched_sample(tmp_path, backend, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber
    from moto import mock_aws

    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path / "cache"))
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/demo/execution/abc123"
    doc = suite_doc(unit_tests=[{"name": "from_production", "test_type": "s3_integration",
                                 "s3_test_data": [{"pipeline_execution": arn, "step_name": "Preprocess",
                                                   "output_name": "processed_data"}]}])
    tests = load(tmp_path, doc)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="outputs")
        for split in ("train", "test"):
            body = (DEMO / "data/preprocessed" / split / "part-00000.csv").read_bytes()
            s3.put_object(Bucket="outputs", Key=f"pre/{split}/part-00000.csv", Body=body)
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        stub = Stubber(sagemaker)
        stub.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": [{
            "StepName": "Preprocess", "StepStatus": "Succeeded",
            "Metadata": {"ProcessingJob": {"Arn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pre-1"}}}]})
        stub.add_response("describe_processing_job", {
            "ProcessingJobName": "pre-1", "ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pre-1",
            "ProcessingJobStatus": "Completed", "CreationTime": datetime(2025, 1, 1),
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": "img"},
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "processed_data", "S3Output": {
                "S3Uri": "s3://outputs/pre", "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "EndOfJob"}}]}})
        with stub:
            tester = scenarios.ScriptTester(tests, backend, tmp_path / "run",
                                            aws_clients={"sagemaker": sagemaker, "s3": s3})
            report = tester.run(("s3_integration",))
    section = report.data["script_unit_tests"]["s3_integration_tests"]
    (entry,) = section["results"]
    assert (section["total_s3_sources"], section["successful_sources"]) == (1, 1), entry.get("reason")
    assert entry["s3_source"] == f"{arn} Preprocess.processed_data"
    assert entry["data_sample_size"] == 420 + 90 and entry["output_validation"] in ("PASS", "WARN")
    out = Path(entry["run_folder"]) / "output/processed_data"
    assert sorted(p.name for p in out.iterdir()) == ["test", "train"]
