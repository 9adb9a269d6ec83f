"""Ownership is handed back only for what the job made: a folder given with --output keeps the
owners of what it held, symlinks are never followed, CURSUS_LOCAL_OWNER is checked before anything
starts, and `sudo -E` leaves no root-owned cache in the caller's home."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import write_step
from cursus_local import ownership
from users import CLI, as_user, owned_by_others, tester, tester_dir, via_sudo  # noqa: F401 (fixtures)

WRITE_OUT = """
    from pathlib import Path
    out = Path("/opt/ml/processing/output/out")
    (out / "new.csv").write_text("a\\n1\\n")
    (out / "sub").mkdir()
    (out / "sub" / "more.csv").write_text("a\\n2\\n")
"""


def _env(**extra) -> dict:
    """The code under test (PYTHONPATH), also for the CLI run as another user."""
    return {**{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}, **extra}


def _output_with_roots_files(folder: Path) -> tuple[Path, Path, Path]:
    """A folder of the tester's holding a mode-600 root file, a root folder and a symlink to a root
    file outside it: what a run must leave as it is."""
    out = folder / "given"
    out.mkdir()
    os.chown(out, *_ids(folder))
    secret = out / "secret.txt"
    secret.write_text("root's")
    secret.chmod(0o600)
    (out / "roots").mkdir(mode=0o700)
    outside = folder / "outside.txt"
    outside.write_text("root's too")
    (out / "link").symlink_to(outside)
    os.lchown(out / "link", *_ids(folder))   # the tester's symlink to root's file
    return out, secret, outside


def _ids(folder: Path) -> tuple[int, int]:
    st = folder.stat()
    return st.st_uid, st.st_gid


def _check_only_new_entries_handed_over(out: Path, secret: Path, outside: Path, tester) -> None:
    assert secret.stat().st_uid == 0 and secret.stat().st_mode & 0o777 == 0o600
    assert (out / "roots").stat().st_uid == 0
    assert outside.stat().st_uid == 0, "a symlink's target is never chowned"
    made = [out / "new.csv", out / "sub", out / "sub" / "more.csv"]
    assert [p.stat().st_uid for p in made] == [tester.pw_uid] * 3
    assert (out / "new.csv").read_text() == "a\n1\n"
    assert out.stat().st_uid == tester.pw_uid


@pytest.mark.docker
def test_a_sudo_run_hands_over_only_what_the_job_wrote_in_a_given_output_folder(tester, tester_dir):
    out, secret, outside = _output_with_roots_files(tester_dir)
    step = write_step(tester_dir, "writer", WRITE_OUT, {"outputs": {"out": {"path": "/opt/ml/processing/output/out"}}})
    done = via_sudo(tester, [*CLI, "run-step", str(step), "--quiet", "--output", f"out={out}"], tester_dir,
                    env=_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _check_only_new_entries_handed_over(out, secret, outside, tester)
    assert owned_by_others(tester_dir / "runs", tester) == []


@pytest.mark.docker
def test_a_plain_users_run_hands_over_only_what_the_job_wrote(tester, tester_dir):
    """Not root: a root container chowns, entry by entry, only what the job made."""
    out, secret, outside = _output_with_roots_files(tester_dir)
    step = write_step(tester_dir, "writer", WRITE_OUT, {"outputs": {"out": {"path": "/opt/ml/processing/output/out"}}})
    own = f"{tester.pw_uid}:{tester.pw_gid}"   # the caller's own ids: a plain user may name them
    done = as_user(tester, [*CLI, "run-step", str(step), "--quiet", "--output", f"out={out}"], tester_dir,
                   env=_env(CURSUS_LOCAL_OWNER=own), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _check_only_new_entries_handed_over(out, secret, outside, tester)
    assert owned_by_others(tester_dir / "runs", tester) == []


@pytest.mark.docker
def test_sudo_with_the_callers_home_hands_the_cache_back(tester, tester_dir):
    home = tester_dir / "home"
    home.mkdir()
    os.chown(home, tester.pw_uid, tester.pw_gid)
    step = write_step(tester_dir, "writer", WRITE_OUT, {"outputs": {"out": {"path": "/opt/ml/processing/output/out"}}})
    done = via_sudo(tester, [*CLI, "run-step", str(step), "--quiet"], tester_dir,
                    env=_env(HOME=str(home)), timeout=300)   # what `sudo -E` keeps: the caller's HOME
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / ".cache" / "cursus-local").is_dir()
    assert owned_by_others(home, tester) == []


@pytest.mark.parametrize("run_as, value", [
    *((as_user, v) for v in ("abc", "-1", "1000:x", "1234:1234")),
    # 4294967295 is chown's -1 ("leave unchanged": files stayed root's, exit 0); a larger one ran the
    # container, then an OverflowError; Arabic-Indic digits are digits to int()
    *((via_sudo, v) for v in ("4294967295", "1001:4294967295", "99999999999999999999", "\u0661\u0660\u0660\u0661")),
])
def test_a_bad_or_foreign_owner_is_refused_before_anything_starts(tester, tester_dir, run_as, value):
    step = write_step(tester_dir, "writer", WRITE_OUT, {"outputs": {"out": {"path": "/opt/ml/processing/output/out"}}})
    done = run_as(tester, [*CLI, "run-step", str(step), "--quiet"], tester_dir,
                  env=_env(CURSUS_LOCAL_OWNER=value), timeout=300)
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CURSUS_LOCAL_OWNER" in said and "Traceback" not in said
    assert not (tester_dir / "runs").exists(), "nothing may start"


def test_hand_over_skips_what_was_there_and_never_follows_a_symlink(tmp_path, monkeypatch, tester):
    monkeypatch.setenv("CURSUS_LOCAL_OWNER", f"{tester.pw_uid}:{tester.pw_gid}")
    old = tmp_path / "old.txt"
    old.write_text("x")
    target = tmp_path.parent / f"{tmp_path.name}-target"
    target.write_text("y")
    kept = ownership.existing([tmp_path])
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "f").write_text("z")
    ownership.hand_over([tmp_path], kept)
    assert old.stat().st_uid == 0 and target.stat().st_uid == 0 and tmp_path.stat().st_uid == 0
    assert {p.lstat().st_uid for p in (tmp_path / "link", tmp_path / "new", tmp_path / "new" / "f")} \
        == {tester.pw_uid}


TRAIN = """
    import os
    from pathlib import Path
    assert Path("/opt/ml/code/hp/hp.json").read_text() == "{}"
    Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("trees")
"""
TRAIN_CONTRACT = {"inputs": {"hp": {"path": "/opt/ml/code/hp/hp.json"}},
                  "outputs": {"model": {"path": "/opt/ml/model"}}}


def _roots_file(folder: Path) -> Path:
    """A file of root's in a folder the tester owns."""
    secret = folder / "roots.json"
    secret.write_text("{}")
    secret.chmod(0o644)   # the container reads it; what matters is who owns it
    return secret


@pytest.mark.docker
def test_a_training_run_never_hands_over_an_input_placed_in_the_code_folder(tester, tester_dir):
    """The input placed under /opt/ml/code is a hard link to the user's file: chowning the link
    would give root's file away."""
    hp = _roots_file(tester_dir)
    model = tester_dir / "model"
    model.mkdir()
    os.chown(model, tester.pw_uid, tester.pw_gid)
    (model / "old.txt").write_text("root's")   # there before: stays root's
    step = write_step(tester_dir, "train", TRAIN, TRAIN_CONTRACT,
                      compute={"kind": "estimator", "image": "cursus-local/xgboost-training:1.7-1"})
    done = via_sudo(tester, [*CLI, "run-step", str(step), "--quiet", "--input", f"hp={hp}",
                             "--output", f"model={model}"], tester_dir, env=_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert hp.stat().st_uid == 0, "the user's input was handed over through its hard link"
    assert (model / "old.txt").stat().st_uid == 0
    assert (model / "model.tar.gz").stat().st_uid == tester.pw_uid
    assert owned_by_others(tester_dir / "runs", tester) == []


@pytest.fixture
def roots_dir(tester):
    """A folder of root's (mode 755) that the tester can look into but not write in."""
    import shutil
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="cursus-roots-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.docker
def test_sudo_hands_back_the_runs_folder_it_made_and_never_one_that_was_there(tester, tester_dir, roots_dir):
    step = write_step(tester_dir, "writer", WRITE_OUT, {"outputs": {"out": {"path": "/opt/ml/processing/output/out"}}})
    there = roots_dir / "there"
    there.mkdir()
    (there / "older").mkdir()   # root's own earlier run
    new = roots_dir / "new" / "runs"
    for runs in (there, new):
        done = via_sudo(tester, [*CLI, "run-step", str(step), "--quiet", "--runs-dir", str(runs)],
                        tester_dir, env=_env(), timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    assert there.stat().st_uid == 0 and (there / "older").stat().st_uid == 0
    (run,) = [p for p in there.iterdir() if p.name not in ("older", ".cache")]
    assert owned_by_others(run, tester) == []
    assert owned_by_others(roots_dir / "new", tester) == [], "all that the run made is the caller's"
    assert roots_dir.stat().st_uid == 0


def test_generate_data_hands_over_only_what_it_wrote(tester, tester_dir, roots_dir):
    suite = tester_dir / "s.suite.json"
    suite.write_text(json.dumps({"name": "s", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 1, "max_value": 3}}]}))
    there, new = roots_dir / "there", roots_dir / "new" / "data"
    there.mkdir()   # root's, empty: generate-data accepts it
    for out in (there, new):
        done = via_sudo(tester, [*CLI, "generate-data", "--suite", str(suite), "--rows", "5", "--no-check",
                                 "--out", str(out)], tester_dir, env=_env(), timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    assert there.stat().st_uid == 0, "a folder that was there keeps its owner"
    assert [p for p in there.rglob("*") if p.lstat().st_uid != tester.pw_uid] == []
    assert any(there.iterdir())
    assert owned_by_others(roots_dir / "new", tester) == []


def test_hand_over_run_gives_what_the_tool_made_but_not_a_cache_in_roots_home(tester, roots_dir, monkeypatch):
    """In process, beside the sudo test: a cache made in a folder of root's (root's own home under
    plain sudo) stays root's; a runs folder made anywhere goes to the caller."""
    from cursus_local import results
    monkeypatch.setattr(results, "_made", [])
    monkeypatch.setenv("CURSUS_LOCAL_OWNER", f"{tester.pw_uid}:{tester.pw_gid}")
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(roots_dir / "home" / ".cache" / "cursus-local"))
    (roots_dir / "home").mkdir()
    run_dir = results.make_dir(roots_dir / "new" / "runs" / "r1" / "step").parent
    cache = results.cache_root()
    ownership.hand_over_run(run_dir)
    assert owned_by_others(roots_dir / "new", tester) == []
    assert cache.stat().st_uid == 0 and (roots_dir / "home" / ".cache").stat().st_uid == 0
    assert results.made_dirs() == [roots_dir / "new", roots_dir / "home" / ".cache"]


@pytest.mark.docker
def test_a_sudo_run_served_from_the_cache_leaves_the_users_runs_and_latest_the_users(tester, tester_dir):
    """The tester's breaks: a sudo run that serves a step from cache rewrote seal.json in the
    user's earlier run (the link changes ctime, the seal is brought up to date) as root's; and
    runs/latest was root's after every sudo run."""
    write_step(tester_dir / "steps", "writer", WRITE_OUT.replace('/ "sub").mkdir()', '/ "sub").mkdir(exist_ok=True)'),
               {"outputs": {"out": {"path": "/opt/ml/processing/output/out"}}})
    (tester_dir / "dag.yaml").write_text("nodes: {writer: {}}\nedges: []\n")
    for path in [tester_dir, *tester_dir.rglob("*")]:
        os.lchown(path, tester.pw_uid, tester.pw_gid)
    first = as_user(tester, [*CLI, "run-pipeline", "dag.yaml"], tester_dir, env=_env(), timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    (earlier,) = list((tester_dir / "runs").glob("2*/writer/seal.json"))
    second = via_sudo(tester, [*CLI, "run-pipeline", "dag.yaml"], tester_dir, env=_env(), timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "cached" in second.stdout, second.stdout
    assert earlier.lstat().st_uid == tester.pw_uid
    assert (tester_dir / "runs" / "latest").lstat().st_uid == tester.pw_uid
    assert owned_by_others(tester_dir, tester) == []
