"""run-pipeline on the real engine: the demo end to end, cache, the broken handoff, resume."""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import REPO
from cursus_local.results import read_run_file

pytestmark = pytest.mark.docker
CLI = [sys.executable, "-m", "cursus_local.cli"]


@pytest.fixture
def scenarios(tmp_path):
    """A private copy of the scenarios (their runs/ folders left behind)."""
    for name in ("demo", "broken_handoff"):
        shutil.copytree(REPO / "scenarios" / name, tmp_path / name, ignore=shutil.ignore_patterns("runs"))
    return tmp_path


def run_pipeline(dag: Path, *args):
    proc = subprocess.run([*CLI, "run-pipeline", str(dag), *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=600)
    runs = sorted((dag.parent / "runs").glob("2*/results.json"), key=lambda p: p.stat().st_mtime)
    return proc, (read_run_file(runs[-1]) if runs else None)   # paths made absolute again


def statuses(results):
    return {name: step["status"] for name, step in results["steps"].items()}


def step_result(results, name):
    return json.loads(Path(results["steps"][name]["result_file"]).read_text())


def test_demo_passes_end_to_end_with_zero_copy_handoffs_then_comes_from_cache(scenarios):
    proc, results = run_pipeline(scenarios / "demo" / "dag.yaml", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(statuses(results).values()) == {"passed"}
    assert results["handoffs"] and {h["status"] for h in results["handoffs"]} <= {"PASS", "WARN"}
    assert "handoff checks" in proc.stdout and "run folder" in proc.stdout

    # the downstream input IS the upstream output folder: same inodes, nothing copied
    produced = results["steps"]["currency_conversion"]["outputs"]["processed_data"]
    for consumer in ("feature_engineering", "risk_table"):
        assert step_result(results, consumer)["inputs"]["input_data"] == produced
    assert results["bytes_copied"] == 0

    # --jobs 2: the two branches ran at the same time
    def span(name):
        info = step_result(results, name)["describe"]
        return (datetime.fromisoformat(info["ProcessingStartTime"]),
                datetime.fromisoformat(info["ProcessingEndTime"]))
    (a0, a1), (b0, b1) = span("feature_engineering"), span("risk_table")
    assert a0 < b1 and b0 < a1

    proc, again = run_pipeline(scenarios / "demo" / "dag.yaml")
    assert proc.returncode == 0
    assert set(statuses(again).values()) == {"cached"}
    assert again["run_id"] != results["run_id"]
    cached_out = Path(again["steps"]["scoring"]["outputs"]["scored"])
    assert sorted(p.name for p in cached_out.iterdir()) == ["test", "train", "val"]
    assert again["bytes_copied"] == 0

    proc, fresh = run_pipeline(scenarios / "demo" / "dag.yaml", "--no-cache")
    assert set(statuses(fresh).values()) == {"passed"}


def test_broken_handoff_is_caught_then_resume_reruns_only_the_failed_part(scenarios):
    dag = scenarios / "broken_handoff" / "dag.yaml"
    proc, results = run_pipeline(dag, "--jobs", "2")
    assert proc.returncode == 1
    assert statuses(results) == {"tabular_preprocessing": "passed", "currency_conversion": "passed",
                                 "feature_engineering": "failed", "risk_table": "passed",
                                 "scoring": "skipped"}
    assert "handoff check failed on feature_engineering.features" in results["steps"]["scoring"]["reason"]
    (failed,) = [h for h in results["handoffs"] if h["status"] == "FAIL"]
    assert failed["connection"] == "feature_engineering.features"
    amount = [f for f in failed["failures"] if f["column"] == "converted_amount" and f["severity"] == "critical"]
    assert amount and "write it as a numeric column" in amount[0]["message"]
    assert "USD" in amount[0]["unexpected_examples"][0]
    assert "converted_amount" in proc.stdout
    # nothing lost: the failed step's outputs and logs stay
    assert Path(results["steps"]["feature_engineering"]["outputs"]["features"], "train").is_dir()

    dag.write_text(dag.read_text().replace('env: {OUTPUT_AMOUNT_FORMAT: "{:.2f} USD"}', "env: {}"))
    proc, resumed = run_pipeline(dag, "--resume", results["run_id"])
    assert proc.returncode == 0, proc.stdout
    assert resumed["run_id"] == results["run_id"]
    assert statuses(resumed) == {"tabular_preprocessing": "cached", "currency_conversion": "cached",
                                 "feature_engineering": "passed", "risk_table": "cached", "scoring": "passed"}
    run_dir = Path(resumed["run_dir"])
    assert (run_dir / ".attempts" / "feature_engineering-1" / "logs" / "algo-1.log").is_file()


def test_a_failed_step_skips_its_descendants_while_the_other_branch_goes_on(scenarios):
    dag = scenarios / "demo" / "dag.yaml"
    dag.write_text(dag.read_text().replace("  risk_table: {}", "  risk_table: {env: {SMOOTH_FACTOR: abc}}"))
    proc, results = run_pipeline(dag, "--jobs", "2")
    assert proc.returncode == 1
    got = statuses(results)
    assert (got["risk_table"], got["feature_engineering"], got["scoring"]) == ("failed", "passed", "skipped")
    assert "ValueError" in step_result(results, "risk_table")["describe"]["ExitMessage"]


def test_unfed_inputs_are_reported_before_any_container_starts(scenarios):
    dag = scenarios / "demo" / "dag.yaml"
    dag.write_text(dag.read_text().replace("    inputs: {DATA: data/raw}\n", ""))
    proc, results = run_pipeline(dag)
    assert proc.returncode == 2
    assert "tabular_preprocessing.DATA" in proc.stderr and "fix:" in proc.stderr
    assert results is None                                  # no run folder: nothing started


def test_every_node_problem_is_reported_before_any_container_starts(scenarios):
    dag = scenarios / "demo" / "dag.yaml"
    text = dag.read_text().replace("    env: {LABEL_FIELD: label}\n", "")                # missing env
    text = text.replace("  currency_conversion:\n    job_arguments: {job_type: training}\n",
                        "  currency_conversion: {}\n")                                 # missing arg
    text = text.replace("  scoring: {}", "  scoring: {job_arguments: {job_type: x}}")  # unknown arg
    dag.write_text(text)
    proc, results = run_pipeline(dag)
    assert proc.returncode == 2
    out = " ".join(proc.stderr.split())
    assert "3 problem(s) found before running" in out
    # each fix in run-pipeline's terms: its own flag, or where it goes in the DAG YAML
    assert "--env tabular_preprocessing.LABEL_FIELD=VALUE" in out
    assert "--job-arg currency_conversion.job_type=VALUE" in out
    assert "`job_arguments: {job_type: VALUE}` under nodes.currency_conversion" in out
    assert "- scoring: " in out and "this step takes no job arguments" in out
    assert results is None


@pytest.mark.parametrize("dag", sorted((REPO.parent / "shared" / "cursus" / "dags").glob("*.dag.json")),
                         ids=lambda p: p.name)
def test_discover_connections_on_the_real_cursus_dag(dag):
    """On every real DAG the command prints the very report discovery makes (test_connections.py
    says what holds for it) plus the static compatibility, and exits 1 exactly when it is not ok."""
    from cursus_local.pipeline.connections import discover
    from cursus_local.pipeline.dag import load_dag

    proc = subprocess.run([*CLI, "discover-connections", "--dag-file", str(dag), "--json"],
                          capture_output=True, text=True, timeout=60)
    expected = json.loads(json.dumps(discover(load_dag(dag)).to_dict()))
    assert proc.returncode == (0 if expected["ok"] else 1), proc.stdout + proc.stderr
    printed = json.loads(proc.stdout)
    assert isinstance(printed.pop("static_compatibility"), list)
    assert printed == expected and printed["connections"]


def test_test_flow_reports_the_handoff_in_the_data_flow_shape(scenarios):
    proc = subprocess.run([*CLI, "test-flow", "--upstream", "tabular_preprocessing", "--downstream",
                           "currency_conversion", "--scenario", str(scenarios / "demo")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (saved,) = (scenarios / "demo" / "runs").glob("*/data_flow.json")
    (flow,) = json.loads(saved.read_text())["data_flow_tests"]["results"]
    assert flow["connection"] == "tabular_preprocessing -> currency_conversion"
    assert flow["status"] == "PASS" and flow["schema_compatibility"] and flow["data_type_compatibility"]
    assert flow["data_sample_size"] == 600
