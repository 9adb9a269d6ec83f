"""The container contract on the real engine: mounts, config files, hosts, sharding, limits, exits."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import IMAGE, SHARED, leftover_containers, write_step
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.processing import RunOptions
from helpers import run_step

pytestmark = pytest.mark.docker

PROBE = """
    import json, os, socket, sys
    from pathlib import Path
    root = Path("/opt/ml/processing")
    seen = {
        "argv": sys.argv[1:],
        "files": sorted(str(p) for p in root.rglob("*") if p.is_file() and "/code/" not in str(p)),
        "env": {k: v for k, v in os.environ.items() if k.isupper()},
        "resource": json.loads(Path("/opt/ml/config/resourceconfig.json").read_text()),
        "job": json.loads(Path("/opt/ml/config/processingjobconfig.json").read_text()),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "hostname": socket.gethostname(),
    }
    out = Path(os.environ.get("OUT_DIR", "/opt/ml/processing/output"))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seen-{seen['resource']['current_host']}.json").write_text(json.dumps(seen))
"""


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def make_data(folder: Path, n_files: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n_files):
        (folder / f"part-{i:05d}.csv").write_text(f"id\n{i}\n")
    return folder


def seen(run, host="algo-1", output="processed_data"):
    return json.loads((run.result.outputs[output] / f"seen-{host}.json").read_text())


@pytest.mark.skipif(not (SHARED / "cursus").is_dir(), reason="../shared/cursus is not beside this repo")
def test_real_cursus_interface_runs_with_exactly_its_paths(tmp_path, backend, docker_client):
    step_file = tmp_path / "tabular_preprocessing.step.yaml"
    shutil.copy(SHARED / "cursus/interfaces/tabular_preprocessing.step.yaml", step_file)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tabular_preprocessing.py").write_text(__import__("textwrap").dedent(PROBE))
    data = make_data(tmp_path / "raw", 2)
    signature = make_data(tmp_path / "sig", 1)
    step = load_step(step_file)
    run = run_step(step, RunOptions(inputs={"DATA": str(data), "SIGNATURE": str(signature)},
                                    env={"LABEL_FIELD": "label"}, job_arguments={"job_type": "training"},
                                    code_dir=str(tmp_path / "code")), tmp_path / "runs", backend)
    assert run.result.status == "Completed", run.result.describe
    got = seen(run)
    assert got["files"] == ["/opt/ml/processing/input/data/part-00000.csv",
                            "/opt/ml/processing/input/data/part-00001.csv",
                            "/opt/ml/processing/input/signature/part-00000.csv"]
    assert got["argv"] == ["--job_type", "training"]
    assert got["env"]["LABEL_FIELD"] == "label" and got["env"]["TRAIN_RATIO"] == "0.7"
    assert got["resource"] == {**got["resource"], "current_host": "algo-1", "hosts": ["algo-1"],
                               "network_interface_name": "eth0", "current_instance_type": "ml.m5.large"}
    assert got["job"]["ProcessingJobName"] == run.job.name
    assert got["job"]["ProcessingInputs"] == run.job.request["ProcessingInputs"]
    assert got["hostname"] == "algo-1"
    assert "eth0" in got["interfaces"]
    info = json.loads(run.result_file.read_text())
    assert info["describe"]["ProcessingJobStatus"] == "Completed" and info["exit_code"] == 0
    assert not leftover_containers(docker_client, run.job.name)


UNTAR = """
    import tarfile
    from pathlib import Path
    root = Path("/opt/ml/processing/input/model")
    with tarfile.open(root / "model.tar.gz") as tar:      # as xgboost_model_eval does: into its input
        tar.extractall(root)
    (root / "model.tar.gz").unlink()                       # and even removes what it was given
    text = (root / "weights.txt").read_text()
    Path("/opt/ml/processing/input/data/part-00000.csv").write_text("overwritten")
    Path("/opt/ml/processing/output/seen.txt").write_text(text)
"""


def model_folder(folder: Path) -> Path:
    import tarfile
    folder.mkdir(parents=True)
    (folder.parent / "weights.txt").write_text("w=1\n")
    with tarfile.open(folder / "model.tar.gz", "w:gz") as tar:
        tar.add(folder.parent / "weights.txt", arcname="weights.txt")
    return folder


def leftover_volumes(docker_client, job_name: str) -> list:
    return docker_client.volumes.list(filters={"label": f"cursus-local.job={job_name}"})


@pytest.mark.parametrize("mode", ["overlay", "copy"])
def test_inputs_are_writable_and_the_upstream_folders_stay_byte_identical(tmp_path, docker_client, mode):
    from cursus_local.backends.docker import DockerBackend
    backend = DockerBackend(docker_client, input_mode=None if mode == "overlay" else "copy")
    model, data = model_folder(tmp_path / "up" / "model"), make_data(tmp_path / "data", 2)
    single = tmp_path / "one" / "table.csv"
    single.parent.mkdir()
    single.write_text("id\n1\n")
    before = {p: tree_digest(p) for p in (model, data, single.parent)}
    step = load_step(write_step(tmp_path, "untar", UNTAR + """
    one = Path("/opt/ml/processing/input/one")
    assert sorted(p.name for p in one.iterdir()) == ["table.csv"]   # one object: LocalPath/<its name>
    (one / "table.csv").write_text("changed")
    """, {
        "inputs": {"model": {"path": "/opt/ml/processing/input/model"},
                   "data": {"path": "/opt/ml/processing/input/data"},
                   "one": {"path": "/opt/ml/processing/input/one"}},
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}}))
    run = run_step(step, RunOptions(inputs={"model": str(model), "data": str(data), "one": str(single)}),
                   tmp_path / "runs", backend)
    assert run.result.status == "Completed", (run.result.describe, run.result.hosts[0].log.read_text())
    assert (run.result.outputs["out"] / "seen.txt").read_text() == "w=1\n"
    assert {p: tree_digest(p) for p in before} == before             # upstream unchanged, byte for byte
    sizes = sum(p.stat().st_size for f in (model, data) for p in f.rglob("*") if p.is_file())
    if mode == "overlay":
        assert run.result.bytes_copied == 0
        assert not any("copying" in n for n in run.result.notes)
    else:
        every = sum(p.stat().st_size for f in run.job.local_inputs.values()
                    for p in ([f] if f.is_file() else f.rglob("*")) if p.is_file())
        assert run.result.bytes_copied == every >= sizes + single.stat().st_size
        assert any(f"{run.result.bytes_copied} bytes copied" in n for n in run.result.notes)
    assert json.loads(run.result_file.read_text())["bytes_copied"] == run.result.bytes_copied
    assert not leftover_volumes(docker_client, run.job.name)
    assert not (run.folder / "hosts" / "algo-1" / "inputs").exists() or \
        not any((run.folder / "hosts" / "algo-1" / "inputs").iterdir())
    assert not leftover_containers(docker_client, run.job.name)


def test_two_instances_each_see_their_shard_and_both_outputs_survive(tmp_path, backend, docker_client):
    script = """
        import json, os, socket, time
        from pathlib import Path

        def resolve(host):   # peers start a moment apart, as on the service: retry
            for _ in range(100):
                try:
                    return socket.gethostbyname(host)
                except socket.gaierror:
                    time.sleep(0.1)
            raise RuntimeError(f"cannot resolve {host}")

        cfg = json.loads(Path("/opt/ml/config/resourceconfig.json").read_text())
        me = cfg["current_host"]
        others = [h for h in cfg["hosts"] if h != me]
        files = sorted(p.name for p in Path("/opt/ml/processing/input/data").rglob("*.csv"))
        out = Path("/opt/ml/processing/output")
        (out / f"{me}.json").write_text(json.dumps({"files": files, "peers": [resolve(h) for h in others]}))
        (out / "summary.txt").write_text(f"written by {me}")   # same name on both hosts
        time.sleep(2)   # stay up until the peer has resolved us
    """
    data = make_data(tmp_path / "data", 5)
    step = load_step(write_step(tmp_path, "sharded", script, {
        "inputs": {"data": {"path": "/opt/ml/processing/input/data"}},
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}}, compute={"instance_count": 2}))
    run = run_step(step, RunOptions(inputs={"data": str(data)}, sharded_inputs=("data",)),
                   tmp_path / "runs", backend)
    assert run.result.status == "Completed", run.result.describe
    out = run.result.outputs["out"]
    one, two = (json.loads((out / f"algo-{i}.json").read_text()) for i in (1, 2))
    assert one["files"] == ["part-00000.csv", "part-00002.csv", "part-00004.csv"]
    assert two["files"] == ["part-00001.csv", "part-00003.csv"]
    assert one["peers"] and two["peers"]                    # algo-N resolve on the private network
    summaries = sorted(p.read_text() for p in out.glob("summary*.txt"))
    assert summaries == ["written by algo-1", "written by algo-2"]
    assert any("summary.txt" in note for note in run.result.notes)
    assert [h.exit_code for h in run.result.hosts] == [0, 0]
    assert not docker_client.networks.list(filters={"label": f"cursus-local.job={run.job.name}"})

    replicated = run_step(step, RunOptions(inputs={"data": str(data)}), tmp_path / "runs2", backend)
    out = replicated.result.outputs["out"]
    assert all(len(json.loads((out / f"algo-{i}.json").read_text())["files"]) == 5 for i in (1, 2))


def test_a_failing_script_is_failed_with_exit_code_message_logs_and_outputs(tmp_path, backend, docker_client):
    script = """
        import sys
        from pathlib import Path
        Path("/opt/ml/processing/output/partial.csv").write_text("id\\n1\\n")
        print("about to fail")
        Path("/opt/ml/output/message").write_text("ValueError: amount column is text " + "x" * 2000)
        sys.exit(3)
    """
    step = load_step(write_step(tmp_path, "failing", script, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    result = run.result
    assert result.status == "Failed" and result.exit_code == 3
    assert result.describe["ProcessingJobStatus"] == "Failed"
    assert result.describe["ExitMessage"].startswith("ValueError: amount column is text")
    assert len(result.describe["ExitMessage"].encode()) == 1024
    assert "AlgorithmError" in result.describe["FailureReason"]
    assert (result.outputs["out"] / "partial.csv").read_text() == "id\n1\n"
    assert "about to fail" in result.hosts[0].log.read_text()
    assert not leftover_containers(docker_client, run.job.name)


ENTRYPOINT_IMAGE = "cursus-local/test-entrypoint:latest"


@pytest.fixture(scope="module")
def entrypoint_image(docker_client, tmp_path_factory):
    folder = tmp_path_factory.mktemp("img")
    (folder / "Dockerfile").write_text(
        f"FROM {IMAGE}\nENTRYPOINT [\"python3\", \"-c\", \"import sys; print('IMAGE-EP', sys.argv[1:])\"]\n"
        "CMD [\"image-cmd\"]\n")
    docker_client.images.build(path=str(folder), tag=ENTRYPOINT_IMAGE, rm=True)
    return ENTRYPOINT_IMAGE


@pytest.mark.parametrize("entrypoint, arguments, expected", [
    (None, None, "IMAGE-EP ['image-cmd']"),                         # neither: image ENTRYPOINT + CMD
    (["python3", "-c", "print('JOB-EP')"], None, "JOB-EP"),          # entrypoint only: no image CMD
    (None, ["a1", "a2"], "IMAGE-EP ['a1', 'a2']"),                   # arguments go to image ENTRYPOINT
    (["python3", "-c", "import sys; print('JOB-EP', sys.argv[1:])"], ["b"], "JOB-EP ['b']"),
])
def test_entrypoint_and_arguments_like_the_service(tmp_path, backend, entrypoint_image, entrypoint,
                                                   arguments, expected):
    from cursus_local.jobs.processing import ProcessingJob
    name = f"ep-{abs(hash((str(entrypoint), str(arguments)))) % 10**8}"
    app = {"ImageUri": entrypoint_image}
    if entrypoint:
        app["ContainerEntrypoint"] = entrypoint
    if arguments:
        app["ContainerArguments"] = arguments
    request = {"ProcessingJobName": name, "ProcessingInputs": [],
               "ProcessingOutputConfig": {"Outputs": []},
               "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                         "VolumeSizeInGB": 1}},
               "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "AppSpecification": app,
               "Environment": {}, "NetworkConfig": {"EnableNetworkIsolation": False},
               "RoleArn": "arn:aws:iam::000000000000:role/x"}
    from cursus_local.jobs.validation import validate_request
    validate_request(request)
    result = backend.run(ProcessingJob(request, {}, {}), tmp_path / "w")
    assert result.status == "Completed"
    assert result.hosts[0].log.read_text().strip().splitlines() == [expected]


def test_max_runtime_stops_the_container(tmp_path, backend, docker_client):
    step = load_step(write_step(tmp_path, "sleepy", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n",
                                {"outputs": {"out": {"path": "/opt/ml/processing/output"}}},
                                compute={"max_runtime_in_seconds": 2}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    assert run.result.status == "Stopped"
    assert run.result.describe["ProcessingJobStatus"] == "Stopped"
    assert run.result.duration_seconds < 30
    assert any("MaxRuntimeInSeconds (2 s) exceeded" in n for n in run.result.notes)
    assert not leftover_containers(docker_client, run.job.name)


def test_oom_is_reported_as_such(tmp_path, backend):
    script = "x = b'x' * (6 * 2**30)\nprint(len(x))\n"   # more than ml.t3.medium's 4 GiB
    step = load_step(write_step(tmp_path, "hungry", script, {}, compute={"instance_type": "ml.t3.medium"}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    assert run.result.status == "Failed"
    assert run.result.hosts[0].oom_killed
    assert "ran out of memory (4 GiB, the memory of ml.t3.medium)" in run.result.describe["FailureReason"]


def test_network_isolation_gives_no_network(tmp_path, backend):
    step = load_step(write_step(tmp_path, "probe", PROBE, {
        "outputs": {"processed_data": {"path": "/opt/ml/processing/output"}}},
        compute={"enable_network_isolation": True}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    assert run.result.status == "Completed"
    assert seen(run)["interfaces"] == ["lo"]
    assert run.job.request["NetworkConfig"]["EnableNetworkIsolation"] is True


@pytest.mark.parametrize("caller", ["root", "not root"])
def test_outputs_belong_to_the_invoking_user(tmp_path, backend, monkeypatch, caller):
    monkeypatch.setenv("CURSUS_LOCAL_OWNER", "4321:4321")   # stands for the invoking user
    if caller == "not root":   # a user of the engine who can't chown: a short container does it
        import cursus_local.backends.docker as docker_backend
        monkeypatch.setattr(docker_backend.os, "geteuid", lambda: 4321)
    script = """
        from pathlib import Path
        d = Path("/opt/ml/processing/output/deep/er")
        d.mkdir(parents=True)
        (d / "f.csv").write_text("a\\n1\\n")
    """
    step = load_step(write_step(tmp_path, "owned", script, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    assert run.result.status == "Completed"
    out = run.result.outputs["out"]
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [out, *out.rglob("*")]}
    assert owners == {(4321, 4321)}


def test_no_credential_reaches_a_file(tmp_path, backend):
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    script = """
        import os
        from pathlib import Path
        print("key is", os.environ["AWS_SECRET_ACCESS_KEY"])
        ok = os.environ["AWS_SECRET_ACCESS_KEY"].endswith("EXAMPLEKEY")
        Path("/opt/ml/processing/output/ok.txt").write_text(str(ok))
    """
    step = load_step(write_step(tmp_path, "creds", script, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}}))
    run = run_step(step, RunOptions(env={"AWS_SECRET_ACCESS_KEY": secret}), tmp_path / "runs", backend)
    assert run.result.status == "Completed"
    assert (run.result.outputs["out"] / "ok.txt").read_text() == "True"   # the container had it
    for path in run.folder.rglob("*"):
        if path.is_file() and path.name != "ok.txt":
            assert secret not in path.read_text(errors="replace"), path


LOCAL = """
    import json, os
    from pathlib import Path
    seen = {"env": {k: os.environ.get(k) for k in ("CURSUS_X", "DEFAULT_CURRENCY")},
            "file": Path("/opt/cursus-local/probe/f.txt").read_text(),
            "single": Path("/opt/cursus-local/one.pem").read_text()}
    try:
        Path("/opt/cursus-local/probe/new.txt").write_text("x")
        seen["writable"] = True
    except OSError as exc:
        seen["writable"] = exc.strerror
    Path("/opt/ml/processing/output/seen.json").write_text(json.dumps(seen))
"""


def test_local_env_and_read_only_local_mounts_reach_the_container_never_a_file(tmp_path, backend):
    """job.local_env and job.local_mounts (the host's package-index settings, a wheelhouse): in the
    container, read-only, the request's Environment winning; not in the request, nor in any file."""
    from cursus_local.jobs.build import build
    from cursus_local.pipeline.step import run_job
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "f.txt").write_text("from the host folder")
    (tmp_path / "one.pem").write_text("one file")
    step = load_step(write_step(tmp_path, "local", LOCAL, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}},
        "env_vars": {"required": [], "optional": {"DEFAULT_CURRENCY": "USD"}}}))
    folder = tmp_path / "runs" / "local"
    job = build(step, RunOptions(network_isolation=True), folder / "output")
    job.local_env.update({"CURSUS_X": "local-only-value-123", "DEFAULT_CURRENCY": "host's"})
    job.local_mounts.update({"/opt/cursus-local/probe": tmp_path / "probe",
                             "/opt/cursus-local/one.pem": tmp_path / "one.pem"})
    run = run_job(job, folder, backend)
    assert run.result.status == "Completed", run.result.describe
    got = json.loads((run.result.outputs["out"] / "seen.json").read_text())
    assert got["env"] == {"CURSUS_X": "local-only-value-123", "DEFAULT_CURRENCY": "USD"}
    assert got["file"] == "from the host folder" and got["single"] == "one file"
    assert got["writable"] == "Read-only file system"
    assert not (tmp_path / "probe" / "new.txt").exists()
    for path in run.folder.rglob("*"):
        if path.is_file() and path.name != "seen.json":
            assert "local-only-value-123" not in path.read_text(errors="replace"), path


def test_an_entrypoint_missing_from_the_image_fails_the_job_cleanly(tmp_path, backend, docker_client):
    from cursus_local.jobs.processing import build_job
    step = load_step(write_step(tmp_path, "noexec", "print(1)\n", {}))
    job = build_job(step, RunOptions(job_name="noexec-x"), tmp_path / "out")
    job.request["AppSpecification"]["ContainerEntrypoint"] = ["/no/such/binary"]
    result = backend.run(job, tmp_path / "w")
    assert result.status == "Failed"
    assert result.describe["FailureReason"].startswith("ClientError:")
    assert not leftover_containers(docker_client, "noexec-x")


def test_an_s3_input_is_downloaded_once_and_mounted(tmp_path, backend, moto, monkeypatch):
    import boto3
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto)                # a real S3 API (moto server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path / "cache"))
    s3 = boto3.session.Session().client("s3")
    s3.create_bucket(Bucket="past-run")
    for split in ("train", "val"):
        s3.put_object(Bucket="past-run", Key=f"exec-1/prep/{split}/part-00000.csv", Body=b"id\n1\n")
    step = load_step(write_step(tmp_path, "s3probe", PROBE, {
        "inputs": {"data": {"path": "/opt/ml/processing/input/data"}},
        "outputs": {"processed_data": {"path": "/opt/ml/processing/output"}}}))
    run = run_step(step, RunOptions(inputs={"data": "s3://past-run/exec-1/prep"}), tmp_path / "runs", backend)
    assert run.result.status == "Completed", run.result.describe
    assert seen(run)["files"] == ["/opt/ml/processing/input/data/train/part-00000.csv",
                                  "/opt/ml/processing/input/data/val/part-00000.csv"]
    (data_input,) = [i for i in run.job.request["ProcessingInputs"] if i["InputName"] == "data"]
    assert data_input["S3Input"]["S3Uri"] == "s3://past-run/exec-1/prep"   # the request keeps the URI


def test_memory_and_cpu_come_from_the_stats_api_where_cgroups_cant_be_read(tmp_path, docker_client, monkeypatch):
    import cursus_local.backends.docker as docker_backend
    monkeypatch.setattr(docker_backend, "job_cgroup_version", lambda client: None)   # as on Docker Desktop
    monkeypatch.setattr(docker_backend, "_cgroup_files", lambda *a: None)
    backend = docker_backend.DockerBackend(docker_client)
    script = "import time\nx = b'x' * (200 * 2**20)\nt = time.time()\nwhile time.time() - t < 2.5: pass\n"
    step = load_step(write_step(tmp_path, "busy", script, {}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    assert run.result.status == "Completed"
    assert run.result.peak_memory_bytes > 150 * 2**20
    assert run.result.cpu_seconds > 1
    assert any("sampled from the engine's stats API" in note for note in run.result.notes)   # not exact: said so
    assert not job_cgroups(run.job.name)


# --- peak memory and CPU time: exact, from a cgroup per job that outlives its containers ------------
MiB = 2**20
CGROUP_ROOT = Path("/sys/fs/cgroup")


def job_cgroups(job_name: str) -> list[Path]:
    """The job's cgroups, in every hierarchy (v1) or the one (v2)."""
    pattern = f"cursus-local-{job_name}-*"
    return sorted({*CGROUP_ROOT.glob(pattern), *CGROUP_ROOT.glob(f"*/{pattern}")})


@pytest.fixture(scope="module")
def exact_usage(docker_client):
    """The engine's cgroups can be managed from here (always so in CI: the runner is root beside a
    cgroupfs engine). Elsewhere, e.g. Docker Desktop, the figures are sampled: those tests skip."""
    import os

    from cursus_local.backends.cgroups import job_cgroup_version
    if job_cgroup_version(docker_client) is None:
        message = ("no job cgroup can be used here: needs an engine with the cgroupfs driver on this "
                   "host and /sys/fs/cgroup writable by this process")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_peak_memory_of_a_known_allocation_is_exact(tmp_path, backend, exact_usage):
    script = "x = b'x' * (200 * 2**20)   # 200 MiB, every page written\n"
    step = load_step(write_step(tmp_path, "alloc", script, {}))
    peaks = []
    for i in range(3):
        run = run_step(step, RunOptions(), tmp_path / f"runs{i}", backend)
        assert run.result.status == "Completed"
        assert not run.result.notes   # nothing sampled, nothing left behind
        peaks.append(run.result.peak_memory_bytes)
        assert run.result.cpu_seconds > 0
    # the 200 MiB plus the interpreter (about 5 MiB), the same on every run
    assert all(200 * MiB <= peak <= 216 * MiB for peak in peaks), [p / MiB for p in peaks]
    assert max(peaks) - min(peaks) <= 2 * MiB, [p / MiB for p in peaks]


def test_sub_second_jobs_always_report_peak_memory_and_cpu_time(tmp_path, backend, exact_usage):
    step = load_step(write_step(tmp_path, "trivial", "pass\n", {}))
    peaks = []
    for i in range(6):
        run = run_step(step, RunOptions(), tmp_path / f"runs{i}", backend)
        assert run.result.status == "Completed"
        host = run.result.hosts[0]
        assert host.peak_memory_bytes is not None and host.peak_memory_bytes > 1 * MiB
        assert host.cpu_seconds is not None and host.cpu_seconds > 0
        assert not run.result.notes
        peaks.append(host.peak_memory_bytes)
    assert max(peaks) - min(peaks) <= 2 * MiB, [p / MiB for p in peaks]


def test_each_host_has_its_own_figures(tmp_path, backend, exact_usage):
    script = """
        import json
        from pathlib import Path
        me = json.loads(Path("/opt/ml/config/resourceconfig.json").read_text())["current_host"]
        x = b"x" * ((150 if me == "algo-2" else 20) * 2**20)
    """
    step = load_step(write_step(tmp_path, "twohosts", script, {}, compute={"instance_count": 2}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    assert run.result.status == "Completed"
    one, two = run.result.hosts
    assert 20 * MiB <= one.peak_memory_bytes <= 36 * MiB
    assert 150 * MiB <= two.peak_memory_bytes <= 166 * MiB
    assert one.cpu_seconds > 0 and two.cpu_seconds > 0
    assert not job_cgroups(run.job.name)


CGROUP_PROBE = """
    import os, sys, time
    from pathlib import Path
    Path("/opt/ml/processing/output/cgroup.txt").write_text(Path("/proc/self/cgroup").read_text())
    print("started", flush=True)
    if os.environ["MODE"] == "fail":
        sys.exit(3)
    if os.environ["MODE"] == "hang":
        time.sleep(120)
"""


@pytest.mark.parametrize("mode, status", [("ok", "Completed"), ("fail", "Failed"), ("hang", "Stopped")])
def test_no_job_cgroup_is_left_behind(tmp_path, backend, docker_client, exact_usage, mode, status):
    import threading

    from cursus_local.jobs.processing import build_job
    step = load_step(write_step(tmp_path, "cgprobe", CGROUP_PROBE, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}}))
    job = build_job(step, RunOptions(env={"MODE": mode}), tmp_path / "out")
    cancel, during = threading.Event(), []

    def on_event(event):   # "hang" is stopped as Ctrl-C stops it, once it runs in its cgroup
        if event.kind == "log" and event.text == "started":
            during.extend(job_cgroups(job.name))
            if mode == "hang":
                cancel.set()

    result = backend.run(job, tmp_path / "w", on_event, cancel)
    assert result.status == status
    assert result.interrupted == (mode == "hang")
    memory = next(line for line in (result.outputs["out"] / "cgroup.txt").read_text().splitlines()
                  if ":memory:" in line or line.startswith("0::"))
    assert f"/cursus-local-{job.name}-" in memory and "/algo-1/" in memory   # it ran in the job's cgroup
    assert during   # which existed while it ran...
    assert result.hosts[0].peak_memory_bytes and result.hosts[0].cpu_seconds
    assert not job_cgroups(job.name)   # ...and is gone, in every hierarchy
    assert not leftover_containers(docker_client, job.name)


def test_where_the_engine_cgroups_are_not_ours_the_figures_are_sampled_and_said_so(
        tmp_path, docker_client, exact_usage, monkeypatch):
    """A runner whose /sys/fs/cgroup is not the engine's (it guessed wrong): the started container's
    job cgroup is not found, so the stats API samples it, a note says so, and later jobs of that
    backend use no job cgroup."""
    import os

    import cursus_local.backends.cgroups as cgroups
    import cursus_local.backends.docker as docker_backend
    monkeypatch.setattr(docker_backend, "job_cgroup_version", lambda client: 1)
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path / "not-the-engines")
    backend = docker_backend.DockerBackend(docker_client)
    script = "import time\nx = b'x' * (200 * 2**20)\nt = time.time()\nwhile time.time() - t < 2.5: pass\n"
    step = load_step(write_step(tmp_path, "elsewhere", script, {}))
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    try:
        assert run.result.status == "Completed"
        assert run.result.peak_memory_bytes > 150 * MiB and run.result.cpu_seconds > 1
        assert any("sampled from the engine's stats API" in note for note in run.result.notes)
        assert backend._job_cgroups("next") is None
    finally:   # the engine made the cgroup on its side, which this test can reach after all
        for top in job_cgroups(run.job.name):
            for folder, _, _ in os.walk(top, topdown=False):
                os.rmdir(folder)
