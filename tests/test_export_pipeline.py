"""export-pipeline: the demo DAG as a SageMaker Pipeline definition, checked against what the SageMaker
Python SDK v2 generates for the same pipeline, and created, updated and started on a real SageMaker API
(the moto server on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
import pytest
from cursus_local.cli import app
from cursus_local.pipeline.dag import load_dag
from cursus_local.pipeline.export import content_uri, export_pipeline
from typer.testing import CliRunner

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"
BUCKET, REGION, NAME = "export-bucket", "us-east-1", "demo-export"
ROLE = "arn:aws:iam::123456789012:role/pipeline"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test: the SDK and boto3 reach
    only the moto server."""
    real = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"connection to {address} attempted")
        return real(sock, address)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def aws(moto, monkeypatch, loopback_only):
    for key, value in {"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto


def exported(tmp_path) -> dict:
    return export_pipeline(load_dag(DEMO / "dag.yaml"), tmp_path / "run", bucket=BUCKET, region=REGION,
                           name=NAME, role=ROLE).definition


def sdk_definition(ours: dict, moto: str) -> dict:
    """The demo pipeline as the SDK builds it: a ScriptProcessor per node (python3, the step's image,
    role, resources, env, arguments), its inputs wired by the DAG's edges to the upstream step's
    `properties`, the raw data as a ParameterString, outputs to a Join over the execution id."""
    from sagemaker.network import NetworkConfig
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.steps import ProcessingStep

    boto_session = boto3.Session(region_name=REGION)
    session = PipelineSession(boto_session=boto_session, default_bucket=BUCKET,
                              sagemaker_client=boto_session.client("sagemaker", endpoint_url=moto))
    dag = load_dag(DEMO / "dag.yaml")
    request = {s["Name"]: s["Arguments"] for s in ours["Steps"]}
    feeds = {   # the demo's edges: input -> (upstream, output)
        "currency_conversion": {"input_data": ("tabular_preprocessing", "processed_data")},
        "feature_engineering": {"input_data": ("currency_conversion", "processed_data")},
        "risk_table": {"input_data": ("currency_conversion", "processed_data")},
        "scoring": {"features": ("feature_engineering", "features"), "risk_tables": ("risk_table", "risk_tables")},
    }
    raw = ParameterString("tabular_preprocessing_DATA", default_value=content_uri(BUCKET, DEMO / "data" / "raw"))
    steps: dict[str, ProcessingStep] = {}
    for name in dag.topological_order():
        step, args = dag.nodes[name].step, request[name]
        cluster = args["ProcessingResources"]["ClusterConfig"]
        processor = ScriptProcessor(
            image_uri=SKLEARN, command=["python3"], role=ROLE, instance_type=cluster["InstanceType"],
            instance_count=cluster["InstanceCount"], volume_size_in_gb=cluster["VolumeSizeInGB"],
            max_runtime_in_seconds=step.max_runtime_seconds, env=args["Environment"],
            network_config=NetworkConfig(enable_network_isolation=False), sagemaker_session=session)
        inputs = []
        for input_name, spec in step.inputs.items():
            if name in feeds:
                up, output = feeds[name][input_name]
                source = steps[up].properties.ProcessingOutputConfig.Outputs[output].S3Output.S3Uri
            else:
                source = raw
            inputs.append(ProcessingInput(source=source, destination=spec.path, input_name=input_name))
        outputs = [ProcessingOutput(output_name=o, source=spec.path, destination=Join(
                       on="/", values=["s3:/", BUCKET, NAME, ExecutionVariables.PIPELINE_EXECUTION_ID, name, o]))
                   for o, spec in step.outputs.items()]
        code = content_uri(BUCKET, DEMO / "scripts" / step.entry_point)
        step_args = processor.run(code=code, inputs=inputs, outputs=outputs,
                                  arguments=args["AppSpecification"].get("ContainerArguments"))
        steps[name] = ProcessingStep(name=name, step_args=step_args)
    pipeline = Pipeline(name=NAME, parameters=[raw], steps=list(steps.values()),
                        sagemaker_session=session, pipeline_experiment_config=None)
    return json.loads(pipeline.definition())


def normalised(definition: dict) -> dict:
    """What the SDK adds that says nothing: empty metadata, default-valued flags."""
    definition = json.loads(json.dumps(definition))
    definition.pop("Metadata", None)
    definition.pop("PipelineExperimentConfig", None)
    for step in definition["Steps"]:
        args = step["Arguments"]
        network = args.get("NetworkConfig") or {}
        if network.get("EnableInterContainerTrafficEncryption") is False:
            del network["EnableInterContainerTrafficEncryption"]
        step.setdefault("DependsOn", [])
    return definition


def test_definition_matches_the_sdk(tmp_path, aws):
    ours = exported(tmp_path)
    theirs = sdk_definition(ours, aws)
    a, b = normalised(ours), normalised(theirs)
    assert [(s["Name"], s["Type"], s["DependsOn"]) for s in a["Steps"]] == \
           [(s["Name"], s["Type"], s["DependsOn"]) for s in b["Steps"]]
    assert a["Parameters"] == b["Parameters"]
    for mine, sdk in zip(a["Steps"], b["Steps"]):
        assert mine["Arguments"] == sdk["Arguments"], mine["Name"]
    assert a == b


def test_property_references_and_parameters(tmp_path):
    definition = exported(tmp_path)
    steps = {s["Name"]: s["Arguments"] for s in definition["Steps"]}
    scoring = {i["InputName"]: i["S3Input"]["S3Uri"] for i in steps["scoring"]["ProcessingInputs"]}
    assert scoring["features"] == {
        "Get": "Steps.feature_engineering.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"}
    assert scoring["risk_tables"] == {
        "Get": "Steps.risk_table.ProcessingOutputConfig.Outputs['risk_tables'].S3Output.S3Uri"}
    assert scoring["code"].startswith(f"s3://{BUCKET}/cursus-local/") and scoring["code"].endswith("/scoring.py")
    assert [p["Name"] for p in definition["Parameters"]] == ["tabular_preprocessing_DATA"]
    assert all(a["AppSpecification"]["ImageUri"] == SKLEARN and a["RoleArn"] == ROLE for a in steps.values())
    assert "cursus-local/sklearn" not in json.dumps(definition)    # no local image, no placeholder URI
    assert "s3://cursus-local/" not in json.dumps(definition)


def s3_objects(moto: str) -> dict[str, int]:
    s3 = boto3.client("s3", endpoint_url=moto, region_name=REGION)
    return {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_upsert_creates_updates_and_starts(tmp_path, aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    out = tmp_path / "pipeline.json"
    command = ["export-pipeline", str(DEMO / "dag.yaml"), "--out", str(out), "--name", NAME, "--role", ROLE,
               "--bucket", BUCKET, "--region", REGION, "--upsert"]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    uploaded = s3_objects(aws)
    raw = sorted(p.relative_to(DEMO / "data" / "raw").as_posix() for p in (DEMO / "data" / "raw").rglob("*")
                 if p.is_file())
    assert any(k.endswith("/scoring.py") for k in uploaded)
    assert sorted(k.split("/", 2)[2] for k in uploaded if not k.endswith(".py")) == raw

    second = CliRunner().invoke(app, command)
    assert second.exit_code == 0, second.output
    assert "updated" in second.output and "uploaded 0 files, 0 bytes" in second.output
    assert s3_objects(aws) == uploaded

    sm = boto3.client("sagemaker", region_name=REGION)
    described = sm.describe_pipeline(PipelineName=NAME)
    assert json.loads(described["PipelineDefinition"]) == json.loads(out.read_text())
    assert described["RoleArn"] == ROLE
    execution = sm.start_pipeline_execution(PipelineName=NAME)["PipelineExecutionArn"]
    assert NAME in execution


def test_without_upsert_lists_what_to_upload(tmp_path):
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(app, ["export-pipeline", str(DEMO / "dag.yaml"), "--out", str(out),
                                      "--bucket", BUCKET, "--region", REGION])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["Version"] == "2020-12-01"
    assert str(DEMO / "scripts" / "scoring.py") in result.output
    assert "RoleArn is the placeholder" in result.output


@pytest.mark.parametrize("extra, field, fix", [
    (["--bucket", BUCKET, "--region", REGION, "--upsert"], "--role", "--role arn:aws:iam::"),
    (["--region", REGION], "--bucket", "--bucket NAME"),
    (["--bucket", BUCKET, "--region", REGION, "--skip", "nosuchnode"], "--skip", "nosuchnode"),
    (["--bucket", BUCKET, "--region", REGION, "--role", "admin"], "--role", "arn:aws:iam::<12-digit"),
    (["--bucket", BUCKET, "--region", REGION, "--name", "bad_name"], "--name", "letters, digits"),
    (["--bucket", BUCKET, "--region", "xx-nowhere-1"], "--region", "--region"),
])
def test_bad_input_exits_2_naming_field_and_fix(tmp_path, extra, field, fix):
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(app, ["export-pipeline", str(DEMO / "dag.yaml"), "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    assert field in result.output and fix in result.output
    assert not out.exists()


CURSUS_E2E = DEMO.parent / "cursus_e2e" / "dag.yaml"


@pytest.mark.skipif(not (DEMO.parents[2] / "shared" / "cursus").is_dir(), reason="../shared/cursus absent")
def test_cursus_dag_with_a_training_step(tmp_path):
    """Cursus's e2e DAG: the training job is a TrainingStep whose model the downstream steps read as
    ModelArtifacts.S3ModelArtifacts; its channels are the upstream output's split folders."""
    result = export_pipeline(load_dag(CURSUS_E2E), tmp_path / "run", bucket=BUCKET, region="us-west-2", role=ROLE)
    steps = {s["Name"]: s for s in result.definition["Steps"]}
    training = steps["XGBoostTraining"]
    assert training["Type"] == "Training" and "Registration" not in steps
    args = training["Arguments"]
    assert "TrainingJobName" not in args
    assert args["AlgorithmSpecification"]["TrainingImage"] == \
        "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
    source = json.loads(args["HyperParameters"]["sagemaker_submit_directory"])
    assert source in result.uploads and result.uploads[source].name == "sourcedir.tar.gz"
    produced = {"Get": "Steps.TabularPreprocessing_training.ProcessingOutputConfig.Outputs['processed_data']"
                       ".S3Output.S3Uri"}
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in args["InputDataConfig"]} == \
        {ch: {"Std:Join": {"On": "/", "Values": [produced, ch]}} for ch in ("train", "val", "test")}
    model = {"Get": "Steps.XGBoostTraining.ModelArtifacts.S3ModelArtifacts"}
    assert model in [i["S3Input"]["S3Uri"] for i in steps["Payload"]["Arguments"]["ProcessingInputs"]]
    assert {p["Name"] for p in result.definition["Parameters"]} == \
        {"DummyDataLoading_training_INPUT_DATA", "DummyDataLoading_calibration_INPUT_DATA"}


# --- handoff checks as steps of their own (--with-checks) --------------------------------------------

from cursus_local.data import check_job
from cursus_local.pipeline.export import CHECK_IMAGE_PLACEHOLDER

SUITES = DEMO / "suites"
CHECK_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cursus-local-runner:1"
PRODUCED = "Steps.{}.ProcessingOutputConfig.Outputs['{}'].S3Output.S3Uri"
# each checked data of the demo: the suites that check it locally, the steps that read it
DEMO_CHECKS = {
    "Check-Input-tabular_preprocessing-DATA": (
        {"Get": "Parameters.tabular_preprocessing_DATA"}, ["tabular_preprocessing.DATA"], ["tabular_preprocessing"]),
    "Check-tabular_preprocessing-processed_data": (
        {"Get": PRODUCED.format("tabular_preprocessing", "processed_data")},
        ["tabular_preprocessing.processed_data", "currency_conversion.input_data"], ["currency_conversion"]),
    "Check-currency_conversion-processed_data": (
        {"Get": PRODUCED.format("currency_conversion", "processed_data")},
        ["currency_conversion.processed_data", "feature_engineering.input_data", "risk_table.input_data"],
        ["feature_engineering", "risk_table"]),
    "Check-feature_engineering-features": (
        {"Get": PRODUCED.format("feature_engineering", "features")},
        ["feature_engineering.features", "scoring.features"], ["scoring"]),
    "Check-risk_table-risk_tables": (
        {"Get": PRODUCED.format("risk_table", "risk_tables")},
        ["risk_table.risk_tables", "scoring.risk_tables"], ["scoring"]),
    "Check-scoring-scored": ({"Get": PRODUCED.format("scoring", "scored")}, ["scoring.scored"], []),
}


def with_checks(tmp_path, **options):
    return export_pipeline(load_dag(DEMO / "dag.yaml"), tmp_path / "run", bucket=BUCKET, region=REGION,
                           name=NAME, role=ROLE, with_checks=True, **options)


def test_a_check_step_per_checked_data(tmp_path):
    """Every suite a local run checks a handoff with is an input of the check step of that data, beside
    the data itself; the steps that read the data depend on it; the entry point validates them all."""
    result = with_checks(tmp_path, check_image=CHECK_IMAGE)
    steps = {s["Name"]: s for s in result.definition["Steps"]}
    checks = {n: s for n, s in steps.items() if n.startswith("Check-")}
    assert set(checks) == set(DEMO_CHECKS)
    for name, (data, suites, readers) in DEMO_CHECKS.items():
        args = checks[name]["Arguments"]
        assert checks[name]["Type"] == "Processing" and "DependsOn" not in checks[name]
        inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
        assert inputs.pop("data")["S3Uri"] == data
        assert [i["S3Uri"] for i in inputs.values()] == [content_uri(BUCKET, SUITES / f"{s}.json") for s in suites]
        assert all(result.uploads[i["S3Uri"]] == SUITES / f"{s}.json" for i, s in zip(inputs.values(), suites))
        app = args["AppSpecification"]
        assert app["ImageUri"] == CHECK_IMAGE and args["RoleArn"] == ROLE
        assert app["ContainerEntrypoint"] == ["python3", "-m", "cursus_local.data.check_job"]
        assert [a for a in app["ContainerArguments"] if a.endswith(".json")] == \
            [f"{i['LocalPath']}/{s}.json" for i, s in zip(inputs.values(), suites)]
        for reader in readers:
            assert name in steps[reader]["DependsOn"], reader
    assert {n: sorted(s.get("DependsOn", [])) for n, s in steps.items() if n in ("scoring", "risk_table")} == \
        {"scoring": ["Check-feature_engineering-features", "Check-risk_table-risk_tables"],
         "risk_table": ["Check-currency_conversion-processed_data"]}
    assert not [n for n in result.notes if "placeholder image" in n]


def test_check_image_placeholder_is_named(tmp_path):
    result = with_checks(tmp_path)
    placeholder = CHECK_IMAGE_PLACEHOLDER.format(region=REGION)
    assert {s["Arguments"]["AppSpecification"]["ImageUri"] for s in result.definition["Steps"]
            if s["Name"].startswith("Check-")} == {placeholder}
    assert any(placeholder in n and "--check-image" in n for n in result.notes)


def test_upsert_with_checks_on_moto(tmp_path, aws):
    """The definition with its check steps is taken by create_pipeline and started; the suites are uploaded."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    name = f"{NAME}-with-checks"   # the session's moto holds the test above's pipeline
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(app, ["export-pipeline", str(DEMO / "dag.yaml"), "--out", str(out), "--name", name,
                                      "--role", ROLE, "--bucket", BUCKET, "--region", REGION, "--upsert",
                                      "--check-image", CHECK_IMAGE])
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "11 steps" in result.output
    uploaded = s3_objects(aws)
    assert {k.rsplit("/", 1)[1] for k in uploaded if "/suites/" not in k and k.endswith(".json")} == \
        {p.name for p in SUITES.glob("*.json")}
    sm = boto3.client("sagemaker", region_name=REGION)
    definition = json.loads(sm.describe_pipeline(PipelineName=name)["PipelineDefinition"])
    assert definition == json.loads(out.read_text())
    assert len([s for s in definition["Steps"] if s["Name"].startswith("Check-")]) == len(DEMO_CHECKS)
    assert name in sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]


@pytest.mark.parametrize("extra, field, fix", [
    (["--role", ROLE, "--upsert", "--with-checks"], "--check-image", "--check-image URI"),
    (["--check-image", "cursus-local/runner:latest"], "--check-image", "docker push"),
])
def test_check_options_bad_input(tmp_path, extra, field, fix):
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(app, ["export-pipeline", str(DEMO / "dag.yaml"), "--out", str(out),
                                      "--bucket", BUCKET, "--region", REGION, *extra])
    assert result.exit_code == 2, result.output
    assert field in result.output and fix in result.output
    assert not out.exists()


def broken(tmp_path) -> Path:
    """The raw data without its `label` column: a critical failure of tabular_preprocessing.DATA."""
    folder = tmp_path / "broken"
    folder.mkdir()
    for part in (DEMO / "data" / "raw").glob("*.csv"):
        lines = part.read_text().splitlines()
        (folder / part.name).write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))
    return folder


def test_check_job_in_process(tmp_path, capsys):
    suite = SUITES / "tabular_preprocessing.DATA.json"
    good = check_job.main(["--data", str(DEMO / "data" / "raw"), "--suite", str(suite), "--out", str(tmp_path / "ok"),
                           "--message", str(tmp_path / "ok-message")])
    assert good == 0
    [result] = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert (result["suite"], result["status"], result["blocking"], result["total_rows"]) == \
        ("tabular_preprocessing.DATA", "PASS", False, 600)
    assert not (tmp_path / "ok-message").exists()

    bad = check_job.main(["--data", str(broken(tmp_path)), "--suite", str(suite), "--out", str(tmp_path / "bad"),
                          "--message", str(tmp_path / "bad-message")])
    assert bad == 1
    [result] = json.loads((tmp_path / "bad" / "results.json").read_text())
    assert result["status"] == "FAIL" and result["blocking"]
    assert "expect_table_columns_to_match_ordered_list" in (tmp_path / "bad-message").read_text()
    assert "critical: expect_table_columns_to_match_ordered_list" in capsys.readouterr().out

    (tmp_path / "bad-suite.json").write_text('{"expectations": [{"type": "expect_nothing"}]}')
    assert check_job.main(["--data", str(DEMO / "data" / "raw"), "--suite", str(tmp_path / "bad-suite.json"),
                           "--out", str(tmp_path / "x")]) == 2


RUNNER_IMAGE = "cursus-local/runner:latest"
PACKAGE = Path(check_job.__file__).resolve().parents[1]


@pytest.mark.docker
def test_check_step_runs_in_the_runner_image(tmp_path, docker_client):
    """The exported check step's entry point and arguments, run in the real runner image with its data
    and suite where the step's inputs put them: exit 0 on the raw data, 1 without the label column.
    The checkout's package is mounted over the image's, so it runs this code with the image's GX."""
    import uuid

    import docker

    try:
        docker_client.images.get(RUNNER_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{RUNNER_IMAGE} is not built (images/build.sh runner)")
    step = next(s for s in with_checks(tmp_path, check_image=CHECK_IMAGE).definition["Steps"]
                if s["Name"] == "Check-Input-tabular_preprocessing-DATA")["Arguments"]
    inputs = {i["InputName"]: i["S3Input"]["LocalPath"] for i in step["ProcessingInputs"]}
    output = step["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"]
    site = "/opt/venv/lib/python3.11/site-packages/cursus_local"

    def run(data: Path, name: str) -> tuple[int, str, Path]:
        out = tmp_path / name
        out.mkdir()
        volumes = {str(data): {"bind": inputs["data"], "mode": "ro"},
                   str(SUITES): {"bind": inputs["suite-1"], "mode": "ro"},
                   str(out): {"bind": output, "mode": "rw"}, str(PACKAGE): {"bind": site, "mode": "ro"}}
        label = f"cursus-test-export-check-{uuid.uuid4().hex[:8]}"
        container = docker_client.containers.run(
            RUNNER_IMAGE, entrypoint=step["AppSpecification"]["ContainerEntrypoint"],
            command=step["AppSpecification"]["ContainerArguments"], volumes=volumes, network_mode="none",
            environment={"PYTHONDONTWRITEBYTECODE": "1"}, labels={"cursus-test": label}, name=label, detach=True)
        try:
            code = container.wait(timeout=120)["StatusCode"]
            return code, container.logs().decode(), out
        finally:
            container.remove(force=True)

    code, logs, out = run(DEMO / "data" / "raw", "good")
    assert code == 0, logs
    assert json.loads((out / "results.json").read_text())[0]["status"] == "PASS"
    code, logs, out = run(broken(tmp_path), "bad")
    assert code == 1, logs
    assert json.loads((out / "results.json").read_text())[0]["blocking"] is True
    assert "critical: expect_table_columns_to_match_ordered_list" in logs
