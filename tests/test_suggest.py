import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cursus_local.data import checks, datasets, suggest, synthetic


def observed_output(rows: int = 2000) -> pa.Table:
    """A table like a real script's output: ids, codes, amounts, nulls, flags, times, text."""
    rng = np.random.default_rng(11)
    currency = rng.choice(["USD", "EUR", "GBP"], rows).astype(object)
    currency[rng.random(rows) < 0.05] = None
    quantity = pa.array(rng.integers(1, 50, rows), mask=rng.random(rows) < 0.1)
    return pa.table({
        "order_id": rng.permutation(rows) + 10_000,
        "currency_code": pa.array(currency, pa.string()),
        "marketplace_id": rng.integers(1, 4, rows),
        "amount": rng.gamma(2.0, 50.0, rows).round(2),
        "delta": rng.normal(0, 10, rows),
        "quantity": quantity,
        "is_gift": rng.random(rows) < 0.2,
        "created_at": pa.array(np.datetime64("2024-03-01") + rng.integers(0, 86400, rows)
                               .astype("timedelta64[s]")),
        "comment": pa.array([f"note {i}" for i in rng.integers(0, 10**6, rows)]),
    })


def by_type(suite: dict, column: str) -> dict:
    return {e["type"].removeprefix("expect_"): e for e in suite["expectations"]
            if e["kwargs"].get("column") == column}


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("observed")
    datasets.write_table(observed_output(), folder, datasets.Layout(format="parquet"))
    return folder


@pytest.fixture(scope="module")
def suggested(observed):
    return suggest.suggest_suite(observed, name="orders")


def test_suggested_suite_describes_the_columns(suggested):
    first, *_, last = suggested["expectations"]
    assert suggested["name"] == "orders"
    assert first["kwargs"]["column_list"] == list(observed_output().column_names)
    assert first["severity"] == "critical"
    assert last["type"] == "expect_table_row_count_to_be_between"

    order_id = by_type(suggested, "order_id")
    assert order_id["column_values_to_be_unique"]["severity"] == "critical"
    assert "column_values_to_be_between" not in order_id
    assert by_type(suggested, "currency_code")["column_values_to_be_in_set"]["kwargs"][
        "value_set"] == ["EUR", "GBP", "USD"]
    assert by_type(suggested, "marketplace_id")["column_values_to_be_in_set"]["kwargs"][
        "value_set"] == [1, 2, 3]
    amount = by_type(suggested, "amount")
    assert amount["column_values_to_be_of_type"]["kwargs"]["type_"] == "float64"
    assert amount["column_values_to_be_between"]["kwargs"]["min_value"] == 0   # clamped
    assert amount["column_values_to_be_between"]["severity"] == "warning"
    assert by_type(suggested, "delta")["column_values_to_be_between"]["kwargs"]["min_value"] < 0
    assert by_type(suggested, "amount")["column_values_to_not_be_null"]["kwargs"]["mostly"] == 1.0
    quantity = by_type(suggested, "quantity")
    assert quantity["column_values_to_be_of_type"]["kwargs"]["type_"] == "int64"
    assert 0.85 < quantity["column_values_to_not_be_null"]["kwargs"]["mostly"] < 0.9
    assert quantity["column_values_to_not_be_null"]["severity"] == "warning"
    assert by_type(suggested, "comment")["column_values_to_be_of_type"]["kwargs"]["type_"] == "str"
    assert "column_values_to_be_in_set" not in by_type(suggested, "comment")


def test_observed_data_passes_its_suggested_suite(observed, suggested):
    assert checks.validate(suggested, observed).status == "PASS"


@pytest.mark.parametrize("layout", [datasets.Layout(format="parquet"),
                                    datasets.Layout(format="csv")], ids=["parquet", "csv"])
def test_round_trip_generated_data_passes_the_suggested_suite(tmp_path, layout):
    source = tmp_path / "source"
    datasets.write_table(observed_output(500), source, layout)
    suite = suggest.suggest_suite(source)
    synthetic.generate_to(tmp_path / "synthetic", suite, 3000, seed=1, layout=layout)
    result = checks.validate(suite, tmp_path / "synthetic")
    assert result.status == "PASS", result.to_dict()


def test_write_suite_writes_loadable_json(tmp_path, suggested):
    path = suggest.write_suite(suggested, tmp_path / "suites" / "orders.json")
    assert json.loads(path.read_text()) == suggested
    assert checks.load_suite(path)["expectations"] == suggested["expectations"]


def test_non_data_files_beside_split_folders(tmp_path):
    """Real output: split folders plus a report, metrics and a marker; only the splits are data."""
    table = observed_output(300)
    for split in ("train", "val", "test"):
        datasets.write_table(table, tmp_path / split, datasets.Layout(
            format="csv", file_pattern=f"{split}_processed_data.csv"))
    (tmp_path / "metrics.json").write_text('{"auc": 0.91, "rows": 900}')
    (tmp_path / "report.txt").write_text("preprocessing finished\n")
    (tmp_path / "_SUCCESS").write_text("")
    suite = suggest.suggest_suite(tmp_path, name="processed")
    assert suite["expectations"][0]["kwargs"]["column_list"] == table.column_names
    assert checks.validate(suite, tmp_path).status == "PASS"


def test_dictionary_encoded_parquet(tmp_path):
    """pyarrow (and pandas categoricals, and Spark) write dictionary-encoded string columns."""
    table = observed_output(500)
    encoded = table.set_column(1, "currency_code", table["currency_code"].dictionary_encode())
    encoded = encoded.set_column(8, "comment", encoded["comment"].dictionary_encode())
    pq.write_table(encoded, tmp_path / "part-00000.parquet")
    suite = suggest.suggest_suite(tmp_path, name="encoded")
    currency = by_type(suite, "currency_code")
    assert currency["column_values_to_be_of_type"]["kwargs"]["type_"] == "str"
    assert currency["column_values_to_be_in_set"]["kwargs"]["value_set"] == ["EUR", "GBP", "USD"]
    assert checks.validate(suite, tmp_path).status == "PASS"
    layout = datasets.detect_layout(tmp_path)
    synthetic.generate_to(tmp_path / "synthetic", suite, 1000, seed=2, layout=layout)
    assert checks.validate(suite, tmp_path / "synthetic").status == "PASS"
