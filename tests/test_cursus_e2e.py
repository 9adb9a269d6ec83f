"""A real Cursus pipeline end to end: Cursus's own DAG and interfaces, unchanged, our scripts, every
job kind it uses (Processing in three images, a Training job), handoff checks on every tabular
handoff, and the model that was evaluated and packaged is, by hash, the one that was trained."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cursus_local.results import read_run_file

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "cursus_e2e"
SHARED_DAGS = REPO.parent / "shared" / "cursus" / "dags"
CLI = [sys.executable, "-m", "cursus_local.cli"]

pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(not SHARED_DAGS.is_dir(), reason="../shared/cursus is not beside this repo")]


def run_pipeline(dag: Path, runs: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([*CLI, "run-pipeline", str(dag), "--runs-dir", str(runs), *args],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"})
    latest = max(runs.glob("2*/results.json"), key=lambda p: p.stat().st_mtime)
    return proc, read_run_file(latest)   # paths made absolute again


def member_hash(archive: Path, name: str) -> str:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if Path(m.name).name == name)
        return hashlib.sha256(tar.extractfile(member).read()).hexdigest()


@pytest.fixture(scope="module")
def dummy_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("e2e") / "runs"
    return runs, *run_pipeline(SCENARIO / "dag.yaml", runs, "--jobs", "2")


def test_the_dummy_e2e_dag_runs_end_to_end(dummy_run):
    _, proc, results = dummy_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = {n: s["status"] for n, s in results["steps"].items()}
    assert steps.pop("Registration") == "skipped"            # service-bound: skipped, and said so
    assert set(steps.values()) == {"passed"}, steps
    kinds = {n: json.loads(Path(s["result_file"]).read_text())["describe"]
             for n, s in results["steps"].items() if s["result_file"]}
    assert kinds["XGBoostTraining"]["TrainingJobStatus"] == "Completed"          # a real Training job
    assert kinds["XGBoostTraining"]["AlgorithmSpecification"]["TrainingImage"] == "cursus-local/xgboost-training:1.7-1"
    images = {kinds[n]["AppSpecification"]["ImageUri"] for n in kinds if n != "XGBoostTraining"}
    assert images == {"cursus-local/sklearn-processing:1.2-1", "cursus-local/sklearn-processing:1.0-1",
                      "cursus-local/xgboost-processing:1.7-1"}


def test_every_tabular_handoff_is_checked(dummy_run):
    _, _, results = dummy_run
    checked = {h["connection"]: h["status"] for h in results["handoffs"]}
    assert checked == {
        "DummyDataLoading_training.DATA -> TabularPreprocessing_training.DATA": "PASS",
        "DummyDataLoading_calibration.DATA -> TabularPreprocessing_calibration.DATA": "PASS",
        "TabularPreprocessing_training.processed_data -> XGBoostTraining.input_path": "PASS",
        "TabularPreprocessing_calibration.processed_data -> XGBoostModelEval_calibration.processed_data": "PASS",
        "XGBoostModelEval_calibration.eval_output -> ModelCalibration_calibration.evaluation_data": "PASS",
    }


def test_the_model_evaluated_and_packaged_is_the_one_trained(dummy_run):
    _, _, results = dummy_run
    out = {n: s["outputs"] for n, s in results["steps"].items()}
    trained = Path(out["XGBoostTraining"]["model_output"]) / "model.tar.gz"
    # what downstream received is the very file ModelArtifacts.S3ModelArtifacts names, unchanged:
    # the evaluation untarred it inside its (writable) input, and the upstream folder kept only it
    assert sorted(p.name for p in trained.parent.iterdir()) == ["model.tar.gz"]
    metrics = json.loads((Path(out["XGBoostModelEval_calibration"]["metrics_output"]) / "metrics.json").read_text())
    assert metrics["model_tar_gz_sha256"] == hashlib.sha256(trained.read_bytes()).hexdigest()
    bst = member_hash(trained, "xgboost_model.bst")
    assert metrics["xgboost_model_bst_sha256"] == bst
    packaged = Path(out["Package"]["packaged_model"]) / "model.tar.gz"
    assert member_hash(packaged, "xgboost_model.bst") == bst
    assert (Path(out["Payload"]["payload_sample"]) / "payload.tar.gz").is_file()


def test_the_same_scripts_run_the_cradle_dag_with_data_loading_provided(dummy_run):
    runs, _, first = dummy_run
    proc, results = run_pipeline(SCENARIO / "dag_cradle.yaml", runs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = {n: s["status"] for n, s in results["steps"].items()}
    for node in ("CradleDataLoading_training", "CradleDataLoading_calibration"):   # never run, never faked
        assert results["steps"][node]["not_run"] == "provided" and results["steps"][node]["provided"]["DATA"]
    assert results["steps"]["Registration"]["not_run"] == "skipped"
    checked = {h["connection"]: h["status"] for h in results["handoffs"]}   # provided data is checked too
    assert checked["CradleDataLoading_training.DATA -> TabularPreprocessing_training.DATA"] == "PASS"
    assert {s for n, s in steps.items() if n.split("_")[0] not in ("CradleDataLoading", "Registration")} \
        <= {"passed", "cached"}
