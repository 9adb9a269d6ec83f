"""What a CI reads from `run-pipeline`, on the real engine: the demo (baseline) and
`scenarios/broken_handoff` (a deliberate regression of it) run without a terminal, as in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from conftest import REPO
from junitparser import Failure, JUnitXml, Skipped

CLI = [sys.executable, "-m", "cursus_local.cli"]
SCHEMA = REPO / "runner" / "cursus_local" / "report" / "schemas" / "results.schema.json"
JUNIT_XSD = Path(__file__).parent / "junit-10.xsd"
pytestmark = pytest.mark.docker


def run(args, env_extra=None, cwd=REPO):
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "COLUMNS")}
    env.update({"CI": "true", **(env_extra or {})})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, docker_client):
    """The demo, then the broken handoff, in one runs folder; the second one read line by line."""
    work = tmp_path_factory.mktemp("report")
    runs = work / "runs"
    demo = run(["run-pipeline", "scenarios/demo/dag.yaml", "--runs-dir", str(runs), "--junit-xml",
                str(work / "demo.xml"), "--json"])
    assert demo.returncode == 0, demo.stdout + demo.stderr
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "CI": "true", "GITHUB_ACTIONS": "true",
           "GITHUB_STEP_SUMMARY": str(work / "summary.md")}
    proc = subprocess.Popen([*CLI, "run-pipeline", "scenarios/broken_handoff/dag.yaml", "--runs-dir", str(runs),
                             "--junit-xml", str(work / "broken.xml"), "--json", "--secret-env", "MY_VAR"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    running_when_first_line_came = proc.poll() is None
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, out + err
    demo_id = json.loads(demo.stdout.strip().splitlines()[-1])["run_id"]
    summary = json.loads(out.strip().splitlines()[-1])
    return {"work": work, "runs": runs, "demo": runs / demo_id / "results.json",
            "broken": runs / summary["run_id"] / "results.json", "summary": summary,
            "stdout": first + out, "stderr": err, "live": running_when_first_line_came}


def test_results_json_fits_the_shipped_schema_and_carries_what_a_ci_reads(runs):
    doc = json.loads(runs["broken"].read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["schema_version"] == 1 and doc["tool_version"] == "0.1.0"
    assert doc["started_at"].endswith("Z") and doc["started_at"] < doc["ended_at"]
    assert doc["command"]["arguments"][:2] == ["run-pipeline", "scenarios/broken_handoff/dag.yaml"]
    assert doc["counts"]["steps"] == {"passed": 3, "failed": 1, "skipped": 1}
    assert doc["counts"]["checks"]["failed"] == 1 and doc["counts"]["failed"] == 2
    step = doc["steps"]["feature_engineering"]
    assert step["outputs"] == {"features": "feature_engineering/output/features"}   # relative to the run folder
    assert step["result_file"] == "feature_engineering/result.json" and doc["run_dir"] == "."
    assert step["log_tail"] and "rows of features" in step["log_tail"][-1]
    assert step["started_at"] < step["ended_at"]
    flows = doc["data_flow_tests"]
    assert flows["total_connections_tested"] == 5 and {"connection", "status", "schema_compatibility"} <= \
        set(flows["results"][0])
    verdicts = {f["connection"]: f["status"] for f in flows["results"]}
    # the broken output fails its own edge; the edge into the producer that broke it worked
    assert verdicts["feature_engineering -> scoring"] == "FAIL"
    assert verdicts["currency_conversion -> feature_engineering"] in ("PASS", "WARN"), verdicts
    assert (runs["runs"] / "latest").resolve() == runs["broken"].parent   # the last run
    assert runs["summary"]["status"] == "failed" and runs["summary"]["counts"] == doc["counts"]


def test_junit_of_the_failing_run_validates_and_names_the_failing_step_and_check(runs):
    xml = runs["work"] / "broken.xml"
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml)
    xmlschema.XMLSchema(JUNIT_XSD).validate(runs["work"] / "demo.xml")
    cases = [c for suite in JUnitXml.fromfile(str(xml)) for c in suite]
    failed = {(c.classname, c.name): c.result[0] for c in cases if c.result and isinstance(c.result[0], Failure)}
    assert set(failed) == {("broken_handoff.feature_engineering", "run"),
                           ("broken_handoff.feature_engineering", "check producer feature_engineering.features")}
    check = failed[("broken_handoff.feature_engineering", "check producer feature_engineering.features")]
    assert "converted_amount" in check.message and "USD" in check.text   # the examples
    assert "rows of features" in failed[("broken_handoff.feature_engineering", "run")].text   # the log tail
    skipped = [c for c in cases if c.result and isinstance(c.result[0], Skipped)]
    assert [(c.classname, c.name) for c in skipped] == [("broken_handoff.scoring", "run")]
    assert len(cases) == 13


def test_without_a_terminal_each_event_is_one_line_as_it_happens(runs):
    assert runs["live"], "the first line came only when the run had ended"
    lines = runs["stdout"].splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("steps"))
    events = lines[:table]
    assert any(line.endswith("step feature_engineering running") for line in events)
    assert any(line.endswith("step tabular_preprocessing cached") for line in events)   # from the demo run
    assert any("step feature_engineering failed in" in line for line in events)
    assert any("check FAIL feature_engineering.features (producer, 600 rows)" in line for line in events)
    assert max(map(len, lines)) > 100   # 120 columns, not 80: no name folded mid-word
    assert "error: step feature_engineering failed" in runs["stderr"]
    assert "rows of features" in runs["stderr"]   # its log tail


def test_github_actions_gets_error_annotations_and_a_step_summary(runs):
    annotations = [line for line in runs["stdout"].splitlines() if line.startswith("::error ")]
    assert any("title=step feature_engineering failed" in a and "file=" in a for a in annotations)
    assert any("title=check feature_engineering.features failed" in a and "converted_amount" in a
               for a in annotations)
    summary = (runs["work"] / "summary.md").read_text()
    assert "### cursus-local: broken_handoff failed" in summary and "| feature_engineering | failed |" in summary


def test_compare_results_catches_the_broken_handoff_as_a_regression(runs):
    proc = run(["compare-results", "--baseline", str(runs["demo"]), "--current", str(runs["broken"])])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "step feature_engineering" in proc.stdout and "check producer" in proc.stdout
    assert "failing" in proc.stdout and "regression" in proc.stderr
    same = run(["compare-results", "--baseline", str(runs["demo"]), "--current", str(runs["demo"])])
    assert same.returncode == 0 and "no regression" in same.stdout


def test_export_results_of_latest_writes_the_design_note_shapes(runs):
    out = runs["work"] / "export.json"
    proc = run(["export-results", "--run", "latest", "--out", str(out), "--runs-dir", str(runs["runs"])])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["data_flow_tests"]["failed_connections"] >= 1 and doc["run_id"] == runs["broken"].parent.name
    # an export compares like the results.json it came from
    proc = run(["compare-results", "--baseline", str(runs["demo"]), "--current", str(out)])
    assert proc.returncode == 1 and "feature_engineering" in proc.stdout


def test_runs_lists_both_runs_with_status_and_the_latest(runs):
    proc = run(["runs", "--runs-dir", str(runs["runs"])], {"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "pipeline" in line]
    assert len(rows) == 2 and "passed" in rows[0] and "failed" in rows[1] and "latest" in rows[1]
