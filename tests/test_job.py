import copy
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from conftest import write_step
from cursus_local.errors import UserError
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.instance_types import lookup
from cursus_local.jobs.processing import RunOptions, build_job
from cursus_local.jobs.validation import JobRequestError, validate_request

CONTRACT = {
    "inputs": {"data": {"path": "/opt/ml/processing/input/data", "required": True},
               "extra": {"path": "/opt/ml/processing/input/extra", "required": False}},
    "outputs": {"out": {"path": "/opt/ml/processing/output"}},
    "env_vars": {"required": ["LABEL_FIELD"], "optional": {"MODE": "fast"}},
    "job_arguments": [{"flag": "--job_type", "source": "job_type"}],
}


@pytest.fixture
def step(tmp_path: Path):
    (tmp_path / "data").mkdir()
    return load_step(write_step(tmp_path, "s", "print(1)\n", CONTRACT))


def options(tmp_path, **kw):
    base = dict(inputs={"data": str(tmp_path / "data")}, env={"LABEL_FIELD": "y"},
                job_arguments={"job_type": "training"})
    return RunOptions(**{**base, **kw})


def test_request_is_what_create_processing_job_accepts(step, tmp_path):
    job = build_job(step, options(tmp_path), tmp_path / "run")
    req = job.request
    assert req["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/s.py"]
    assert req["AppSpecification"]["ContainerArguments"] == ["--job_type", "training"]
    assert req["Environment"] == {"MODE": "fast", "LABEL_FIELD": "y"}
    # optional unbound: absent; the code comes last, as ScriptProcessor._convert_code_and_add_to_inputs
    # appends it, and it is the script alone (SKLearnProcessor), bound as a file
    assert [i["InputName"] for i in req["ProcessingInputs"]] == ["data", "code"]
    code = req["ProcessingInputs"][1]["S3Input"]
    assert code["LocalPath"] == "/opt/ml/processing/input/code" and code["S3Uri"].endswith("/input/code/s.py")
    assert job.local_inputs["code"] == (tmp_path / "code" / "s.py").resolve()
    assert job.local_outputs["out"] == (tmp_path / "run" / "out").resolve()
    # botocore's own client-side validation accepts the very same dict
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:"
                          "000000000000:processing-job/x"}, copy.deepcopy(req))
        client.create_processing_job(**req)


@pytest.mark.parametrize("kw, field, fix", [
    (dict(inputs={}), "contract.inputs", "--input data=PATH"),
    (dict(inputs={"data": "/nonexistent/x"}), "contract.inputs.data", "--input data="),
    (dict(inputs={"nope": "/tmp"}), "contract.inputs", "use one of"),
    (dict(env={}), "contract.env_vars.required", "--env LABEL_FIELD=VALUE"),
    (dict(job_arguments={}), "contract.job_arguments", "--job-arg job_type=VALUE"),
    (dict(job_arguments={"job_type": "t", "other": "x"}), "contract.job_arguments", "use one of"),
])
def test_bad_run_options_name_the_field_and_fix(step, tmp_path, kw, field, fix):
    with pytest.raises(UserError) as err:
        build_job(step, options(tmp_path, **kw), tmp_path / "run")
    assert err.value.field == field and fix in err.value.fix
    assert err.value.file == str(step.file)


def valid_request(step, tmp_path):
    return build_job(step, options(tmp_path), tmp_path / "run").request


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r.update(ProcessingJobName="bad_name"),
     "Value 'bad_name' at 'processingJobName' failed to satisfy constraint: Member must satisfy regular "
     "expression pattern"),
    (lambda r: r.update(ProcessingJobName="x" * 64), "Member must have length less than or equal to 63"),
    (lambda r: r["ProcessingInputs"].extend(copy.deepcopy(r["ProcessingInputs"][0]) for _ in range(9)),
     "at 'processingInputs' failed to satisfy constraint: Member must have length less than or equal to 10"),
    (lambda r: r["Environment"].update({f"K{i}": "v" for i in range(100)}),
     "at 'environment' failed to satisfy constraint: Member must have length less than or equal to 100"),
    (lambda r: r["Environment"].update({"1BAD": "v"}), "at 'environment.key'"),
    (lambda r: r["StoppingCondition"].update(MaxRuntimeInSeconds=10**7), "less than or equal to 777600"),
    (lambda r: r["StoppingCondition"].update(MaxRuntimeInSeconds=0),
     "at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value "
     "greater than or equal to 1"),
    (lambda r: r["ProcessingResources"]["ClusterConfig"].update(InstanceCount="2"), "be of type integer"),
    (lambda r: r["AppSpecification"].update(Entrypoint=["x"]), "Unknown parameter 'appSpecification.entrypoint'"),
    (lambda r: r["ProcessingResources"]["ClusterConfig"].update(InstanceType="ml.m5.huge"), "enum value set"),
    (lambda r: r["ProcessingInputs"][0]["S3Input"].update(LocalPath="/tmp/data"), "must be a path under "
     "/opt/ml/processing/"),
    (lambda r: r["ProcessingInputs"][0]["S3Input"].update(LocalPath="/opt/ml/processing/output/x"),
     "overlap"),
    (lambda r: r["ProcessingInputs"].append(copy.deepcopy(r["ProcessingInputs"][0])), "must be unique"),
    (lambda r: r.pop("RoleArn"), "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"),
])
def test_requests_sagemaker_rejects_fail_here_with_the_same_reason(step, tmp_path, mutate, reason):
    request = valid_request(step, tmp_path)
    mutate(request)
    with pytest.raises(JobRequestError) as err:
        validate_request(request)
    assert reason in str(err.value)


def test_instance_types():
    assert (lookup("ml.m5.large").vcpus, lookup("ml.m5.large").memory_gib) == (2, 8)
    assert (lookup("ml.m5.4xlarge").vcpus, lookup("ml.m5.4xlarge").memory_gib) == (16, 64)
    assert (lookup("ml.c5.xlarge").vcpus, lookup("ml.c5.xlarge").memory_gib) == (4, 8)
    assert (lookup("ml.r5.2xlarge").vcpus, lookup("ml.r5.2xlarge").memory_gib) == (8, 64)
    assert lookup("ml.t3.medium").memory_gib == 4
    with pytest.raises(UserError):
        lookup("m5.large")
