"""The `cursus-local` command as a user runs it (a real process; the real engine where marked)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, leftover_containers, write_step

CLI = [sys.executable, "-m", "cursus_local.cli"]


def cli(*args, cwd, env=None):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=300)


@pytest.mark.docker
def test_run_step_from_the_demo_scenario(tmp_path, docker_client):
    proc = cli("run-step", "currency_conversion", "--runs-dir", str(tmp_path), cwd=REPO / "scenarios/demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "train: converted 420 rows" in proc.stdout            # the container's log, live
    for field in ("status", "Completed", "exit code", "duration", "peak memory", "output processed_data"):
        assert field in proc.stdout
    (result,) = tmp_path.glob("*/currency_conversion/result.json")
    data = json.loads(result.read_text())
    assert data["status"] == "Completed"
    out = Path(data["outputs"]["processed_data"])
    assert sorted(p.name for p in out.iterdir()) == ["test", "train", "val"]


@pytest.mark.docker
def test_run_step_with_explicit_flags_and_a_failure_summary(tmp_path, docker_client):
    script = """
        import os, sys
        from pathlib import Path
        for i in range(30):
            print("line", i)
        Path("/opt/ml/processing/output/part.csv").write_text("x\\n")
        Path("/opt/ml/output/message").write_text("KeyError: label")
        sys.exit(int(os.environ["CODE"]))
    """
    step = write_step(tmp_path, "broken", script, {
        "inputs": {"DATA": {"path": "/opt/ml/processing/input/data"}},
        "outputs": {"processed_data": {"path": "/opt/ml/processing/output"}},
        "job_arguments": [{"flag": "--job_type", "source": "job_type"}]})
    (tmp_path / "raw").mkdir()
    proc = cli("run-step", str(step), "--code", str(tmp_path / "code"), "--input", f"DATA={tmp_path / 'raw'}",
               "--env", "CODE=4", "--job-arg", "job_type=training", "--output",
               f"processed_data={tmp_path / 'out'}", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Failed" in proc.stdout and "KeyError: label" in proc.stdout
    assert "last 20 log lines of algo-1" in proc.stdout and "line 29" in proc.stdout
    assert "line 9\n" not in proc.stdout.split("last 20 log lines")[1]
    assert (tmp_path / "out" / "part.csv").exists()                # outputs kept


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    """Reported before the engine is asked anything: this needs no engine."""
    proc = cli("run-step", "currency_conversion", "--input", "input_data=/no/such/folder",
               "--runs-dir", str(tmp_path), cwd=REPO / "scenarios/demo",
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "currency_conversion.step.yaml: contract.inputs.input_data" in proc.stderr
    assert "fix: --input input_data=EXISTING_PATH" in proc.stderr
    assert not proc.stdout


def test_an_error_message_is_text_on_stderr_not_rich_markup(tmp_path):
    """`[upstream, downstream]` and `['a']` in a message are shown as they are, the fix too."""
    dag = tmp_path / "dag.yaml"
    dag.write_text("nodes: {a: {}, b: {}}\nedges: [[a]]\n")
    proc = cli("run-pipeline", str(dag), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "edges[0]: expected [upstream, downstream], got ['a']" in err
    assert "fix: write `- [a, b]`" in err
    assert not proc.stdout


def test_importing_the_cli_loads_nothing_heavy():
    """Start-up is paid by every command: rich, the docker SDK, boto3, YAML, pydantic (typer loads
    it to parse options) and the rest come with the command that needs them."""
    heavy = ["rich", "docker", "boto3", "botocore", "yaml", "pyarrow", "pydantic", "great_expectations"]
    code = f"import sys, cursus_local.cli; print([m for m in {heavy!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


@pytest.mark.docker
def test_ctrl_c_stops_and_removes_the_container(tmp_path, docker_client):
    step = write_step(tmp_path, "forever", "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n", {})
    proc = subprocess.Popen([*CLI, "run-step", str(step), "--runs-dir", str(tmp_path / "runs")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    for line in proc.stdout:
        if "sleeping" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    (result,) = (tmp_path / "runs").glob("*/forever/result.json")
    data = json.loads(result.read_text())
    assert data["status"] == "Stopped"
    assert not leftover_containers(docker_client, data["job_name"])


@pytest.mark.docker
def test_everything_written_belongs_to_the_owner_of_the_work_folder(tmp_path, docker_client):
    """As in docker-compose: the runner is root, the repo folder belongs to the user."""
    work = tmp_path / "repo"
    step = write_step(work, "writer", "from pathlib import Path\n"
                      "Path('/opt/ml/processing/output/x.csv').write_text('a\\n1\\n')\n",
                      {"outputs": {"out": {"path": "/opt/ml/processing/output"}}})
    for path in [work, *work.rglob("*")]:
        os.chown(path, 4321, 4321)
    proc = cli("run-step", str(step), cwd=work, env={"CURSUS_LOCAL_OWNER": "workdir"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = list((work / "runs").rglob("*"))
    assert any(p.name == "x.csv" for p in written) and any(p.name == "result.json" for p in written)
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in [work / "runs", *written]} == {(4321, 4321)}


# --- fix hints name options the command really has (no engine needed) -----------------------------

def _options(command: str) -> set[str]:
    import typer.main
    from cursus_local.cli import app
    click_command = typer.main.get_command(app).commands[command]
    return {o for p in click_command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}


def _flags_named(text: str) -> set[str]:
    import re
    return set(re.findall(r"(?<![\w-])--[a-z][a-z_-]*", text)) - {"--job_type"}   # a script's own flag


CURSUS_DAGS = REPO.parent / "shared" / "cursus" / "dags"
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/no-engine.sock"}


@pytest.mark.skipif(not CURSUS_DAGS.is_dir(), reason="../shared/cursus samples absent")
def test_dry_run_of_the_real_e2e_dag_names_only_real_options(tmp_path):
    dag = CURSUS_DAGS / "xgboost_complete_e2e_dummy.dag.json"
    proc = cli("run-pipeline", str(dag), "--steps-dir", str(REPO.parent / "shared/cursus/interfaces"),
               "--code", str(REPO / "scenarios/cursus_e2e/scripts"), "--skip", "Registration", "--dry-run",
               "--runs-dir", str(tmp_path), cwd=tmp_path, env=NO_ENGINE)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "DummyDataLoading_training.INPUT_DATA" in out and "--input DummyDataLoading_training.INPUT_DATA=PATH" in out
    assert "Registration: skipped" in out and "unknown" in out       # no engine: image presence unknown
    assert _flags_named(out) <= _options("run-pipeline"), _flags_named(out) - _options("run-pipeline")
    assert not list(tmp_path.rglob("result.json"))                  # nothing started
    data = REPO / "scenarios/cursus_e2e/data"
    proc = cli("run-pipeline", str(dag), "--code", str(REPO / "scenarios/cursus_e2e/scripts"),
               "--skip", "Registration", "--input", f"DummyDataLoading_training.INPUT_DATA={data / 'training'}",
               "--input", f"DummyDataLoading_calibration.INPUT_DATA={data / 'calibration'}",
               "--dry-run", "--runs-dir", str(tmp_path), cwd=tmp_path, env=NO_ENGINE)
    out = proc.stdout + proc.stderr
    # until Training lands, only XGBoostTraining is left, and it says so
    problems = [line for line in out.splitlines() if line.startswith("problem ")]
    assert all(line.startswith("problem XGBoostTraining") for line in problems), out
    assert _flags_named(out) <= _options("run-pipeline")


@pytest.mark.skipif(not CURSUS_DAGS.is_dir(), reason="../shared/cursus samples absent")
def test_service_bound_nodes_and_a_bad_provide(tmp_path):
    dag = CURSUS_DAGS / "xgboost_complete_e2e.dag.json"
    proc = cli("run-pipeline", str(dag), "--provide", f"CradleDataLoading_training.DATA={tmp_path}",
               "--skip", "Registration", "--dry-run", "--runs-dir", str(tmp_path), cwd=tmp_path, env=NO_ENGINE)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert "CradleDataLoading_calibration: CradleDataLoading: service-bound" in out
    assert "--provide CradleDataLoading_calibration.SIGNATURE=PATH" in out and "--skip CradleDataLoading_calibration" in out
    assert "CradleDataLoading_training: provided: DATA=" in out
    proc = cli("run-pipeline", str(dag), "--provide", "CradleDataLoading_training.DAT=x", cwd=tmp_path, env=NO_ENGINE)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--provide: CradleDataLoading_training (cradle_data_loading.step.yaml) declares no output 'DAT'" in proc.stderr
    assert "did you mean 'DATA'?" in proc.stderr


@pytest.mark.skipif(not CURSUS_DAGS.is_dir(), reason="../shared/cursus samples absent")
def test_discover_connections_hints_name_its_own_options(tmp_path):
    proc = cli("discover-connections", "--dag-file", str(CURSUS_DAGS / "xgboost_complete_e2e_dummy.dag.json"),
               cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "INPUT_DATA" in out
    assert _flags_named(out) <= _options("discover-connections"), _flags_named(out) - _options("discover-connections")
    assert "`step:` on the node" not in out


def test_every_pipeline_fix_text_names_real_options():
    """Grep the fix texts of the pipeline modules: each flag they name belongs to a DAG command."""
    import re
    pipeline = REPO / "runner/cursus_local/pipeline"
    texts = "\n".join((pipeline / f).read_text() for f in ("dag.py", "connections.py", "preflight.py"))
    named = set()
    for fix in re.findall(r"fix(?:=|\": )\(?(f?\"[^\n]*(?:\n\s+f?\"[^\n]*)*)", texts):
        named |= _flags_named(fix)
    named |= _flags_named(" ".join(re.findall(r"f\"--(?:provide|skip|input|env|code)[^\"]*\"", texts)))
    dag_commands = _options("run-pipeline") | _options("discover-connections") | _options("test-flow")
    assert named and named <= dag_commands, named - dag_commands
    for flag in ("--code", "--input", "--resume"):           # test-flow's own hints
        assert flag in _options("test-flow")
    assert "--code" in _options("run-pipeline") and "--code" in _options("test-suite")


@pytest.mark.docker
def test_ctrl_c_of_a_pipeline_ends_with_interrupted_not_failed(tmp_path, docker_client):
    write_step(tmp_path / "steps", "forever", "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n",
               {"outputs": {"out": {"path": "/opt/ml/processing/output"}}})
    (tmp_path / "dag.yaml").write_text("nodes: {forever: {}}\nedges: []\n")
    proc = subprocess.Popen([*CLI, "run-pipeline", "dag.yaml"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while not list((tmp_path / "runs").glob("*/forever/logs/algo-1.log")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1)   # the script is running
    proc.send_signal(signal.SIGINT)
    sent = time.time()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert time.time() - sent < 6   # the script got the stop signal: not the engine's 10 s grace
    summary = [line for line in out.splitlines() if " in " in line and "run folder:" in line]
    assert summary and summary[-1].startswith("interrupted in"), out[-500:]   # not "failed in"
    (result,) = (tmp_path / "runs").glob("2*/forever/result.json")   # not through runs/latest
    assert not leftover_containers(docker_client, json.loads(result.read_text())["job_name"])


def test_discover_connections_reports_what_a_skipped_node_no_longer_feeds(tmp_path):
    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "dag.yaml"
    assert cli("discover-connections", "--dag-file", str(demo), "--json", cwd=tmp_path).returncode == 0
    proc = cli("discover-connections", "--dag-file", str(demo), "--skip", "risk_table", "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and not report["ok"]
    (lost,) = report["unfed_required"]
    assert (lost["node"], lost["input"]) == ("scoring", "risk_tables")
    assert "--provide risk_table.risk_tables=PATH" in lost["fix"]
    provided = cli("discover-connections", "--dag-file", str(demo), "--skip", "risk_table", "--json",
                   "--provide", f"risk_table.risk_tables={demo.parent / 'data'}", cwd=tmp_path)
    assert provided.returncode == 0, provided.stdout + provided.stderr
