import json
import shutil

import pytest
from cursus_local.pipeline.connections import (
    ALIAS,
    COLUMNS,
    EXACT,
    EXPLICIT,
    LAST_RESORT,
    discover,
)
from cursus_local.pipeline.dag import load_dag
from dag_files import CURSUS, write_dag, write_step

E2E = CURSUS / "dags" / "xgboost_complete_e2e.dag.json"
needs_shared = pytest.mark.skipif(not E2E.is_file(), reason="../shared/cursus samples absent")


def pairs(report):
    return {(c.upstream, c.output, c.downstream, c.input): c for c in report.connections}


def run(tmp_path, nodes, edges):
    return discover(load_dag(write_dag(tmp_path, {"nodes": nodes, "edges": edges})))


@needs_shared
def test_real_xgboost_dag():
    report = discover(load_dag(E2E))
    found = pairs(report)
    assert set(found) == {
        ("TabularPreprocessing_training", "processed_data", "XGBoostTraining", "input_path"),
        ("XGBoostTraining", "model_output", "Package", "model_input"),
    }
    via = found[("TabularPreprocessing_training", "processed_data", "XGBoostTraining", "input_path")]
    assert via.how.startswith("alias input_path") and "TabularPreprocessing" in via.how
    assert via.score == ALIAS + 5
    assert len(report.missing_steps) == 6 and len(report.skipped_edges) == 9
    assert {(p.node, p.input) for p in report.unchecked} == {
        ("TabularPreprocessing_training", "DATA"), ("TabularPreprocessing_calibration", "DATA")}
    assert not report.unfed_required and not report.ambiguous and not report.ok
    rows = report.to_rows()
    assert all(len(r) == len(COLUMNS) for r in rows)
    assert {r[0] for r in rows} == {"ok", "skipped", "unchecked", "no step file"}
    assert json.loads(json.dumps(report.to_dict()))["ok"] is False


@needs_shared
def test_cursus_interfaces_in_our_yaml(tmp_path):
    steps = tmp_path / "steps"
    for name in ("tabular_preprocessing", "currency_conversion", "risk_table_mapping"):
        shutil.copy(CURSUS / "interfaces" / f"{name}.step.yaml", steps.mkdir(exist_ok=True) or steps)
    report = run(tmp_path, {
        "prep": {"step": "tabular_preprocessing", "inputs": {"DATA": "../raw"}},
        "convert": {"step": "currency_conversion"},
        "risk": {"step": "risk_table_mapping"},
    }, ["prep -> convert -> risk"])
    found = pairs(report)
    assert found[("prep", "processed_data", "convert", "input_data")].how.startswith("alias input_data")
    assert found[("convert", "processed_data", "risk", "input_data")].score == ALIAS + 5  # ProcessingStep
    assert [(c.downstream, c.input) for c in report.external] == [("prep", "DATA")]
    assert report.ok and report.feeds("prep")["DATA"].output == str((tmp_path.parent / "raw").resolve())


def test_explicit_map_beats_exact_name(tmp_path):
    write_step(tmp_path / "steps", "a", outputs=["data", "other"])
    write_step(tmp_path / "steps", "b", inputs={"data": True, "extra": False})
    report = run(tmp_path, {"a": {}, "b": {}}, [{"from": "a", "to": "b", "map": {"other": "data"}}])
    assert list(pairs(report)) == [("a", "other", "b", "data")]      # the edge carries only its map
    assert report.connections[0].how == "explicit map" and report.connections[0].score == EXPLICIT


def test_exact_name_beats_alias(tmp_path):
    alias_spec = {"outputs": {"result": {"aliases": ["data"]}}}
    write_step(tmp_path / "steps", "a", outputs=["result", "data"], spec=alias_spec)
    write_step(tmp_path / "steps", "b", inputs={"data": True})
    report = run(tmp_path, {"a": {}, "b": {}}, ["a -> b"])
    assert list(pairs(report)) == [("a", "data", "b", "data")] and report.connections[0].score == EXACT


def test_semantic_match_with_compatible_source_as_tie_breaker(tmp_path):
    spec = {"dependencies": {"features": {"semantic_keywords": ["tabular", "data"],
                                          "compatible_sources": ["Loader"]}}}
    write_step(tmp_path / "steps", "loader", outputs=["tabular_data"], step_type="Loader")
    write_step(tmp_path / "steps", "other", outputs=["tabular_data"], step_type="Other")
    write_step(tmp_path / "steps", "use", inputs={"features": True}, spec=spec)
    report = run(tmp_path, {"loader": {}, "other": {}, "use": {}}, ["other -> use", "loader -> use"])
    (c,) = report.connections
    assert (c.upstream, c.output) == ("loader", "tabular_data")
    assert c.how == "semantic: tabular, data; compatible source Loader"
    assert not report.ambiguous


def test_ambiguous_match_is_reported_with_a_fix(tmp_path):
    write_step(tmp_path / "steps", "split", outputs=["train_data", "test_data"])
    write_step(tmp_path / "steps", "fit", inputs={"data": True})
    report = run(tmp_path, {"split": {}, "fit": {}}, ["split -> fit"])
    assert not report.connections and not report.unfed_required
    (problem,) = report.ambiguous
    assert (problem.node, problem.input) == ("fit", "data")
    assert "split.train_data" in problem.message and "split.test_data" in problem.message
    assert "map: {test_data: data}" in problem.fix or "map: {train_data: data}" in problem.fix
    assert any(r[0] == "ambiguous" for r in report.to_rows())


def test_unfed_required_input_is_reported_with_its_fix(tmp_path):
    write_step(tmp_path / "steps", "a", outputs=["model", "metrics"])
    write_step(tmp_path / "steps", "b", inputs={"calendar": True, "notes": False})
    write_step(tmp_path / "steps", "root", inputs={"raw": True})
    report = run(tmp_path, {"a": {}, "b": {}, "root": {}}, ["a -> b"])
    problems = {(p.node, p.input): p for p in report.unfed_required}
    assert set(problems) == {("b", "calendar"), ("root", "raw")}          # optional `notes` is fine
    assert problems[("b", "calendar")].fix == (
        "add `map: {<output>: calendar}` to edge a -> b (outputs: model, metrics), "
        "or bind it under nodes.b.inputs")
    assert "bind it under nodes.root.inputs" in problems[("root", "raw")].fix
    assert not report.ok


def test_last_resort_single_output_to_single_required_input(tmp_path):
    write_step(tmp_path / "steps", "a", outputs=["out"])
    write_step(tmp_path / "steps", "b", inputs={"calendar": True, "notes": False})
    report = run(tmp_path, {"a": {}, "b": {}}, ["a -> b"])
    (c,) = report.connections
    assert (c.output, c.input, c.score) == ("out", "calendar", LAST_RESORT)
    assert c.how.startswith("last resort")


def test_required_input_wins_an_output_over_an_optional_one(tmp_path):
    spec = {"dependencies": {"main": {"semantic_keywords": ["data"]},
                             "extra": {"semantic_keywords": ["data"]}}}
    write_step(tmp_path / "steps", "a", outputs=["data_out"])
    write_step(tmp_path / "steps", "b", inputs={"main": True, "extra": False}, spec=spec)
    report = run(tmp_path, {"a": {}, "b": {}}, ["a -> b"])
    assert list(pairs(report)) == [("a", "data_out", "b", "main")] and report.ok


def test_discover_runs_past_a_node_without_step_file(tmp_path):
    write_step(tmp_path / "steps", "a", outputs=["data"])
    write_step(tmp_path / "steps", "b", inputs={"data": True})
    report = run(tmp_path, {"a": {}, "b": {}, "ghost": {}}, ["a -> b", "b -> ghost"])
    assert list(pairs(report)) == [("a", "data", "b", "data")]
    assert [p.node for p in report.missing_steps] == ["ghost"]
    assert report.skipped_edges == [("b", "ghost")]


def test_explicit_map_from_a_node_without_step_file_still_counts(tmp_path):
    write_step(tmp_path / "steps", "b", inputs={"data": True, "calendar": True})
    report = run(tmp_path, {"ghost": {}, "b": {}},
                 [{"from": "ghost", "to": "b", "map": {"out": "data"}}])
    assert list(pairs(report)) == [("ghost", "out", "b", "data")]
    (problem,) = report.unfed_required
    assert problem.input == "calendar" and "outputs: unknown: no step file" in problem.fix
