import json
import re
import shutil
from pathlib import Path

import pytest
from cursus_local.errors import UserError
from cursus_local.pipeline.dag import load_dag, split_job_type
from dag_files import CURSUS, write_dag, write_step

E2E = CURSUS / "dags" / "xgboost_complete_e2e.dag.json"
needs_shared = pytest.mark.skipif(not E2E.is_file(), reason="../shared/cursus samples absent")
REAL_DAGS = sorted((CURSUS / "dags").glob("*.dag.json"))


@pytest.fixture
def steps(tmp_path):
    folder = tmp_path / "steps"
    write_step(folder, "load", outputs=["data"])
    write_step(folder, "prep", inputs={"data": True}, outputs=["processed"])
    write_step(folder, "train", inputs={"processed": True}, outputs=["model"])
    write_step(folder, "evaluate", inputs={"model": True, "processed": False}, outputs=["metrics"])
    return folder


def diamond(tmp_path, **extra):
    return write_dag(tmp_path, {
        "name": "demo",
        "nodes": {"load": None, "prep": {"env": {"LABEL_FIELD": "label"}}, "train": "train",
                  "evaluate": {}, **extra},
        "edges": ["load -> prep -> train", ["train", "evaluate"], {"from": "prep", "to": "evaluate"}],
    })


def test_yaml_dag_loads_nodes_edges_and_order(tmp_path, steps):
    dag = load_dag(diamond(tmp_path))
    assert dag.name == "demo"
    assert dag.nodes["prep"].step.name == "prep"
    assert dag.nodes["prep"].env == {"LABEL_FIELD": "label"}
    assert [(e.upstream, e.downstream) for e in dag.edges] == [
        ("load", "prep"), ("prep", "train"), ("train", "evaluate"), ("prep", "evaluate")]
    assert dag.topological_order() == ["load", "prep", "train", "evaluate"]
    assert dag.parents("evaluate") == ["train", "prep"]
    assert dag.children("prep") == ["train", "evaluate"]
    assert dag.descendants("prep") == ["train", "evaluate"]
    assert dag.ancestors("evaluate") == ["load", "prep", "train"]
    assert dag.levels() == [["load"], ["prep"], ["train"], ["evaluate"]]
    assert not dag.missing_steps


def test_node_fields_paths_checks_and_job_type_suffix(tmp_path, steps):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "p.json").write_text("{}")
    path = write_dag(tmp_path, {
        "nodes": {
            "prep_training": {"step": "prep", "image": "img:1", "inputs": {"data": "../raw"}},
            "prep_testing": {"step": "steps/prep.step.yaml", "job_arguments": {"job_type": "x"},
                             "inputs": {"data": "s3://bucket/raw"}},
            "train": {},
        },
        "edges": [{"from": "prep_training", "to": "train", "map": {"processed": "processed"},
                   "checks": {"suite": "suites/p.json", "on": "both"}}],
    })
    dag = load_dag(path)
    node = dag.nodes["prep_training"]
    # the step takes no job_type argument: the suffix picks its variant only
    assert node.job_arguments == {} and node.job_type == "training" and node.image == "img:1"
    assert node.inputs == {"data": str((tmp_path.parent / "raw").resolve())}
    assert dag.nodes["prep_testing"].job_arguments == {"job_type": "x"}   # explicit wins
    assert dag.nodes["prep_testing"].inputs == {"data": "s3://bucket/raw"}
    edge = dag.edge("prep_training", "train")
    assert edge.map == (("processed", "processed"),)
    assert edge.checks.suite == (tmp_path / "suites" / "p.json").resolve() and edge.checks.on == "both"
    assert dag.levels() == [["prep_training", "prep_testing"], ["train"]]


def test_topological_order_is_stable_declaration_order(tmp_path, steps):
    nodes = {n: {"step": "load"} for n in ["z", "a", "m", "b"]}
    dag = load_dag(write_dag(tmp_path, {"nodes": nodes, "edges": ["m -> a"]}))
    assert dag.topological_order() == ["z", "m", "a", "b"]   # ready nodes by declaration index
    assert dag.levels() == [["z", "m", "b"], ["a"]]


def test_split_job_type():
    assert split_job_type("TabularPreprocessing_training") == ("TabularPreprocessing", "training")
    assert split_job_type("XGBoostTraining") == ("XGBoostTraining", None)


def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def copy_without(dag_file: Path, hidden: set[Path], folder: Path) -> Path:
    """A copy of a real DAG beside a copy of the real interfaces, less the `hidden` files."""
    (folder / "dags").mkdir(parents=True)
    (folder / "interfaces").mkdir()
    for path in (CURSUS / "interfaces").iterdir():
        if path.resolve() not in hidden:
            shutil.copy(path, folder / "interfaces")
    return Path(shutil.copy(dag_file, folder / "dags"))


@pytest.mark.parametrize("dag_file", REAL_DAGS, ids=lambda p: p.name)
def test_every_real_cursus_dag_resolves_its_steps_or_reports_them_missing(dag_file, tmp_path):
    doc = json.loads(dag_file.read_text())
    dag = load_dag(dag_file)
    assert dag.name == (doc.get("metadata") or {}).get("name", dag_file.name.split(".")[0])
    assert list(dag.nodes) == doc["dag"]["nodes"]
    assert [[e.upstream, e.downstream] for e in dag.edges] == doc["dag"]["edges"]
    for node in dag.nodes.values():
        step_type, job_type = split_job_type(node.name)
        assert node.job_type == job_type            # TabularPreprocessing_calibration -> calibration
        if node.step is None:
            assert f"step_type: {step_type}" in node.missing
            assert str((CURSUS / "interfaces").resolve()) in node.missing
        else:   # found by its file name or its declared step_type
            assert {_normal(node.step.name), _normal(node.step.step_type or "")} & {
                _normal(node.name), _normal(step_type)}
    order = dag.topological_order()
    assert sorted(order) == sorted(dag.nodes)
    assert all(order.index(e.upstream) < order.index(e.downstream) for e in dag.edges)
    level = {n: i for i, group in enumerate(dag.levels()) for n in group}
    assert set(level) == set(dag.nodes) and all(level[e.upstream] < level[e.downstream] for e in dag.edges)
    if dag.missing_steps:
        with pytest.raises(UserError, match=f"{len(dag.missing_steps)} node"):
            dag.require_steps()
    else:
        dag.require_steps()

    # without the interface of its first node, that node (and any sharing the file) is missing,
    # said where we looked and what to do; the others resolve as before
    hidden = dag.nodes[order[0]].step.file.resolve()
    copy = load_dag(copy_without(dag_file, {hidden}, tmp_path))
    gone = {n.name for n in dag.nodes.values() if n.step and n.step.file.resolve() == hidden}
    assert {n.name for n in copy.missing_steps} == gone | {n.name for n in dag.missing_steps}
    for name in gone:
        assert f"step_type: {split_job_type(name)[0]}" in copy.nodes[name].missing
        assert str((tmp_path / "interfaces").resolve()) in copy.nodes[name].missing
    assert all(copy.nodes[n].step.name == dag.nodes[n].step.name for n in dag.nodes
               if n not in gone and dag.nodes[n].step)
    with pytest.raises(UserError) as err:
        copy.require_steps()
    assert all(name in err.value.message for name in gone) and err.value.fix and err.value.field == "nodes"


@needs_shared
def test_steps_dirs_fill_in_missing_cursus_steps(tmp_path):
    write_step(tmp_path, "cradle", outputs=["DATA"], step_type="CradleDataLoading")
    dag = load_dag(E2E, steps_dirs=[tmp_path])
    assert dag.nodes["CradleDataLoading_training"].step.name == "cradle"


@needs_shared
def test_job_type_variant_is_merged_into_the_spec(tmp_path):
    dag_file = tmp_path / "rtm.dag.json"
    dag_file.write_text(json.dumps({"dag": {"nodes": ["RiskTableMapping_validation"], "edges": []}}))
    node = load_dag(dag_file, steps_dirs=[CURSUS / "interfaces"]).nodes["RiskTableMapping_validation"]
    assert node.spec["dependencies"]["model_artifacts_input"]["required"] is True
    assert node.spec["dependencies"]["input_data"]["type"] == "processing_output"   # kept from base
    assert node.step_types[0] == "RiskTableMapping_Validation"


def test_missing_step_file_is_kept_and_reported(tmp_path, steps):
    dag = load_dag(write_dag(tmp_path, {"nodes": {"prep": {}, "ghost": {}}, "edges": ["ghost -> prep"]}))
    assert dag.nodes["ghost"].step is None
    assert "no ghost.step.yaml" in dag.nodes["ghost"].missing and str(steps) in dag.nodes["ghost"].missing


@pytest.mark.parametrize("edges, field, message", [
    (["load -> prep", "prep -> train", "train -> prep"], "edges", "cycle: prep -> train -> prep"),
    (["load -> nope"], "edges[0]", "unknown node 'nope'"),
    ([{"from": "load"}], "edges[0].to", "dangling edge"),
    (["load -> prep", ["load", "prep"]], "edges[1]", "duplicate edge load -> prep"),
    (["prep -> prep"], "edges[0]", "self loop"),
    ([42], "edges[0]", "expected a mapping"),
    (["load ->"], "edges[0]", "expected `a -> b`"),
    ([["load"]], "edges[0]", "expected [upstream, downstream]"),
    ([{"from": "load", "to": "prep", "mapp": {}}], "edges[0].mapp", "unknown key"),
    ([{"from": "load", "to": "prep", "map": {"nope": "data"}}], "edges[0].map", "no output 'nope'"),
    ([{"from": "load", "to": "prep", "map": {"data": "nope"}}], "edges[0].map.data", "no input 'nope'"),
    ([{"from": "load", "to": "prep", "checks": "suites/missing.json"}], "edges[0].checks.suite",
     "no such suite file"),
    ([{"from": "load", "to": "prep", "checks": {"suite": "x", "on": "later"}}], "edges[0].checks.on",
     "expected one of producer"),
])
def test_bad_edges_name_the_field_and_fix(tmp_path, steps, edges, field, message):
    path = write_dag(tmp_path, {"nodes": {"load": {}, "prep": {}, "train": {}}, "edges": edges})
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_dag(path)
    assert err.value.file == str(path) and err.value.field == field and err.value.fix


def test_longer_cycle_is_named_in_order(tmp_path, steps):
    path = write_dag(tmp_path, {"nodes": {"load": {}, "prep": {}, "train": {}},
                                "edges": ["load -> prep -> train -> load"]})
    with pytest.raises(UserError, match="cycle: load -> prep -> train -> load"):
        load_dag(path)


@pytest.mark.parametrize("nodes, field, message", [
    ({"prep": {"stpe": "prep"}}, "nodes.prep.stpe", "unknown key"),
    ({"prep": ["x"]}, "nodes.prep", "expected a mapping"),
    ({"prep": {"inputs": {"nope": "../raw"}}}, "nodes.prep.inputs", "no input 'nope'"),
    ({"prep": {"image": 3}}, "nodes.prep.image", "expected an image URI"),
    ({}, "nodes", "no nodes"),
])
def test_bad_nodes_name_the_field_and_fix(tmp_path, steps, nodes, field, message):
    path = write_dag(tmp_path, {"nodes": nodes})
    with pytest.raises(UserError, match=message) as err:
        load_dag(path)
    assert err.value.field == field and err.value.fix


def test_unknown_keys_get_a_did_you_mean(tmp_path, steps):
    with pytest.raises(UserError) as err:
        load_dag(write_dag(tmp_path, {"nodes": {"prep": {"stpe": "prep"}}}))
    assert err.value.message == "unknown key 'stpe'" and err.value.fix == "did you mean 'step'?"
    with pytest.raises(UserError) as err:
        load_dag(write_dag(tmp_path, {"nodes": {"prep": {"zzz": 1}}}))
    assert err.value.fix == ("use one of: code, env, framework_version, image, inputs, job_arguments, "
                             "outputs, provide, skip, step")


def test_input_fed_by_map_and_external_binding_is_an_error(tmp_path, steps):
    path = write_dag(tmp_path, {"nodes": {"load": {}, "prep": {"inputs": {"data": "../raw"}}},
                                "edges": [{"from": "load", "to": "prep", "map": {"data": "data"}}]})
    with pytest.raises(UserError, match="already fed by nodes.prep.inputs"):
        load_dag(path)


@pytest.mark.parametrize("doc, field", [
    ({"dag": {"nodes": ["A", "A"], "edges": []}}, "dag.nodes"),
    ({"dag": {"nodes": ["A", "B"], "edges": [["A"]]}}, "dag.edges[0]"),
    ({"dag": {"nodes": ["A", "B"], "edges": [["A", "C"]]}}, "dag.edges[0]"),
    ({"dag": []}, "dag"),
])
def test_bad_cursus_json(tmp_path, doc, field):
    path = tmp_path / "x.dag.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError) as err:
        load_dag(path)
    assert err.value.field == field


def test_unreadable_files(tmp_path):
    with pytest.raises(UserError, match="no such DAG file"):
        load_dag(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("nodes: [")
    with pytest.raises(UserError, match="not valid YAML"):
        load_dag(tmp_path / "bad.yaml")
