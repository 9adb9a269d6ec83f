"""S3 test data: discovery from a pipeline execution, byte-budget samples, the cache, clear errors.

A moto server (real S3, IAM and SageMaker APIs over HTTP on 127.0.0.1) holds a fake pipeline
execution's jobs and outputs. moto has no ListPipelineExecutionSteps, so a botocore Stubber
answers that one call; everything else goes to the server.
"""

from __future__ import annotations

import os
import urllib.request
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber
from cursus_local.cli import s3 as cli_s3
from cursus_local.data import s3 as s3data
from cursus_local.data.datasets import read_splits
from cursus_local.errors import UserError
from typer.testing import CliRunner

REGION = "us-east-1"
BUCKET = "cursus-pipeline-outputs"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/fraud-model/execution/abc123xyz"
ROOT = "fraud-model/abc123xyz"
DATA = f"s3://{BUCKET}/{ROOT}/TabularPreprocess/processed_data"
SPLITS = {"train": 4, "test": 2, "val": 2}   # shards per split


def _shard(split: str, i: int) -> bytes:
    """A CSV shard; all shards have the same size, so budgets count in shards."""
    rows = "".join(f"{split[:2]}{i:02d}{r:04d},{(i * 10 + r) * 1.25:09.2f},{r % 2}\n" for r in range(10))
    return b"id,amount,label\n" + rows.encode()


SHARD = len(_shard("train", 0))


def _client(url: str, service: str, **creds):
    creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=url, region_name=REGION, **creds)


def _post(url: str, body: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, body.encode(), method="POST",
                                                  headers={"Content-Type": "text/plain"}))


@pytest.fixture(scope="session")
def pipeline(moto):
    """A finished execution: TabularPreprocess (processing), XGBoostTraining, CheckAUC (condition)."""
    s3, sm = _client(moto, "s3"), _client(moto, "sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    data = DATA.split(BUCKET + "/")[1]
    shards = {f"{split}/part-{i:05d}.csv": _shard(split, i) for split, n in SPLITS.items() for i in range(n)}
    junk = {"_SUCCESS": b"", "train/.part-00000.csv.crc": b"crc", "_temporary/0/part-9.csv": b"x"}
    for rel, body in {**shards, **junk}.items():
        s3.put_object(Bucket=BUCKET, Key=f"{data}/{rel}", Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"{data}_v2/train/part-00000.csv", Body=b"a sibling prefix\n")
    s3.put_object(Bucket=BUCKET, Key=f"{ROOT}/TabularPreprocess/metadata/_SUCCESS", Body=b"")

    outputs = {"processed_data": DATA, "metadata": f"s3://{BUCKET}/{ROOT}/TabularPreprocess/metadata"}
    processing = sm.create_processing_job(
        ProcessingJobName="pipelines-abc123xyz-TabularPreprocess-1a2b",
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 30}},
        AppSpecification={"ImageUri": "sklearn-processing:1.2-1"},
        RoleArn="arn:aws:iam::123456789012:role/pipeline",
        ProcessingOutputConfig={"Outputs": [
            {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/output/{name}",
                                              "S3UploadMode": "EndOfJob"}} for name, uri in outputs.items()]})
    training = sm.create_training_job(
        TrainingJobName="pipelines-abc123xyz-XGBoostTraining-3c4d",
        AlgorithmSpecification={"TrainingImage": "xgboost:1.7-1", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/pipeline",
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/{ROOT}/XGBoostTraining"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    model = sm.describe_training_job(TrainingJobName="pipelines-abc123xyz-XGBoostTraining-3c4d")[
        "ModelArtifacts"]["S3ModelArtifacts"]
    s3.put_object(Bucket=BUCKET, Key=model.split(BUCKET + "/")[1], Body=b"model bytes")

    def step(name, metadata):
        return {"StepName": name, "StepStatus": "Succeeded", "Metadata": metadata}

    pages = [  # ListPipelineExecutionSteps in two pages, newest step first
        ({"PipelineExecutionArn": ARN},
         {"PipelineExecutionSteps": [step("CheckAUC", {"Condition": {"Outcome": "True"}}),
                                     step("XGBoostTraining", {"TrainingJob": {"Arn": training["TrainingJobArn"]}})],
          "NextToken": "page-2"}),
        ({"PipelineExecutionArn": ARN, "NextToken": "page-2"},
         {"PipelineExecutionSteps": [
             step("TabularPreprocess", {"ProcessingJob": {"Arn": processing["ProcessingJobArn"]}})]}),
    ]
    return SimpleNamespace(outputs=outputs, model=model, shards=shards, pages=pages)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def sagemaker(moto, pipeline):
    """A moto SageMaker client whose list_pipeline_execution_steps is stubbed (once per test)."""
    sm, lister = _client(moto, "sagemaker"), _client(moto, "sagemaker")
    sm.list_pipeline_execution_steps = lister.list_pipeline_execution_steps  # paginators use it too
    with Stubber(lister) as stub:
        for params, response in pipeline.pages:
            stub.add_response("list_pipeline_execution_steps", response, params)
        yield sm
        stub.assert_no_pending_responses()


@pytest.fixture
def s3(moto):
    """A moto S3 client that records the operations it calls in `.calls`."""
    client = _client(moto, "s3")
    client.calls = []
    client.meta.events.register("before-call.s3", lambda model, **_: client.calls.append(model.name))
    return client


def _files(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- discovery


def test_discover_outputs_of_processing_and_training_steps(sagemaker, pipeline):
    assert s3data.discover_outputs(ARN, sagemaker=sagemaker) == {
        "XGBoostTraining": {"model": pipeline.model},
        "TabularPreprocess": pipeline.outputs,
    }


# ---------------------------------------------------------------- sampling


def test_sample_keeps_every_split_under_the_budget(sagemaker, s3, pipeline, cache):
    reports = []
    path = s3data.fetch_output(ARN, "TabularPreprocess", "processed_data", max_bytes=5 * SHARD,
                               sagemaker=sagemaker, s3=s3, on_report=reports.append)
    assert path.is_relative_to(cache / "s3" / BUCKET)
    # round robin over splits, each in an order the seed shuffles; val's 2nd no longer fits
    files = _files(path)
    assert all(files[rel] == pipeline.shards[rel] for rel in files)
    assert sorted(rel.split("/")[0] for rel in files) == ["test", "test", "train", "train", "val"]
    report = reports[0]
    assert report.bytes == 5 * SHARD and not report.cached and len(report.skipped) == 3
    assert report.by_split() == {"test": (2, 2, 2 * SHARD), "train": (2, 4, 2 * SHARD),
                                 "val": (1, 2, SHARD)}
    assert "5 of 8 objects" in report.summary()
    assert {split: t.num_rows for split, t in read_splits(path).items()} == {"test": 20, "train": 20, "val": 10}


def test_a_big_budget_takes_all_data_but_no_markers_or_siblings(s3, pipeline):
    path = s3data.fetch_uri(DATA + "/", max_bytes=2**20, s3=s3)
    assert _files(path) == pipeline.shards


def test_a_training_step_model_is_one_object(sagemaker, s3, tmp_path):
    path = s3data.fetch_output(ARN, "XGBoostTraining", "model", tmp_path / "model",
                               sagemaker=sagemaker, s3=s3)
    assert _files(path) == {"model.tar.gz": b"model bytes"}


def test_second_fetch_reads_the_cache_asking_s3_only_for_heads(s3, pipeline, tmp_path):
    first = s3data.fetch_uri(DATA, max_bytes=5 * SHARD, s3=s3)
    assert s3.calls.count("GetObject") == 5
    s3.calls.clear()
    reports = []
    copy = s3data.fetch_uri(DATA, tmp_path / "copy", max_bytes=5 * SHARD, s3=s3, on_report=reports.append)
    assert s3.calls == ["HeadObject"] * 5 and reports[0].cached     # revalidated, no data read
    assert copy == tmp_path / "copy" and _files(copy) == _files(first)
    s3data.fetch_uri(DATA, tmp_path / "copy", max_bytes=5 * SHARD, s3=s3)   # same sample again: fine

    s3data.fetch_uri(DATA, max_bytes=100 * SHARD, s3=s3)                  # a bigger budget: fetched
    assert s3.calls.count("GetObject") == 8


# ---------------------------------------------------------------- clear errors


def test_unknown_step_lists_the_steps(sagemaker):
    with pytest.raises(UserError, match="no step 'Preprocess'") as e:
        s3data.fetch_output(ARN, "Preprocess", "processed_data", sagemaker=sagemaker)
    assert "use one of: CheckAUC, TabularPreprocess, XGBoostTraining" in str(e.value)


def test_unknown_output_lists_the_outputs(sagemaker):
    with pytest.raises(UserError, match="no S3 output 'data'") as e:
        s3data.fetch_output(ARN, "TabularPreprocess", "data", sagemaker=sagemaker)
    assert "use one of: metadata, processed_data" in str(e.value)


def test_empty_prefix(sagemaker, s3):
    with pytest.raises(UserError, match="no data objects under this S3 prefix"):
        s3data.fetch_output(ARN, "TabularPreprocess", "metadata", sagemaker=sagemaker, s3=s3)


def test_budget_below_one_object_per_split(s3):
    with pytest.raises(UserError, match=r"one object per split .* over the .* budget") as e:
        s3data.fetch_uri(DATA, max_bytes=2 * SHARD, s3=s3)
    assert "MiB (--max-mb)" in str(e.value) and s3.calls.count("GetObject") == 0


def test_access_denied(moto, pipeline):
    """Real IAM checks: moto enforces them after /moto-api/reset-auth, for a user with no policy."""
    iam = _client(moto, "iam")
    iam.create_user(UserName="no-s3-access")
    key = iam.create_access_key(UserName="no-s3-access")["AccessKey"]
    denied = _client(moto, "s3", aws_access_key_id=key["AccessKeyId"],
                     aws_secret_access_key=key["SecretAccessKey"])
    _post(f"{moto}/moto-api/reset-auth", "0")
    try:
        with pytest.raises(UserError, match="AWS refused access") as e:
            s3data.fetch_uri(DATA, max_bytes=2**20, s3=denied)
    finally:
        _post(f"{moto}/moto-api/reset-auth", "inf")
    assert "AWS_PROFILE" in str(e.value) and "aws sso login" in str(e.value)


def test_no_credentials(moto, monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "missing"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)     # were credentials found, only moto is asked
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(UserError, match="no usable AWS credentials") as e:
        s3data.fetch_uri(DATA, max_bytes=2**20)
    assert "AWS_PROFILE" in str(e.value)


def test_malformed_uri_and_arn():
    with pytest.raises(UserError, match="not an S3 URI"):
        s3data.fetch_uri(f"{BUCKET}/data", max_bytes=1)
    with pytest.raises(UserError, match="not a pipeline execution ARN"):
        s3data.discover_outputs("arn:aws:sagemaker:us-east-1:123456789012:pipeline/fraud-model")


def test_dest_holding_other_files_is_refused(s3, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match=r"not part of this sample \(notes.txt\)"):
        s3data.fetch_uri(DATA, tmp_path / "mine", max_bytes=2**20, s3=s3)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------- CLI


def test_cli_discover_s3_data(sagemaker, monkeypatch):
    monkeypatch.setattr(s3data, "_client", lambda service, region=None: sagemaker)
    result = CliRunner().invoke(cli_s3.app, ["discover-s3-data", "--pipeline-execution", ARN])
    assert result.exit_code == 0, result.output
    for text in ("TabularPreprocess", "processed_data", "metadata", "XGBoostTraining", "model"):
        assert text in result.output


def test_cli_download_test_data(s3, pipeline, monkeypatch, tmp_path):
    monkeypatch.setattr(s3data, "_client", lambda service, region=None: s3)
    result = CliRunner().invoke(cli_s3.app, [
        "download-test-data", "--s3-path", DATA, "--local-path", str(tmp_path / "data"),
        "--max-mb", str(5 * SHARD / 2**20), "--whole-objects"])
    assert result.exit_code == 0, result.output
    assert "2 of 4" in result.output and "5 of 8 objects" in result.output
    assert len(_files(tmp_path / "data")) == 5
