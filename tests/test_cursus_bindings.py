"""Real Cursus interfaces and DAGs unchanged: node names read as Cursus reads them, variants merged
per job type, our YAML over a Cursus .dag.json adding only local bindings, one-off flags, partial
selections, and connection types as Cursus's resolver has them. No engine."""

import json
import re
import shutil

import pytest
import yaml
from cursus_local.errors import UserError
from cursus_local.pipeline.connections import discover, types_compatible
from cursus_local.pipeline.dag import bind, load_dag, name_readings, select
from dag_files import CURSUS, write_dag, write_step

INTERFACES = CURSUS / "interfaces"
DUMMY = CURSUS / "dags" / "xgboost_complete_e2e_dummy.dag.json"
needs_shared = pytest.mark.skipif(not DUMMY.is_file(), reason="../shared/cursus samples absent")


def cursus_dag(tmp_path, nodes, edges=(), name="x.dag.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"dag": {"nodes": nodes, "edges": [list(e) for e in edges]}}))
    return path


def test_name_readings_follow_cursus_order():
    assert name_readings("XGBoostTraining") == [("XGBoostTraining", None)]
    assert name_readings("XGBoostModelEval_evaluation") == [
        ("XGBoostModelEval_evaluation", None), ("XGBoostModelEval", "evaluation")]
    assert name_readings("TabularPreprocessing_training_delta") == [
        ("TabularPreprocessing_training_delta", None), ("TabularPreprocessing_training", "delta"),
        ("TabularPreprocessing", "training_delta")]


@needs_shared
@pytest.mark.parametrize("suffix", ["evaluation", "delta", "baseline", "sampling", "finetune", "pretrain",
                                    "scored", "anything_else", "training"])
def test_any_suffix_resolves_as_cursus_does(tmp_path, suffix):
    """Not a fixed list: whatever follows the step type is the job type (Cursus's DAG config factory)."""
    nodes = [f"XGBoostModelEval_{suffix}", f"DummyDataLoading_{suffix}", "Package"]
    dag = load_dag(cursus_dag(tmp_path, nodes), steps_dirs=[INTERFACES])
    assert not dag.missing_steps
    evaluation, loading = dag.nodes[nodes[0]], dag.nodes[nodes[1]]
    assert evaluation.step.step_type == "XGBoostModelEval" and evaluation.job_type == suffix
    assert evaluation.job_arguments == {"job_type": suffix}        # the step takes --job_type
    assert loading.step.step_type == "DummyDataLoading" and loading.job_arguments == {}   # it doesn't
    assert dag.nodes["Package"].job_type is None


@needs_shared
def test_unknown_step_type_says_every_reading_it_tried(tmp_path):
    dag = load_dag(cursus_dag(tmp_path, ["NoSuchStep_evaluation"]), steps_dirs=[INTERFACES])
    missing = dag.nodes["NoSuchStep_evaluation"].missing
    assert "`step_type: NoSuchStep_evaluation`" in missing and "`step_type: NoSuchStep`" in missing
    with pytest.raises(UserError) as err:
        dag.require_steps()
    assert "--skip NoSuchStep_evaluation" in err.value.fix and "--steps-dir DIR" in err.value.fix
    # the .dag.json has no `step:`: a YAML beside it does
    assert "`cursus_dag: x.dag.json`" in err.value.fix and "{step: path/to/x.step.yaml}" in err.value.fix


@needs_shared
def test_variant_contract_is_deep_merged_over_the_base(tmp_path):
    doc = yaml.safe_load((INTERFACES / "tabular_preprocessing.step.yaml").read_text())
    doc["variants"] = {"delta": {"contract": {"inputs": {"DATA_SECONDARY": {"required": True}},
                                              "env_vars": {"optional": {"TRAIN_RATIO": "0.9"}}},
                                 "spec": {"dependencies": {"DATA_SECONDARY": {"required": True}}}}}
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "tp.step.yaml").write_text(yaml.safe_dump(doc))
    dag = load_dag(cursus_dag(tmp_path, ["TabularPreprocessing_delta", "TabularPreprocessing_training"]),
                   steps_dirs=[tmp_path / "steps"])
    delta, base = dag.nodes["TabularPreprocessing_delta"].step, dag.nodes["TabularPreprocessing_training"].step
    assert delta.inputs["DATA_SECONDARY"].required and not base.inputs["DATA_SECONDARY"].required
    assert delta.inputs["DATA_SECONDARY"].path == base.inputs["DATA_SECONDARY"].path   # kept from base
    assert delta.env_optional["TRAIN_RATIO"] == "0.9" and delta.env_optional["LABEL_FIELD"] == ""
    assert dag.nodes["TabularPreprocessing_delta"].spec["dependencies"]["DATA_SECONDARY"]["type"] \
        == "processing_output"


@needs_shared
def test_yaml_over_a_cursus_dag_adds_only_local_bindings(tmp_path):
    original = DUMMY.read_text()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "data").mkdir()
    path = write_dag(tmp_path, {
        "cursus_dag": str(DUMMY), "steps_dir": str(INTERFACES), "code": "scripts",
        "nodes": {"DummyDataLoading_training": {"inputs": {"INPUT_DATA": "data"}, "env": {"SHARD_SIZE": 5}},
                  "Registration": {"skip": True},
                  "Payload": {"provide": {"payload_sample": "data"}, "code": "scripts"}},
        "edges": [{"from": "XGBoostTraining", "to": "Package", "map": {"model_output": "model_input"}}],
    })
    dag = load_dag(path)
    cursus = json.loads(original)
    assert list(dag.nodes) == cursus["dag"]["nodes"] and dag.name == "xgboost_complete_e2e_dummy"
    assert [[e.upstream, e.downstream] for e in dag.edges] == cursus["dag"]["edges"]
    assert dag.edge("XGBoostTraining", "Package").map == (("model_output", "model_input"),)
    assert dag.code == str((tmp_path / "scripts").resolve()) and dag.cursus_file == DUMMY.resolve()
    loading = dag.nodes["DummyDataLoading_training"]
    assert loading.inputs == {"INPUT_DATA": str((tmp_path / "data").resolve())} and loading.env == {"SHARD_SIZE": "5"}
    assert not dag.runs("Registration") and not dag.runs("Payload") and dag.runs("Package")
    assert dag.not_run("Payload").startswith("provided: payload_sample=")
    assert DUMMY.read_text() == original                          # the Cursus file stays as it is


@needs_shared
@pytest.mark.parametrize("doc, field, message, fix", [
    ({"nodes": {"Registraton": {"skip": True}}}, "nodes.Registraton", "no node 'Registraton'",
     "did you mean 'Registration'?"),
    ({"edges": ["Package -> Payload"]}, "edges[0]", "not in xgboost_complete_e2e_dummy.dag.json", "write your own"),
    ({"nodes": {"Package": {"provide": {"packaged": "x"}}}}, "nodes.Package.provide",
     "declares no output 'packaged'", "did you mean 'packaged_model'?"),
    ({"nodes": {"Package": {"skip": "yes"}}}, "nodes.Package.skip", "expected true or false", "skip: true"),
    ({"nodes": {"Package": {"cod": "x"}}}, "nodes.Package.cod", "unknown key", "did you mean 'code'?"),
    ({"code": "nope"}, "code", "no such folder", "relative to the DAG file"),
])
def test_bad_bindings_name_file_field_and_fix(tmp_path, doc, field, message, fix):
    path = write_dag(tmp_path, {"cursus_dag": str(DUMMY), **doc})
    with pytest.raises(UserError) as err:
        load_dag(path)
    assert err.value.file == str(path) and err.value.field == field
    assert message in err.value.message and fix in err.value.fix


@needs_shared
def test_one_off_flags_bind_nodes_and_fail_with_a_did_you_mean(tmp_path):
    dag = load_dag(DUMMY)
    (tmp_path / "code").mkdir()
    bind(dag, inputs={"DummyDataLoading_training.INPUT_DATA": str(tmp_path)},
         env={"Package.X": "1"}, provide={"XGBoostTraining.model_output": "s3://b/model"},
         job_arguments={"XGBoostTraining.job_type": "training"}, skip=["Registration"], code=tmp_path / "code")
    assert dag.nodes["DummyDataLoading_training"].inputs == {"INPUT_DATA": str(tmp_path)}
    assert dag.nodes["XGBoostTraining"].job_arguments["job_type"] == "training"
    assert dag.nodes["Package"].env == {"X": "1"} and dag.code == str(tmp_path / "code")
    assert dag.nodes["XGBoostTraining"].provide == {"model_output": "s3://b/model"}
    assert dag.nodes["Registration"].skip
    for kwargs, field, fix in [
        ({"provide": {"XGBoostTraining.model": "x"}}, "--provide", "did you mean 'model_output'?"),
        ({"inputs": {"Package.model": "x"}}, "--input", "write --input Package.<input>=..."),
        ({"skip": ["Registraton"]}, "--skip", "did you mean 'Registration'?"),
        ({"env": {"Pakage.X": "1"}}, "--env", "did you mean 'Package'?"),
        ({"env": {"X": "1"}}, "--env", "NODE.NAME=VALUE"),
        ({"job_arguments": {"XGBoostTrainin.job_type": "x"}}, "--job-arg", "did you mean 'XGBoostTraining'?"),
        ({"code": tmp_path / "none"}, "--code", "folder"),
    ]:
        with pytest.raises(UserError) as err:
            bind(load_dag(DUMMY), **kwargs)
        assert err.value.field == field and fix in err.value.fix, (kwargs, err.value)


@needs_shared
def test_selection_only_from_to():
    dag = load_dag(DUMMY)
    select(dag, from_="XGBoostTraining", to="Package")
    assert {n for n in dag.nodes if dag.runs(n)} == {"XGBoostTraining", "XGBoostModelEval_calibration",
                                                      "ModelCalibration_calibration", "Package"}
    assert dag.not_run("Payload") == "not selected (--from --to)"
    select(dag, only=["Payload", "Package"])
    assert {n for n in dag.nodes if dag.runs(n)} == {"Payload", "Package"}
    with pytest.raises(UserError, match="no node to run"):
        select(dag, from_="Package", to="XGBoostTraining")
    with pytest.raises(UserError) as err:
        select(dag, only=["Pakage"])
    assert err.value.field == "--only" and "'Package'" in err.value.fix


# --- connection types, as Cursus's resolver has them ---------------------------------------------

def test_type_matrix():
    assert types_compatible("hyperparameters", "custom_property")
    assert not types_compatible("hyperparameters", "model_artifacts")
    assert not types_compatible("model_artifacts", "processing_output")
    assert types_compatible("payload_samples", "processing_output")
    assert types_compatible("training_data", "processing_output")
    assert types_compatible(None, "model_artifacts") and types_compatible("model_artifacts", None)


def test_a_model_artifact_never_feeds_a_hyperparameters_input(tmp_path):
    write_step(tmp_path / "steps", "train", outputs=["model_artifacts_output"],
               spec={"outputs": {"model_artifacts_output": {"type": "model_artifacts",
                                                            "aliases": ["hyperparameters_s3_uri"]}}})
    write_step(tmp_path / "steps", "use", inputs={"hyperparameters_s3_uri": True},
               spec={"dependencies": {"hyperparameters_s3_uri": {
                   "type": "hyperparameters", "semantic_keywords": ["model", "artifacts"]}}})
    report = discover(load_dag(write_dag(tmp_path, {"nodes": {"train": {}, "use": {}}, "edges": ["train -> use"]})))
    assert not report.connections                 # not by alias, keywords, nor as a last resort
    assert [(p.node, p.input) for p in report.unfed_required] == [("use", "hyperparameters_s3_uri")]
    assert [p.node for p in report.empty_edges] == ["use"] and not report.ok


@needs_shared
def test_real_xgboost_training_into_risk_table_mapping_follows_cursus_scores(tmp_path):
    """Cursus's resolver: model_output -> hyperparameters_s3_uri / model_artifacts_input scores 0
    (types), evaluation_output -> input_data 0.74, -> model_artifacts_input 0.64."""
    dag = load_dag(cursus_dag(tmp_path, ["XGBoostTraining", "RiskTableMapping_training"],
                              [("XGBoostTraining", "RiskTableMapping_training")]), steps_dirs=[INTERFACES])
    report = discover(dag)
    fed = {(c.output, c.input) for c in report.connections}
    assert not {(o, i) for o, i in fed if o == "model_output"}
    assert ("evaluation_output", "input_data") in fed


@needs_shared
def test_dummy_metadata_feeds_data_secondary_as_cursus_wires_it():
    """Cursus's assembler (2.9.31, one output per input of a consumer, required first): DATA <- DATA
    (1.0), SIGNATURE <- SIGNATURE (1.0), then DATA_SECONDARY <- METADATA (0.843 > 0.5: same type,
    a compatible source, the best remaining name). We wire the same; the script decides what to read."""
    report = discover(load_dag(DUMMY))
    feeds = report.feeds("TabularPreprocessing_training")
    assert {i: c.output for i, c in feeds.items()} == {"DATA": "DATA", "SIGNATURE": "SIGNATURE",
                                                      "DATA_SECONDARY": "METADATA"}


def test_an_edge_that_carries_nothing_is_reported_unless_its_map_is_empty(tmp_path):
    write_step(tmp_path / "steps", "a", outputs=["report"])
    write_step(tmp_path / "steps", "b", inputs={"data": False})
    report = discover(load_dag(write_dag(tmp_path, {"nodes": {"a": {}, "b": {}}, "edges": ["a -> b"]})))
    (problem,) = report.empty_edges
    assert "a -> b" in problem.message and "carries nothing" in problem.message and not report.ok
    assert "map: {}" in problem.fix
    ordered = write_dag(tmp_path, {"nodes": {"a": {}, "b": {}}, "edges": [{"from": "a", "to": "b", "map": {}}]})
    assert discover(load_dag(ordered)).ok


@needs_shared
def test_empty_edge_fix_in_a_cursus_dag_points_to_a_yaml_beside_it(tmp_path):
    shutil.copy(INTERFACES / "tabular_preprocessing.step.yaml", tmp_path)
    shutil.copy(INTERFACES / "model_calibration.step.yaml", tmp_path)
    dag = load_dag(cursus_dag(tmp_path, ["TabularPreprocessing_calibration", "ModelCalibration_training"],
                              [("TabularPreprocessing_calibration", "ModelCalibration_training")]))
    report = discover(dag)
    if report.empty_edges:
        assert all("cursus_dag: x.dag.json" in p.fix and "`step:`" not in p.fix for p in report.empty_edges)
    assert not re.search(r"nodes\.\w+\.inputs", " ".join(p.fix for p in report.unfed_required))
