"""Static compatibility of a producer's output suite with a consumer's input suite."""

import json

from cursus_local.data.compat import check_connection


def expectation(kind, severity="critical", **kwargs):
    return {"type": kind, "kwargs": kwargs, "severity": severity}


def suite(name, *expectations):
    return {"name": name, "expectations": list(expectations)}


PRODUCER = suite(
    "preprocess_output",
    expectation("expect_column_values_to_be_of_type", column="amount", type_="float64"),
    expectation("expect_column_values_to_not_be_null", column="amount"),
    expectation("expect_column_values_to_be_between", column="amount", min_value=0, max_value=500),
    expectation("expect_column_values_to_be_in_set", column="currency", value_set=["USD", "EUR"]),
    expectation("expect_column_values_to_be_of_type", column="marketplace_id", type_="int64"),
)


def connect(consumer, producer=PRODUCER):
    return check_connection(producer, consumer, producer="preprocess", consumer="convert")


def test_compatible_suites_pass():
    consumer = suite(
        "convert_input",
        expectation("expect_column_values_to_be_of_type", column="amount", type_="double"),
        expectation("expect_column_values_to_be_of_type", column="marketplace_id", type_="float"),
        expectation("expect_column_values_to_not_be_null", column="amount"),
        expectation("expect_column_values_to_be_between", column="amount", min_value=0),
        expectation("expect_column_values_to_be_in_set", column="currency",
                    value_set=["USD", "EUR", "GBP"]))
    result = connect(consumer)
    assert result["status"] == "PASS", result["issues"]
    assert result["connection"] == "preprocess -> convert"
    assert result["schema_compatibility"] and result["data_type_compatibility"]
    assert result["data_sample_size"] == 0 and result["execution_time"].endswith("s")
    json.dumps(result)


def test_missing_column_and_type_mismatch_fail_with_recommendations():
    producer = suite("p", expectation("expect_column_values_to_be_of_type", column="amount",
                                      type_="str"))
    consumer = suite(
        "c",
        expectation("expect_column_to_exist", column="feature_importance"),
        expectation("expect_column_values_to_not_be_null", column="feature_importance"),
        expectation("expect_column_values_to_be_of_type", column="amount", type_="float64"))
    result = connect(consumer, producer)
    assert result["status"] == "FAIL"
    assert not result["schema_compatibility"] and not result["data_type_compatibility"]
    assert result["issues"] == ["Missing required column: 'feature_importance'",
                                "Data type mismatch: 'amount' expected float64, got str"]
    assert result["recommendations"][1] == (
        "Ensure 'amount' is written as a numeric column (float64) by preprocess; "
        "the convert suite expects float64")


def test_float_producer_does_not_satisfy_int_consumer():
    consumer = suite("c", expectation("expect_column_values_to_be_in_type_list", column="amount",
                                      type_list=["int", "long"]))
    assert connect(consumer)["details"][0]["kind"] == "type"


def test_ranges_disjoint_or_not_inside():
    disjoint = suite("c", expectation("expect_column_values_to_be_between", column="amount",
                                      min_value=1000, max_value=2000))
    wider = suite("c", expectation("expect_column_values_to_be_between", column="amount",
                                   min_value=0, max_value=100))
    assert "never meets" in connect(disjoint)["issues"][0]
    assert "not inside the required [0, 100]" in connect(wider)["issues"][0]
    unknown = suite("c", expectation("expect_column_values_to_be_between", column="marketplace_id",
                                     min_value=1))
    assert connect(unknown)["status"] == "PASS"  # producer says nothing: left to the data check


def test_value_set_not_contained():
    consumer = suite("c", expectation("expect_column_values_to_be_in_set", column="currency",
                                      value_set=["USD"]))
    result = connect(consumer)
    assert result["status"] == "FAIL" and "['EUR']" in result["issues"][0]


def test_nullability_and_warning_severity():
    consumer = suite("c", expectation("expect_column_values_to_not_be_null", "warning",
                                      column="marketplace_id"))
    result = connect(consumer)
    assert result["status"] == "WARN"
    assert result["details"][0]["kind"] == "nullability"
    assert "marketplace_id" in result["recommendations"][0]
    relaxed = suite("c", expectation("expect_column_values_to_not_be_null", column="marketplace_id",
                                     mostly=0.9))
    assert connect(relaxed)["status"] == "PASS"


def test_suites_from_files(tmp_path):
    (tmp_path / "out.json").write_text(json.dumps(PRODUCER))
    (tmp_path / "in.json").write_text(json.dumps(suite("c", expectation(
        "expect_column_to_exist", column="label"))))
    result = check_connection(tmp_path / "out.json", tmp_path / "in.json", producer="a", consumer="b")
    assert result["issues"] == ["Missing required column: 'label'"]
