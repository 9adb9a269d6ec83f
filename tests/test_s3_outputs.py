"""s3:// outputs: a completed job's output folder goes to its ProcessingOutput S3Uri, as the service
uploads it at the end of the job. Against a real S3 API (the moto server of conftest.py): in process
through the sequencer (FakeBackend), and as a user runs `run-step` on the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from conftest import write_step
from cursus_local.errors import UserError
from cursus_local.pipeline.dag import load_dag
from cursus_local.pipeline.sequencer import Sequencer
from cursus_local.status import StepStatus
from dag_files import branching_dag
from fakes import FakeBackend

REGION = "us-east-1"


@pytest.fixture
def s3(moto, monkeypatch):
    """Our code's boto3 talks to the moto server; a fresh bucket per test."""
    for key, value in {"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                       "AWS_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=moto, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.bucket = f"outputs-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=client.bucket)
    return client


def objects(s3, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read() for o in listed}


def with_outputs(dag_file: Path, node: str, outputs: dict[str, str]) -> Path:
    import yaml
    doc = yaml.safe_load(dag_file.read_text())
    doc["nodes"][node]["outputs"] = outputs
    dag_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dag_file


def test_a_dag_node_output_on_s3_is_uploaded_when_the_step_completes(tmp_path, s3):
    uri = f"s3://{s3.bucket}/pipeline/prep/processed"
    dag_file = with_outputs(branching_dag(tmp_path), "prep", {"processed": uri})
    backend = FakeBackend()
    result = Sequencer(load_dag(dag_file), backend, runs_dir=tmp_path / "runs").run()
    assert {n: o.status for n, o in result.steps.items()} == dict.fromkeys(
        ("load", "prep", "train", "side"), StepStatus.PASSED)
    prep = next(job for node, job in backend.jobs if node == "prep")
    (output,) = prep.request["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == uri                         # the request names it
    local = prep.local_outputs["processed"]
    assert local.is_relative_to(tmp_path / "runs")                  # and the step still writes locally
    files = {f.relative_to(local).as_posix(): f.read_bytes() for f in local.rglob("*") if f.is_file()}
    assert files and objects(s3, "pipeline/prep/processed/") == {
        f"pipeline/prep/processed/{rel}": body for rel, body in files.items()}
    assert objects(s3, "pipeline/").keys() == objects(s3, "pipeline/prep/processed/").keys()  # nothing else


def test_an_upload_that_fails_fails_the_step_with_the_aws_error(tmp_path, s3):
    dag_file = with_outputs(branching_dag(tmp_path), "prep", {"processed": "s3://no-such-bucket-here/x"})
    result = Sequencer(load_dag(dag_file), FakeBackend(), runs_dir=tmp_path / "runs").run()
    assert result.steps["prep"].status == StepStatus.FAILED
    assert result.steps["train"].status == StepStatus.SKIPPED
    (result_file,) = (tmp_path / "runs").glob("*/prep/result.json")
    describe = json.loads(result_file.read_text())["describe"]
    assert describe["ProcessingJobStatus"] == "Failed"
    assert describe["FailureReason"].startswith("ClientError: output processed was not uploaded to "
                                                "s3://no-such-bucket-here/x")
    assert "NoSuchBucket" in describe["FailureReason"]


def test_a_dag_output_that_is_not_on_s3_is_refused_naming_the_field(tmp_path):
    dag_file = with_outputs(branching_dag(tmp_path), "prep", {"processed": "some/folder"})
    with pytest.raises(UserError) as e:
        load_dag(dag_file)
    assert e.value.field == "nodes.prep.outputs.processed" and "s3://" in e.value.fix


def test_a_dag_output_that_the_step_lacks_is_refused(tmp_path):
    dag_file = with_outputs(branching_dag(tmp_path), "prep", {"nope": "s3://b/x"})
    with pytest.raises(UserError) as e:
        load_dag(dag_file)
    assert "nodes.prep.outputs" in str(e.value) and "nope" in str(e.value)


@pytest.mark.docker
def test_run_step_uploads_an_s3_output_written_by_a_real_container(tmp_path, s3, docker_client):
    step = write_step(tmp_path, "writer", """
        from pathlib import Path
        out = Path("/opt/ml/processing/output/data")
        (out / "train").mkdir(parents=True)
        (out / "train" / "part-00000.csv").write_text("id,value\\n1,0.5\\n")
        (out / "_SUCCESS").write_text("")
    """, {"outputs": {"data": {"path": "/opt/ml/processing/output/data"}}})
    uri = f"s3://{s3.bucket}/runs/writer"
    proc = subprocess.run([sys.executable, "-m", "cursus_local.cli", "run-step", str(step),
                           "--code", str(tmp_path / "code"), "--output", f"data={uri}",
                           "--runs-dir", str(tmp_path / "runs")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert objects(s3, "runs/writer/") == {"runs/writer/train/part-00000.csv": b"id,value\n1,0.5\n",
                                           "runs/writer/_SUCCESS": b""}
    (result_file,) = (tmp_path / "runs").glob("*/writer/result.json")
    outputs = json.loads(result_file.read_text())["describe"]["ProcessingOutputConfig"]["Outputs"]
    assert outputs[0]["S3Output"]["S3Uri"] == uri
