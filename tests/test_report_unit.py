"""What a CI reads from `test-suite`, on the real engine: the buggy currency conversion fails."""

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
from junitparser import Failure, JUnitXml

CLI = [sys.executable, "-m", "cursus_local.cli"]
DEMO = REPO / "scenarios" / "demo"
SCHEMA = REPO / "runner" / "cursus_local" / "report" / "schemas" / "results.schema.json"


@pytest.mark.docker
def test_test_suite_writes_a_schema_valid_result_and_junit_naming_the_failing_rows(tmp_path, docker_client):
    args = ["test-suite", "--script", "currency_conversion", "--config", "buggy_currency_conversion/test_scenarios.yaml",
            "--runs-dir", str(tmp_path / "runs"), "--junit-xml", str(tmp_path / "unit.xml"), "--json"]
    proc = subprocess.run([*CLI, *args], cwd=DEMO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CI": "true"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    run_dir = Path(summary["run_dir"])
    assert (tmp_path / "runs" / "latest").resolve() == run_dir
    doc = json.loads((run_dir / "unit_tests.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["counts"] == {"passed": 1, "failed": 1, "skipped": 0} == summary["counts"]
    assert doc["command"]["arguments"][0] == "test-suite" and doc["started_at"] < doc["ended_at"]
    entry = doc["script_unit_tests"]["synthetic_tests"]["results"][0]
    assert not entry["run_folder"].startswith("/")   # relative to the run folder
    xmlschema.XMLSchema(Path(__file__).parent / "junit-10.xsd").validate(tmp_path / "unit.xml")
    cases = [c for s in JUnitXml.fromfile(str(tmp_path / "unit.xml")) for c in s]
    (failed,) = [c for c in cases if c.result and isinstance(c.result[0], Failure)]
    assert failed.classname == "currency_conversion.synthetic" and "missing_currency_data" in failed.name
    assert "null_value_validation" in failed.result[0].message and '"currency_code": null' in failed.result[0].text
    # the next invocation has a result file of its own
    again = subprocess.run([*CLI, *args], cwd=DEMO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1
    assert len(list((tmp_path / "runs").glob("2*/unit_tests.json"))) == 2
