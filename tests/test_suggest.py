import json
import shutil

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
    table = {e["type"].removeprefix("expect_"): e for e in suggested["expectations"]
             if "column" not in e["kwargs"]}
    assert suggested["name"] == "orders"
    required = table["table_columns_to_match_set"]
    assert required["kwargs"] == {"column_set": observed_output().column_names, "exact_match": False}
    assert required["severity"] == "critical"
    assert table["table_columns_to_match_ordered_list"]["severity"] == "info"
    assert table["table_row_count_to_be_between"]["severity"] == "critical"

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
    assert suite["expectations"][0]["kwargs"]["column_set"] == table.column_names
    assert suite["meta"]["cursus_local"]["splits"] == {s: {"min_rows": 150} for s in ("test", "train", "val")}
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


def test_several_good_runs_make_one_suite(tmp_path):
    """The union of two good runs: ids repeat across runs but not within one; splits and row
    floors are those every run has."""
    for run, rows in (("a", 400), ("b", 300)):
        for split in ("train", "val"):
            datasets.write_table(observed_output(rows), tmp_path / run / split, datasets.Layout())
    datasets.write_table(observed_output(50), tmp_path / "a" / "test", datasets.Layout())
    suite = suggest.suggest_suite([tmp_path / "a", tmp_path / "b"], name="two")
    assert "column_values_to_be_unique" in by_type(suite, "order_id")
    assert suite["meta"]["cursus_local"]["splits"] == {"train": {"min_rows": 150},
                                                       "val": {"min_rows": 150}}
    assert checks.validate(suite, tmp_path / "a").status == "PASS"
    shutil.rmtree(tmp_path / "b" / "val")
    failed = checks.validate(suite, tmp_path / "b").failures
    assert [(f.type, f.split, f.severity) for f in failed] == [
        ("split_folders_present", "val", "critical")]


def test_an_unreadable_file_is_a_failed_check_with_its_cause(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    datasets.write_table(observed_output(200), good, datasets.Layout())
    suite = suggest.suggest_suite(good)
    bad.mkdir()
    frame = datasets.read_table(good).to_pandas()
    frame.to_csv(bad / "part-00000.csv", index=False, encoding="utf-16")
    result = checks.validate(suite, bad)
    assert result.status == "FAIL"
    assert [f.type for f in result.failures] == ["text_encoding"]
    assert "UTF-16" in result.failures[0].message
    (bad / "part-00000.csv").write_bytes(b"\x00\x01binary\x00")
    suite["meta"] = {}   # no file expectations: reading fails, and that is the check's result
    result = checks.validate(suite, bad)
    assert result.status == "FAIL" and result.failures[0].type == "data_readable"
    assert "part-00000.csv" in result.failures[0].message


def test_static_compatibility_names_a_split_the_producer_does_not_write():
    from cursus_local.data import compat

    def suite(splits):
        return {"name": "s", "expectations": [], "meta": {"cursus_local": {
            "splits": {s: {"min_rows": 1} for s in splits}}}}
    result = compat.check_connection(suite(["train", "test"]), suite(["train", "val"]),
                                     producer="prep", consumer="train")
    assert result["status"] == "FAIL"
    assert result["issues"] == ["Missing split: train expects split 'val', prep writes ['test', 'train']"]


def _step_run(folder, rows: int, lookup_rows: int = 4):
    """A good run of a step that passes rows through: its input (unsplit), a lookup it also
    reads, and its output in train/val split folders."""
    table = observed_output(rows)
    datasets.write_table(table, folder / "input", datasets.Layout(format="csv"))
    datasets.write_table(observed_output(lookup_rows), folder / "lookup", datasets.Layout(format="csv"))
    train = rows * 4 // 5
    datasets.write_table(table.slice(0, train), folder / "output" / "train", datasets.Layout(format="csv"))
    datasets.write_table(table.slice(train), folder / "output" / "val", datasets.Layout(format="csv"))
    return folder / "output", {"input_data": folder / "input", "lookup": folder / "lookup"}


def test_a_pass_through_step_gets_a_row_ratio_and_a_silent_loss_fails_it(tmp_path):
    """30% of rows lost: every split kept, above its floor; only the ratio to the step's input
    in the same run sees it, and says who, which input, both counts and the ratio."""
    from cursus_local.data.layout_checks import StepInputs

    runs = [_step_run(tmp_path / "a", 1000), _step_run(tmp_path / "b", 600)]
    suite = suggest.suggest_suite([out for out, _ in runs], name="convert.output",
                                  inputs=[inputs for _, inputs in runs])
    # the lookup's ratio follows its keys, not the step's size: not a pass-through input
    assert suite["meta"]["cursus_local"]["row_ratio"] == {"input": "input_data", "min": 0.9, "max": 1.1}
    output, inputs = runs[0]
    step = StepInputs("convert", inputs)
    assert checks.validate(suite, output, inputs=step).status == "PASS"

    lossy = tmp_path / "lossy"
    for split in ("train", "val"):
        table = datasets.read_table(output / split)
        datasets.write_table(table.slice(0, table.num_rows * 7 // 10), lossy / split,
                             datasets.Layout(format="csv"))
    assert checks.validate(suite, lossy).status == "PASS"   # no step inputs: not checked
    result = checks.validate(suite, lossy, inputs=step)
    assert result.status == "FAIL"
    assert [(f.type, f.severity) for f in result.failures] == [("row_ratio", "critical")]
    message = result.failures[0].message
    assert all(s in message for s in ("convert", "'input_data'", "700 rows", "1000 rows", "0.700"))

    result = checks.validate(suite, lossy, inputs=StepInputs("convert", {"data": inputs["input_data"]}))
    assert result.status == "FAIL" and "'input_data'" in result.failures[0].message


def test_an_aggregation_gets_no_row_ratio(tmp_path):
    runs = [_step_run(tmp_path / "a", 1000), _step_run(tmp_path / "b", 600)]
    suite = suggest.suggest_suite([inputs["lookup"] for _, inputs in runs], name="lookup",
                                  inputs=[{"input_data": inputs["input_data"]} for _, inputs in runs])
    assert "row_ratio" not in suite["meta"]["cursus_local"]


def test_suggest_suite_command_takes_each_runs_input(tmp_path):
    from cursus_local.cli import testing as cli_testing
    from typer.testing import CliRunner

    (out_a, in_a), (out_b, in_b) = _step_run(tmp_path / "a", 300), _step_run(tmp_path / "b", 200)
    suite_file = tmp_path / "suite.json"
    done = CliRunner().invoke(cli_testing.app, [
        "suggest-suite", str(out_a), str(out_b), "--out", str(suite_file),
        "--input", f"input_data={in_a['input_data']}", "--input", f"input_data={in_b['input_data']}"])
    assert done.exit_code == 0, done.output
    assert json.loads(suite_file.read_text())["meta"]["cursus_local"]["row_ratio"]["input"] == "input_data"
    done = CliRunner().invoke(cli_testing.app, [
        "suggest-suite", str(out_a), str(out_b), "--input", f"input_data={in_a['input_data']}"])
    assert done.exit_code == 2 and "once per DATA" in done.output, done.output
