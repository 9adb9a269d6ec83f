"""A cache that can't lie: an output that changed after its step wrote it is never served.

In process on a FakeBackend (every way to change a cached output: in place with mtime restored,
truncated, a file added or removed, replaced by a symlink, in the original run folder or in a
later one, the cache's own pointer, an edit while a key is hashed), then end to end through
`cursus-local run-pipeline` on the real engine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cursus_local.pipeline import cache
from cursus_local.pipeline.dag import load_dag
from cursus_local.pipeline.sequencer import Sequencer
from cursus_local.results import read_run_file
from dag_files import write_dag, write_step
from fakes import FakeBackend

#   load -> prep        (the fake writes part-00000.csv into every output)


@pytest.fixture
def dag_file(tmp_path):
    steps = tmp_path / "steps"
    write_step(steps, "load", outputs=["data"])
    write_step(steps, "prep", inputs={"data": True}, outputs=["processed"])
    for name in ("load", "prep"):
        (steps / f"{name}.py").write_text("print('not run: the backend is a fake')\n")
    return write_dag(tmp_path, {"name": "t", "steps_dir": "steps", "nodes": {"load": {}, "prep": {}},
                                "edges": ["load -> prep"]})


def run(dag_file, **kwargs):
    backend = FakeBackend()
    result = Sequencer(load_dag(dag_file), backend, runs_dir=dag_file.parent / "runs", **kwargs).run()
    return result, [node for node, _ in backend.jobs]


def edit_in_place(path: Path, text: bytes) -> None:
    """Same size, mtime (and atime) put back as they were: only ctime tells."""
    before = path.stat()
    assert len(text) == before.st_size
    with open(path, "r+b") as handle:
        handle.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def data_file(result) -> Path:
    return result.run_dir / "load" / "output" / "data" / "part-00000.csv"


EDITED = b"id,value\n1,9.9\n2,0.25\n"   # the fake's rows, one value changed, same length


def in_place(path):
    edit_in_place(path, EDITED)


def truncated(path):
    os.truncate(path, 9)


def added(path):
    (path.parent / "extra.csv").write_text("id,value\n3,1\n")


def removed(path):
    path.unlink()


def symlinked(path):
    """The same bytes, behind a symlink: still not what the step wrote."""
    elsewhere = path.parent.parent.parent / "elsewhere.csv"
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(elsewhere)


def replaced(path):
    """As an editor saves: a new file renamed over the old one."""
    new = path.with_suffix(".tmp")
    new.write_bytes(EDITED)
    new.replace(path)


@pytest.mark.parametrize("change,how", [
    (in_place, "its content differs"), (truncated, "now 9"), (added, "a file was added"),
    (removed, "it was removed"), (symlinked, "it is now a symlink"), (replaced, "its content differs")])
def test_a_changed_output_in_the_original_run_is_never_served(dag_file, change, how):
    first, _ = run(dag_file)
    change(data_file(first))
    again, ran = run(dag_file)
    assert ran == ["load"]        # load again; prep's input is what load writes: prep from the cache
    assert again.steps["load"].status == "passed" and again.steps["prep"].status == "cached"
    reason = again.steps["load"].reason
    assert reason.startswith("cache entry for load dropped: output data/") and \
        f"changed since run {first.run_id}" in reason and how in reason, reason
    assert data_file(again).read_text() == "id,value\n1,0.5\n2,0.25\n"
    saved = json.loads((again.run_dir / "results.json").read_text())
    assert saved["steps"]["load"]["reason"] == reason
    # the dropped entry is gone; the new run is the cache entry now
    third, ran = run(dag_file)
    assert ran == [] and third.steps["load"].cached_from == str(again.run_dir / "load")


def test_an_edit_in_a_later_run_folder_is_caught_too(dag_file):
    """The later run's files are hard links to the original's: an edit in either changes both."""
    first, _ = run(dag_file)
    second, ran = run(dag_file)
    assert ran == [] and data_file(second).stat().st_ino == data_file(first).stat().st_ino
    in_place(data_file(second))
    third, ran = run(dag_file)
    assert ran == ["load"] and "its content differs" in third.steps["load"].reason
    assert f"since run {first.run_id}" in third.steps["load"].reason


def test_the_caches_own_pointer_to_another_step_folder_is_not_served(dag_file):
    first, _ = run(dag_file)
    pointers = list((dag_file.parent / "runs" / ".cache").glob("[0-9a-f]" * 32))
    load_key, prep_key = first.steps["load"].key, first.steps["prep"].key
    (dag_file.parent / "runs" / ".cache" / load_key).write_text(str(first.run_dir / "prep") + "\n")
    assert len(pointers) == 2
    again, ran = run(dag_file)
    assert ran == ["load"] and again.steps["prep"].key == prep_key


def test_a_link_made_or_removed_elsewhere_changes_ctime_only_so_the_entry_stays(dag_file):
    """Deleting a later run folder (or a backend linking an input) bumps ctime of the shared files:
    they are read again, found the same, kept, and the seal follows, so the next check is a stat."""
    first, _ = run(dag_file)
    second, _ = run(dag_file)
    before = json.loads((first.run_dir / "load" / "seal.json").read_text())
    subprocess.run(["rm", "-rf", str(second.run_dir)], check=True)
    cache.DIGESTS.clear()   # a new process
    third, ran = run(dag_file)
    assert ran == [] and third.steps["load"].status == "cached" and third.steps["load"].reason == ""
    sealed = json.loads((first.run_dir / "load" / "seal.json").read_text())
    entry = sealed["outputs"]["data"]["files"]["part-00000.csv"]
    st = data_file(first).stat()
    assert entry[:4] == [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    assert entry[3] != before["outputs"]["data"]["files"]["part-00000.csv"][3]


def test_a_file_edited_while_its_key_is_hashed_is_hashed_as_it_is_now(tmp_path, monkeypatch):
    """The edit lands after the first chunk was read (mtime put back): the key must be that of the
    new content, not a mix of both."""
    folder = tmp_path / "input"
    folder.mkdir()
    big = folder / "data.bin"
    big.write_bytes(b"a" * (3 * cache.CHUNK))
    os.utime(big, ns=(1, 1))
    real, edited = hashlib.blake2b, []

    class Hooked:
        def __init__(self, *args, **kwargs):
            self.inner = real(*args, **kwargs)

        def update(self, data):
            if len(data) == cache.CHUNK and not edited:
                edited.append(True)
                big.write_bytes(b"b" * (3 * cache.CHUNK))   # read in part already; same size
                os.utime(big, ns=(1, 1))
            self.inner.update(data)

        def hexdigest(self):
            return self.inner.hexdigest()

    monkeypatch.setattr(hashlib, "blake2b", Hooked)
    during = cache.tree_hash(folder)
    monkeypatch.setattr(hashlib, "blake2b", real)
    assert edited
    if hasattr(cache, "DIGESTS"):   # what this process read is forgotten: read afresh
        cache.DIGESTS.clear()
    assert during == cache.tree_hash(folder)


# --- end to end, on the real engine ---------------------------------------------------------------

MAKE = """
from pathlib import Path
Path("/opt/ml/processing/output/data.csv").write_text("id,value\\n1,0.5\\n")
"""
USE = """
from pathlib import Path
data = Path("/opt/ml/processing/input/data/data.csv").read_text()
Path("/opt/ml/processing/output/copy.csv").write_text(data)
"""


@pytest.mark.docker
def test_run_pipeline_never_hands_on_an_edited_cached_output(tmp_path, docker_client):
    from conftest import write_step as write_real_step
    steps = tmp_path / "steps"
    write_real_step(steps, "h4make", MAKE, {"outputs": {"out": {"path": "/opt/ml/processing/output"}}})
    write_real_step(steps, "h4use", USE, {"inputs": {"data": {"path": "/opt/ml/processing/input/data"}},
                                          "outputs": {"copy": {"path": "/opt/ml/processing/output"}}})
    dag = write_dag(tmp_path, {"name": "h4", "steps_dir": "steps", "code": "steps/code",
                               "nodes": {"h4make": {}, "h4use": {}}, "edges": ["h4make -> h4use"]})

    def pipeline():
        proc = subprocess.run([sys.executable, "-m", "cursus_local.cli", "run-pipeline", str(dag), "--jobs", "1"],
                              capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"}, timeout=300)
        latest = max((tmp_path / "runs").glob("2*/results.json"), key=lambda p: p.stat().st_mtime)
        return proc, read_run_file(latest)   # its paths are relative to the run folder

    proc, first = pipeline()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = Path(first["steps"]["h4make"]["outputs"]["out"]) / "data.csv"
    proc, second = pipeline()
    assert {s["status"] for s in second["steps"].values()} == {"cached"}

    edit_in_place(made, b"id,value\n1,9.9\n")            # in the first run's folder
    proc, third = pipeline()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert third["steps"]["h4make"]["status"] == "passed"
    message = f"cache entry for h4make dropped: output out/data.csv changed since run {first['run_id']}"
    assert message in " ".join(proc.stdout.split()), proc.stdout
    handed_on = Path(third["steps"]["h4use"]["outputs"]["copy"]) / "copy.csv"
    assert handed_on.read_text() == "id,value\n1,0.5\n"   # what h4make writes, not the edit
