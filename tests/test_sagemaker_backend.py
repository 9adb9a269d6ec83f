"""--backend sagemaker against a real SageMaker, S3 and CloudWatch Logs API on 127.0.0.1 (the moto
server of conftest.py), with boto3 as in production. Nothing is stubbed: moto's processing and
training jobs complete at once, so an interrupt is made to come right after CreateProcessingJob
(a botocore event hook sets `cancel`), before the backend has seen the job end.

What went on the wire is captured with botocore's `provide-client-params` event: the parameters
CreateProcessingJob / CreateTrainingJob were called with."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from conftest import write_step
from cursus_local.backends.sagemaker import Backoff, SageMakerBackend
from cursus_local.jobs.build import build
from cursus_local.jobs.contracts import STAND_INS, find_step, load_step
from cursus_local.jobs.processing import RunOptions
from cursus_local.jobs.sagemaker_images import REAL_IMAGES, real_image_uri, remote_image, stand_in_framework
from cursus_local.pipeline.step import run_job
from cursus_local.redact import Secrets
from cursus_local.status import JobStatus

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/cursus-test"
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo"
# distinctive values: none of them may appear in any file a run writes
ACCESS_KEY, SECRET_KEY = "AKIACURSUSLOCALTEST7", "cursus-local-test-secret-credential-value"
FAST = Backoff(first=0.02, factor=1.5, most=0.2)


@pytest.fixture
def aws(moto, monkeypatch, tmp_path):
    """boto3's default chain pointed at the moto server (env credentials); a fresh bucket."""
    for key, value in {"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                       "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
                       "AWS_REGION": REGION, "CURSUS_LOCAL_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3 = boto3.client("s3", region_name=REGION)
    s3.bucket = f"sm-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=s3.bucket)
    return s3


def keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket).get("Contents", [])]


class Wire:
    """A boto3 session whose Create*Job parameters are recorded as they are sent."""

    def __init__(self, after_create=None):
        self.session = boto3.session.Session()
        self.sent: list[dict] = []
        for op in ("CreateProcessingJob", "CreateTrainingJob"):
            self.session.events.register(f"provide-client-params.sagemaker.{op}", self._record)
            if after_create:
                self.session.events.register(f"after-call.sagemaker.{op}", lambda **kw: after_create())

    def _record(self, params, **kwargs):
        self.sent.append(copy.deepcopy(params))


def demo_job(tmp_path, name="currency_conversion", **options):
    step = load_step(find_step(name, [DEMO]))
    folder = tmp_path / "run" / step.name
    return build(step, RunOptions(**options), folder / "output"), folder


def flatten(value, path="") -> dict[str, object]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()}
    return {path: value}


# --- the image table ------------------------------------------------------------------------------

def test_every_stand_in_maps_to_the_image_the_sdk_retrieves_in_every_region():
    image_uris = pytest.importorskip("sagemaker.image_uris")
    import sagemaker
    config = Path(sagemaker.__file__).parent / "image_uri_config"
    for (framework, version), (_, _, registries) in REAL_IMAGES.items():
        sdk_regions = json.loads((config / f"{framework}.json").read_text())["training"]["versions"][version]["registries"]
        assert set(registries) == set(sdk_regions), framework
        for region in registries:
            kw = {"py_version": "py310"} if framework == "pytorch" else {}
            expected = image_uris.retrieve(framework, region, version=version, instance_type="ml.m5.xlarge",
                                           image_scope="training", **kw)
            assert real_image_uri(framework, version, region) == expected, (framework, version, region)
    assert {stand_in_framework(i) for i in STAND_INS} - {None} == set(REAL_IMAGES)   # every framework stand-in
    assert remote_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1", REGION).endswith("/mine:1")


# --- the request ----------------------------------------------------------------------------------

def test_the_submitted_request_is_the_docker_request_but_uris_role_and_image(tmp_path, aws):
    job, folder = demo_job(tmp_path)
    local = copy.deepcopy(job.request)         # what DockerBackend.run runs
    wire = Wire()
    backend = SageMakerBackend(ROLE, aws.bucket, session=wire.session, backoff=FAST)
    run = run_job(job, folder, backend)
    assert run.result.status == JobStatus.COMPLETED
    [sent] = wire.sent
    flat_local, flat_sent = flatten(local), flatten(sent)
    assert flat_local.keys() == flat_sent.keys()
    changed = {k for k in flat_local if flat_local[k] != flat_sent[k]}
    assert changed == {
        ".ProcessingInputs[0].S3Input.S3Uri", ".ProcessingInputs[1].S3Input.S3Uri",
        ".ProcessingOutputConfig.Outputs[0].S3Output.S3Uri", ".AppSpecification.ImageUri", ".RoleArn"}
    assert sent["RoleArn"] == ROLE
    assert sent["AppSpecification"]["ImageUri"] == \
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    code_uri = sent["ProcessingInputs"][1]["S3Input"]["S3Uri"]
    assert code_uri.startswith(f"s3://{aws.bucket}/cursus-local/") and code_uri.endswith("/currency_conversion.py")
    # each replacement is named in result.json
    saved = json.loads(run.result_file.read_text())
    for key in changed:
        assert any(flat_sent[key] in note for note in saved["notes"]), key
    assert saved["describe"]["ProcessingJobStatus"] == "Completed"
    names = json.loads((folder / "sagemaker.json").read_text())["replacements"]
    assert {r["field"] for r in names} == {
        "ProcessingInputs[input_data].S3Input.S3Uri", "ProcessingInputs[code].S3Input.S3Uri",
        "ProcessingOutputConfig.Outputs[processed_data].S3Output.S3Uri", "AppSpecification.ImageUri", "RoleArn"}


def test_a_training_request_changes_only_uris_role_and_image(tmp_path, aws):
    data = tmp_path / "data"
    for split in ("train", "val"):
        (data / split).mkdir(parents=True)
        (data / split / f"{split}.csv").write_text("id,label\n1,0\n")
    step = load_step(write_step(tmp_path, "train", "print('hi')", {
        "inputs": {"input_path": {"path": "/opt/ml/input/data", "channels": ["train", "val"]}},
        "outputs": {"model_output": {"path": "/opt/ml/model"}}},
        compute={"kind": "estimator", "sdk_class": "XGBoost", "framework_version": "1.7-1"}))
    job = build(step, RunOptions(inputs={"input_path": str(data)}), tmp_path / "run" / "train" / "output")
    local = copy.deepcopy(job.request)
    wire = Wire()
    run = run_job(job, tmp_path / "run" / "train", SageMakerBackend(ROLE, aws.bucket, session=wire.session,
                                                                    backoff=FAST))
    assert run.result.status == JobStatus.COMPLETED
    [sent] = wire.sent
    flat_local, flat_sent = flatten(local), flatten(sent)
    assert flat_local.keys() == flat_sent.keys()
    assert {k for k in flat_local if flat_local[k] != flat_sent[k]} == {
        ".InputDataConfig[0].DataSource.S3DataSource.S3Uri", ".InputDataConfig[1].DataSource.S3DataSource.S3Uri",
        ".HyperParameters.sagemaker_submit_directory", ".OutputDataConfig.S3OutputPath",
        ".AlgorithmSpecification.TrainingImage", ".RoleArn"}
    assert sent["AlgorithmSpecification"]["TrainingImage"] == \
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    train = sent["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert train.endswith("/train") and f"{train}/train.csv".split(f"s3://{aws.bucket}/")[1] in keys(aws)
    submit = json.loads(sent["HyperParameters"]["sagemaker_submit_directory"])
    assert submit.endswith("/sourcedir.tar.gz") and submit.split(f"s3://{aws.bucket}/")[1] in keys(aws)


# --- uploads --------------------------------------------------------------------------------------

def test_a_second_run_uploads_nothing(tmp_path, aws):
    backend = SageMakerBackend(ROLE, aws.bucket, backoff=FAST)
    first, folder = demo_job(tmp_path, job_name="cc-first")
    run_job(first, folder, backend)
    sent_first = backend.uploads.bytes
    data = [p for p in (DEMO / "data" / "preprocessed").rglob("*") if p.is_file()]
    assert sent_first > 0 and backend.uploads.files == len(data) + 1   # the data files and the script
    stored = keys(aws)
    assert stored and all(k.startswith("cursus-local/") for k in stored)
    second, folder2 = demo_job(tmp_path / "again", job_name="cc-second")
    run = run_job(second, folder2, backend)
    assert backend.uploads.bytes == sent_first and backend.uploads.skipped_files == len(data) + 1
    assert keys(aws) == stored
    assert "uploaded 0 file(s), 0 bytes" in " ".join(json.loads(run.result_file.read_text())["notes"])


# --- interrupts -----------------------------------------------------------------------------------

def test_cancel_during_the_remote_job_stops_it_and_waits_for_stopped(tmp_path, aws):
    cancel = threading.Event()
    wire = Wire(after_create=cancel.set)     # Ctrl-C right after the job was created
    job, folder = demo_job(tmp_path, job_name="cc-stopped")
    events = []
    run = run_job(job, folder, SageMakerBackend(ROLE, aws.bucket, session=wire.session, backoff=FAST),
                  events.append, cancel)
    sm = boto3.client("sagemaker", region_name=REGION)
    assert sm.describe_processing_job(ProcessingJobName="cc-stopped")["ProcessingJobStatus"] in ("Stopping", "Stopped")
    assert run.result.status == JobStatus.STOPPED and run.result.interrupted
    assert [e.text for e in events if e.kind == "status"][:1] == [JobStatus.STOPPING]


def test_without_cancel_the_job_is_not_stopped(tmp_path, aws):
    job, folder = demo_job(tmp_path, job_name="cc-completed")
    run = run_job(job, folder, SageMakerBackend(ROLE, aws.bucket, backoff=FAST))
    sm = boto3.client("sagemaker", region_name=REGION)
    assert sm.describe_processing_job(ProcessingJobName="cc-completed")["ProcessingJobStatus"] == "Completed"
    assert run.result.status == JobStatus.COMPLETED and not run.result.interrupted


# --- logs -----------------------------------------------------------------------------------------

def test_cloudwatch_streams_are_followed_into_the_host_logs_masked(tmp_path, aws):
    logs = boto3.client("logs", region_name=REGION)
    group = "/aws/sagemaker/ProcessingJobs"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    stream = "cc-logged/algo-1-1700000000"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)   # CloudWatch (and moto) drop events older than 14 days
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": now, "message": "converting 3 rows"},
        {"timestamp": now + 1, "message": "token is hunter2-secret-value"}])
    job, folder = demo_job(tmp_path, job_name="cc-logged", env={"API_TOKEN": "hunter2-secret-value"})
    events = []
    run = run_job(job, folder, SageMakerBackend(ROLE, aws.bucket, backoff=FAST), events.append)
    text = (folder / "logs" / "algo-1.log").read_text()
    assert text == "converting 3 rows\ntoken is ***\n"
    assert [(e.host, e.text) for e in events if e.kind == "log"] == [
        ("algo-1", "converting 3 rows"), ("algo-1", "token is ***")]
    assert [h.host for h in run.result.hosts] == ["algo-1"]


def test_a_job_without_log_streams_says_so_and_completes(tmp_path, aws):
    job, folder = demo_job(tmp_path, job_name="cc-silent")
    run = run_job(job, folder, SageMakerBackend(ROLE, aws.bucket, backoff=FAST))
    assert run.result.status == JobStatus.COMPLETED
    assert any("no CloudWatch log streams for cc-silent" in n for n in run.result.notes)


# --- the CLI --------------------------------------------------------------------------------------

def cli(args, env, cwd=DEMO):
    return subprocess.run([sys.executable, "-m", "cursus_local.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def cli_env(aws, tmp_path, **more):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "runner"), **more}
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize("command", [["run-step", "currency_conversion"], ["run-pipeline", "dag.yaml"]])
@pytest.mark.parametrize("drop, field", [("--role", "--role"), ("--bucket", "--bucket")])
def test_missing_role_or_bucket_exits_2_before_any_upload(tmp_path, aws, command, drop, field):
    args = {"--role": ROLE, "--bucket": aws.bucket}
    del args[drop]
    done = cli([*command, "--backend", "sagemaker", "--runs-dir", str(tmp_path / "runs"),
                *[x for kv in args.items() for x in kv]], cli_env(aws, tmp_path))
    assert done.returncode == 2, done.stderr
    assert field in done.stderr and "fix:" in done.stderr
    assert keys(aws) == []


def test_sagemaker_flags_without_the_sagemaker_backend_exit_2(tmp_path, aws):
    done = cli(["run-step", "currency_conversion", "--role", ROLE, "--runs-dir", str(tmp_path / "runs")],
               cli_env(aws, tmp_path))
    assert done.returncode == 2 and "--backend sagemaker" in done.stderr, done.stderr


def test_no_credentials_and_a_region_without_the_image_exit_2_before_any_upload(tmp_path, aws):
    base = ["run-step", "currency_conversion", "--backend", "sagemaker", "--role", ROLE, "--bucket", aws.bucket,
            "--runs-dir", str(tmp_path / "runs")]
    nothing = cli_env(aws, tmp_path, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                      AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
                      AWS_EC2_METADATA_DISABLED="true")
    done = cli(base, {k: v for k, v in nothing.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    assert done.returncode == 2 and "no AWS credentials" in done.stderr, done.stderr
    # sagemaker-scikit-learn has no registry in ap-east-2 (pytorch-training has)
    done = cli([*base, "--region", "ap-east-2"], cli_env(aws, tmp_path))
    assert done.returncode == 2 and "ap-east-2" in done.stderr and "--region" in done.stderr, done.stderr
    assert keys(aws) == []


def test_run_step_on_sagemaker_writes_no_credential_anywhere(tmp_path, aws):
    runs = tmp_path / "runs"
    done = cli(["run-step", "currency_conversion", "--backend", "sagemaker", "--role", ROLE,
                "--bucket", aws.bucket, "--runs-dir", str(runs)], cli_env(aws, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    files = [p for p in runs.rglob("*") if p.is_file()]
    assert any(p.name == "sagemaker.json" for p in files) and any(p.name == "result.json" for p in files)
    for path in files:
        data = path.read_bytes()
        assert ACCESS_KEY.encode() not in data and SECRET_KEY.encode() not in data, path
    assert ACCESS_KEY not in done.stdout + done.stderr and SECRET_KEY not in done.stdout + done.stderr


# --- run-pipeline ---------------------------------------------------------------------------------

WRITES = {"tabular_preprocessing": DEMO / "data" / "preprocessed", "currency_conversion": DEMO / "data" / "converted"}


class ServiceOutputs(Wire):
    """moto runs no container: when a job is created, its outputs are put where the request says
    (the demo's data of that step), as the service's EndOfJob upload would."""

    def __init__(self):
        super().__init__()
        self.session.events.register("after-call.sagemaker.CreateProcessingJob", self._write)

    def _write(self, **kwargs):
        params = self.sent[-1]
        step = next(s for s in WRITES if params["ProcessingJobName"].startswith(s.replace("_", "-")))
        s3 = self.session.client("s3")
        for output in params["ProcessingOutputConfig"]["Outputs"]:
            bucket, _, prefix = output["S3Output"]["S3Uri"].removeprefix("s3://").partition("/")
            for path in sorted(p for p in WRITES[step].rglob("*") if p.is_file()):
                s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(WRITES[step]).as_posix()}")


def demo_dag():
    from cursus_local.pipeline.dag import load_dag, select
    dag = load_dag(DEMO / "dag.yaml")
    select(dag, (), None, "currency_conversion")
    return dag


def without_name(request: dict, name: str) -> dict:
    return json.loads(json.dumps(request).replace(name, "<job>"))


def test_run_pipeline_chains_s3_uris_checks_samples_and_reuses_completed_jobs(tmp_path, aws):
    from cursus_local.pipeline.preflight import plan
    from cursus_local.pipeline.sequencer import Sequencer
    from cursus_local.status import StepStatus

    local = plan(demo_dag(), tmp_path / "local-plan").jobs        # the requests the Docker backend runs
    wire = ServiceOutputs()
    backend = SageMakerBackend(ROLE, aws.bucket, session=wire.session, backoff=FAST)
    result = Sequencer(demo_dag(), backend, runs_dir=tmp_path / "runs", jobs=2).run()
    assert {n: o.status for n, o in result.steps.items() if n in WRITES} == dict.fromkeys(WRITES, StepStatus.PASSED)
    sent = {next(s for s in WRITES if p["ProcessingJobName"].startswith(s.replace("_", "-"))): p for p in wire.sent}
    assert sent.keys() == WRITES.keys()
    uri_fields = (".S3Uri", ".ImageUri", ".RoleArn")
    for node, params in sent.items():
        mine, docker = flatten(without_name(params, params["ProcessingJobName"])), \
            flatten(without_name(local[node].request, local[node].name))
        assert mine.keys() == docker.keys(), node
        changed = {k for k in mine if mine[k] != docker[k]}
        assert changed and all(k.endswith(uri_fields) for k in changed), (node, changed)
    # the child reads the very URI its parent wrote to
    parent_out = sent["tabular_preprocessing"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    child_in = {i["InputName"]: i["S3Input"]["S3Uri"] for i in sent["currency_conversion"]["ProcessingInputs"]}
    assert child_in["input_data"] == parent_out
    assert parent_out.startswith(f"s3://{aws.bucket}/cursus-local/outputs/{result.steps['tabular_preprocessing'].key}/")
    assert result.steps["tabular_preprocessing"].outputs == {"processed_data": parent_out}
    # handoff checks ran on samples of the S3 outputs, producer and consumer sides
    checked = {(h.connection, h.side) for h in result.handoffs}
    assert ("tabular_preprocessing.processed_data -> currency_conversion.input_data", "consumer") in checked
    assert ("currency_conversion.processed_data", "producer") in checked
    assert all(h.total_rows for h in result.handoffs)

    uploaded = backend.uploads.bytes
    again = Sequencer(demo_dag(), backend, runs_dir=tmp_path / "runs", jobs=2).run()
    assert {n: o.status for n, o in again.steps.items() if n in WRITES} == dict.fromkeys(WRITES, StepStatus.CACHED)
    assert len(wire.sent) == 2 and backend.uploads.bytes == uploaded


def test_a_failed_job_keeps_the_services_failure_reason_and_exit_message(tmp_path, aws):
    """moto never fails a job: its Describe response of a created job, with the fields the service
    sets on a failed one, goes through the same mapping as every poll's."""
    job, folder = demo_job(tmp_path, job_name="cc-failed")
    backend = SageMakerBackend(ROLE, aws.bucket, backoff=FAST)
    run_job(job, folder, backend)
    info = backend.describe(job)
    info.update(ProcessingJobStatus="Failed", ExitMessage="rates file missing\n",
                FailureReason="AlgorithmError: See job logs for more information")
    follower = type("NoLogs", (), {"hosts": lambda self, job: []})()
    result = backend._result(job, info, time.time(), follower, Secrets.of_job(job), [], False)
    assert result.status == JobStatus.FAILED and not result.interrupted
    assert result.describe["FailureReason"] == "AlgorithmError: See job logs for more information"
    assert result.describe["ExitMessage"] == "rates file missing\n"
    assert result.describe["ProcessingJobArn"].endswith("processing-job/cc-failed")
