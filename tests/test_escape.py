"""No way out of the run folder, nor into the host: names that climb out, LocalPaths that leave
/opt/ml/processing, inputs that are (or lead to) system folders, an input and an output of the
same name. Each is refused with exit 2 before any container starts, and creates nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import write_step
from cursus_local.errors import UserError
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.processing import RunOptions, build_job
from cursus_local.jobs.validation import JobRequestError, validate_request
from users import CLI, as_user, tester, tester_dir  # noqa: F401 (fixtures)

WRITE_OUT = """
    from pathlib import Path
    Path("/opt/ml/processing/output/out/new.csv").write_text("a\\n1\\n")
"""


def _cli_env() -> dict:
    """The code under test, also for the CLI run as another user."""
    return {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}


def _run_step(user, folder: Path, step: Path, *args: str):
    return as_user(user, [*CLI, "run-step", str(step), "--quiet", *args], folder, env=_cli_env(),
                   timeout=300)


def _said(done) -> str:
    """stderr with the terminal's line wrapping undone."""
    return " ".join(done.stderr.split())


def _data(folder: Path) -> Path:
    data = folder / "data"
    data.mkdir(exist_ok=True)
    (data / "part-0.csv").write_text("a\n1\n")
    return data


def test_an_output_name_that_climbs_out_is_refused_and_creates_nothing(tester, tester_dir):
    step = write_step(tester_dir, "climb", WRITE_OUT,
                      {"outputs": {"../../../escaped": {"path": "/opt/ml/processing/output/out"}}})
    before = set(tester_dir.rglob("*"))
    done = _run_step(tester, tester_dir, step)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "contract.outputs.../../../escaped" in _said(done) and "not a folder name" in _said(done)
    assert set(tester_dir.rglob("*")) - before == set(), "nothing may be created"
    assert not (tester_dir / "runs" / "escaped").exists()


@pytest.mark.parametrize("kind", ["inputs", "outputs"])
def test_a_name_that_is_no_folder_name_is_refused_when_building(tmp_path, kind):
    spec = {"../up": {"path": "/opt/ml/processing/input/up"}}
    if kind == "outputs":
        spec = {"../up": {"path": "/opt/ml/processing/output/up"}}
    step = load_step(write_step(tmp_path, "s", "print(1)", {kind: spec}))
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(inputs={"../up": str(_data(tmp_path))} if kind == "inputs" else {}),
                  tmp_path / "run" / "s" / "output")
    assert err.value.field == f"contract.{kind}.../up" and err.value.file == str(step.file)


def test_a_local_path_that_leaves_the_processing_root_is_refused(tester, tester_dir):
    step = write_step(tester_dir, "leave", WRITE_OUT,
                      {"outputs": {"out": {"path": "/opt/ml/processing/output/../../../etc"}}})
    done = _run_step(tester, tester_dir, step)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "contract.outputs.out.path" in _said(done)
    assert not (tester_dir / "runs").exists()


def test_an_input_local_path_that_leaves_the_processing_root_is_refused(tmp_path):
    step = load_step(write_step(tmp_path, "s", "print(1)",
                                {"inputs": {"d": {"path": "/opt/ml/processing/input/../../../tmp/x"}}}))
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(inputs={"d": str(_data(tmp_path))}), tmp_path / "run" / "s" / "output")
    assert err.value.field == "contract.inputs.d.path"


def test_the_request_check_normalises_local_paths():
    def request(local):
        return {"ProcessingJobName": "j", "RoleArn": "arn:aws:iam::000000000000:role/r",
                "AppSpecification": {"ImageUri": "i"},
                "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                          "VolumeSizeInGB": 30}},
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "S3Output": {
                    "S3Uri": "s3://b/o", "LocalPath": local, "S3UploadMode": "EndOfJob"}}]}}
    validate_request(request("/opt/ml/processing/output/../out2"))   # still inside: accepted
    for escaping in ("/opt/ml/processing/output/../../../etc", "/opt/ml/processing/output/../../../tmp/x",
                     "/opt/ml/processing/output/.."):
        with pytest.raises(JobRequestError, match="must be a path under /opt/ml/processing/"):
            validate_request(request(escaping))


def test_an_input_that_is_a_symlink_to_etc_is_refused(tester, tester_dir):
    (tester_dir / "data").symlink_to("/etc")
    step = write_step(tester_dir, "peek", "print(1)",
                      {"inputs": {"d": {"path": "/opt/ml/processing/input/d"}}}, local={"inputs": {"d": "data"}})
    done = _run_step(tester, tester_dir, step)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "contract.inputs.d" in _said(done) and "system folder /etc" in _said(done)
    assert not (tester_dir / "runs").exists()


@pytest.mark.parametrize("system", ["/", "/etc/ssl", "/var", "/run", "/usr/lib", "/lib", "/var/lib/docker"])
def test_system_folders_are_never_inputs_nor_outputs(tmp_path, system):
    step = load_step(write_step(tmp_path, "s", "print(1)",
                                {"inputs": {"d": {"path": "/opt/ml/processing/input/d"}},
                                 "outputs": {"o": {"path": "/opt/ml/processing/output/o"}}}))
    with pytest.raises(UserError, match="system folder") as err:
        build_job(step, RunOptions(inputs={"d": system}), tmp_path / "run" / "s" / "output")
    assert err.value.field == "contract.inputs.d"
    with pytest.raises(UserError, match="system folder") as err:
        build_job(step, RunOptions(inputs={"d": str(_data(tmp_path))}, outputs={"o": system}),
                  tmp_path / "run" / "s" / "output")
    assert err.value.field == "contract.outputs.o"


def test_the_same_name_for_an_input_and_an_output_is_refused(tester, tester_dir):
    _data(tester_dir)
    step = write_step(tester_dir, "same", "print(1)",
                      {"inputs": {"data": {"path": "/opt/ml/processing/input/data"}},
                       "outputs": {"data": {"path": "/opt/ml/processing/output/data"}}},
                      local={"inputs": {"data": "data"}})
    done = _run_step(tester, tester_dir, step)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "both an input and an output" in _said(done) and "contract.outputs.data" in _said(done)
    assert not (tester_dir / "runs").exists()


@pytest.mark.docker
def test_a_symlinked_input_says_what_is_really_mounted(tester, tester_dir):
    real = _data(tester_dir)
    (tester_dir / "link").symlink_to(real)
    step = write_step(tester_dir, "follow", """
        import os
        print(sorted(os.listdir("/opt/ml/processing/input/d")))
    """, {"inputs": {"d": {"path": "/opt/ml/processing/input/d"}}})
    done = _run_step(tester, tester_dir, step, "--input", "d=link")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "which is what is mounted" in " ".join(done.stdout.split())
    result = json.loads(next((tester_dir / "runs").glob("*/follow/result.json")).read_text())
    assert f"input d: link leads to {real}, which is what is mounted" in result["notes"]
    assert "['part-0.csv']" in next((tester_dir / "runs").glob("*/follow/logs/algo-1.log")).read_text()


def test_a_name_never_makes_an_input_scratch_folder_outside_its_host_folder(tmp_path):
    """The writable copy of an input sits in <host>/inputs/<name>, which is emptied first: a name
    of '..' would have emptied the host folder itself."""
    from cursus_local.backends.inputs import WritableInputs
    host = tmp_path / "hosts" / "algo-1"
    host.mkdir(parents=True)
    (host / "config.json").write_text("{}")
    inputs = WritableInputs(None, "image", "job", "copy", "")
    with pytest.raises(UserError, match="not a folder inside"):
        inputs.mount("algo-1", "..", [_data(tmp_path)], "/opt/ml/processing/input/d", host)
    assert (host / "config.json").read_text() == "{}"


FRAMEWORK = {"kind": "framework", "sdk_class": "SKLearn"}


def test_a_code_symlink_leading_out_of_the_code_folder_is_refused(tmp_path):
    """The code tarball is packed with dereference=True: a link to a host file would ship it."""
    import tarfile
    step = load_step(write_step(tmp_path, "s", "print(1)", {"source_dir": True}, compute=FRAMEWORK))
    code = tmp_path / "code"
    (code / "lib.py").write_text("x = 1\n")
    (code / "alias.py").symlink_to("lib.py")                 # inside the code folder: packed
    job = build_job(step, RunOptions(), tmp_path / "run" / "s" / "output")
    with tarfile.open(job.local_inputs["code"]) as tar:
        assert tar.extractfile("alias.py").read() == b"x = 1\n"
    (tmp_path / "host.txt").write_text("the host's")
    (code / "sub").mkdir()
    (code / "sub" / "leak.txt").symlink_to(tmp_path / "host.txt")
    with pytest.raises(UserError) as err:
        build_job(step, RunOptions(), tmp_path / "run" / "s" / "output")
    assert err.value.file == str(code / "sub" / "leak.txt") and "outside" in str(err.value)
    assert "copy" in err.value.fix


@pytest.mark.parametrize("where", ["local.code"])   # inputs and outputs: test_system_folders_...
def test_step_file_local_paths_are_never_system_folders(tmp_path, where):
    key, _, name = where.partition(".")[2].partition(".")
    (tmp_path / "link").symlink_to("/etc/ssl")   # through a symlink too
    local = {"code": "link"} if key == "code" else {key: {name: "link"}}
    step = load_step(write_step(tmp_path, "s", "print(1)", {
        "inputs": {"d": {"path": "/opt/ml/processing/input/d", "required": False}},
        "outputs": {"o": {"path": "/opt/ml/processing/output/o"}}}, local=local))
    with pytest.raises(UserError, match="system folder") as err:
        build_job(step, RunOptions(), tmp_path / "run" / "s" / "output")
    assert err.value.field == {"code": "--code", "inputs": "contract.inputs.d", "outputs": "contract.outputs.o"}[key]
    assert err.value.file == str(step.file)


@pytest.mark.parametrize("option", ["code_dir", "wheelhouse"])
def test_code_and_wheelhouse_options_are_never_system_folders(tmp_path, option):
    step = load_step(write_step(tmp_path, "s", "print(1)", {}))
    with pytest.raises(UserError, match="system folder") as err:
        build_job(step, RunOptions(**{option: "/etc"}), tmp_path / "run" / "s" / "output")
    assert err.value.field == {"code_dir": "--code", "wheelhouse": "--wheelhouse"}[option]


def test_a_symlink_in_local_inputs_says_what_is_really_mounted(tmp_path):
    real = _data(tmp_path)
    (tmp_path / "link").symlink_to(real)
    step = load_step(write_step(tmp_path, "s", "print(1)", {"inputs": {"d": {"path": "/opt/ml/processing/input/d"}}},
                                local={"inputs": {"d": "link"}}))
    job = build_job(step, RunOptions(), tmp_path / "run" / "s" / "output")
    assert job.local_inputs["d"] == real
    assert any("leads to" in n and n.endswith("which is what is mounted") for n in job.notes)


# --- the entry point: a script inside the code folder, never a host file ----------------------------

@pytest.mark.parametrize("entry_point", ["/etc/shadow", "/etc/passwd", "../../../../etc/shadow",
                                         "sub/../../code/s.py", ".."])
def test_an_entry_point_outside_the_code_folder_is_refused_in_the_step_file(tmp_path, entry_point):
    path = write_step(tmp_path, "s", "print(1)", {})
    path.write_text(path.read_text().replace("entry_point: s.py", f"entry_point: {entry_point}"))
    with pytest.raises(UserError) as err:
        load_step(path)
    assert err.value.field == "contract.entry_point" and err.value.file == str(path)
    assert "inside the code folder" in str(err.value) and "relative" in err.value.fix


@pytest.mark.parametrize("compute", [{}, FRAMEWORK, {"kind": "script", "image": "python:3.11"},
                                     {"kind": "estimator", "image": "python:3.11"}])
def test_an_entry_point_linked_out_of_the_code_folder_is_refused_by_every_job_kind(tmp_path, compute):
    """Processing (ScriptProcessor and FrameworkProcessor) and training: the link is followed when
    the script is shipped, so its target is what is checked."""
    from cursus_local.jobs.build import build
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "run.py").symlink_to("/etc/passwd")
    step = load_step(write_step(tmp_path, "s", "print(1)", {}, compute=compute))
    step.entry_point = "run.py"
    if compute.get("kind") == "estimator":
        step.sagemaker_step_type = "Training"
    with pytest.raises(UserError) as err:
        build(step, RunOptions(), tmp_path / "run" / "s" / "output")
    assert err.value.field == "contract.entry_point" and "outside the code folder" in str(err.value)


def test_a_sudo_run_never_ships_a_host_file_as_the_entry_point(tester, tester_dir):
    """The tester's break: under sudo, `entry_point: /etc/shadow` (or a link to it) was shipped,
    run, and its SyntaxError printed root's password hash. Now: exit 2, nothing started."""
    from users import via_sudo
    shadow_line = Path("/etc/shadow").read_text().splitlines()[0]
    step = write_step(tester_dir, "s", "print(1)", {})
    (tester_dir / "code" / "link.py").symlink_to("/etc/shadow")
    for entry_point in ("/etc/shadow", "../../../../etc/shadow", "link.py"):
        step.write_text(step.read_text().replace("entry_point: s.py", f"entry_point: {entry_point}")
                        .replace("entry_point: /etc/shadow", f"entry_point: {entry_point}")
                        .replace("entry_point: ../../../../etc/shadow", f"entry_point: {entry_point}"))
        done = via_sudo(tester, [*CLI, "run-step", str(step), "--quiet"], tester_dir, env=_cli_env(), timeout=300)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "contract.entry_point" in _said(done), entry_point
        assert shadow_line not in done.stdout + done.stderr
        assert not (tester_dir / "runs").exists()


def test_a_name_longer_than_the_service_allows_is_refused_before_the_run_folder(tester, tester_dir):
    """The tester's break: a 300-character output name gave a mkdir traceback (exit 1) and left an
    empty run folder. ChannelName's max (64) comes from botocore's model, as its pattern does."""
    from cursus_local.jobs.validation import folder_name_length
    assert folder_name_length() == 64
    step = write_step(tester_dir, "long", WRITE_OUT, {"outputs": {"a" * 300: {"path": "/opt/ml/processing/output/out"}}})
    done = _run_step(tester, tester_dir, step)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "300 characters" in _said(done) and "at most 64" in _said(done) and "Traceback" not in _said(done)
    assert not (tester_dir / "runs").exists()
    ok = load_step(write_step(tester_dir, "ok", "print(1)", {"outputs": {"a" * 64: {"path": "/opt/ml/processing/output/o"}}}))
    build_job(ok, RunOptions(), tester_dir / "run" / "ok" / "output")   # at the limit: accepted


def test_an_input_that_leads_to_roots_home_is_refused(tmp_path):
    (tmp_path / "data").symlink_to("/root")
    step = load_step(write_step(tmp_path, "s", "print(1)", {"inputs": {"d": {"path": "/opt/ml/processing/input/d"}}},
                                local={"inputs": {"d": "data"}}))
    with pytest.raises(UserError, match="system folder /root") as err:
        build_job(step, RunOptions(), tmp_path / "run" / "s" / "output")
    assert err.value.field == "contract.inputs.d"
