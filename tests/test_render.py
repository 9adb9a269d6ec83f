"""What the tables say is what results.json holds."""

from cursus_local.cli.render import expectation_messages


def test_a_failure_in_several_splits_names_the_split_its_message_counts_and_the_others():
    failures = [{"severity": "critical", "column": "amount", "type": "expect_column_values_to_be_of_type",
                 "split": split, "unexpected_count": n, "message": f"{n} values are not numbers"}
                for split, n in (("test", 90), ("train", 420), ("val", 90))]
    assert expectation_messages(failures) == [
        "[critical] 90 values are not numbers (in test; also in train (420), val (90))"]
    assert expectation_messages(failures[1:2]) == ["[critical] 420 values are not numbers"]
