"""The design note's S3 commands: `s3_integration.yaml` (strict), `validate-s3-access` and
`test-s3`, against a moto server (real S3 and SageMaker APIs over HTTP on 127.0.0.1).

The CLI finds moto through AWS_ENDPOINT_URL and the default credential chain, as it would find
AWS. moto has no ListPipelineExecutionSteps: a botocore Stubber answers that one call (stubbed
calls: `list_pipeline_execution_steps` once per discovery, listed in each test).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from cursus_local.cli import s3 as cli_s3
from cursus_local.data import s3 as s3data
from cursus_local.data.s3_access import validate
from cursus_local.data.s3_config import load_settings
from typer.testing import CliRunner

REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "AKIACURSUSLOCALTEST", "cursus-local-secret-never-printed"
DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/demo/execution/run42"


@pytest.fixture
def aws(moto, monkeypatch, tmp_path):
    """The default chain points at moto: endpoint, region and (fake) keys from the environment."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path / "cache"))
    return boto3.session.Session().client("s3")


@pytest.fixture
def bucket(aws):
    """A new bucket holding a small dataset under data/ (a split folder and a marker)."""
    name = f"access-{uuid.uuid4().hex[:10]}"
    aws.create_bucket(Bucket=name)
    aws.put_object(Bucket=name, Key="data/_SUCCESS", Body=b"")
    aws.put_object(Bucket=name, Key="data/train/part-00000.csv", Body=b"id,amount\n1,2.5\n")
    return name


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s3_integration.yaml"
    path.write_text(text)
    return path


def _run(*args: str):
    return CliRunner().invoke(cli_s3.app, list(args))


# ---------------------------------------------------------------- s3_integration.yaml


def test_demo_example_config_loads():
    settings = load_settings(DEMO / "s3_integration.yaml")
    assert settings.region == REGION and settings.max_bytes == 100 * 10**6 and settings.rows == 1000
    assert [s.s3_path for s in settings.sources] == ["s3://cursus-demo/raw/"]
    assert settings.output_paths == ["s3://cursus-demo/demo/"]


def test_pipeline_sources_as_the_design_note_shapes_them(tmp_path):
    settings = load_settings(_config(tmp_path, """
s3_integration:
  aws_config: {region: eu-west-1, profile: sagemaker-execution}
  test_data_sources:
    - pipeline_name: production-pipeline
      execution_pattern: "nightly-*"
      steps:
        - {step_name: tabular-preprocessing, outputs: [processed_data, feature_metadata]}
        - {step_name: currency-conversion}
  data_sampling: {default_sample_size: 500, max_download_size: 2MiB, cache_duration: 2h}
"""))
    (source,) = settings.sources
    assert (source.pipeline_name, source.execution_pattern) == ("production-pipeline", "nightly-*")
    assert source.steps == {"tabular-preprocessing": ["processed_data", "feature_metadata"],
                            "currency-conversion": []}
    assert (settings.rows, settings.max_bytes, settings.cache_duration) == (500, 2 * 2**20, 7200)


@pytest.mark.parametrize("text, field, fix", [
    ("s3_integration:\n  test_data_sources:\n    - {pipeline_name: p, execution_patern: latest}\n",
     "s3_integration.test_data_sources[0].execution_patern", "did you mean 'execution_pattern'?"),
    ("s3_integration:\n  output_path: [s3://b/x]\n", "s3_integration.output_path", "did you mean 'output_paths'?"),
    ("s3_integration:\n  output_paths: [b/x]\n", "s3_integration.output_paths[0]", "write s3://BUCKET/PREFIX"),
    ("s3_integration:\n  test_data_sources:\n    - {s3_path: s3://bkt/x, pipeline_name: p}\n",
     "s3_integration.test_data_sources[0]", "pipeline_name"),
])
def test_bad_config_exits_2_naming_file_field_and_fix(tmp_path, text, field, fix):
    path = _config(tmp_path, text)
    for command in (["validate-s3-access", "--config", str(path)],
                    ["test-s3", "--script", "currency_conversion", "--pipeline-execution", ARN,
                     "--config", str(path), "--scenario", str(DEMO)]):
        result = _run(*command)
        assert result.exit_code == 2, result.output
        assert str(path) in result.output and field in result.output and fix in result.output


# ---------------------------------------------------------------- validate-s3-access


def test_validate_s3_access_per_path_with_aws_codes(aws, bucket, tmp_path):
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    path = _config(tmp_path, f"""
s3_integration:
  test_data_sources:
    - s3_path: s3://{bucket}/data/
    - s3_path: s3://{missing}/data/
  output_paths: [s3://{bucket}/test-outputs/, s3://{missing}/out/]
""")
    checks = {p.uri: {c.operation: (c.status, c.code) for c in p.checks}
              for p in validate(load_settings(path))}
    assert checks == {
        f"s3://{bucket}/data/": {"list": ("PASS", ""), "read": ("PASS", "")},
        f"s3://{missing}/data/": {"list": ("FAIL", "NoSuchBucket"), "read": ("SKIP", "")},
        f"s3://{bucket}/test-outputs/": {"list": ("PASS", ""), "read": ("SKIP", ""), "write": ("PASS", "")},
        f"s3://{missing}/out/": {"list": ("FAIL", "NoSuchBucket"), "read": ("SKIP", ""),
                                 "write": ("FAIL", "NoSuchBucket")},
    }
    # the write check cleaned up after itself
    assert [o["Key"] for o in aws.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "data/_SUCCESS", "data/train/part-00000.csv"]

    result = _run("validate-s3-access", "--config", str(path))
    assert result.exit_code == 1, result.output
    assert "NoSuchBucket" in result.output and "2 of 4 S3 path(s) fully accessible, 2 failed" in result.output
    assert ACCESS_KEY not in result.output and SECRET_KEY not in result.output


def test_validate_s3_access_passes_when_every_path_does(aws, bucket, tmp_path):
    path = _config(tmp_path, f"s3_integration:\n  test_data_sources: [{{s3_path: s3://{bucket}/data}}]\n"
                             f"  output_paths: [s3://{bucket}/out/]\n")
    result = _run("validate-s3-access", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert "2 of 2 S3 path(s) fully accessible" in result.output


def test_a_denied_read_is_a_fail_with_its_code(aws, bucket, tmp_path, moto):
    """Real IAM checks in moto (after reset-auth) for a user who may list but not get objects."""
    import urllib.request
    iam = boto3.session.Session().client("iam")
    user = f"lister-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="list-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                "Resource": f"arn:aws:s3:::{bucket}"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    lister = boto3.session.Session().client("s3", aws_access_key_id=key["AccessKeyId"],
                                            aws_secret_access_key=key["SecretAccessKey"])
    path = _config(tmp_path, f"s3_integration:\n  output_paths: [s3://{bucket}/data/]\n")

    def reset_auth(body: bytes) -> None:   # IAM enforced after this many more requests
        urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset-auth", body, method="POST",
                                                      headers={"Content-Type": "text/plain"}))
    reset_auth(b"0")
    try:
        (access,) = validate(load_settings(path), s3=lister)
    finally:
        reset_auth(b"inf")
    assert {c.operation: (c.status, c.code) for c in access.checks} == {
        "list": ("PASS", ""), "read": ("FAIL", "AccessDenied"), "write": ("FAIL", "AccessDenied")}
    assert all(key["SecretAccessKey"] not in c.detail for c in access.checks)


def test_a_pipeline_source_resolves_to_its_step_outputs(aws, bucket, tmp_path):
    """Stubbed: list_pipeline_execution_steps (once). moto answers ListPipelineExecutions and
    DescribeProcessingJob."""
    sm, arn = _execution(bucket, f"s3://{bucket}/data")
    path = _config(tmp_path, f"""
s3_integration:
  test_data_sources:
    - pipeline_name: {arn.split('/')[1]}
      execution_pattern: latest
      steps: [{{step_name: TabularPreprocessing, outputs: [processed_data, nothing_here]}}, {{step_name: Gone}}]
""")
    with _stubbed_steps(sm, arn):
        paths = validate(load_settings(path), sagemaker=sm)
    assert [(p.uri, p.checks[0].operation, p.checks[0].status) for p in paths] == [
        (f"s3://{bucket}/data", "list", "PASS"),
        (f"{arn.split('/')[1]} TabularPreprocessing.nothing_here", "resolve", "FAIL"),
        (f"{arn.split('/')[1]} step Gone", "resolve", "FAIL")]


# ---------------------------------------------------------------- test-s3


def _execution(bucket: str, output_uri: str, pipeline: str | None = None):
    """A moto pipeline with one succeeded execution, and the processing job its
    TabularPreprocessing step ran (writing `output_uri`); (SageMaker client, execution ARN)."""
    sm = boto3.session.Session().client("sagemaker")
    pipeline = pipeline or f"demo-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=pipeline, RoleArn="arn:aws:iam::123456789012:role/pipeline",
                       PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}))
    arn = sm.start_pipeline_execution(PipelineName=pipeline)["PipelineExecutionArn"]
    job = sm.create_processing_job(
        ProcessingJobName=f"pipelines-{uuid.uuid4().hex[:8]}-TabularPreprocessing",
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 30}},
        AppSpecification={"ImageUri": "sklearn-processing:1.2-1"},
        RoleArn="arn:aws:iam::123456789012:role/pipeline",
        ProcessingOutputConfig={"Outputs": [{"OutputName": "processed_data", "S3Output": {
            "S3Uri": output_uri, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]})
    sm.job_arn = job["ProcessingJobArn"]
    return sm, arn


class _stubbed_steps:
    """`sm.list_pipeline_execution_steps` answered by a Stubber: the one step, once."""

    def __init__(self, sm, arn: str):
        self.lister = boto3.session.Session().client("sagemaker")
        sm.list_pipeline_execution_steps = self.lister.list_pipeline_execution_steps
        self.stub = Stubber(self.lister)
        self.stub.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": [
            {"StepName": "TabularPreprocessing", "StepStatus": "Succeeded",
             "Metadata": {"ProcessingJob": {"Arn": sm.job_arn}}}]}, {"PipelineExecutionArn": arn})

    def __enter__(self):
        self.stub.activate()
        return self

    def __exit__(self, *exc):
        self.stub.deactivate()
        if exc[0] is None:
            self.stub.assert_no_pending_responses()


@pytest.mark.docker
def test_s3_runs_the_script_on_sampled_upstream_outputs_with_its_quality_checks(aws, bucket, tmp_path,
                                                                                   monkeypatch):
    """End to end: the demo's preprocessed data in moto as TabularPreprocessing's output; test-s3
    finds the step by currency_conversion's compatible_sources, samples 60 rows into the cache and
    runs the script in its image with the demo's quality checks. Stubbed: list_pipeline_execution_steps."""
    prefix = "demo/run42/TabularPreprocessing/output"
    for path in (DEMO / "data" / "preprocessed").rglob("*.csv"):
        aws.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(DEMO / 'data' / 'preprocessed').as_posix()}")
    sm, arn = _execution(bucket, f"s3://{bucket}/{prefix}")
    real_client = s3data._client
    monkeypatch.setattr(s3data, "_client",
                        lambda service, region=None: sm if service == "sagemaker" else real_client(service, region))
    scenario = tmp_path / "demo"
    shutil.copytree(DEMO, scenario, ignore=shutil.ignore_patterns("runs"))
    with _stubbed_steps(sm, arn):
        result = _run("test-s3", "--script", "currency_conversion", "--pipeline-execution", arn,
                      "--rows", "60", "--scenario", str(scenario), "--runs-dir", str(tmp_path / "runs"),
                      "--config", str(scenario / "s3_integration.yaml"))
    assert result.exit_code == 0, result.output
    (file,) = [f for f in (tmp_path / "runs").glob("*/unit_tests.json") if not f.parent.is_symlink()]
    assert "results:" in result.output and file.parent.name in result.output
    body = json.loads(file.read_text())["script_unit_tests"]
    (entry,) = body["s3_integration_tests"]["results"]
    assert entry["status"] == "PASS" and entry["data_sample_size"] == 60
    assert f"s3://{bucket}/{prefix}" in entry["s3_source"]
    assert set(entry["quality_checks"]) >= {"schema_validation", "data_range_validation",
                                            "null_value_validation", "unique_validation"}
    assert set(entry["quality_checks"].values()) == {"PASS"}
    assert "synthetic_tests" not in body   # only the S3 data ran

    # a step the execution has not is bad input, named with the ones it has
    with _stubbed_steps(sm, arn):
        result = _run("test-s3", "--script", "currency_conversion", "--pipeline-execution", arn,
                      "--step", "Nope", "--scenario", str(scenario), "--config", str(scenario / "s3_integration.yaml"))
    assert result.exit_code == 2 and "use one of: TabularPreprocessing" in result.output


@pytest.mark.docker
def test_s3_fails_on_real_data_that_breaks_a_quality_check(aws, bucket, tmp_path, monkeypatch):
    """Negative amounts upstream: converted_amount breaks data_range_validation; exit 1, and the
    result file says which check. Stubbed: list_pipeline_execution_steps."""
    prefix = "demo/bad/TabularPreprocessing/output"
    for path in (DEMO / "data" / "preprocessed").rglob("*.csv"):
        lines = path.read_text().splitlines()
        rows = [",".join(f"-{v}" if i == 3 else v for i, v in enumerate(line.split(","))) for line in lines[1:]]
        aws.put_object(Bucket=bucket, Key=f"{prefix}/{path.parent.name}/{path.name}",
                       Body="\n".join([lines[0], *rows, ""]).encode())
    sm, arn = _execution(bucket, f"s3://{bucket}/{prefix}")
    real_client = s3data._client
    monkeypatch.setattr(s3data, "_client",
                        lambda service, region=None: sm if service == "sagemaker" else real_client(service, region))
    with _stubbed_steps(sm, arn):
        result = _run("test-s3", "--script", "currency_conversion", "--pipeline-execution", arn,
                      "--step", "TabularPreprocessing", "--rows", "30", "--scenario", str(DEMO),
                      "--runs-dir", str(tmp_path / "runs"), "--config", str(DEMO / "s3_integration.yaml"))
    assert result.exit_code == 1, result.output
    (file,) = [f for f in (tmp_path / "runs").glob("*/unit_tests.json") if not f.parent.is_symlink()]
    (entry,) = json.loads(file.read_text())["script_unit_tests"]["s3_integration_tests"]["results"]
    assert entry["status"] == "FAIL" and entry["quality_checks"]["data_range_validation"] == "FAIL"
