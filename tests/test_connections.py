import json
import shutil

import pytest
from cursus_local.cli.render import CONNECTION_COLUMNS, connection_rows
from cursus_local.pipeline.connections import (
    ALIAS,
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
@pytest.mark.parametrize("dag_file", sorted((CURSUS / "dags").glob("*.dag.json")), ids=lambda p: p.name)
def test_every_real_cursus_dag_connects(dag_file, tmp_path):
    """What holds for any real Cursus DAG: each connection is an edge's, between real channels,
    scored as its reason says; each required input is fed or reported with a fix; each edge
    between known steps carries data. Then, with one interface hidden, what it fed is unchecked."""
    from collections import Counter

    from cursus_local.pipeline.connections import (
        COMPATIBLE_BONUS,
        PER_KEYWORD,
        SEMANTIC_BASE,
        SEMANTIC_MAX,
    )

    def required(node, name):          # the spec's `required` wins over the contract's
        deps = node.spec.get("dependencies") or {}
        return (deps.get(name) or {}).get("required", node.step.inputs[name].required)

    dag = load_dag(dag_file)
    report = discover(dag)
    edges = {(e.upstream, e.downstream) for e in dag.edges}
    for c in report.connections:
        up, down = dag.nodes[c.upstream], dag.nodes[c.downstream]
        assert (c.upstream, c.downstream) in edges
        assert c.output in up.step.outputs and c.input in down.step.inputs
        reason, _, compatible = c.how.partition("; compatible source ")
        dep = (down.spec.get("dependencies") or {}).get(c.input) or {}
        out = (up.spec.get("outputs") or {}).get(c.output) or {}
        if reason == "exact name":
            assert c.output == c.input and c.score - bool(compatible) * COMPATIBLE_BONUS == EXACT
        elif reason.startswith("alias "):
            assert reason == f"alias {c.input}" and c.input.lower() in [a.lower() for a in out["aliases"]]
            assert c.score - bool(compatible) * COMPATIBLE_BONUS == ALIAS
        elif reason.startswith("semantic: "):
            hits = reason.removeprefix("semantic: ").split(", ")
            assert set(hits) <= {k.lower() for k in [c.input, *dep.get("semantic_keywords", [])]}
            assert c.score - bool(compatible) * COMPATIBLE_BONUS == min(
                SEMANTIC_BASE + PER_KEYWORD * len(hits), SEMANTIC_MAX)
        else:
            assert reason.startswith("last resort") and c.score == LAST_RESORT
        if compatible:
            assert compatible in up.step_types and compatible in dep["compatible_sources"]
    fed = [(c.downstream, c.input) for c in report.connections + report.external]
    assert len(fed) == len(set(fed))                                  # an input is fed once
    assert max(Counter((c.upstream, c.output, c.downstream) for c in report.connections).values(),
               default=1) == 1                                        # an output feeds one input of a node
    problems = report.unfed_required + report.ambiguous + report.unchecked
    assert all(p.fix and p.message for p in problems + report.missing_steps)
    assert not {(p.node, p.input) for p in problems} & set(fed)
    accounted = set(fed) | {(p.node, p.input) for p in problems}
    assert all((n.name, i) in accounted for n in dag.nodes.values() if n.step
               for i in n.step.inputs if required(n, i))   # every required input: fed, or said why not
    known = {n for n, node in dag.nodes.items() if node.step}
    assert set(report.skipped_edges) == {e for e in edges if not set(e) <= known}
    assert all(any((c.upstream, c.downstream) == e for c in report.connections)
               for e in edges if set(e) <= known)                     # every edge carries data
    assert {p.node for p in report.missing_steps} == {n.name for n in dag.missing_steps}
    assert report.ok == (not problems and not report.missing_steps)
    rows = connection_rows(report)
    assert all(len(r) == len(CONNECTION_COLUMNS) for r in rows)
    assert sum(r[0] == "ok" for r in rows) == len(report.connections) > 0
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()
    assert report.to_dict()["ok"] is report.ok

    # hide the interface of the first node: it is reported missing, its edges skipped, and each
    # required input it fed is fed by another parent or reported unchecked, naming it
    first = dag.topological_order()[0]
    hidden = dag.nodes[first].step.file
    (tmp_path / "dags").mkdir()
    shutil.copytree(hidden.parent, tmp_path / "interfaces", ignore=lambda d, names: [hidden.name])
    copy = discover(load_dag(shutil.copy(dag_file, tmp_path / "dags")))
    assert first in {p.node for p in copy.missing_steps} and not copy.ok
    assert {e for e in edges if first in e} <= set(copy.skipped_edges)
    still_fed = {(c.downstream, c.input) for c in copy.connections + copy.external}
    unchecked = {(p.node, p.input): p for p in copy.unchecked}
    for c in report.connections:
        if c.upstream == first and required(dag.nodes[c.downstream], c.input) \
                and (c.downstream, c.input) not in still_fed:
            assert first in unchecked[(c.downstream, c.input)].message
    statuses = {r[0] for r in connection_rows(copy)}
    assert "no step file" in statuses and ("skipped" in statuses) == any(first in e for e in edges)


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
    assert any(r[0] == "ambiguous" for r in connection_rows(report))


def test_unfed_required_input_is_reported_with_its_fix(tmp_path):
    write_step(tmp_path / "steps", "a", outputs=["model", "metrics"])
    write_step(tmp_path / "steps", "b", inputs={"calendar": True, "notes": False})
    write_step(tmp_path / "steps", "root", inputs={"raw": True})
    report = run(tmp_path, {"a": {}, "b": {}, "root": {}}, ["a -> b"])
    problems = {(p.node, p.input): p for p in report.unfed_required}
    assert set(problems) == {("b", "calendar"), ("root", "raw")}          # optional `notes` is fine
    assert problems[("b", "calendar")].fix == (
        "add `map: {<output>: calendar}` to edge a -> b (outputs: model, metrics), "
        "or bind it under nodes.b.inputs (or --input b.calendar=PATH)")
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
