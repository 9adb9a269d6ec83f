"""Provided, skipped and unselected nodes, service-bound and unbuilt kinds, code folders and the
dry run: preflight and the sequencer in process, on a FakeBackend (no engine)."""

from __future__ import annotations

import json

import pytest
import yaml
from cursus_local.errors import UserError
from cursus_local.pipeline.dag import bind, load_dag, select
from cursus_local.pipeline.preflight import inspect, plan
from cursus_local.pipeline.sequencer import Sequencer
from dag_files import write_dag, write_step
from fakes import FakeBackend

#   load -> prep -> train -> register      (register: a MIMS registration step)


@pytest.fixture
def dag_file(tmp_path):
    steps = tmp_path / "steps"
    for name, inputs, outputs in (("load", {}, ["data"]), ("prep", {"data": True}, ["processed"]),
                                  ("train", {"processed": True}, ["model"]), ("register", {"model": True}, [])):
        write_step(steps, name, inputs=inputs, outputs=outputs)
        (steps / f"{name}.py").write_text("print('not run: the backend is a fake')\n")
    doc = yaml.safe_load((steps / "register.step.yaml").read_text())
    doc["registry"] = {"sagemaker_step_type": "MimsModelRegistrationProcessing"}
    (steps / "register.step.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "given").mkdir()
    return write_dag(tmp_path, {"name": "t", "steps_dir": "steps",
                                "nodes": {"load": {}, "prep": {}, "train": {}, "register": {}},
                                "edges": ["load -> prep -> train -> register"]})


def run(dag, backend):
    return Sequencer(dag, backend, runs_dir=dag.file.parent / "runs").run()


def test_a_service_bound_node_is_never_faked_and_nothing_starts(dag_file):
    backend = FakeBackend()
    with pytest.raises(UserError) as err:
        run(load_dag(dag_file), backend)
    assert "register: MimsModelRegistrationProcessing: service-bound" in err.value.message
    assert "--skip register" in err.value.message and "nothing started" in err.value.message
    assert backend.jobs == []


@pytest.mark.parametrize("kind", ["Transform", "HyperparameterTuning", "Lambda"])
def test_an_unbuilt_kind_names_its_kind_and_the_way_around(dag_file, kind):
    doc = yaml.safe_load((dag_file.parent / "steps/train.step.yaml").read_text())
    doc["registry"] = {"sagemaker_step_type": kind}
    (dag_file.parent / "steps/train.step.yaml").write_text(yaml.safe_dump(doc))
    dag = load_dag(dag_file)
    bind(dag, skip=["register"])
    problems = inspect(dag, dag_file.parent / "runs" / "x").nodes["train"].problems
    (problem,) = problems
    assert f"{kind} jobs are not built locally yet" in problem
    assert "--provide train.model=PATH" in problem and "--skip train" in problem


def test_skipping_leaves_dependants_needing_a_provide(dag_file):
    dag = load_dag(dag_file)
    bind(dag, skip=["register", "prep"])
    with pytest.raises(UserError) as err:
        plan(dag, dag_file.parent / "runs" / "x")
    assert "train.processed: fed by prep.processed, and prep does not run (skipped" in err.value.message
    assert "--provide prep.processed=PATH" in err.value.message


def test_provided_outputs_feed_downstream_and_the_report_lists_them(dag_file):
    dag = load_dag(dag_file)
    given = dag_file.parent / "given"
    bind(dag, skip=["register"], provide={"prep.processed": str(given)})
    backend = FakeBackend()
    result = run(dag, backend)
    assert [n for n, _ in backend.jobs] == ["load", "train"]   # prep provided, register skipped
    jobs = dict(backend.jobs)
    assert jobs["train"].local_inputs["processed"] == given.resolve()
    assert result.status == "passed"
    assert result.steps["prep"].not_run == "provided" and result.steps["prep"].provided == {
        "processed": str(given.resolve())}
    assert result.steps["register"].not_run == "skipped"
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved["provided"] == {"prep": {"processed": str(given.resolve())}}
    assert saved["not_run"] == {"prep": "provided", "register": "skipped"}


def test_a_provided_path_must_exist(dag_file):
    dag = load_dag(dag_file)
    bind(dag, skip=["register"], provide={"prep.processed": str(dag_file.parent / "nope")})
    with pytest.raises(UserError, match=r"prep.processed: provided path .* does not exist"):
        plan(dag, dag_file.parent / "runs" / "x")


def test_provide_in_the_yaml_and_partial_selection(dag_file):
    doc = yaml.safe_load(dag_file.read_text())
    doc["nodes"]["load"] = {"provide": {"data": "given"}}
    doc["nodes"]["register"] = {"skip": True}
    dag_file.write_text(yaml.safe_dump(doc))
    dag = load_dag(dag_file)
    select(dag, to="prep")
    backend = FakeBackend()
    result = run(dag, backend)
    assert [n for n, _ in backend.jobs] == ["prep"]
    assert result.steps["train"].not_run == "not selected" and result.status == "passed"


def test_from_a_node_needs_what_it_loses(dag_file):
    dag = load_dag(dag_file)
    select(dag, from_="train")
    bind(dag, skip=["register"])
    checked = inspect(dag, dag_file.parent / "runs" / "x")
    (problem,) = checked.problems
    assert problem.startswith("train.processed: fed by prep.processed, and prep does not run (not selected")


def test_code_folders_dag_wide_and_per_node(dag_file, tmp_path):
    for folder in ("all", "mine"):
        (tmp_path / folder).mkdir()
        for name in ("load", "prep", "train"):
            (tmp_path / folder / f"{name}.py").write_text("")
    doc = yaml.safe_load(dag_file.read_text())
    doc["code"] = "all"
    doc["nodes"]["prep"] = {"code": "mine"}
    doc["nodes"]["register"] = {"skip": True}
    dag_file.write_text(yaml.safe_dump(doc))
    def code_of(jobs, node):   # the folder, or (sklearn: one file) the script in it
        path = jobs[node].local_inputs["code"]
        return path.parent if path.is_file() else path

    jobs = plan(load_dag(dag_file), tmp_path / "runs" / "x").jobs
    assert code_of(jobs, "load") == (tmp_path / "all").resolve()
    assert code_of(jobs, "prep") == (tmp_path / "mine").resolve()
    dag = load_dag(dag_file)
    bind(dag, code=tmp_path / "mine")       # --code wins over the DAG's, not over a node's
    assert code_of(plan(dag, tmp_path / "runs" / "y").jobs, "load") == (tmp_path / "mine").resolve()


def test_a_missing_entry_point_names_run_pipeline_options(dag_file, tmp_path):
    (tmp_path / "empty").mkdir()
    dag = load_dag(dag_file)
    bind(dag, skip=["register"], code=tmp_path / "empty")
    (problem, *_) = inspect(dag, tmp_path / "runs" / "x").problems
    assert "entry point load.py not found" in problem
    assert "pass --code DIR" in problem and "`code:` in a DAG YAML" in problem and "local.code" not in problem


def test_dry_run_rows_say_resolution_kind_image_and_request(dag_file):
    dag = load_dag(dag_file)
    bind(dag, skip=["register"])
    checked = inspect(dag, dag_file.parent / "runs" / "x", image_present=lambda uri: "1.2-1" in uri)
    assert list(checked.nodes) == ["load", "prep", "train", "register"] and not checked.problems
    load = checked.nodes["load"]
    assert (load.runs, load.kind, load.request) == ("runs", "Processing", "valid")
    assert load.image == "cursus-local/sklearn-processing:1.2-1" and load.image_present is True
    register = checked.nodes["register"]
    assert (register.runs, register.request, register.kind) == ("skipped", "", "MimsModelRegistrationProcessing")
    unknown = inspect(dag, dag_file.parent / "runs" / "x")
    assert unknown.nodes["load"].image_present is None           # no engine asked: unknown


def test_framework_version_and_wheelhouse_in_the_dag_yaml_and_as_flags(dag_file, tmp_path):
    """A node's `framework_version:` picks its stand-in; the DAG's `wheelhouse:` (or --wheelhouse,
    --pip-offline) reaches every job as a read-only mount, never its request."""
    from cursus_local.jobs.packages import WHEELHOUSE_PATH
    (tmp_path / "wheels").mkdir()
    (tmp_path / "other").mkdir()
    doc = yaml.safe_load(dag_file.read_text())
    doc["nodes"]["prep"] = {"framework_version": "1.0-1"}
    doc["nodes"]["register"] = {"skip": True}
    doc["wheelhouse"] = "wheels"
    dag_file.write_text(yaml.safe_dump(doc))
    jobs = plan(load_dag(dag_file), tmp_path / "runs" / "x").jobs
    assert jobs["prep"].image == "cursus-local/sklearn-processing:1.0-1"
    assert jobs["load"].image == "cursus-local/sklearn-processing:1.2-1"
    assert all(j.local_mounts[WHEELHOUSE_PATH] == (tmp_path / "wheels").resolve() for j in jobs.values())
    assert all("PIP_NO_INDEX" not in j.local_env for j in jobs.values())
    assert not any("PIP_FIND_LINKS" in json.dumps(j.request) for j in jobs.values())
    dag = load_dag(dag_file)
    bind(dag, wheelhouse=tmp_path / "other", pip_offline=True)     # the flags win over the YAML
    jobs = plan(dag, tmp_path / "runs" / "y").jobs
    assert jobs["load"].local_mounts[WHEELHOUSE_PATH] == (tmp_path / "other").resolve()
    assert jobs["load"].local_env["PIP_NO_INDEX"] == "1"
    doc["nodes"]["prep"] = {"framework_version": "0.9-9"}
    dag_file.write_text(yaml.safe_dump(doc))
    (problem,) = inspect(load_dag(dag_file), tmp_path / "runs" / "z").problems
    assert problem.startswith("prep: ") and "0.9-9" in problem
    with pytest.raises(UserError) as err:
        bind(load_dag(dag_file), wheelhouse=tmp_path / "nope")
    assert err.value.field == "--wheelhouse"


def test_dry_run_shows_the_job_notes(dag_file, tmp_path, monkeypatch, capsys):
    from cursus_local.cli import render
    from cursus_local.jobs import packages
    monkeypatch.setattr(packages, "host_index_settings", lambda *a: ({}, None, []))
    (tmp_path / "wheels").mkdir()
    dag = load_dag(dag_file)
    bind(dag, skip=["register"], wheelhouse=tmp_path / "wheels")
    checked = inspect(dag, tmp_path / "runs" / "x")
    assert all(any("wheelhouse" in n for n in checked.nodes[n].notes) for n in ("load", "prep", "train"))
    checked.nodes["prep"].notes.append("prep's own note")
    monkeypatch.setattr(render.console, "width", 400)
    render.print_preflight(dag.name, checked)
    out = capsys.readouterr().out
    assert out.count("mounted read-only at /opt/cursus-local/wheelhouse") == 1   # said once for all
    assert "note every node: wheelhouse" in out and "note prep: prep's own note" in out
