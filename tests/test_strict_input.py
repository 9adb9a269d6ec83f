"""Bad input is refused before anything starts: exit 2, a message naming the file, the field and
the fix, and no job handed to a backend (the CLI's DockerBackend is a FakeBackend here, which
records every job it is given). In process, through typer's CliRunner: no engine needed."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from fakes import FakeBackend
from typer.testing import CliRunner

from cursus_local.backends import docker as docker_backend
from cursus_local.backends.docker import _merge
from cursus_local.cli import app
from cursus_local.jobs.validation import input_shape

DEMO = REPO / "scenarios" / "demo"


@pytest.fixture
def demo(tmp_path):
    """A copy of the demo scenario (steps, scripts, data, suites, dag.yaml) to break."""
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("runs"))
    return folder


@pytest.fixture
def fake(monkeypatch):
    """Every backend the CLI makes is this FakeBackend: `fake.jobs` lists what was started."""
    backend = FakeBackend()
    monkeypatch.setattr(docker_backend, "DockerBackend", lambda *a, **k: backend)
    return backend


def cli(folder: Path, *args):
    import os
    old = os.getcwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "400"})
    finally:
        os.chdir(old)


def refused(result, fake, *words):
    """Exit 2, each of `words` in the message, a fix, and nothing started."""
    text = " ".join(result.stderr.split())   # rich wraps lines
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "fix:" in text, text
    for word in words:
        assert word in text, (word, text)
    assert fake.jobs == []
    return text


def edit_step(demo: Path, name: str, edit) -> Path:
    path = demo / "steps" / f"{name}.step.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# --- 9: run-step's numbers and names ------------------------------------------------------------

def _model_range(*path):
    shape = input_shape("CreateProcessingJob")
    for key in path:
        shape = shape["members"][key]
    return shape["min"], shape["max"]


@pytest.mark.parametrize("flag, value, member", [
    ("--instance-count", 0, ("ProcessingResources", "ClusterConfig", "InstanceCount")),
    ("--instance-count", 101, ("ProcessingResources", "ClusterConfig", "InstanceCount")),
    ("--max-runtime", 0, ("StoppingCondition", "MaxRuntimeInSeconds")),
    ("--max-runtime", 10**9, ("StoppingCondition", "MaxRuntimeInSeconds")),
])
def test_run_step_counts_out_of_the_models_range_are_refused(demo, fake, flag, value, member):
    low, high = _model_range(*member)   # the range is botocore's, never a copy of it
    result = cli(demo, "run-step", "currency_conversion", flag, value)
    refused(result, fake, "currency_conversion.step.yaml", flag, f"from {low} to {high}", f"got {value}")


def test_run_step_shard_of_an_unknown_input_gets_a_did_you_mean(demo, fake):
    result = cli(demo, "run-step", "currency_conversion", "--shard", "input_dat")
    refused(result, fake, "currency_conversion.step.yaml", "--shard", "declares no input 'input_dat'",
            "did you mean 'input_data'?")


def test_run_pipeline_jobs_zero_is_refused(demo, fake):
    result = cli(demo, "run-pipeline", "dag.yaml", "--jobs", "0")
    assert result.exit_code == 2 and "--jobs" in result.stderr and fake.jobs == []


@pytest.mark.parametrize("where", ["step", "dag", "test_scenarios"])
def test_a_key_written_twice_is_refused_in_every_kind_of_file(demo, fake, where):
    if where == "step":
        path = demo / "steps" / "currency_conversion.step.yaml"
        path.write_text(path.read_text() + "compute: {kind: sklearn}\n")
        args = ["run-step", "currency_conversion"]
    elif where == "dag":
        path = demo / "dag.yaml"
        path.write_text(path.read_text() + "edges: []\n")
        args = ["run-pipeline", "dag.yaml"]
    else:
        path = demo / "test_scenarios.yaml"
        path.write_text(path.read_text() + "script_integration_tests: {}\n")
        args = ["test-suite", "--script", "currency_conversion"]
    refused(cli(demo, *args), fake, path.name, "twice")


# --- 10: step files -----------------------------------------------------------------------------

@pytest.mark.parametrize("edit, field, meant", [
    (lambda d: d.__setitem__("suite", d.pop("suites")), "suite", "suites"),
    (lambda d: d["compute"].__setitem__("instance_typ", d["compute"].pop("instance_type")),
     "compute.instance_typ", "instance_type"),
    (lambda d: d["contract"]["inputs"]["input_data"].__setitem__("requird", True),
     "contract.inputs.input_data.requird", "required"),
    (lambda d: d["contract"]["job_arguments"][0].__setitem__("sorce", "x"),
     "contract.job_arguments[0].sorce", "source"),
    (lambda d: d["contract"]["env_vars"].__setitem__("optinal", {}), "contract.env_vars.optinal", "optional"),
    (lambda d: d["local"].__setitem__("job_argument", {}), "local.job_argument", "job_arguments"),
    (lambda d: d["suites"].__setitem__("input", {}), "suites.input", "inputs"),
    (lambda d: d["registry"].__setitem__("sagemaker_step_typ", "Processing"),
     "registry.sagemaker_step_typ", "sagemaker_step_type"),
    (lambda d: d["spec"]["dependencies"]["input_data"].__setitem__("semantic_keyword", []),
     "spec.dependencies.input_data.semantic_keyword", "semantic_keywords"),
])
def test_a_typo_at_any_level_of_a_step_file_is_refused(demo, fake, edit, field, meant):
    path = edit_step(demo, "currency_conversion", edit)
    result = cli(demo, "run-step", "currency_conversion")
    refused(result, fake, str(path), field, f"did you mean {meant!r}?")
    # the same file is refused by run-pipeline, through its node
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, str(path), field)


def test_network_isolation_in_a_step_file_is_true_or_false_not_any_text(demo, fake):
    path = edit_step(demo, "currency_conversion", lambda d: d["compute"].update(enable_network_isolation="no"))
    refused(cli(demo, "run-step", "currency_conversion"), fake, str(path), "compute.enable_network_isolation",
            "expected true or false, got 'no'")


def test_a_field_a_cursus_interface_names_may_hold_the_version(demo, fake):
    edit_step(demo, "currency_conversion", lambda d: d["compute"].update(
        framework_version_field="processing_framework_version", processing_framework_version="1.0-1",
        framework_version="1.0-1"))
    result = cli(demo, "run-pipeline", "dag.yaml", "--dry-run")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("compute, words", [
    ({"kind": "sklern"}, ["compute.kind", "did you mean 'sklearn'?", "sklearn, xgboost, framework"]),
    ({"framework_version": "9.9-9"}, ["compute.framework_version", "1.2-1, 1.0-1"]),
    ({"framework_version": "1.4-2"}, ["compute.framework_version", "the sklearn versions we have: 1.2-1, 1.0-1"]),
])
def test_an_unknown_kind_or_version_is_refused_in_preflight_with_the_known_ones(demo, fake, compute, words):
    path = edit_step(demo, "currency_conversion", lambda d: d["compute"].update(compute))
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, str(path), *words)


def test_an_unknown_instance_type_names_the_closest_and_the_valid_ones(demo, fake):
    path = edit_step(demo, "currency_conversion", lambda d: d["compute"].update(instance_type="ml.m5.lage"))
    text = refused(cli(demo, "run-pipeline", "dag.yaml"), fake, str(path), "compute.instance_type",
                   "did you mean 'ml.m5.large'?", "ml.m5 comes in: large, xlarge")
    assert "enum value set" not in text   # not the model's 200 names
    text = refused(cli(demo, "run-step", "scoring", "--instance-type", "ml.zz.large"), fake,
                   "--instance-type", "unknown instance type 'ml.zz.large'", "the families are: ml.c4")


def test_every_instance_type_the_service_offers_for_processing_has_a_size():
    from cursus_local.jobs.instance_types import size_of
    offered = input_shape("CreateProcessingJob")["members"]["ProcessingResources"]["members"][
        "ClusterConfig"]["members"]["InstanceType"]["enum"]
    assert [t for t in offered if size_of(t) is None] == []


def test_a_node_naming_a_step_with_a_typo_gets_a_did_you_mean(demo, fake):
    dag = demo / "dag.yaml"
    dag.write_text(dag.read_text().replace("  feature_engineering: {}", "  feature_engineering: {step: feature_enginering}"))
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, "dag.yaml", "feature_engineering",
            "no feature_enginering.step.yaml", "did you mean 'feature_engineering'?")


# --- 12: a bad file in steps/ --------------------------------------------------------------------

def test_a_bad_step_file_nobody_needs_is_not_read(demo, fake):
    (demo / "steps" / "notes.step.yaml").write_bytes(b"step_type: X\n\xff\xfe not utf-8\n")
    (demo / "steps" / "folder.step.yaml").mkdir()
    result = cli(demo, "run-pipeline", "dag.yaml", "--dry-run")
    assert result.exit_code == 0, result.stderr + result.stdout


def test_a_bad_step_file_that_is_needed_is_refused_naming_it(demo, fake):
    path = demo / "steps" / "scoring.step.yaml"
    path.write_bytes(b"step_type: Scoring\n\xff\xfe not utf-8\n")
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, str(path), "cannot read the step file", "UTF-8")


# --- 14: the user's data and suites, in preflight -------------------------------------------------

@pytest.mark.parametrize("content, words", [
    ({"part-0.csv": "q3uWn/iyuZ9ICr\nx1GqcBr44\n"}, ["no column(s) ['order_id'", "tabular_preprocessing.DATA.json"]),
    ({"part-0.csv": "order_id,amount\n1,2\n3,4,5,6\n"}, ["cannot read as csv", "Expected 2 columns, got 4"]),
    ({}, ["the folder holds no data"]),
    ({"_SUCCESS": "", "part-0.csv": ""}, ["the folder holds no data"]),
    ({"part-0.csv": "order_id,marketplace_id,currency_code,amount,quantity,category,label\n"}, ["no rows"]),
])
def test_bad_data_from_outside_the_dag_is_refused_before_anything_runs(demo, fake, tmp_path, content, words):
    data = tmp_path / "given"
    data.mkdir()
    for name, text in content.items():
        (data / name).write_text(text)
    result = cli(demo, "run-pipeline", "dag.yaml", "--input", f"tabular_preprocessing.DATA={data}")
    refused(result, fake, "tabular_preprocessing.DATA", str(data), *words)


def _write_suite(path: Path, expectations: list) -> Path:
    path.write_text(json.dumps({"name": path.stem, "expectations": expectations}))
    return path


def test_a_malformed_suite_on_a_node_is_refused_before_anything_runs(demo, fake):
    # risk_table's output feeds scoring; its suite has a misspelt kwarg that GX would reject only
    # when risk_table's output is checked, after three steps ran
    suite = _write_suite(demo / "suites" / "risk_table.risk_table.json", [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_valu": 0}}])
    edit_step(demo, "risk_table", lambda d: d.setdefault("suites", {}).setdefault("outputs", {}).update(
        {next(iter(d["contract"]["outputs"])): str(suite)}))
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, str(suite), "expectations[0]", "min_valu")


def test_a_malformed_edge_suite_is_refused_before_its_producer_runs(demo, fake):
    suite = _write_suite(demo / "suites" / "edge.json", [{"type": "expect_column_values_to_be_betwen",
                                                          "kwargs": {"column": "amount"}}])
    dag = demo / "dag.yaml"
    dag.write_text(dag.read_text().replace(
        "  - tabular_preprocessing -> currency_conversion",
        "  - {from: tabular_preprocessing, to: currency_conversion, checks: {suite: suites/edge.json}}"))
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, str(suite), "expectations[0].type",
            "did you mean 'expect_column_values_to_be_between'?")


# --- 15: smaller ---------------------------------------------------------------------------------

def test_version_and_short_help(demo, fake):
    from cursus_local import __version__
    assert cli(demo, "--version").stdout.strip() == f"cursus-local {__version__}"
    for args in (["-h"], ["run-pipeline", "-h"]):
        result = cli(demo, *args)
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_network_isolation_switches_off_by_its_own_name(demo, fake):
    help_text = cli(demo, "run-step", "-h").stdout
    assert "--no-network-isolation" in help_text and "<bool>" not in help_text
    assert cli(demo, "run-step", "currency_conversion", "--network").exit_code == 2
    result = cli(demo, "run-step", "currency_conversion", "--no-network-isolation")
    assert result.exit_code == 0, result.stderr
    ((_, job),) = fake.jobs
    assert job.request["NetworkConfig"]["EnableNetworkIsolation"] is False


def test_run_pipeline_says_why_the_step_files_local_values_do_not_count(demo, fake):
    # the demo's step files hold `local: {env: {LABEL_FIELD: label}}` and `{job_arguments:
    # {job_type: training}}`: run-step's defaults. A DAG says what its nodes run with.
    dag = demo / "dag.yaml"
    dag.write_text(dag.read_text().replace("    env: {LABEL_FIELD: label}\n", "").replace(
        "  currency_conversion:\n    job_arguments: {job_type: training}\n", "  currency_conversion: {}\n"))
    refused(cli(demo, "run-pipeline", "dag.yaml"), fake, "2 problem(s)",
            "--env tabular_preprocessing.LABEL_FIELD=VALUE; the step file's `local.env: {LABEL_FIELD: label}` "
            "is run-step's default only: run-pipeline takes what the DAG says",
            "--job-arg currency_conversion.job_type=VALUE", "`local.job_arguments: {job_type: training}` is "
            "run-step's default only")


def test_clashing_host_outputs_are_summarised_per_host(tmp_path):
    for host in ("algo-1", "algo-2", "algo-3"):
        for i in range(2000):
            (tmp_path / host).mkdir(exist_ok=True)
            (tmp_path / host / f"part-{i:05}.csv").write_text(host)
    notes = _merge([(h, tmp_path / h) for h in ("algo-1", "algo-2", "algo-3")], tmp_path / "final")
    assert len(notes) == 2 and notes[0].startswith("algo-2 also wrote 2000 file(s)")
    assert "first 5: part-00000.csv" in notes[0] and "part-00005.csv" not in notes[0]
    assert (tmp_path / "final" / "part-01999.algo-3.csv").read_text() == "algo-3"
    assert len(list((tmp_path / "final").iterdir())) == 6000
