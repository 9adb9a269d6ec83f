"""`--resume` of a run folder without results.json (the runner was killed, or crashed): steps with a
completed result.json and intact outputs are kept, the others run again. In process on a
FakeBackend, then end to end: `cursus-local run-pipeline` killed with SIGKILL on the real engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cursus_local.errors import UserError
from cursus_local.pipeline.dag import load_dag
from cursus_local.pipeline.sequencer import Sequencer
from cursus_local.results import is_run_id, read_run_file
from dag_files import branching_dag, write_dag
from fakes import Behaviour, FakeBackend

#   load -> prep -> train
#       \-> side


@pytest.fixture
def dag_file(tmp_path):
    return branching_dag(tmp_path)


def run(dag_file, backend=None, **kwargs):
    backend = backend or FakeBackend()
    result = Sequencer(load_dag(dag_file), backend, runs_dir=dag_file.parent / "runs", **kwargs).run()
    return result, sorted(node for node, _ in backend.jobs)


def statuses(result) -> dict[str, str]:
    return {n: o.status for n, o in result.steps.items()}


def killed(result) -> Path:
    """The run folder as a killed runner leaves it: no results.json."""
    (result.run_dir / "results.json").unlink()
    return result.run_dir


def test_a_run_without_results_json_resumes_from_its_steps_result_json(dag_file):
    failed, _ = run(dag_file, FakeBackend({"prep": Behaviour(exit_code=1)}))
    killed(failed)
    resumed, ran = run(dag_file, resume=failed.run_id, use_cache=False)
    assert resumed.run_dir == failed.run_dir and ran == ["prep", "train"]
    assert statuses(resumed) == {"load": "cached", "prep": "passed", "side": "cached", "train": "passed"}
    assert resumed.steps["load"].cached_from == str(failed.run_dir / "load")
    assert "exit code 1" in (failed.run_dir / ".attempts" / "prep-1" / "logs" / "algo-1.log").read_text()
    assert json.loads((failed.run_dir / "results.json").read_text())["status"] == "passed"


def test_a_run_killed_before_any_step_ended_can_be_resumed(dag_file):
    first, _ = run(dag_file)
    for entry in first.run_dir.iterdir():   # as SIGKILL in the first step leaves it: logs at most
        if entry.is_dir():
            for result in entry.glob("result.json"):
                result.unlink()
    killed(first)
    resumed, ran = run(dag_file, resume=first.run_id, use_cache=False)
    assert ran == ["load", "prep", "side", "train"] and resumed.run_dir == first.run_dir
    with pytest.raises(UserError, match="no run 'not-a-run'"):   # only run folders, though
        (first.run_dir.parent / "not-a-run").mkdir()
        run(dag_file, resume="not-a-run")


def test_a_step_killed_before_its_result_json_runs_again(dag_file):
    """Killed while `train` ran: its folder has logs but no result.json. It runs again, and what
    it left is kept under .attempts/."""
    done, _ = run(dag_file)
    (done.run_dir / "train" / "result.json").unlink()
    (done.run_dir / "train" / "seal.json").unlink(missing_ok=True)
    killed(done)
    resumed, ran = run(dag_file, resume=done.run_id, use_cache=False)
    assert ran == ["train"] and statuses(resumed)["train"] == "passed"
    assert (done.run_dir / ".attempts" / "train-1" / "logs" / "algo-1.log").is_file()


def test_a_kept_step_whose_output_changed_runs_again_and_says_why(dag_file):
    done, _ = run(dag_file)
    data = done.run_dir / "load" / "output" / "data" / "part-00000.csv"
    before = data.stat()
    with open(data, "r+b") as handle:
        handle.write(b"id,value\n1,9.9\n")          # same size; mtime put back
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    resumed, ran = run(dag_file, resume=killed(done).name, use_cache=False)
    assert ran == ["load"] and statuses(resumed)["load"] == "passed"
    assert resumed.steps["load"].reason == (f"cache entry for load dropped: output data/part-00000.csv "
                                            f"changed since run {done.run_id} (its content differs)")
    assert data.read_text() == "id,value\n1,0.5\n2,0.25\n"   # the step's own output again
    assert statuses(resumed)["prep"] == "cached"            # the same input as before: kept


def test_the_resume_hint_lists_run_ids_killed_runs_included(dag_file):
    done, _ = run(dag_file)
    interrupted, _ = run(dag_file, use_cache=False)
    killed(interrupted)
    with pytest.raises(UserError) as error:
        Sequencer(load_dag(dag_file), FakeBackend(), runs_dir=dag_file.parent / "runs", resume="nope")
    assert done.run_id in error.value.fix and interrupted.run_id in error.value.fix
    assert error.value.field == "--resume"


# --- end to end: SIGKILL of the runner, on the real engine ------------------------------------------

FIRST = """
from pathlib import Path
Path("/opt/ml/processing/output/data.csv").write_text("id,value\\n1,0.5\\n")
"""
SLOW = """
import os, time
from pathlib import Path
print("slow started", flush=True)
time.sleep(float(os.environ["DELAY"]))
Path("/opt/ml/processing/output/out.csv").write_text(Path("/opt/ml/processing/input/data/data.csv").read_text())
"""
PREFIX = "h4kill-"   # the job names (and engine labels) of this test's steps


def _remove_ours(client) -> None:
    """What the killed runner left on the engine: only objects whose job label is one of ours."""
    from cursus_local.backends.images import LABEL
    found = [(c, {"force": True}) for c in client.containers.list(all=True, filters={"label": LABEL})]
    found += [(n, {}) for n in client.networks.list(filters={"label": LABEL})]
    found += [(v, {}) for v in client.volumes.list(filters={"label": LABEL})]
    for item, how in found:   # containers first: then their networks and volumes are free
        labels = item.attrs.get("Labels") or item.attrs.get("Config", {}).get("Labels") or {}
        if labels.get(LABEL, "").startswith(PREFIX):
            item.remove(**how)


@pytest.mark.docker
def test_run_pipeline_killed_with_sigkill_resumes_from_what_completed(tmp_path, docker_client):
    from conftest import write_step as write_real_step
    steps = tmp_path / "steps"
    write_real_step(steps, "h4kill_first", FIRST, {"outputs": {"out": {"path": "/opt/ml/processing/output"}}})
    write_real_step(steps, "h4kill_slow", SLOW, {"inputs": {"data": {"path": "/opt/ml/processing/input/data"}},
                                                 "outputs": {"out": {"path": "/opt/ml/processing/output"}}})

    def dag_with(delay: int) -> Path:
        return write_dag(tmp_path, {"name": "h4", "steps_dir": "steps",
                                    "nodes": {"h4kill_first": {}, "h4kill_slow": {"env": {"DELAY": str(delay)}}},
                                    "edges": ["h4kill_first -> h4kill_slow"]})

    cli = [sys.executable, "-m", "cursus_local.cli", "run-pipeline", str(dag_with(600))]
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.Popen(cli, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list((tmp_path / "runs").glob("*/h4kill_slow/logs/algo-1.log")) and time.time() < deadline:
            time.sleep(0.1)
        (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if is_run_id(p.name)]
        proc.kill()                                  # SIGKILL: no results.json, nothing cleaned up
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        _remove_ours(docker_client)
    assert proc.returncode == -signal.SIGKILL and not (run_dir / "results.json").exists()

    hint = subprocess.run([*cli, "--resume", "nope"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert hint.returncode == 2 and run_dir.name in hint.stderr, hint.stderr

    dag_with(0)   # no more waiting: the slow step runs again anyway (it never completed)
    try:
        resumed = subprocess.run([*cli, "--resume", run_dir.name], cwd=tmp_path, env=env, capture_output=True,
                                 text=True, timeout=300)
    finally:
        _remove_ours(docker_client)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    results = read_run_file(run_dir / "results.json")   # paths made absolute again
    assert {n: s["status"] for n, s in results["steps"].items()} == {"h4kill_first": "cached",
                                                                      "h4kill_slow": "passed"}
    assert results["steps"]["h4kill_first"]["cached_from"] == str(run_dir / "h4kill_first")
    assert (run_dir / "h4kill_slow" / "output" / "out" / "out.csv").read_text() == "id,value\n1,0.5\n"
    assert (run_dir / ".attempts" / "h4kill_slow-1" / "logs" / "algo-1.log").is_file()
