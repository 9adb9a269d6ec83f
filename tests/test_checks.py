"""Handoff checks: real GX validation of real files."""

import json

import numpy as np
import pandas as pd
import pytest
from cursus_local.data.checks import canonical_type, load_suite, validate
from cursus_local.data.datasets import Layout, write_table
from cursus_local.errors import UserError
from cursus_local.results import jsonable
from cursus_local.status import Verdict


def expectation(kind, severity="critical", **kwargs):
    return {"type": kind, "kwargs": kwargs, "severity": severity}


SUITE = {"name": "preprocess_output", "expectations": [
    expectation("expect_column_to_exist", column="id"),
    expectation("expect_column_values_to_be_of_type", column="amount", type_="double"),
    expectation("expect_column_values_to_be_in_type_list", column="currency", type_list=["string"]),
    expectation("expect_column_values_to_not_be_null", column="amount"),
    expectation("expect_column_values_to_be_between", column="amount", min_value=0, max_value=100),
    expectation("expect_column_values_to_be_in_set", column="currency", value_set=["USD", "EUR"]),
    expectation("expect_table_row_count_to_be_between", min_value=1),
]}


def amounts(rows=100, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(rows), "amount": rng.uniform(0, 100, rows).round(2),
                         "currency": rng.choice(["USD", "EUR"], rows)})


def test_good_data_passes(tmp_path):
    write_table(amounts(), tmp_path)
    result = validate(SUITE, tmp_path)
    assert (result.status, result.blocking) == ("PASS", False), result.failures
    assert result.total_rows == result.sample_rows == 100
    json.dumps(result.to_dict())


def test_amount_written_as_text_is_a_critical_failure(tmp_path):
    broken = amounts().assign(amount=lambda d: d.amount.map(lambda a: f"{a:.2f} USD"))
    write_table(broken, tmp_path)
    result = validate(SUITE, tmp_path)
    assert (result.status, result.blocking) == ("FAIL", True)
    [failure] = [r for r in result.failures if r.type.endswith("of_type")]
    assert failure.severity == "critical" and failure.column == "amount"
    assert failure.unexpected_count == 100 and failure.unexpected_examples[0].endswith(" USD")
    assert "'amount' is str, expected float64" in failure.message
    assert "not numbers" in failure.message
    json.dumps(result.to_dict())


def test_warning_failure_does_not_block(tmp_path):
    suite = {"name": "s", "expectations": [
        expectation("expect_column_values_to_be_in_set", "warning", column="currency",
                    value_set=["USD"])]}
    write_table(amounts(), tmp_path)
    result = validate(suite, tmp_path)
    assert (result.status, result.blocking) == ("WARN", False)
    [failure] = result.failures
    assert failure.unexpected_examples == ["EUR"] * len(failure.unexpected_examples)
    assert 0 < failure.unexpected_percent < 100 and "values" in failure.message


def test_type_aliases_and_integer_columns_as_float(tmp_path):
    frame = pd.DataFrame({"n": [1, None, 3], "x": [12.0, 13.0, 14.0], "flag": [True, None, False],
                          "day": ["2024-01-01", "2024-01-02", None], "notes": [None, None, None]})
    write_table(frame, tmp_path)  # pyarrow writes 12.0 as "12": x reads back as int64
    suite = {"name": "s", "expectations": [
        expectation("expect_column_values_to_be_of_type", column="n", type_="integer"),
        expectation("expect_column_values_to_be_of_type", column="x", type_="float"),
        expectation("expect_column_values_to_be_of_type", column="flag", type_="boolean"),
        expectation("expect_column_type_to_be", column="day", type_="date"),
        expectation("expect_column_values_to_be_in_type_list", column="notes", type_list=["str"]),
        expectation("expect_column_values_to_be_between", column="n", min_value=1, max_value=3),
    ]}
    result = validate(suite, tmp_path)
    assert result.status == "PASS", result.failures
    assert canonical_type("DOUBLE") == "float64" and canonical_type("int32") == "int32"


def test_splits_are_validated_one_by_one(tmp_path):
    frame = amounts().assign(split=["train"] * 80 + ["test"] * 20)
    frame.loc[95, "currency"] = "GBP"
    write_table(frame, tmp_path, Layout(format="parquet"), split_column="split")
    result = validate(SUITE, tmp_path)
    assert result.splits == ["test", "train"] and result.total_rows == 100
    assert [(r.split, r.type) for r in result.failures] == [
        ("test", "expect_column_values_to_be_in_set")]


def test_sampling_is_deterministic_and_row_counts_use_all_rows(tmp_path):
    write_table(amounts(5_000), tmp_path, Layout(format="csv", compression="gzip", shards=2))
    suite = {"name": "s", "expectations": [
        expectation("expect_table_row_count_to_equal", value=5_000),
        expectation("expect_column_values_to_be_between", column="amount", max_value=50)]}
    first = validate(suite, tmp_path, max_rows=1_000, seed=3)
    again = validate(suite, tmp_path, max_rows=1_000, seed=3)
    assert (first.total_rows, first.sample_rows) == (5_000, 1_000)
    assert "seed 3" in first.sample_method
    assert first.expectations[0].success and first.expectations[0].observed_value == 5_000
    assert first.expectations[1].unexpected_count == again.expectations[1].unexpected_count


def test_missing_column_is_explained(tmp_path):
    write_table(amounts(), tmp_path)
    suite = {"name": "s", "expectations": [
        expectation("expect_column_values_to_not_be_null", column="label")]}
    [failure] = validate(suite, tmp_path).failures
    assert "no column 'label'" in failure.message


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ('{"name": "s"}', "expectations"),
    ('{"expectations": [{"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "a"}}]}',
     "did you mean 'expect_column_values_to_be_between'"),
    ('{"expectations": [{"expectation_type": "expect_column_to_exist"}]}', "rename it to `type`"),
    ('{"expectations": [{"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "a"}}]}',
     "needs kwargs \\['value_set'\\]"),
    ('{"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "a"},'
     ' "severity": "fatal"}]}', "unknown severity"),
])
def test_malformed_suites_name_file_field_and_fix(tmp_path, content, match):
    path = tmp_path / "suite.json"
    path.write_text(content)
    with pytest.raises(UserError, match=match) as e:
        load_suite(path)
    assert str(path) in str(e.value) and "fix:" in str(e.value)


def test_gx_rejects_bad_kwargs_as_user_error(tmp_path):
    write_table(amounts(), tmp_path)
    suite = {"name": "s", "expectations": [
        expectation("expect_column_values_to_be_between", column="amount", bogus=1)]}
    with pytest.raises(UserError, match="(?s)expectations\\[0\\].*bogus"):
        validate(suite, tmp_path)


def test_suite_file_round_trip(tmp_path):
    (tmp_path / "suite.json").write_text(json.dumps(SUITE))
    suite = load_suite(tmp_path / "suite.json")
    assert suite["expectations"][0]["severity"] == "critical"
    write_table(amounts(), tmp_path / "data")
    assert validate(tmp_path / "suite.json", tmp_path / "data").status == "PASS"


def test_one_json_safe_conversion_for_every_result_file(tmp_path):
    from datetime import date
    value = {1: [np.int64(3), np.float32(0.5), float("nan"), pd.NA, pd.NaT, np.datetime64("NaT")],
             "when": (date(2024, 1, 2), pd.Timestamp("2024-01-02 03:04")), "file": tmp_path,
             "status": Verdict.WARN, "flag": np.bool_(True)}
    out = jsonable(value)
    assert out == {"1": [3, 0.5, None, None, None, None], "when": ["2024-01-02", "2024-01-02T03:04:00"],
                   "file": str(tmp_path), "status": "WARN", "flag": True}
    assert json.dumps(out) and type(out["1"][0]) is int and out["status"] is Verdict.WARN


def test_non_data_files_beside_split_folders_are_not_checked(tmp_path):
    """A step that exited 0 with report files beside its split folders passes its checks."""
    for split in ("train", "val", "test"):
        write_table(amounts(50), tmp_path / split,
                    Layout(file_pattern=f"{split}_processed_data.csv"))
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}')
    (tmp_path / "report.txt").write_text("all good\n")
    (tmp_path / "_SUCCESS").write_text("")
    result = validate(SUITE, tmp_path)
    assert (result.status, result.splits, result.total_rows) == ("PASS", ["test", "train", "val"], 150)


def test_dictionary_encoded_parquet_is_checked_on_its_values(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.Table.from_pandas(amounts(), preserve_index=False)
    table = table.set_column(2, "currency", table["currency"].dictionary_encode())
    pq.write_table(table, tmp_path / "part-00000.parquet")
    result = validate(SUITE, tmp_path)
    assert result.status == "PASS", result.failures


def test_range_check_on_text_column_names_column_and_cause(tmp_path):
    """GX raises a bare "Column values, min_value, and max_value must ... be of the same type"."""
    broken = amounts().assign(amount=lambda d: d.amount.map(lambda a: f"{a:.2f} USD"))
    write_table(broken, tmp_path)
    suite = {"name": "s", "expectations": [
        expectation("expect_column_values_to_be_between", column="amount", min_value=0, max_value=100)]}
    [failure] = validate(suite, tmp_path).failures
    assert failure.message.startswith("column 'amount': values are text (e.g. '")
    assert " USD'), the range [0, 100] needs numbers" in failure.message
    assert "same type" not in failure.message
