"""Processing job kinds read from the interface (compute.kind, sdk_class, framework_version_field),
their framework versions and stand-in images, checked against the SageMaker Python SDK v2:
SKLearnProcessor ships one file, FrameworkProcessor ships sourcedir.tar.gz plus runproc.sh."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import shutil
import tarfile
import textwrap
import zipfile
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from conftest import REPO, SHARED
from cursus_local.errors import UserError
from cursus_local.jobs import contracts, packages
from cursus_local.jobs.contracts import image_for, load_step
from cursus_local.jobs.processing import (
    WHEELHOUSE_PATH, RunOptions, build_job, runproc_script)

INTERFACES = SHARED / "cursus" / "interfaces"
OUT = {"out": {"path": "/opt/ml/processing/output/out"}}
IN = {"data": {"path": "/opt/ml/processing/input/data"}}

LISTER = """\
import json, os, sys
from pathlib import Path
here = Path(__file__).resolve().parent
out = {"cwd": os.getcwd(), "argv": sys.argv[1:], "script": str(Path(__file__).resolve()),
       "code_dir": sorted(str(p.relative_to(here)) for p in here.rglob("*")),
       "input": sorted(str(p) for p in Path("/opt/ml/processing/input").rglob("*"))}
try:
    import helper
    out["helper"] = helper.VALUE
except ImportError as exc:
    out["helper"] = f"ImportError: {exc}"
try:
    import cursus_probe_pkg
    out["installed"] = cursus_probe_pkg.VALUE
except ImportError as exc:
    out["installed"] = f"ImportError: {exc}"
Path("/opt/ml/processing/output/out/seen.json").write_text(json.dumps(out))
"""


def make_step(folder: Path, compute: dict, *, contract: dict | None = None, script: str = LISTER,
              name: str = "main", extra_files: dict[str, str] | None = None) -> Path:
    """A step file + its code folder (the script, a sibling module, a subfolder, extra files)."""
    code = folder / "code"
    (code / "pkg").mkdir(parents=True, exist_ok=True)
    (code / f"{name}.py").write_text(script)
    (code / "helper.py").write_text("VALUE = 'sibling module'\n")
    (code / "pkg" / "data.txt").write_text("nested\n")
    for rel, text in (extra_files or {}).items():
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text(text)
    doc = {"compute": compute,
           "contract": {"entry_point": f"{name}.py", "inputs": {}, "outputs": OUT, **(contract or {})},
           "local": {"code": "code"}}
    path = folder / f"{name}.step.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def stub_accepts(request: dict) -> None:
    """botocore's own client-side validation takes the very same dict."""
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:"
                          "000000000000:processing-job/x"}, copy.deepcopy(request))
        client.create_processing_job(**request)


def members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path / "cache"))


# --- request shapes per kind -----------------------------------------------------------------------

def test_sklearn_ships_the_script_alone(tmp_path):
    step = load_step(make_step(tmp_path, {"kind": "sklearn"}, contract={"inputs": IN}))
    (tmp_path / "d").mkdir()
    job = build_job(step, RunOptions(inputs={"data": str(tmp_path / "d")}, job_name="j"), tmp_path / "run")
    req = job.request
    assert [i["InputName"] for i in req["ProcessingInputs"]] == ["data", "code"]
    code = req["ProcessingInputs"][1]["S3Input"]
    assert code["S3Uri"] == "s3://cursus-local/j/input/code/main.py"       # ScriptProcessor._upload_code
    assert code["LocalPath"] == "/opt/ml/processing/input/code"
    assert job.local_inputs["code"] == (tmp_path / "code" / "main.py").resolve()   # a file, not the folder
    assert req["AppSpecification"] == {"ImageUri": "cursus-local/sklearn-processing:1.2-1",
                                       "ContainerEntrypoint": ["python3",
                                                               "/opt/ml/processing/input/code/main.py"]}
    stub_accepts(req)


@pytest.mark.parametrize("compute, image", [
    ({"kind": "framework", "sdk_class": "SKLearn"}, "cursus-local/sklearn-processing:1.2-1"),
    ({"kind": "framework", "sdk_class": "PyTorch"}, "cursus-local/pytorch-processing:2.1.0"),
    ({"kind": "framework", "sdk_class": "XGBoost"}, "cursus-local/xgboost-processing:1.7-1"),
    ({"kind": "xgboost"}, "cursus-local/xgboost-processing:1.7-1"),
])
def test_framework_processor_ships_sourcedir_and_runproc(tmp_path, compute, image):
    step = load_step(make_step(tmp_path, compute, contract={"source_dir": True, "inputs": IN}))
    (tmp_path / "d").mkdir()
    job = build_job(step, RunOptions(inputs={"data": str(tmp_path / "d")}, job_name="j",
                                     job_arguments={}), tmp_path / "run")
    req = job.request
    # FrameworkProcessor._patch_inputs_with_payload adds `code`, then ScriptProcessor adds `entrypoint`
    assert [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"]) for i in req["ProcessingInputs"]] == [
        ("data", "s3://cursus-local/j/input/data", "/opt/ml/processing/input/data"),
        ("code", "s3://cursus-local/j/source/sourcedir.tar.gz", "/opt/ml/processing/input/code/"),
        ("entrypoint", "s3://cursus-local/j/source/runproc.sh", "/opt/ml/processing/input/entrypoint")]
    assert req["AppSpecification"] == {
        "ImageUri": image,
        "ContainerEntrypoint": ["/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"]}
    assert job.local_inputs["code"].name == "sourcedir.tar.gz"
    assert job.local_inputs["entrypoint"].name == "runproc.sh"
    assert job.local_inputs["entrypoint"].read_text() == runproc_script("main.py")
    assert set(members(job.local_inputs["code"])) == {"main.py", "helper.py", "pkg/data.txt"}
    stub_accepts(req)


def test_runproc_is_the_sdks_script():
    """FrameworkProcessor._generate_framework_script (v2.257.6) with its default command `python`."""
    assert runproc_script("sub/run.py") == textwrap.dedent("""\
        #!/bin/bash

        cd /opt/ml/processing/input/code/
        tar -xzf sourcedir.tar.gz

        # Exit on any error. SageMaker uses error code to mark failed job.
        set -e

        if [[ -f 'requirements.txt' ]]; then
            # Optionally log into CodeArtifact
            if ! hash aws 2>/dev/null; then
                echo "AWS CLI is not installed. Skipping CodeArtifact login."
            else
                echo 'CodeArtifact repository not specified. Skipping login.'
            fi

            # Some py3 containers has typing, which may breaks pip install
            pip uninstall --yes typing

            python -m pip install -r requirements.txt
        fi

        python sub/run.py "$@"
    """)


def test_framework_without_source_dir_packs_the_script_alone(tmp_path):
    """processor.run(code=<script path>) with no source_dir: tar_and_upload_dir packs [script]."""
    step = load_step(make_step(tmp_path, {"kind": "xgboost"}))
    job = build_job(step, RunOptions(), tmp_path / "run")
    assert set(members(job.local_inputs["code"])) == {"main.py"}


def test_the_same_source_gives_the_same_tarball(tmp_path):
    step = load_step(make_step(tmp_path, {"kind": "framework", "sdk_class": "SKLearn"},
                               contract={"source_dir": True}))
    a = build_job(step, RunOptions(), tmp_path / "run")
    b = build_job(step, RunOptions(), tmp_path / "run2")
    assert a.local_inputs["code"] == b.local_inputs["code"]        # staged once, by content
    (tmp_path / "code" / "helper.py").write_text("VALUE = 'changed'\n")
    c = build_job(step, RunOptions(), tmp_path / "run3")
    assert c.local_inputs["code"] != a.local_inputs["code"] and a.local_inputs["code"].is_file()


@pytest.mark.parametrize("compute, entrypoint", [
    ({"kind": "script", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sais:1"},
     ["python3", "/opt/ml/processing/input/code/main.py"]),
    ({"kind": "byo_container", "image_uri_field": "my_image", "my_image": "my/own:1"},
     ["python3", "/opt/ml/processing/input/code/main.py"]),
    ({"kind": "byo_container", "image": "my/own:1", "container_entrypoint": ["bash", "run.sh"]},
     ["bash", "run.sh", "/opt/ml/processing/input/code/main.py"]),
])
def test_script_and_byo_container_run_the_image_they_name(tmp_path, compute, entrypoint):
    """Cursus builds a ScriptProcessor for both (command python3, or compute.container_entrypoint)."""
    step = load_step(make_step(tmp_path, compute))
    job = build_job(step, RunOptions(), tmp_path / "run")
    assert job.request["AppSpecification"]["ContainerEntrypoint"] == entrypoint
    assert job.request["AppSpecification"]["ImageUri"] == (compute.get("image") or compute.get("my_image"))
    stub_accepts(job.request)


def test_the_two_code_inputs_count_toward_the_limit_of_10(tmp_path):
    inputs = {f"in{i}": {"path": f"/opt/ml/processing/input/in{i}"} for i in range(9)}
    bound = {}
    for name in inputs:
        (tmp_path / name).mkdir()
        bound[name] = str(tmp_path / name)
    single = load_step(make_step(tmp_path, {"kind": "sklearn"}, contract={"inputs": inputs}))
    assert len(build_job(single, RunOptions(inputs=bound), tmp_path / "run").request["ProcessingInputs"]) == 10
    framework = load_step(make_step(tmp_path, {"kind": "framework", "sdk_class": "SKLearn"},
                                    contract={"inputs": inputs, "source_dir": True}))
    with pytest.raises(UserError) as err:
        build_job(framework, RunOptions(inputs=bound), tmp_path / "run")
    assert "at 'processingInputs' failed to satisfy constraint: Member must have length less than or " \
           "equal to 10" in str(err.value)


# --- Cursus's /opt/ml/code/... inputs (files inside the source dir) ---------------------------------

def test_hyperparams_input_travels_inside_the_source_dir(tmp_path):
    """risk_table_mapping: `hyperparameters_s3_uri` at /opt/ml/code/hyperparams, kind framework."""
    step = load_step(INTERFACES / "risk_table_mapping.step.yaml")
    code = tmp_path / "code"
    code.mkdir()
    (code / "risk_table_mapping.py").write_text("print(1)\n")
    (code / "hyperparams").mkdir()
    (code / "hyperparams" / "stale.json").write_text("{}")       # replaced by the bound input
    hp = tmp_path / "hp" / "hyperparameters.json"
    hp.parent.mkdir()
    hp.write_text('{"label_name": "y"}')
    (tmp_path / "data").mkdir()
    job = build_job(step, RunOptions(inputs={"input_data": str(tmp_path / "data"),
                                             "hyperparameters_s3_uri": str(hp)},
                                     job_arguments={"job_type": "training"}, code_dir=str(code)),
                    tmp_path / "run")
    names = [i["InputName"] for i in job.request["ProcessingInputs"]]
    assert names == ["input_data", "code", "entrypoint"]        # not a ProcessingInput: the service
    files = members(job.local_inputs["code"])                   # rejects /opt/ml/code/... LocalPaths
    assert files["hyperparams/hyperparameters.json"] == b'{"label_name": "y"}'
    assert "hyperparams/stale.json" not in files and "risk_table_mapping.py" in files
    assert any("/opt/ml/processing/input/code/hyperparams/" in n and "Path(__file__).parent" in n
               for n in job.notes)
    # a bound folder: its files under hyperparams/
    job = build_job(step, RunOptions(inputs={"input_data": str(tmp_path / "data"),
                                             "hyperparameters_s3_uri": str(hp.parent)},
                                     job_arguments={"job_type": "training"}, code_dir=str(code)),
                    tmp_path / "run")
    assert "hyperparams/hyperparameters.json" in members(job.local_inputs["code"])


@pytest.mark.parametrize("compute, path, source, fix", [
    ({"kind": "sklearn"}, "/opt/ml/code/hyperparams", "file", "compute.kind: framework"),
    ({"kind": "framework", "sdk_class": "SKLearn"}, "/opt/ml/code/hyperparams", "s3", "--input hp=PATH"),
    ({"kind": "framework", "sdk_class": "SKLearn"}, "/opt/ml/input/data/hp", "file",
     "path: /opt/ml/processing/input/hp"),
])
def test_paths_the_service_rejects_say_so_with_the_fix(tmp_path, compute, path, source, fix):
    step = load_step(make_step(tmp_path, compute, contract={"inputs": {"hp": {"path": path}}}))
    (tmp_path / "hp.json").write_text("{}")
    value = str(tmp_path / "hp.json") if source == "file" else "s3://bucket/hp.json"
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(inputs={"hp": value}), tmp_path / "run")
    assert err.value.field == "contract.inputs.hp.path" and err.value.file == str(step.file)
    assert "SageMaker rejects a ProcessingInput whose LocalPath" in str(err.value)
    assert fix in err.value.fix


def test_source_dir_needs_a_framework_processor(tmp_path):
    step = load_step(make_step(tmp_path, {"kind": "sklearn"}, contract={"source_dir": True}))
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(), tmp_path / "run")
    assert err.value.field == "contract.source_dir" and "compute.kind: framework" in err.value.fix


# --- versions and images ---------------------------------------------------------------------------

@pytest.mark.parametrize("interface, processing, training", [
    ("currency_conversion", "cursus-local/sklearn-processing:1.2-1", None),       # per-kind default
    ("dummy_data_loading", "cursus-local/sklearn-processing:1.2-1", None),        # interface default
    ("model_calibration", "cursus-local/sklearn-processing:1.0-1", None),         # interface default
    ("package", "cursus-local/sklearn-processing:1.0-1", None),
    ("risk_table_mapping", "cursus-local/sklearn-processing:1.2-1", None),        # framework(SKLearn)
    ("xgboost_model_eval", "cursus-local/xgboost-processing:1.7-1", None),        # not 1.2-1
    ("xgboost_training", None, "cursus-local/xgboost-training:1.7-1"),
    ("pytorch_training", None, "cursus-local/pytorch-training:2.1.0"),           # not 1.2-1
])
def test_every_real_interface_gets_a_stand_in_that_exists(interface, processing, training):
    step = load_step(INTERFACES / f"{interface}.step.yaml")
    assert step.image == (processing or training)
    if training:
        assert image_for(step, purpose="training") == training
        assert image_for(step, purpose="processing") == training.replace("-training", "-processing")
    for image in (processing, training):
        assert image is None or image in contracts.STAND_INS


def test_the_version_comes_from_the_run_the_field_the_interface_names_or_the_default(tmp_path):
    compute = {"kind": "sklearn", "framework_version_field": "processing_framework_version"}
    step = load_step(make_step(tmp_path, compute))
    assert contracts.framework_version(step) == ("1.2-1", "the default for sklearn (Cursus "
                                                 "ProcessingStepConfigBase.processing_framework_version)")
    assert build_job(step, RunOptions(framework_version="1.0-1"), tmp_path / "r").image == \
        "cursus-local/sklearn-processing:1.0-1"
    step = load_step(make_step(tmp_path, {**compute, "processing_framework_version": "1.0-1"}))
    assert step.image == "cursus-local/sklearn-processing:1.0-1"
    step = load_step(make_step(tmp_path, {"kind": "framework", "sdk_class": "PyTorch",
                                          "framework_version": "2.1"}))   # the SDK's alias
    assert step.image == "cursus-local/pytorch-processing:2.1.0"


@pytest.mark.parametrize("compute, field, words, fix", [
    ({"kind": "xgboost", "framework_version_default": "1.2-1"}, "compute.framework_version_default",
     ["no stand-in image for xgboost 1.2-1", "cursus-local/xgboost-processing:1.2-1",
      "the xgboost versions we have: 1.7-1"], "compute.framework_version: 1.7-1"),
    ({"kind": "sklearn", "processing_framework_version": "1.4-2",
      "framework_version_field": "processing_framework_version"}, "compute.processing_framework_version",
     ["no stand-in image for sklearn 1.4-2", "we have: 1.2-1, 1.0-1"], "--image URI"),
    ({"kind": "sklearn", "framework_version": "1.3-1"}, "compute.framework_version",
     ["sklearn has no framework version '1.3-1' on SageMaker"], "did you mean"),
    ({"kind": "sklean"}, "compute.kind", ["unknown job kind 'sklean'", "byo_container"],
     "did you mean 'sklearn'?"),
    ({"kind": "framework"}, "compute.sdk_class", ["needs an sdk_class"], "PyTorch"),
    ({"kind": "framework", "sdk_class": "Pytorch"}, "compute.sdk_class", ["no stand-in"],
     "did you mean 'PyTorch'?"),
    ({"kind": "script"}, "compute.image", ["sais_python_lib_docker_image"], "--image URI"),
    ({"kind": "estimator", "sdk_class": "XGBoost"}, "compute.kind",
     ["makes a Training job, not a Processing job"], "registry.sagemaker_step_type: Training"),
    ({"kind": "sklearn", "image": "cursus-local/xgboost-processing:1.2-1"}, "compute.image",
     ["not one this project builds", "comes in: 1.7-1"], "`images/build.sh xgboost-1.7-1`"),
])
def test_kinds_and_versions_without_a_stand_in_fail_in_preflight(tmp_path, compute, field, words, fix):
    step = load_step(make_step(tmp_path, compute))
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(), tmp_path / "run")
    assert (err.value.file, err.value.field) == (str(step.file), field)
    for word in words:
        assert word in str(err.value)
    assert fix in err.value.fix


def test_a_run_image_in_our_namespace_must_be_one_we_build(tmp_path):
    step = load_step(make_step(tmp_path, {"kind": "sklearn"}))
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(image="cursus-local/pytorch-processing:2.2.0"), tmp_path / "run")
    assert "`images/build.sh pytorch-2.1.0`" in err.value.fix and "(or `make images`)" not in err.value.fix
    assert build_job(step, RunOptions(image="python:3.11-slim"), tmp_path / "run").image == "python:3.11-slim"


def test_stand_in_table_matches_the_dockerfiles():
    """`# image:` / `# also-tag:` headers -> folder, and `# default: no` -> not built by `make images`."""
    found, not_default = {}, set()
    for dockerfile in sorted((REPO / "images").glob("*/Dockerfile")):
        text = dockerfile.read_text()
        tags = re.findall(r"^# image:\s*(\S+)", text, re.M)[:1]
        tags += " ".join(re.findall(r"^# also-tag:\s*(.+)$", text, re.M)).split()
        if dockerfile.parent.name in ("runner", "moto"):   # tools of docker-compose.yml, not step images
            continue
        found.update({tag: dockerfile.parent.name for tag in tags})
        if re.search(r"^# default:\s*no", text, re.M):
            not_default.add(dockerfile.parent.name)
    assert found == contracts.STAND_INS
    assert not_default == contracts.NOT_DEFAULT
    assert contracts.build_hint("cursus-local/sklearn-processing:1.0-1") == \
        "`images/build.sh sklearn-processing-1.0-1` (or `make images`)"
    assert contracts.build_hint("python:3") is None
    for framework in contracts.FRAMEWORKS.values():
        assert framework.default_version in framework.stand_ins
        for version in framework.stand_ins:
            assert version in framework.sdk_versions
            for purpose in ("processing", "training"):
                assert f"{framework.repo(purpose)}:{version}" in contracts.STAND_INS


# --- the wheelhouse (local only) -------------------------------------------------------------------

def test_a_wheelhouse_is_a_local_mount_and_env_never_in_the_request(tmp_path, monkeypatch):
    monkeypatch.setattr(packages, "host_index_settings", lambda *a: ({}, None, []))   # this host's aside
    step = load_step(make_step(tmp_path, {"kind": "framework", "sdk_class": "SKLearn"},
                               contract={"source_dir": True}))
    (tmp_path / "wheels").mkdir()
    job = build_job(step, RunOptions(wheelhouse=str(tmp_path / "wheels"), pip_offline=True), tmp_path / "r")
    assert job.local_mounts == {WHEELHOUSE_PATH: (tmp_path / "wheels").resolve()}
    assert job.local_env == {"PIP_FIND_LINKS": WHEELHOUSE_PATH, "PIP_NO_INDEX": "1"}
    assert "PIP_FIND_LINKS" not in job.request["Environment"]
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(wheelhouse=str(tmp_path / "nope")), tmp_path / "r")
    assert err.value.field == "wheelhouse" and "pip wheel" in err.value.fix


# --- on the engine ---------------------------------------------------------------------------------

def make_wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel (cursus_probe_pkg 0.1), made by hand: no build backend, no network."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"cursus_probe_pkg/__init__.py": b"VALUE = 'installed from the wheelhouse'\n",
             "cursus_probe_pkg-0.1.dist-info/METADATA":
                 b"Metadata-Version: 2.1\nName: cursus-probe-pkg\nVersion: 0.1\n",
             "cursus_probe_pkg-0.1.dist-info/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: cursus-local-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()]
    record.append("cursus_probe_pkg-0.1.dist-info/RECORD,,")
    wheel = folder / "cursus_probe_pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("cursus_probe_pkg-0.1.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def seen(run) -> dict:
    return json.loads((run.job.local_outputs["out"] / "seen.json").read_text())


@pytest.mark.docker
def test_sklearn_sees_only_its_own_script(tmp_path, backend):
    from helpers import run_step
    step = load_step(make_step(tmp_path, {"kind": "sklearn"}))
    run = run_step(step, RunOptions(job_arguments={}), tmp_path / "runs", backend)
    assert run.result.status == "Completed", run.result.describe
    got = seen(run)
    assert got["script"] == "/opt/ml/processing/input/code/main.py"
    assert got["code_dir"] == ["main.py"]                       # helper.py and pkg/ stay behind
    assert got["helper"].startswith("ImportError")


@pytest.mark.docker
def test_framework_unpacks_installs_requirements_offline_and_runs_in_the_code_dir(tmp_path, backend):
    """runproc.sh as the SDK writes it: untar in /opt/ml/processing/input/code/, pip install -r
    requirements.txt (here from a wheel folder, with no network at all), then python <script>."""
    from helpers import run_step
    make_wheel(tmp_path / "wheels")
    step = load_step(make_step(
        tmp_path, {"kind": "framework", "sdk_class": "SKLearn"},
        contract={"source_dir": True,
                  "job_arguments": [{"flag": "--job_type", "source": "job_type"}]},
        extra_files={"requirements.txt": "cursus-probe-pkg==0.1\n"}))
    run = run_step(step, RunOptions(
        job_arguments={"job_type": "training"}, wheelhouse=str(tmp_path / "wheels"), pip_offline=True,
        network_isolation=True), tmp_path / "runs", backend)
    log = "".join(h.log.read_text() for h in run.result.hosts)
    assert run.result.status == "Completed", (run.result.describe, log)
    got = seen(run)
    assert got["cwd"] == "/opt/ml/processing/input/code"
    assert got["argv"] == ["--job_type", "training"]
    assert got["helper"] == "sibling module"
    assert got["installed"] == "installed from the wheelhouse", log
    assert run.job.local_mounts[WHEELHOUSE_PATH] == (tmp_path / "wheels").resolve()
    assert "wheels" not in json.dumps(run.job.request) and "PIP_" not in json.dumps(run.job.request)
    assert {"main.py", "helper.py", "pkg/data.txt", "requirements.txt", "sourcedir.tar.gz"} <= set(got["code_dir"])
    assert "/opt/ml/processing/input/entrypoint/runproc.sh" in got["input"]
    assert "AWS CLI is not installed. Skipping CodeArtifact login." in log
    shutil.rmtree(tmp_path / "runs")
