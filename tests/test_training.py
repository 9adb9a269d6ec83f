"""Training jobs: the CreateTrainingJob request (checked by botocore), and the training container
contract as a script sees it from inside the container (docker-marked tests)."""

import copy
import hashlib
import json
import tarfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from conftest import leftover_containers, write_step
from cursus_local.errors import UserError
from cursus_local.jobs.build import build
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.processing import RunOptions
from cursus_local.jobs.training import TrainingJob, to_cmd_args
from cursus_local.jobs.validation import JobRequestError, validate_request
from helpers import run_step

IMAGE = "cursus-local/xgboost-training:1.7-1"
CONTRACT = {   # as Cursus's xgboost_training interface has it
    "inputs": {"input_path": {"path": "/opt/ml/input/data", "channels": ["train", "val", "test"]},
               "hyperparameters_s3_uri": {"path": "/opt/ml/code/hyperparams/hyperparameters.json",
                                          "required": False},
               "model_artifacts_input": {"path": "/opt/ml/input/data/model_artifacts_input",
                                         "required": False}},
    "outputs": {"model_output": {"path": "/opt/ml/model"},
                "evaluation_output": {"path": "/opt/ml/output/data"}},
    "job_arguments": [{"flag": "--job_type", "source": "job_type"}],
    "env_vars": {"required": [], "optional": {"REGION": "NA"}},
}
COMPUTE = {"kind": "estimator", "image": IMAGE}

PROBE = """
    import json, os, sys
    from pathlib import Path
    seen = {
        "argv": sys.argv, "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_", "SAGEMAKER_"))
                or k in ("CURRENT_HOST", "REGION")},
        "config": {f: json.loads(Path("/opt/ml/input/config", f).read_text())
                   for f in ("hyperparameters.json", "inputdataconfig.json", "resourceconfig.json")},
        "data": sorted(str(p) for p in Path("/opt/ml/input/data").rglob("*") if p.is_file()),
        "hyperparams": json.loads(Path("/opt/ml/code/hyperparams/hyperparameters.json").read_text()),
        "code": sorted(p.name for p in Path("/opt/ml/code").iterdir()),
    }
    Path("/opt/ml/input/data/train/scratch.txt").write_text("channels are writable")
    model = Path(os.environ["SM_MODEL_DIR"])
    (model / "sub").mkdir()
    (model / "xgboost-model").write_text("trees")
    (model / "sub" / "meta.json").write_text("{}")
    out = Path(os.environ["SM_OUTPUT_DATA_DIR"])
    (out / "seen.json").write_text(json.dumps(seen))
"""


def sagemaker():
    return boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def data_folder(root: Path, splits=("train", "val", "test")) -> Path:
    for split in splits:
        (root / split).mkdir(parents=True)
        (root / split / f"{split}.csv").write_text("id,label\n1,0\n")
    return root


def training_step(tmp_path, script=PROBE, contract=CONTRACT, compute=COMPUTE):
    return load_step(write_step(tmp_path, "train", script, contract, compute=compute))


def options(tmp_path, **kw):
    hp = tmp_path / "hp" / "hyperparameters.json"
    hp.parent.mkdir(exist_ok=True)
    hp.write_text(json.dumps({"eta": 0.3}))
    base = dict(inputs={"input_path": str(data_folder(tmp_path / "data")), "hyperparameters_s3_uri": str(hp)},
                job_arguments={"job_type": "training"})
    return RunOptions(**{**base, **kw})


# --- the request ----------------------------------------------------------------------------------

def test_request_is_what_create_training_job_accepts(tmp_path):
    step = training_step(tmp_path)
    job = build(step, options(tmp_path), tmp_path / "run")
    assert isinstance(job, TrainingJob) and job.kind == "Training"
    req = job.request
    assert req["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    assert [c["ChannelName"] for c in req["InputDataConfig"]] == ["train", "val", "test"]
    assert req["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/input/input_path/train")
    hps = req["HyperParameters"]
    assert hps["job_type"] == '"training"' and hps["sagemaker_program"] == '"train.py"'
    assert hps["sagemaker_container_log_level"] == "20"
    assert hps["sagemaker_submit_directory"].endswith('/source/sourcedir.tar.gz"')
    assert {"sagemaker_job_name", "sagemaker_region"} <= set(hps)
    assert all(isinstance(v, str) for v in hps.values())
    assert job.code_files == {"hyperparams/hyperparameters.json": "hyperparameters_s3_uri"}
    assert job.channel_source("val") == (tmp_path / "data" / "val").resolve()
    assert set(job.input_uris()) == {"input_path", "hyperparameters_s3_uri"}
    assert job.local_outputs["model_output"] == (tmp_path / "run" / "model_output").resolve()
    client = sagemaker()
    with Stubber(client) as stub:
        stub.add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:"
                          "000000000000:training-job/x"}, copy.deepcopy(req))
        client.create_training_job(**req)


def test_an_s3_input_keeps_its_uri_per_channel(tmp_path):
    job = build(training_step(tmp_path), options(tmp_path, inputs={"input_path": "s3://b/prep/"}), tmp_path / "r")
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in job.request["InputDataConfig"]] == \
        ["s3://b/prep/train", "s3://b/prep/val", "s3://b/prep/test"]


@pytest.mark.parametrize("path, field", [
    ("/opt/ml/processing/input/data", "contract.inputs.extra.path"),
    ("/opt/ml/input/data/a/b", "contract.inputs.extra.path"),
    ("/opt/ml/input/data", "contract.inputs.extra"),
])
def test_an_input_the_service_cant_place_names_file_field_and_fix(tmp_path, path, field):
    contract = copy.deepcopy(CONTRACT)
    contract["inputs"]["extra"] = {"path": path}
    step = training_step(tmp_path, contract=contract)
    (tmp_path / "x").mkdir()
    opts = options(tmp_path)
    opts.inputs["extra"] = str(tmp_path / "x")
    with pytest.raises(UserError) as err:
        build(step, opts, tmp_path / "run")
    assert err.value.field == field and err.value.file == str(step.file) and "/opt/ml/input/data" in err.value.fix


@pytest.mark.parametrize("change, field", [
    (lambda c: c["inputs"]["input_path"].update(channels=["train", ".."]), "contract.inputs.input_path.channels"),
    (lambda c: c["inputs"]["input_path"].update(channels=["a/b"]), "contract.inputs.input_path.channels"),
    (lambda c: c["inputs"]["hyperparameters_s3_uri"].update(path="/opt/ml/code/../../../tmp/x.json"),
     "contract.inputs.hyperparameters_s3_uri.path"),
])
def test_hostile_channel_names_and_code_paths_never_leave_their_folders(tmp_path, change, field):
    contract = copy.deepcopy(CONTRACT)
    change(contract)
    with pytest.raises(UserError) as error:
        build(training_step(tmp_path, contract=contract), options(tmp_path), tmp_path / "run")
    assert error.value.field == field and error.value.fix


def test_an_output_elsewhere_is_refused(tmp_path):
    contract = copy.deepcopy(CONTRACT)
    contract["outputs"]["other"] = {"path": "/opt/ml/checkpoints"}
    with pytest.raises(UserError) as err:
        build(training_step(tmp_path, contract=contract), options(tmp_path), tmp_path / "run")
    assert err.value.field == "contract.outputs.other.path"


def test_registry_step_type_training_also_builds_a_training_job(tmp_path):
    step = training_step(tmp_path, compute={"image": IMAGE})
    step.sagemaker_step_type = "Training"
    assert build(step, options(tmp_path), tmp_path / "run").kind == "Training"


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r.update(TrainingJobName="bad_name"), "at 'trainingJobName' failed to satisfy constraint"),
    (lambda r: r["InputDataConfig"].append(copy.deepcopy(r["InputDataConfig"][0])), "must be unique"),
    (lambda r: r["InputDataConfig"][0].update(CompressionType="Gzip"), "Gzip"),
    (lambda r: r["HyperParameters"].update(big="x" * 2501), "less than or equal to 2500"),
    (lambda r: r["ResourceConfig"].update(InstanceType="ml.m5.huge"), "enum value set"),
    (lambda r: r["InputDataConfig"][0].update(ChannelName="bad channel"), "at 'inputDataConfig.1.member.channelName'"),
    (lambda r: r.pop("OutputDataConfig"), "Value null at 'outputDataConfig'"),
])
def test_training_requests_sagemaker_rejects_fail_here(tmp_path, mutate, reason):
    request = build(training_step(tmp_path), options(tmp_path), tmp_path / "run").request
    mutate(request)
    with pytest.raises(JobRequestError) as err:
        validate_request(request)
    assert reason in str(err.value)


def test_hyperparameters_become_arguments_by_the_toolkits_rules():
    assert to_cmd_args({"b": 1, "alpha": True, "job_type": "training", "m": {"y": 2, "x": 1}}) == \
        ["--alpha", "True", "-b", "1", "--job_type", "training", "-m", "x=1,y=2"]


# --- in the container -----------------------------------------------------------------------------

def read_tar(path: Path) -> dict:
    with tarfile.open(path) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


@pytest.mark.docker
def test_the_training_contract_as_the_script_sees_it(tmp_path, backend, docker_client):
    step = training_step(tmp_path)
    opts = options(tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    run = run_step(step, opts, tmp_path / "runs", backend)
    result = run.result
    assert result.status == "Completed", (result.describe, result.hosts[0].log.read_text())
    evaluation = result.outputs["evaluation_output"] / "output.tar.gz"
    seen = json.loads(read_tar(evaluation)["seen.json"])
    assert seen["argv"] == ["train.py", "--job_type", "training"]
    assert seen["cwd"] == "/opt/ml/code"
    assert seen["hyperparams"] == {"eta": 0.3}                     # placed into the code dir
    assert "train.py" in seen["code"] and "hyperparams" in seen["code"]
    assert seen["data"] == ["/opt/ml/input/data/test/test.csv", "/opt/ml/input/data/train/train.csv",
                            "/opt/ml/input/data/val/val.csv"]
    cfg = seen["config"]
    assert cfg["hyperparameters.json"] == run.job.request["HyperParameters"]
    assert cfg["inputdataconfig.json"]["train"] == {"TrainingInputMode": "File", "S3DistributionType":
                                                    "FullyReplicated", "RecordWrapperType": "None"}
    assert cfg["resourceconfig.json"]["current_host"] == "algo-1" and cfg["resourceconfig.json"]["hosts"] == ["algo-1"]
    env = seen["env"]
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train" and env["SM_CHANNEL_TEST"] == "/opt/ml/input/data/test"
    assert json.loads(env["SM_CHANNELS"]) == ["test", "train", "val"]
    assert env["SM_MODEL_DIR"] == "/opt/ml/model" and env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_OUTPUT_DIR"] == "/opt/ml/output" and env["SM_INPUT_DIR"] == "/opt/ml/input"
    assert env["SM_INPUT_CONFIG_DIR"] == "/opt/ml/input/config"
    assert json.loads(env["SM_HPS"]) == {"job_type": "training"} and env["SM_HP_JOB_TYPE"] == "training"
    assert json.loads(env["SM_USER_ARGS"]) == ["--job_type", "training"]
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_NUM_CPUS"] == "2" and env["SM_NUM_GPUS"] == "0"      # ml.m5.large
    assert env["SM_MODULE_NAME"] == "train" and env["SM_LOG_LEVEL"] == "20"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert json.loads(env["SM_TRAINING_ENV"])["hyperparameters"] == {"job_type": "training"}
    assert env["TRAINING_JOB_NAME"] == run.job.name and env["REGION"] == "NA"
    # the model, packed as the service uploads it; what downstream steps receive
    model = result.outputs["model_output"] / "model.tar.gz"
    assert read_tar(model) == {"sub": None, "sub/meta.json": b"{}", "xgboost-model": b"trees"}
    assert result.artifacts["model.tar.gz"] == model
    info = json.loads(run.result_file.read_text())
    d = info["describe"]
    assert d["TrainingJobStatus"] == "Completed" and d["SecondaryStatus"] == "Completed"
    assert d["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"/{run.job.name}/output/model.tar.gz")
    assert {"TrainingStartTime", "TrainingEndTime", "CreationTime", "TrainingJobArn"} <= set(d)
    assert "FailureReason" not in d and info["bytes_copied"] == 0
    assert {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()} == before   # untouched
    assert hashlib.sha256(model.read_bytes()).hexdigest() == hashlib.sha256(
        Path(info["artifacts"]["model.tar.gz"]).read_bytes()).hexdigest()
    assert not leftover_containers(docker_client, run.job.name)
    assert not docker_client.volumes.list(filters={"label": f"cursus-local.job={run.job.name}"})


@pytest.mark.docker
@pytest.mark.parametrize("script, status, reason", [
    ("from pathlib import Path\nPath('/opt/ml/output/failure').write_text('ValueError: no label column')\n"
     "raise SystemExit(3)\n", "Failed", "AlgorithmError: ValueError: no label column, exit code: 1"),
    ("raise SystemExit(2)\n", "Failed",
     'AlgorithmError: ExecuteUserScriptError:\nExitCode 2\nErrorMessage ""\nCommand "python3 train.py'),
    ("from pathlib import Path\nPath('/opt/ml/output/failure').write_text('ignored')\n", "Completed", None),
])
def test_exit_rules_and_the_failure_file(tmp_path, backend, script, status, reason):
    contract = {k: v for k, v in CONTRACT.items() if k != "job_arguments"}
    step = training_step(tmp_path, script=script, contract=contract)
    run = run_step(step, options(tmp_path, job_arguments={}), tmp_path / "runs", backend)
    d = run.result.describe
    assert d["TrainingJobStatus"] == status
    if reason:
        assert d["FailureReason"].startswith(reason) and d["SecondaryStatus"] == "Failed"
        assert "model.tar.gz" not in run.result.artifacts
        assert (run.result.outputs["evaluation_output"] / "output.tar.gz").is_file()
    else:
        assert "FailureReason" not in d


@pytest.mark.docker
def test_max_runtime_stops_the_job_and_keeps_the_model(tmp_path, backend):
    script = ("import os, time\nopen(os.environ['SM_MODEL_DIR'] + '/partial', 'w').write('x')\n"
              "print('sleeping', flush=True)\ntime.sleep(120)\n")
    step = training_step(tmp_path, script=script, contract={k: v for k, v in CONTRACT.items()
                                                           if k != "job_arguments"})
    run = run_step(step, options(tmp_path, job_arguments={}, max_runtime_seconds=3), tmp_path / "runs", backend)
    d = run.result.describe
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert read_tar(run.result.outputs["model_output"] / "model.tar.gz") == {"partial": b"x"}


@pytest.mark.docker
def test_an_empty_channel_fails_while_downloading(tmp_path, backend):
    opts = options(tmp_path)
    for f in (tmp_path / "data" / "test").iterdir():
        f.unlink()
    run = run_step(training_step(tmp_path), opts, tmp_path / "runs", backend)
    assert run.result.status == "Failed"
    assert run.result.describe["FailureReason"].startswith("ClientError: Data download failed:No S3 objects")


@pytest.mark.docker
def test_two_hosts_each_get_their_config_and_reach_each_other(tmp_path, backend, docker_client):
    script = """
        import json, os, socket, time
        from pathlib import Path
        for _ in range(100):
            try:
                socket.gethostbyname("algo-2" if os.environ["SM_CURRENT_HOST"] == "algo-1" else "algo-1")
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("peer unreachable")
        rc = json.loads(Path("/opt/ml/input/config/resourceconfig.json").read_text())
        Path(os.environ["SM_MODEL_DIR"], rc["current_host"]).write_text(os.environ["SM_HOSTS"])
        time.sleep(3)   # a peer that has exited is no longer resolvable: stay for the other one
    """
    step = training_step(tmp_path, script=script, contract={k: v for k, v in CONTRACT.items()
                                                           if k != "job_arguments"})
    run = run_step(step, options(tmp_path, job_arguments={}, instance_count=2), tmp_path / "runs", backend)
    assert run.result.status == "Completed", [h.log.read_text() for h in run.result.hosts]
    assert [h.host for h in run.result.hosts] == ["algo-1", "algo-2"]
    assert read_tar(run.result.outputs["model_output"] / "model.tar.gz") == {"algo-1": b'["algo-1","algo-2"]'}
    assert any("algo-2 wrote files to /opt/ml/model" in n for n in run.result.notes)
    assert not leftover_containers(docker_client, run.job.name)


def test_the_training_image_is_the_frameworks_training_stand_in_at_the_runs_version(tmp_path):
    """contracts.image_for(step, version, purpose="training"): no "-processing:" rewriting; an
    explicit --image (a node's `image:`) or compute.image still wins."""
    compute = {"kind": "estimator", "sdk_class": "XGBoost", "framework_version": "1.7-1"}
    step = training_step(tmp_path, compute=compute)
    base = options(tmp_path)
    image = lambda **kw: build(step, RunOptions(**{**base.__dict__, **kw}), tmp_path / "run").image  # noqa: E731
    assert image() == "cursus-local/xgboost-training:1.7-1"
    assert image(image="example.invalid/xgb:1") == "example.invalid/xgb:1"
    with pytest.raises(UserError) as err:
        image(framework_version="1.5-1")              # a real version we have no stand-in for
    assert err.value.field == "compute.framework_version" and "1.7-1" in err.value.fix
    step = training_step(tmp_path, compute={"kind": "estimator", "sdk_class": "PyTorch",
                                            "framework_version": "2.1.0"})
    assert build(step, base, tmp_path / "run").image == "cursus-local/pytorch-training:2.1.0"
    step = training_step(tmp_path, compute={**compute, "image": "example.invalid/mine:2"})
    assert build(step, base, tmp_path / "run").image == "example.invalid/mine:2"


@pytest.mark.docker
def test_a_training_container_gets_local_env_and_read_only_mounts(tmp_path, backend):
    from cursus_local.pipeline.step import run_job
    script = ("import os\nfrom pathlib import Path\n"
              "Path(os.environ['SM_MODEL_DIR'], 'seen').write_text(os.environ['CURSUS_X'] + '|' + "
              "Path('/opt/cursus-local/w/f').read_text() + '|' + "
              "str(os.access('/opt/cursus-local/w', os.W_OK)))\n")
    step = training_step(tmp_path, script=script, contract={k: v for k, v in CONTRACT.items()
                                                            if k != "job_arguments"})
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "f").write_text("wheel")
    folder = tmp_path / "runs" / "train"
    job = build(step, options(tmp_path, job_arguments={}), folder / "output")
    job.local_env["CURSUS_X"] = "from-host"
    job.local_mounts["/opt/cursus-local/w"] = tmp_path / "w"
    run = run_job(job, folder, backend)
    assert run.result.status == "Completed", run.result.describe
    assert read_tar(run.result.outputs["model_output"] / "model.tar.gz") == {"seen": b"from-host|wheel|False"}


def test_an_unknown_job_argument_of_a_training_step_names_the_known_ones(tmp_path):
    with pytest.raises(UserError) as error:
        build(training_step(tmp_path), options(tmp_path, job_arguments={"job_typ": "x"}), tmp_path / "run")
    assert error.value.field == "contract.job_arguments" and "job_type" in error.value.fix
