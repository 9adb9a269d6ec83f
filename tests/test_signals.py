"""Every signal cleaned up: SIGINT, a second SIGINT, SIGTERM, SIGHUP and SIGKILL of the runner, at
each moment of a job (create, start, run, stop), leave no container, network, volume or root-owned
file once the next command has started, and every run folder can be resumed.

The moments are hit exactly with the test hook CURSUS_LOCAL_TEST_PAUSE (see `interrupts`): the
runner prints `cursus-local-test: at <moment>` on stderr and waits there for the signal. The runner
is the non-root tester, so that a file left root's shows.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_step
from cursus_local import interrupts
from cursus_local.results import is_run_id
from cursus_local.backends import leftovers
from users import CLI, as_user, owned_by_others, spawn_as_user, tester, tester_dir  # noqa: F401

# ticks into its output until TICKS: root's files appear while it runs, after its runner died too
SCRIPT = """\
import os, signal, time
from pathlib import Path
if os.environ.get("IGNORE_TERM"):   # takes the engine's whole grace period to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
out = Path("/opt/ml/processing/output")
for i in range(int(os.environ.get("TICKS", "100000"))):
    (out / f"tick-{i % 3}").write_text(str(i))
    time.sleep(0.1)
"""
CONTRACT = {"outputs": {"out": {"path": "/opt/ml/processing/output"}}}
JOB = "cursus-local.job"


def _left(client, name: str) -> list[str]:
    """Containers, networks and volumes of the jobs of step `name`."""
    ours = {"label": JOB}

    def mine(labels):
        return (labels or {}).get(JOB, "").startswith(f"{name}-")
    return sorted([f"container {c['Names'][0]} ({c['State']})" for c in client.api.containers(all=True, filters=ours)
             if mine(c["Labels"])]
            + [f"network {n['Name']}" for n in client.api.networks(filters=ours) if mine(n["Labels"])]
            + [f"volume {v['Name']}" for v in client.api.volumes(filters=ours)["Volumes"] or []
               if mine(v["Labels"])])   # sorted: the engine lists in no fixed order


def _remove(client, name: str) -> None:
    """What a failed test left of its own step (never anything else)."""
    api = client.api
    for c in api.containers(all=True, filters={"label": JOB}):
        if c["Labels"].get(JOB, "").startswith(f"{name}-"):
            api.remove_container(c["Id"], force=True)
    for n in api.networks(filters={"label": JOB}):
        if n["Labels"].get(JOB, "").startswith(f"{name}-"):
            api.remove_network(n["Id"])
    for v in api.volumes(filters={"label": JOB})["Volumes"] or []:
        if v["Labels"].get(JOB, "").startswith(f"{name}-"):
            api.remove_volume(v["Name"], force=True)


def _wait_for(path: Path, text: str, proc, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while text not in path.read_text():
        assert proc.poll() is None, f"ended ({proc.returncode}) before {text!r}:\n{path.read_text()[-2000:]}"
        assert time.time() < deadline, f"no {text!r} in {timeout} s:\n{path.read_text()[-2000:]}"
        time.sleep(0.02)


def _give(folder: Path, user) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)


def _scenario(folder: Path, name: str, user, hosts: int = 1, max_runtime: int | None = None) -> Path:
    compute = {"instance_count": hosts, **({"max_runtime_in_seconds": max_runtime} if max_runtime else {})}
    step = write_step(folder / "steps", name, SCRIPT, CONTRACT, compute=compute)
    (folder / "dag.yaml").write_text(f"nodes: {{{name}: {{}}}}\nedges: []\n")
    _give(folder, user)
    return step


# (command, signals, moment, hosts): every signal at every moment, each command, 1 and 2 hosts
CASES = [
    ("run-step", "INT", "create", 1),
    ("run-step", "TERM", "start", 2),
    ("run-step", "HUP", "run", 1),
    ("run-step", "INT INT", "run", 1),
    ("run-step", "TERM", "stop", 1),
    ("run-step", "KILL", "create", 1),
    ("run-step", "KILL", "run", 2),
    ("run-pipeline", "INT", "create", 2),
    ("run-pipeline", "HUP", "start", 1),
    ("run-pipeline", "TERM", "run", 1),
    ("run-pipeline", "INT INT", "stop", 1),
    ("run-pipeline", "KILL", "run", 2),
]


@pytest.mark.docker
@pytest.mark.parametrize("command,signals,moment,hosts", CASES,
                         ids=[f"{c}-{s.replace(' ', '+')}-at-{m}-{h}host" for c, s, m, h in CASES])
def test_a_signal_at_any_moment_leaves_nothing_behind(command, signals, moment, hosts, tester, tester_dir,
                                                      docker_client, tmp_path):
    name = f"sig{secrets.token_hex(3)}"
    twice = signals == "INT INT"
    step = _scenario(tester_dir, name, tester, hosts, max_runtime=2 if moment == "stop" else None)
    if command == "run-step":
        args = [*CLI, "run-step", str(step), "--runs-dir", "runs", *(["--env", "IGNORE_TERM=1"] if twice else [])]
    else:
        args = [*CLI, "run-pipeline", "dag.yaml", *(["--env", f"{name}.IGNORE_TERM=1"] if twice else [])]
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    try:
        with open(out, "w") as stdout, open(err, "w") as stderr:
            proc = spawn_as_user(tester, args, tester_dir, {"CURSUS_LOCAL_TEST_PAUSE": moment, "COLUMNS": "200"},
                                 stdout=stdout, stderr=stderr)
        try:
            _wait_for(err, f"cursus-local-test: at {moment}", proc)
            if moment == "run":
                time.sleep(0.5)   # the script is writing
            if signals == "KILL":
                proc.kill()
                proc.wait(10)
                assert _left(docker_client, name), "the orphan should be there before the next command"
                time.sleep(0.3)   # it goes on writing, as root
            else:
                for i, sig in enumerate(signals.split()):
                    time.sleep(1 if i else 0)   # the second comes while its containers stop
                    sent = time.time()
                    proc.send_signal(getattr(signal, f"SIG{sig}"))
                code = proc.wait(60)
                logs = f"{out.read_text()[-3000:]}\n{err.read_text()[-2000:]}"
                assert code == 128 + getattr(signal, f"SIG{sig}"), logs
                if twice:   # killed at once, not after the grace period the script takes
                    assert time.time() - sent < 6, logs
                assert err.read_text().strip().splitlines()[-1].startswith("interrupted"), logs
                results = "*/results.json" if command == "run-pipeline" else f"*/{name}/result.json"
                assert list((tester_dir / "runs").glob(results)), logs
                assert not _left(docker_client, name), logs   # its own cleanup, not the next command's
        finally:
            if proc.poll() is None:
                proc.kill()

        # the next command cleans up after it: the pipeline's resume, run-step's `clean`
        (run_id,) = [p.name for p in (tester_dir / "runs").iterdir() if is_run_id(p.name)]   # not runs/latest
        if command == "run-pipeline":
            following = as_user(tester, [*CLI, "run-pipeline", "dag.yaml", "--resume", run_id,
                                         "--env", f"{name}.TICKS=1"], tester_dir, timeout=120)
        else:
            following = as_user(tester, [*CLI, "clean"], tester_dir, timeout=120)
        assert not _left(docker_client, name)
        assert not owned_by_others(tester_dir, tester)
        assert following.returncode == 0, following.stdout[-3000:] + following.stderr[-2000:]
        if command == "run-pipeline":   # resumed: it ran again, to the end
            result = json.loads((tester_dir / "runs" / run_id / "results.json").read_text())
            assert result["status"] == "passed", result
    finally:
        _remove(docker_client, name)


@pytest.mark.docker
def test_a_sweep_never_touches_what_a_live_runner_owns(tester, tester_dir, docker_client, tmp_path):
    """A second command (`clean`, another run) starts while a 2-host job runs: the job goes on."""
    name = f"sig{secrets.token_hex(3)}"
    step = _scenario(tester_dir, name, tester, hosts=2)
    quick = _scenario(tester_dir / "quick", f"{name}q", tester)
    err = tmp_path / "stderr"
    try:
        with open(tmp_path / "stdout", "w") as stdout, open(err, "w") as stderr:
            proc = spawn_as_user(tester, [*CLI, "run-step", str(step), "--runs-dir", "runs"], tester_dir,
                                 {"CURSUS_LOCAL_TEST_PAUSE": "run"}, stdout=stdout, stderr=stderr)
        _wait_for(err, "cursus-local-test: at run", proc)
        running = _left(docker_client, name)
        cleaned = as_user(tester, [*CLI, "clean"], tester_dir, timeout=60)
        assert cleaned.returncode == 0 and name not in cleaned.stdout, cleaned.stdout + cleaned.stderr
        other = as_user(tester, [*CLI, "run-step", str(quick), "--runs-dir", "runs", "--env", "TICKS=1"],
                        tester_dir / "quick", timeout=120)
        assert other.returncode == 0, other.stdout[-2000:] + other.stderr[-2000:]
        assert _left(docker_client, name) == running and proc.poll() is None
        assert sum("(running)" in x for x in running) == 2, running
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130, err.read_text()[-2000:]
        assert not _left(docker_client, name)
        assert not owned_by_others(tester_dir, tester)
    finally:
        if proc.poll() is None:
            proc.kill()
        _remove(docker_client, name)


# --- without the engine -----------------------------------------------------------------------------

def _label(**changes) -> str:
    return json.dumps({**leftovers.runner(), **changes})


def test_a_runner_is_dead_only_when_its_own_process_is_gone():
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    assert not leftovers._dead(None, _label())                        # ourselves
    assert leftovers._dead(None, _label(pid=ended.pid))               # ended
    assert leftovers._dead(None, _label(start="1"))                   # our pid, recycled: not us
    assert not leftovers._dead(None, _label(pidns="pid:[1]", pid=ended.pid))   # another container: unknown
    assert not leftovers._dead(None, _label(boot="another", pid=ended.pid))    # another machine
    assert not leftovers._dead(None, "not json")


def test_the_first_signal_raises_the_second_hurries_and_a_shield_defers():
    def deliver(sig):
        os.kill(os.getpid(), sig)
        for _ in range(100):   # the handler runs in the main thread, between two bytecodes
            time.sleep(0.001)

    said = []
    with interrupts.handled(said.append):
        with pytest.raises(interrupts.Interrupted) as raised:
            deliver(signal.SIGTERM)
        assert raised.value.signum == signal.SIGTERM and isinstance(raised.value, KeyboardInterrupt)
        deliver(signal.SIGHUP)   # no exception: it would skip the cleanup
        assert interrupts.hurried() and interrupts.exit_code() == 143 and said
    with interrupts.handled(said.append):
        assert not interrupts.requested()
        with interrupts.shielded():
            deliver(signal.SIGINT)   # recorded: the code inside polls for it
        assert interrupts.requested() and interrupts.exit_code() == 130 and not interrupts.hurried()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not interrupts.requested()   # a later command in this process starts afresh


@pytest.mark.docker
def test_a_killed_sudo_pipeline_is_handed_back_by_the_users_clean_and_resumes_as_the_user(
        tester, tester_dir, docker_client, tmp_path):
    """The tester's break: after SIGKILL of a sudo run-pipeline and `clean` as the user, the run
    folder (results, seals, logs the root runner wrote) and runs/.locks/<id> stayed root's, and the
    user's --resume ended in a PermissionError traceback."""
    import pwd
    name = f"sig{secrets.token_hex(3)}"
    _scenario(tester_dir, name, tester)
    err = tmp_path / "stderr"
    sudo = {"SUDO_UID": str(tester.pw_uid), "SUDO_GID": str(tester.pw_gid), "SUDO_USER": tester.pw_name}
    env = {**os.environ, **sudo, "HOME": pwd.getpwuid(0).pw_dir, "CURSUS_LOCAL_TEST_PAUSE": "run"}
    try:
        with open(err, "w") as stderr:   # root, called through sudo by the tester (as sudo sets it)
            proc = subprocess.Popen([*CLI, "run-pipeline", "dag.yaml"], cwd=tester_dir, env=env,
                                    stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_for(err, "cursus-local-test: at run", proc)
            time.sleep(0.5)   # the script is writing
        finally:
            proc.kill()
            proc.wait(10)
        assert _left(docker_client, name), "the orphan should be there before the next command"
        code = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}   # the code under test
        cleaned = as_user(tester, [*CLI, "clean"], tester_dir, env=code, timeout=120)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
        assert not _left(docker_client, name)
        assert owned_by_others(tester_dir, tester) == []   # the run folder and its lock
        (run_id,) = [p.name for p in (tester_dir / "runs").iterdir() if is_run_id(p.name)]   # not runs/latest
        resumed = as_user(tester, [*CLI, "run-pipeline", "dag.yaml", "--resume", run_id,
                                   "--env", f"{name}.TICKS=1"], tester_dir, env=code, timeout=120)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-2000:]
        assert "Traceback" not in resumed.stderr
        assert owned_by_others(tester_dir, tester) == []
    finally:
        _remove(docker_client, name)


def test_a_lock_root_left_behind_never_makes_a_resume_crash(tester, tester_dir):
    """A runner killed under sudo by an earlier version left runs/.locks/<id> root's; the
    user's own runner still takes it (flock needs only a read) and the folder is the user's."""
    from cursus_local.report.runs import LOCKS, in_use, is_in_use
    run = tester_dir / "runs" / "20260101-000000-abcd"
    run.mkdir(parents=True)
    (tester_dir / "runs" / LOCKS).mkdir()
    (tester_dir / "runs" / LOCKS / run.name).write_text("")   # root's, mode 644
    _give(tester_dir / "runs" / LOCKS, tester)
    os.lchown(tester_dir / "runs" / LOCKS / run.name, 0, 0)
    probe = (f"from cursus_local.report.runs import in_use, is_in_use; from pathlib import Path\n"
             f"with in_use(Path({str(run)!r})): print('held', is_in_use(Path({str(run)!r})))")
    done = as_user(tester, [sys.executable, "-c", probe], tester_dir,
                   env={k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ})
    assert done.returncode == 0 and "held True" in done.stdout, done.stderr
    assert not is_in_use(run) and callable(in_use)


def test_a_stop_the_run_makes_itself_is_not_called_an_interruption(capsys, monkeypatch):
    import importlib
    cli_app = importlib.import_module("cursus_local.cli.app")   # the module, not the Typer `app`
    cli_app._say("stopping SageMaker job x")   # a failed check stopping a child: no signal came
    assert "note: stopping SageMaker job x" in capsys.readouterr().err
    monkeypatch.setattr(interrupts, "_received", signal.SIGTERM)
    cli_app._say("stopping 1 container of x")
    assert "interrupted: stopping 1 container of x" in capsys.readouterr().err
