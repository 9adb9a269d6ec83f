"""Result files, runs/latest, pruning, compare-results and JUnit, in process (no engine)."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
from cursus_local import results
from cursus_local.pipeline.cache import resumable
from cursus_local.report import compare, junit, runs, summary

CLI = [sys.executable, "-m", "cursus_local.cli"]


def test_the_command_line_is_written_with_its_secrets_masked():
    argv = ["run-pipeline", "d.yaml", "--env", "a.API_TOKEN=abcdef", "--secret-env", "MY_VAR", "--env",
            "n.MY_VAR=zzzz", "--api-token", "x1234", "--input", "a.b=s3://user:pw12345@host/x", "--jobs", "2"]
    assert results.masked_arguments(argv) == [
        "run-pipeline", "d.yaml", "--env", "a.API_TOKEN=***", "--secret-env", "MY_VAR", "--env", "n.MY_VAR=***",
        "--api-token", "***", "--input", "a.b=s3://***@host/x", "--jobs", "2"]


def test_paths_are_written_relative_to_the_run_folder_and_read_back_absolute(tmp_path):
    run_dir = tmp_path / "runs" / "R2"
    doc = {"run_dir": str(run_dir), "steps": {"a": {"outputs": {"o": str(run_dir / "a/output/o")},
                                                    "cached_from": str(tmp_path / "runs/R1/a"), "reason": "/x"}},
           "provided": {"b": {"o": "/data/given"}}, "handoffs": [{"data_path": "s3://bucket/x"}]}
    written = results.relative_paths(doc, run_dir)
    assert written["run_dir"] == "." and written["steps"]["a"]["outputs"]["o"] == "a/output/o"
    assert written["steps"]["a"]["cached_from"] == "../R1/a" and written["steps"]["a"]["reason"] == "/x"
    assert written["provided"]["b"]["o"] == "/data/given" and written["handoffs"][0]["data_path"] == "s3://bucket/x"
    results.write_json(run_dir / "results.json", written)
    assert results.read_run_file(run_dir / "results.json") == doc


def test_a_file_without_the_envelope_is_not_a_result_file(tmp_path):
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"run_id": "x", "steps": {}, "handoffs": []}))
    proc = subprocess.run([*CLI, "compare-results", "--baseline", str(bad), "--current", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "schema_version" in proc.stderr
    proc = subprocess.run([*CLI, "compare-results", "--baseline", str(tmp_path / "none.json"), "--current", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def run_folder(runs_dir: Path, run_id: str, status: str = "passed") -> Path:
    folder = runs_dir / run_id
    results.write_json(folder / "results.json", {"status": status, "duration_seconds": 1.5,
                                                 "started_at": "2025-01-01T00:00:00.000Z"})
    return folder


def test_latest_is_replaced_atomically_and_is_a_file_where_there_are_no_symlinks(tmp_path, monkeypatch):
    first, second = run_folder(tmp_path, "20250101-000000-aaaa"), run_folder(tmp_path, "20250101-000001-bbbb")
    runs.mark_latest(first)
    runs.mark_latest(second)
    assert (tmp_path / "latest").is_symlink() and (tmp_path / "latest").resolve() == second
    assert runs.find_run(tmp_path, "latest") == tmp_path / second.name
    assert resumable(tmp_path) == [first.name, second.name]   # latest is no run of its own

    def no_symlinks(self, *a, **k):
        raise OSError("operation not permitted")
    monkeypatch.setattr(Path, "symlink_to", no_symlinks)
    runs.mark_latest(first)
    assert (tmp_path / "latest").read_text().strip() == first.name
    assert runs.find_run(tmp_path, "latest") == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".latest")] == []


def test_prune_keeps_the_newest_the_latest_and_a_run_in_use(tmp_path):
    ids = [f"20250101-00000{i}-aaaa" for i in range(5)]
    folders = [run_folder(tmp_path, i) for i in ids]
    runs.mark_latest(folders[0])
    with runs.in_use(folders[1]):
        assert [r.in_use for r in runs.list_runs(tmp_path)] == [False, True, False, False, False]
        deleted, spared = runs.prune(tmp_path, keep=2)
    assert [r.run_id for r in deleted] == [ids[2]]
    assert [r.run_id for r in spared] == ids[:2]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [*ids[:2], *ids[3:], "latest"]
    assert not runs.is_in_use(folders[1])   # released when the block ended


def test_a_run_whose_runner_holds_the_lock_from_another_process_is_in_use(tmp_path):
    folder = run_folder(tmp_path, "20250101-000000-aaaa")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom cursus_local.report.runs import in_use\n"
                               f"with in_use({str(folder)!r}):\n    print('held', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert runs.is_in_use(folder) and runs.prune(tmp_path, keep=0)[0] == []
    finally:
        holder.kill()
        holder.wait()
    assert not runs.is_in_use(folder)   # a killed runner's lock is gone with it
    assert fcntl   # (the lock is an flock: the kernel drops it with the process)


def pipeline_doc(**steps) -> dict:
    return {"steps": {n: {"node": n, "status": s, "duration_seconds": d} for n, (s, d) in steps.items()},
            "handoffs": []}


def test_compare_finds_slower_steps_above_the_noise_floor_lower_scores_and_what_is_gone():
    base = pipeline_doc(load=("passed", 2.0), tiny=("passed", 0.1), gone=("passed", 1.0))
    base["handoffs"] = [{"connection": "load.d", "side": "producer", "status": "PASS", "failures": [], "evaluated": 10}]
    now = pipeline_doc(load=("passed", 3.5), tiny=("passed", 1.0))
    now["handoffs"] = [{"connection": "load.d", "side": "producer", "status": "WARN", "evaluated": 10,
                        "failures": [{"severity": "warning"}]}]
    found = {(r.kind, r.what) for r in compare.compare(base, now, slower_than=1.5, min_seconds=2)}
    assert found == {("slower", "step load"), ("missing", "step gone"), ("quality", "check producer load.d")}
    assert compare.compare(base, base) == []


def test_junit_of_a_unit_test_report_fits_the_junit_schema(tmp_path):
    doc = {"started_at": "2025-01-01T00:00:00.000Z", "script_unit_tests": {
        "script_name": "conv", "duration_seconds": 3.0, "synthetic_tests": {"results": [
            {"test": "t", "scenario": "ok", "status": "PASS", "duration_seconds": 1.0},
            {"test": "t", "scenario": "bad", "status": "FAIL", "duration_seconds": 1.0, "reason": "exit 1",
             "log_tail": ["Traceback", "KeyError: 'price'"]}]}}}
    path = junit.write(doc, tmp_path / "j.xml")
    xmlschema.XMLSchema(Path(__file__).parent / "junit-10.xsd").validate(path)
    text = path.read_text()
    assert 'classname="conv.synthetic" name="t/bad"' in text and "KeyError: &apos;price&apos;" in text.replace(
        "'", "&apos;")


def test_the_schema_ships_with_the_package():
    assert summary.schema()["properties"]["schema_version"]["const"] == results.SCHEMA_VERSION


@pytest.mark.parametrize("env, width", [({}, 120), ({"COLUMNS": "200"}, 200)])
def test_without_a_terminal_tables_are_120_columns_or_columns(env, width):
    code = "from cursus_local.cli import render; print(render.console.width)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={k: v for k, v in {**__import__("os").environ, **env}.items()
                               if k != "COLUMNS" or "COLUMNS" in env})
    assert proc.stdout.strip() == str(width)
