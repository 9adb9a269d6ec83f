import logging

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from cursus_local.data import checks, datasets, synthetic
from cursus_local.errors import UserError


def expect(kind: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "severity": "critical"}


def suite(*expectations) -> dict:
    return {"name": "test", "expectations": list(expectations)}


TYPES = suite(
    expect("table_columns_to_match_ordered_list",
           column_list=["id", "small", "ratio", "flag", "when", "label", "either"]),
    expect("column_values_to_be_of_type", column="id", type_="int64"),
    expect("column_values_to_be_of_type", column="small", type_="int32"),
    expect("column_values_to_be_of_type", column="ratio", type_="float64"),
    expect("column_values_to_be_of_type", column="flag", type_="bool"),
    expect("column_values_to_be_of_type", column="when", type_="datetime64"),
    expect("column_values_to_be_of_type", column="label", type_="str"),
    expect("column_values_to_be_in_type_list", column="either", type_list=["int64", "float64"]),
    expect("column_values_to_not_be_null", column="either", mostly=0.8),
    expect("column_values_to_not_be_null", column="flag", mostly=0.9),
    expect("column_values_to_not_be_null", column="id", mostly=0.9),
)
SETS_AND_NULLS = suite(
    expect("table_columns_to_match_set", column_set=["currency_code", "marketplace_id"]),
    expect("column_values_to_be_in_set", column="currency_code", value_set=["USD", "EUR", "GBP"]),
    expect("column_values_to_not_be_null", column="currency_code", mostly=0.75),
    expect("column_distinct_values_to_equal_set", column="marketplace_id", value_set=[1, 2, 3]),
    expect("column_values_to_not_be_null", column="marketplace_id"),
)
RANGES = suite(
    expect("column_values_to_be_between", column="amount", min_value=0, max_value=1_000_000,
           strict_min=True),
    expect("column_values_to_be_between", column="price", min_value=-1.5, max_value=2.5),
    expect("column_min_to_be_between", column="price", min_value=-1.5, max_value=-1.5),
    expect("column_max_to_be_between", column="price", min_value=2.5, max_value=2.5),
    expect("column_values_to_be_between", column="skewed", min_value=0.0, max_value=100.0),
    expect("column_mean_to_be_between", column="skewed", min_value=9.0, max_value=11.0),
    expect("column_mean_to_be_between", column="score", min_value=40, max_value=42),
    expect("table_row_count_to_be_between", min_value=50, max_value=400),
)
UNIQUE_AND_REGEX = suite(
    expect("column_values_to_be_unique", column="order_id"),
    expect("column_values_to_be_of_type", column="order_id", type_="int64"),
    expect("column_values_to_be_between", column="order_id", min_value=1000, max_value=1999),
    expect("column_values_to_be_unique", column="sku"),
    expect("column_values_to_be_of_type", column="sku", type_="str"),
    expect("column_values_to_be_unique", column="weight"),
    expect("column_values_to_be_of_type", column="weight", type_="float64"),
    expect("column_values_to_not_be_null", column="weight", mostly=0.5),
    expect("column_values_to_match_regex", column="code", regex=r"^[A-Z]{3}-\d{2,4}x?$"),
)


@pytest.mark.parametrize("data_suite", [TYPES, SETS_AND_NULLS, RANGES, UNIQUE_AND_REGEX],
                         ids=["types", "sets-nulls", "ranges", "unique-regex"])
def test_data_generated_from_a_suite_passes_it(tmp_path, data_suite):
    synthetic.generate_to(tmp_path, data_suite, rows=1000, seed=3,
                          layout=datasets.Layout(format="parquet"))
    result = checks.validate(data_suite, tmp_path)
    assert result.status == "PASS", result.to_dict()


def test_suite_shapes_the_columns():
    table = synthetic.generate(SETS_AND_NULLS, rows=1000)
    assert table.column_names == ["currency_code", "marketplace_id"]
    assert table["currency_code"].null_count == 250      # 1000 * (1 - 0.75)
    assert set(pc.unique(table["marketplace_id"]).to_pylist()) == {1, 2, 3}
    assert synthetic.generate(TYPES, rows=100).column("either").null_count == 19
    ranged = synthetic.generate(RANGES, rows=10_000)
    assert ranged.num_rows == 400                          # clamped to the suite's row count
    assert pc.min(ranged["amount"]).as_py() > 0
    assert 9 <= pc.mean(ranged["skewed"]).as_py() <= 11


def test_splits_are_generated_one_by_one(tmp_path):
    layout = datasets.Layout(format="csv", splits=["train", "test"])
    synthetic.generate_to(tmp_path, RANGES, 101, params={"data_size": 201}, layout=layout)
    splits = datasets.read_splits(tmp_path)
    assert {name: table.num_rows for name, table in splits.items()} == {"train": 101, "test": 100}
    assert checks.validate(RANGES, tmp_path).status == "PASS"


def test_same_seed_gives_identical_bytes(tmp_path):
    def written(folder, seed):
        layout = datasets.Layout(format="csv", compression="gzip")
        synthetic.generate_to(tmp_path / folder, UNIQUE_AND_REGEX, 500, seed, None, layout)
        return {p.name: p.read_bytes() for p in sorted((tmp_path / folder).rglob("*.*"))}

    assert written("a", 7) == written("b", 7)
    assert written("a", 7) != written("c", 8)


def test_scenario_shorthand_sets_values_null_rate_and_size():
    base = suite(expect("table_columns_to_match_ordered_list",
                        column_list=["marketplace_id", "currency_code", "amount"]))
    params = {"scenario": "multi_currency_data", "expected_behavior": "use_default",
              "currencies": ["USD", "EUR", "GBP"], "marketplace_ids": [1, 2, 3],
              "data_size": 200, "missing_currency_rate": 0.1}
    table = synthetic.generate(base, rows=10, params=params)
    assert table.num_rows == 200
    assert set(table["currency_code"].drop_null().to_pylist()) == {"USD", "EUR", "GBP"}
    assert table["currency_code"].null_count == 20
    assert set(table["marketplace_id"].to_pylist()) <= {1, 2, 3}


def test_columns_mapping_overrides_and_extends_the_suite():
    params = {"columns": {"currency_code": {"values": ["JPY"], "null_rate": 0.5},
                          "amount": {"min": 5, "max": 6, "type": "float64"},
                          "user_id": {"unique": True}}}
    table = synthetic.generate(SETS_AND_NULLS, rows=100, params=params)
    assert table.column_names == ["currency_code", "marketplace_id", "amount", "user_id"]
    assert table["currency_code"].drop_null().to_pylist() == ["JPY"] * 50
    assert table.schema.field("amount").type == pa.float64()
    assert 5 <= pc.min(table["amount"]).as_py() <= pc.max(table["amount"]).as_py() <= 6
    assert sorted(table["user_id"].to_pylist()) == list(range(1, 101))


def test_parameters_alone_describe_the_data():
    table = synthetic.generate(None, rows=3, params={"columns": {"x": {"values": [True]}}})
    assert table.to_pydict() == {"x": [True, True, True]}


@pytest.mark.parametrize("params, message", [
    ({"colours": ["red"]}, "'colours' names no column"),
    ({"missing_price_rate": 0.1}, "'missing_price_rate' names no column"),
    ({"temperature": 3}, "unknown scenario parameter 'temperature'"),
    ({"missing_currency_rate": 1.5}, "expected a number from 0 to 1"),
    ({"columns": {"currency_code": {"colour": "red"}}}, "column settings must be a mapping"),
    ({"columns": {"x": {"type": "complex"}}}, "unknown type 'complex'"),
    ({"columns": {"x": {"unique": True, "min": 1, "max": 5}}}, "10 unique integers do not fit"),
])
def test_bad_parameters_raise_clear_errors(params, message):
    with pytest.raises(UserError, match=message) as error:
        synthetic.generate(SETS_AND_NULLS, rows=10, params=params)
    if "names no column" in message or "unknown scenario" in message:
        assert "['currency_code', 'marketplace_id']" in error.value.fix


@pytest.mark.parametrize("params, message", [
    ({"colours": ["red"]}, "'colours' names no column"),
    ({"temperature": 3}, "unknown scenario parameter 'temperature'"),
    ({"missing_currency_rate": 1.5}, "expected a number from 0 to 1"),
    ({"data_size": 2.5}, "expected a whole number >= 0"),
    ({"columns": {"x": {"type": "complex"}}}, "unknown type 'complex'"),
])
def test_parameters_are_checked_without_generating(params, message):
    synthetic.check_params(SETS_AND_NULLS, {"currencies": ["JPY"], "data_size": 10**12})  # instant
    with pytest.raises(UserError, match=message) as error:
        synthetic.check_params(SETS_AND_NULLS, params)
    assert error.value.field.startswith("params.") and error.value.file is None   # the loader adds it
    with pytest.raises(UserError, match="no columns"):
        synthetic.check_params(None, {})


def test_no_columns_is_an_error():
    with pytest.raises(UserError, match="no columns"):
        synthetic.generate(None, rows=10)


def test_unsupported_parts_are_noted(caplog):
    odd = suite(expect("column_values_to_match_regex", column="code", regex="^(a|b)+$"),
                expect("column_values_to_be_dateutil_parseable", column="code"))
    with caplog.at_level(logging.WARNING, logger="cursus_local.data.synthetic"):
        synthetic.generate(odd, rows=5)
    assert "too complex to generate" in caplog.text
    assert "expect_column_values_to_be_dateutil_parseable is not used" in caplog.text


def test_ten_columns_with_regex_unique_and_value_params():
    # speed is measured by bench/bench.py (1,000,000 rows), not asserted here
    table = synthetic.generate(TYPES, rows=10_000, params={"columns": {
        "currency_code": {"values": ["USD", "EUR"]}, "code": {"regex": r"[A-Z]{3}\d{4}"},
        "user_id": {"unique": True, "type": "str"}}})
    assert table.shape == (10_000, 10)
    assert set(table.column("currency_code").drop_null().to_pylist()) <= {"USD", "EUR"}
    assert len(set(table.column("user_id").to_pylist())) == 10_000

def test_synthetic_splits_are_named_like_the_sample(tmp_path):
    """Cursus's tabular_preprocessing writes <split>/<split>_processed_data.csv; a consumer opens
    exactly those names, so data generated in the sample's layout must use them in every split."""
    for split in ("train", "test", "val"):
        datasets.write_table(synthetic.generate(RANGES, rows=5), tmp_path / "sample" / split,
                             datasets.Layout(file_pattern=f"{split}_processed_data.csv"))
    layout = datasets.detect_layout(tmp_path / "sample")
    paths = synthetic.generate_to(tmp_path / "out", RANGES, 300, layout=layout)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in paths) == [
        "test/test_processed_data.csv", "train/train_processed_data.csv",
        "val/val_processed_data.csv"]
    assert checks.validate(RANGES, tmp_path / "out").status == "PASS"


def test_synthetic_splits_in_different_formats(tmp_path):
    datasets.write_table(synthetic.generate(RANGES, rows=5), tmp_path / "sample" / "train",
                         datasets.Layout(format="parquet"))
    datasets.write_table(synthetic.generate(RANGES, rows=5), tmp_path / "sample" / "test",
                         datasets.Layout(format="tsv", compression="gzip"))
    layout = datasets.detect_layout(tmp_path / "sample")
    synthetic.generate_to(tmp_path / "out", RANGES, 300, layout=layout)
    assert sorted(p.relative_to(tmp_path / "out").as_posix()
                  for p in (tmp_path / "out").rglob("*.*")) == [
        "test/part-00000.tsv.gz", "train/part-00000.parquet"]
    assert checks.validate(RANGES, tmp_path / "out").status == "PASS"


def test_generate_data_options_keep_the_samples_split_names():
    """`generate-data --format/--shards/--splits` change a sample's layout; its per-split names
    stay while they fit, with the new format's extension."""
    from cursus_local.unit.inputs import _with_options
    sample = datasets.Layout(splits=["train", "test"], file_pattern="{split}_processed_data.csv")
    assert _with_options(sample, "parquet", None, None).file_pattern == \
        "{split}_processed_data.parquet"
    assert _with_options(sample, None, None, "a,b").file_pattern == "{split}_processed_data.csv"
    assert _with_options(sample, None, 3, None).file_pattern == "part-{i:05d}.csv"  # no {i}
