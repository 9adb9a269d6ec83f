"""The sequencer in process, on a FakeBackend: scheduling, skipping, blocking, cache, resume,
cancel and worker errors, with no engine."""

from __future__ import annotations

import _thread
import json
import threading
import time

import pytest
import yaml
from cursus_local.pipeline.dag import load_dag
from cursus_local.pipeline.sequencer import Sequencer
from cursus_local.status import StepStatus
from dag_files import branching_dag
from fakes import Behaviour, FakeBackend

#   load -> prep -> train
#       \-> side          (an independent branch)


@pytest.fixture
def dag_file(tmp_path):
    return branching_dag(tmp_path)


def run(dag_file, backend, **kwargs):
    sequencer = Sequencer(load_dag(dag_file), backend, runs_dir=dag_file.parent / "runs", **kwargs)
    return sequencer.run()


def statuses(result) -> dict[str, str]:
    return {n: o.status for n, o in result.steps.items()}


def test_all_pass_in_dag_order_and_results_json_records_it(dag_file):
    backend = FakeBackend()
    result = run(dag_file, backend)
    assert statuses(result) == dict.fromkeys(["load", "prep", "side", "train"], StepStatus.PASSED)
    ran = [node for node, _ in backend.jobs]
    assert ran.index("load") < ran.index("prep") < ran.index("train") and ran.index("load") < ran.index("side")
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved["status"] == "passed" and saved["steps"]["train"]["status"] == "passed"


def test_one_request_per_node_is_what_ran_and_what_was_recorded(dag_file):
    backend = FakeBackend()
    result = run(dag_file, backend)
    for node, job in backend.jobs:
        recorded = json.loads((result.run_dir / node / "result.json").read_text())
        assert recorded["job_name"] == job.name and recorded["describe"]["ProcessingJobName"] == job.name
        assert result.steps[node].outputs == {k: str(v) for k, v in job.local_outputs.items()}
    # the downstream's input is the upstream's very output folder (zero copy)
    jobs = dict(backend.jobs)
    assert jobs["prep"].local_inputs["data"] == jobs["load"].local_outputs["data"]


def test_a_failure_skips_its_descendants_and_independent_branches_go_on(dag_file):
    result = run(dag_file, FakeBackend({"prep": Behaviour(exit_code=3)}))
    assert statuses(result) == {"load": "passed", "prep": "failed", "side": "passed", "train": "skipped"}
    assert result.steps["prep"].exit_code == 3 and "exited with code 3" in result.steps["prep"].reason
    assert result.steps["train"].reason == "upstream prep failed"
    assert result.status == "failed"


def with_suite(dag_file, step: str, side: str, channel: str, column: str) -> None:
    """Give `step` a suite on one input or output that wants `column` (the fake data lacks it)."""
    suite = dag_file.parent / f"{step}.{channel}.json"
    suite.write_text(json.dumps({"name": suite.stem, "expectations": [
        {"type": "expect_column_to_exist", "kwargs": {"column": column}, "severity": "critical"}]}))
    step_file = dag_file.parent / "steps" / f"{step}.step.yaml"
    doc = yaml.safe_load(step_file.read_text())
    doc["suites"] = {side: {channel: str(suite)}}
    step_file.write_text(yaml.safe_dump(doc))


def test_a_critical_input_check_blocks_the_consumer(dag_file):
    with_suite(dag_file, "prep", "inputs", "data", "label")
    result = run(dag_file, FakeBackend())
    assert statuses(result) == {"load": "passed", "prep": "blocked", "side": "passed", "train": "skipped"}
    assert result.steps["train"].reason == "upstream prep blocked"
    check = next(h for h in result.handoffs if h.connection == "load.data -> prep.data")
    assert check.status == "FAIL" and check.blocking
    # what a blocked step wrote is never cached: the next run blocks it again, not from the cache
    again = run(dag_file, FakeBackend())
    assert statuses(again)["prep"] == "blocked" and statuses(again)["train"] == "skipped"
    assert again.steps["prep"].cached_from == "" and again.steps["load"].cached_from


def test_a_failed_output_check_stops_a_child_that_started_early(dag_file):
    with_suite(dag_file, "prep", "outputs", "processed", "label")
    backend = FakeBackend({"train": Behaviour(until_cancelled=True)})   # would run 10 s
    started = time.time()
    result = run(dag_file, backend)
    assert statuses(result) == {"load": "passed", "prep": "failed", "side": "passed", "train": "skipped"}
    assert result.steps["train"].reason == "handoff check failed on prep.processed"
    assert time.time() - started < 8     # train's container was stopped, not waited for


def test_an_unchanged_run_is_taken_from_the_cache_by_hard_links(dag_file):
    first = run(dag_file, FakeBackend())
    backend = FakeBackend()
    second = run(dag_file, backend)
    assert backend.jobs == []
    assert set(statuses(second).values()) == {StepStatus.CACHED} and second.bytes_copied == 0
    for node in ("load", "train"):
        old = first.run_dir / node / "output"
        new = next((second.run_dir / node / "output").rglob("*.csv"))
        assert new.stat().st_ino == (old / new.relative_to(second.run_dir / node / "output")).stat().st_ino
    assert run(dag_file, FakeBackend(), use_cache=False).steps["load"].status == "passed"


def test_resume_reruns_only_what_did_not_pass_and_keeps_the_failed_attempt(dag_file):
    failed = run(dag_file, FakeBackend({"prep": Behaviour(exit_code=1)}))
    backend = FakeBackend()
    resumed = run(dag_file, backend, resume=failed.run_id, use_cache=False)
    assert resumed.run_dir == failed.run_dir
    assert sorted(node for node, _ in backend.jobs) == ["prep", "train"]
    assert statuses(resumed) == {"load": "cached", "prep": "passed", "side": "cached", "train": "passed"}
    kept = failed.run_dir / ".attempts" / "prep-1" / "logs" / "algo-1.log"
    assert "exit code 1" in kept.read_text()


def test_resume_from_the_cache_still_keeps_the_failed_attempt(dag_file):
    run(dag_file, FakeBackend())                                       # fills the cache
    failed = run(dag_file, FakeBackend({"prep": Behaviour(exit_code=1)}), use_cache=False)
    backend = FakeBackend()
    resumed = run(dag_file, backend, resume=failed.run_id)
    assert backend.jobs == [] and statuses(resumed)["prep"] == "cached"
    assert "exit code 1" in (failed.run_dir / ".attempts" / "prep-1" / "logs" / "algo-1.log").read_text()


def test_resume_of_an_unknown_run_names_the_runs_there(dag_file):
    done = run(dag_file, FakeBackend())
    from cursus_local.errors import UserError
    with pytest.raises(UserError) as error:
        Sequencer(load_dag(dag_file), FakeBackend(), runs_dir=dag_file.parent / "runs", resume="nope")
    assert done.run_id in error.value.fix


def test_ctrl_c_stops_what_runs_and_skips_what_waits(dag_file):
    backend = FakeBackend({"load": Behaviour(until_cancelled=True)})

    def interrupt():
        backend.started.wait(5)
        _thread.interrupt_main()     # Ctrl-C, as the terminal delivers it: in the main thread

    threading.Thread(target=interrupt, daemon=True).start()
    result = run(dag_file, backend)
    assert result.interrupted
    assert statuses(result) == {"load": "stopped", "prep": "skipped", "side": "skipped", "train": "skipped"}
    assert result.steps["prep"].reason == "the run was interrupted"
    assert json.loads((result.run_dir / "results.json").read_text())["steps"]["load"]["status"] == "stopped"


def test_a_worker_exception_fails_that_node_with_error_txt(dag_file):
    result = run(dag_file, FakeBackend({"side": Behaviour(raises=RuntimeError("engine went away"))}))
    assert statuses(result) == {"load": "passed", "prep": "passed", "side": "failed", "train": "passed"}
    assert result.steps["side"].reason == "RuntimeError: engine went away"
    assert "engine went away" in (result.run_dir / "side" / "error.txt").read_text()


@pytest.mark.parametrize("jobs,most", [(1, 1), (2, 2)])
def test_independent_branches_run_at_once_up_to_jobs(dag_file, jobs, most):
    backend = FakeBackend({"prep": Behaviour(delay=0.2), "side": Behaviour(delay=0.2)})
    run(dag_file, backend, jobs=jobs)
    assert backend.most_at_once == most


def test_bytes_copied_adds_what_each_job_copied(dag_file):
    """Where overlay can't be used the backend copies inputs and says how many bytes: the run adds
    them up with the cache's copies (0 here: hard links)."""
    class Copying(FakeBackend):
        def run(self, job, workdir, on_event=None, cancel=None):
            result = super().run(job, workdir, on_event, cancel)
            result.bytes_copied = {"prep": 100, "train": 20, "side": 3}.get(workdir.name, 0)
            return result

    result = run(dag_file, Copying())
    assert result.bytes_copied == 123
    assert json.loads((result.run_dir / "results.json").read_text())["bytes_copied"] == 123
    cached = run(dag_file, Copying())         # all from the cache: nothing ran, nothing copied
    assert cached.bytes_copied == 0


def test_a_changed_wheelhouse_reruns_the_steps(dag_file, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"one")
    doc = yaml.safe_load(dag_file.read_text())
    doc["wheelhouse"] = "wheels"
    dag_file.write_text(yaml.safe_dump(doc))
    run(dag_file, FakeBackend())
    again = run(dag_file, FakeBackend())
    assert set(statuses(again).values()) == {StepStatus.CACHED}
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"two")
    changed = run(dag_file, FakeBackend())
    assert set(statuses(changed).values()) == {StepStatus.PASSED}


def test_an_unreadable_output_is_a_failed_check_in_results_json(dag_file):
    """A UTF-16 file used to raise inside the check: no handoff entry, a wrong diagnosis."""
    with_suite(dag_file, "prep", "inputs", "data", "id")
    utf16 = "id,value\n1,0.5\n2,0.25\n".encode("utf-16-le").decode("ascii")
    result = run(dag_file, FakeBackend({"load": Behaviour(rows=utf16)}))
    assert statuses(result)["prep"] == "blocked"
    saved = json.loads((result.run_dir / "results.json").read_text())
    check = next(h for h in saved["handoffs"] if h["connection"] == "load.data -> prep.data")
    assert check["status"] == "FAIL" and check["blocking"]
    assert "UTF-16" in check["failures"][0]["message"]
