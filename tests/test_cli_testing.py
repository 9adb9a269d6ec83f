"""test-script, test-suite, generate-data and suggest-suite as a user runs them (real processes,
the real engine), including the round trip: suggest a suite from real output, generate data from
it, the data passes the suite and the script runs on it."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO
from cursus_local.data import checks, datasets
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.processing import RunOptions
from helpers import run_step

DEMO = REPO / "scenarios" / "demo"
CLI = [sys.executable, "-m", "cursus_local.cli"]


def cli(*args, cwd=DEMO):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=600)


@pytest.mark.docker
def test_test_script_runs_the_demo_scenarios(tmp_path, docker_client):
    proc = cli("test-script", "--script", "currency_conversion", "--test-type", "synthetic",
               "--runs-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in ("multi_currency_data", "missing_currency_data", "unknown_conversion_variable",
                 "null_value_validation", "score", "memory", "PASS currency_conversion: 3 of 3 scenarios"):
        assert text in proc.stdout
    (report,) = tmp_path.glob("2*/unit_tests.json")   # not runs/latest, a link to it
    assert json.loads(report.read_text())["script_unit_tests"]["synthetic_tests"]["passed_scenarios"] == 3


@pytest.mark.docker
def test_test_suite_on_the_buggy_variant_fails_showing_the_rows(tmp_path, docker_client):
    proc = cli("test-suite", "--script", "currency_conversion",
               "--config", "buggy_currency_conversion/test_scenarios.yaml", "--runs-dir", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAIL missing_currency_data: quality checks failed: null_value_validation" in out
    assert "converted_amount not_be_null" in out and "failing rows, e.g." in out
    assert '"currency_code": null' in out and '"converted_amount": null' in out
    assert "FAIL currency_conversion: 1 of 2 scenarios" in out


@pytest.mark.docker
def test_performance_test_type_records_time_cpu_and_memory(tmp_path, docker_client):
    proc = cli("test-script", "--script", "currency_conversion", "--test-type", "performance",
               "--rows", "20000", "--runs-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "20,000" in proc.stdout and "MiB" in proc.stdout
    (report,) = tmp_path.glob("2*/unit_tests.json")   # not runs/latest, a link to it
    (entry,) = json.loads(report.read_text())["script_unit_tests"]["performance_tests"]["results"]
    assert entry["rows"] == 20000 and entry["peak_memory_mb"] > 0 and entry["cpu_seconds"] > 0


@pytest.mark.docker
def test_round_trip_suggest_then_generate_then_validate_then_run(tmp_path, backend):
    step = load_step(DEMO / "steps/currency_conversion.step.yaml")
    observed = run_step(step, RunOptions(), tmp_path / "runs", backend).result.outputs["processed_data"]

    proc = cli("suggest-suite", str(observed), "--out", str(tmp_path / "converted.suite.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "converted_amount" in proc.stdout and "wrote" in proc.stdout
    suite = tmp_path / "converted.suite.json"

    proc = cli("generate-data", "--suite", str(suite), "--rows", "600", "--splits", "train,test,val",
               "--out", str(tmp_path / "data"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout                                   # checked against the suite
    assert checks.validate(suite, tmp_path / "data").status == "PASS"
    assert datasets.read_table(tmp_path / "data").num_rows == 600

    rerun = run_step(step, RunOptions(inputs={"input_data": str(tmp_path / "data")}),
                     tmp_path / "runs_on_generated", backend)
    assert rerun.result.status == "Completed"
    assert sorted(p.name for p in rerun.result.outputs["processed_data"].iterdir()) == ["test", "train", "val"]


def test_generate_data_is_deterministic_and_shaped_like_the_sample(tmp_path):
    for name in ("a", "b"):
        proc = cli("generate-data", "--script", "currency_conversion", "--rows", "3000", "--seed", "5",
                   "-p", "currencies=[USD,GBP]", "-p", "missing_currency_rate=0.05",
                   "--no-check", "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.csv"))
    assert [str(f) for f in files] == ["test/part-00000.csv", "train/part-00000.csv", "val/part-00000.csv"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    codes = datasets.read_table(tmp_path / "a").column("currency_code")
    assert set(codes.drop_null().to_pylist()) == {"USD", "GBP"} and codes.null_count == 150


@pytest.mark.parametrize("args, words", [
    (["generate-data", "--script", "currency_conversion", "--out", "{tmp}/x", "-p", "bogus=1"],
     "unknown scenario parameter 'bogus'"),
    (["generate-data", "--out", "{tmp}/x"], "pass --script NAME"),
    (["test-suite", "--config", "nope.yaml"], "nope.yaml: no such test scenarios file"),
    (["test-script", "--script", "nope"], "no step named 'nope'"),
    (["test-script", "--script", "currency_conversion", "--test-type", "s3_integration"],
     "no s3_integration tests for currency_conversion"),
    (["suggest-suite", "{tmp}/missing"], "no such file or folder"),
])
def test_user_errors_exit_2_with_the_fix(tmp_path, args, words):
    proc = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error:" in proc.stderr and words in proc.stderr and "fix:" in proc.stderr
