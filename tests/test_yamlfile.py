"""Our YAML reads as it looks: `on:` is a key, `yes` is text, a key twice is an error."""

import pytest
from cursus_local import yamlfile
from cursus_local.errors import UserError
from cursus_local.pipeline.dag import load_dag
from dag_files import write_step


def test_only_true_and_false_are_booleans():
    doc = yamlfile.load("checks: {suite: s.json, on: producer}\nflags: [yes, no, off, true, False]\n")
    assert doc == {"checks": {"suite": "s.json", "on": "producer"},
                   "flags": ["yes", "no", "off", True, False]}


def test_a_key_twice_is_an_error_naming_it_and_its_first_line():
    with pytest.raises(UserError) as error:
        yamlfile.load("a: 1\nb: 2\na: 3\n", file="x.yaml")
    assert "found the key 'a' twice (first on line 1)" in str(error.value) and error.value.file == "x.yaml"
    assert error.value.field == "line 3" and '"x.yaml", line 3' in error.value.message


def test_the_readmes_edge_form_with_checks_on_producer_loads(tmp_path):
    # README: `{from: a, to: b, map: {out: in}, checks: {suite: suites/x.json, on: producer|consumer|both}}`
    write_step(tmp_path / "steps", "a", outputs=["out"])
    write_step(tmp_path / "steps", "b", inputs={"in": True}, outputs=["done"])
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "x.json").write_text('{"name": "x", "expectations": []}')
    (tmp_path / "dag.yaml").write_text(
        "nodes: {a: {}, b: {}}\n"
        "edges:\n  - {from: a, to: b, map: {out: in}, checks: {suite: suites/x.json, on: producer}}\n")
    dag = load_dag(tmp_path / "dag.yaml")
    assert dag.edges[0].checks.on == "producer"
