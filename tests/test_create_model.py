"""CreateModel: the exact request, no container, and the artifact and image handed on."""

from __future__ import annotations

import copy
import json
import tarfile

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from cursus_local.backends.model import run_model
from cursus_local.errors import UserError
from cursus_local.jobs.build import build
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.processing import RunOptions

INTERFACE = {
    "step_type": "XGBoostModel",
    "registry": {"sagemaker_step_type": "CreateModel"},
    "compute": {"kind": "model", "sdk_class": "XGBoost", "framework_version": "1.7-1"},
    "contract": {"entry_point": "inference.py",
                 "inputs": {"model_data": {"path": "/opt/ml/model", "required": True}},
                 "outputs": {"model": {"path": "/opt/ml/model"}}},
}


@pytest.fixture
def step(tmp_path):
    path = tmp_path / "xgboost_model.step.yaml"
    path.write_text(yaml.safe_dump(INTERFACE))
    return load_step(path)


@pytest.fixture
def trained(tmp_path):
    folder = tmp_path / "training" / "model_output"
    folder.mkdir(parents=True)
    (tmp_path / "model.bst").write_text("weights")
    with tarfile.open(folder / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "model.bst", arcname="model.bst")
    return folder


def test_the_request_is_what_create_model_accepts(step, trained, tmp_path):
    job = build(step, RunOptions(inputs={"model_data": str(trained)}), tmp_path / "out")
    assert job.request["PrimaryContainer"]["Image"] == "cursus-local/xgboost-training:1.7-1"
    assert job.request["PrimaryContainer"]["ModelDataUrl"].endswith("/input/model_data/model.tar.gz")
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:000000000000:model/x"},
                          copy.deepcopy(job.request))
        client.create_model(**job.request)


def test_it_hands_the_artifact_and_the_image_on_without_a_container(step, trained, tmp_path):
    job = build(step, RunOptions(inputs={"model_data": str(trained)}), tmp_path / "out")
    result = run_model(job, tmp_path / "step")
    assert result.status == "Completed" and result.bytes_copied == 0
    out = tmp_path / "out" / "model"
    assert (out / "model.tar.gz").stat().st_ino == (trained / "model.tar.gz").stat().st_ino   # linked
    assert json.loads((out / "model.json").read_text())["PrimaryContainer"]["Image"] == job.image


def test_a_folder_without_the_artifact_fails_as_the_service_would(step, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_model(build(step, RunOptions(inputs={"model_data": str(empty)}), tmp_path / "out"), tmp_path)
    assert result.status == "Failed" and "no model.tar.gz" in result.describe["FailureReason"]


def test_an_unbound_artifact_names_the_field_and_the_fix(step, tmp_path):
    with pytest.raises(UserError) as error:
        build(step, RunOptions(), tmp_path / "out")
    assert error.value.field == "contract.inputs.model_data" and "--input model_data=PATH" in error.value.fix


@pytest.mark.docker
def test_on_the_engine_backend_no_container_runs(step, trained, tmp_path, backend, docker_client):
    from helpers import run_step
    before = {c.id for c in docker_client.containers.list(all=True)}
    run = run_step(step, RunOptions(inputs={"model_data": str(trained)}), tmp_path / "runs", backend)
    assert run.result.status == "Completed" and (run.folder / "result.json").is_file()
    assert {c.id for c in docker_client.containers.list(all=True)} == before
    assert tarfile.open(run.job.local_outputs["model"] / "model.tar.gz").getnames() == ["model.bst"]
