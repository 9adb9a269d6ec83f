"""Suggest a Great Expectations suite from an observed output folder (a first draft to edit).

Per column, in the observed order (`expect_table_columns_to_match_ordered_list`):
- type: `expect_column_values_to_be_of_type` with the dtype name `checks` sees (int64, int32,
  float64, str, bool, datetime64; integers with nulls are int64, as `checks` reads them);
- not-null: `mostly` = the non-null fraction of the worst split, less `margin` of its null
  fraction, floored to 3 decimals; exactly 1.0 if there are no nulls (NaN counts as null);
- value set: for string and integer columns with at most 20 distinct values and fewer than 5% of
  the rows distinct;
- range: numeric min and max widened by `margin` of their span, the low end kept >= 0 if all
  observed values are;
- uniqueness: for id-like columns (`id`, `*_id`, `*Id`, `*_key`, `*uuid`) whose values are all
  distinct (these get no range: ids are not quantities).
Plus a row count of at least 1 (per split, as `checks` validates splits one by one).

Severity: critical for the column list, types, uniqueness and a not-null without nulls; warning
for ranges, value sets, a `mostly` below 1 and the row count.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

MAX_SET_SIZE = 20
MAX_SET_FRACTION = 0.05
ID_LIKE = re.compile(r"(^|_)(id|key|uuid|guid)$|[a-z](Id|Key)$", re.IGNORECASE)


def suggest_suite(data_path, *, name: str | None = None, max_rows: int = 200_000,
                  margin: float = 0.1) -> dict:
    """A GX suite dict describing the data at `data_path` (profiled on a sample of max_rows)."""
    import pyarrow as pa

    from . import datasets

    splits = list(datasets.read_splits(data_path).values())
    table, info = datasets.sample(pa.concat_tables(splits, promote_options="permissive"),
                                  max_rows)
    expectations = [_expectation("table_columns_to_match_ordered_list", "critical",
                                 column_list=table.column_names)]
    for column in table.column_names:
        null_fraction = max(_null_count(split[column]) / max(split.num_rows, 1)
                            for split in splits)
        expectations += _column_expectations(column, table[column], null_fraction, margin)
    expectations.append(_expectation("table_row_count_to_be_between", "warning",
                                     min_value=1, max_value=None))
    return {
        "name": name or Path(data_path).name,
        "expectations": expectations,
        "meta": {"suggested_by": "cursus-local", "source": str(data_path),
                 "rows": info.total_rows, "rows_profiled": info.sample_rows},
    }


def write_suite(suite: dict, path) -> Path:
    """Write a suite as indented JSON, creating the parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=2) + "\n")
    return path


def _expectation(kind: str, severity: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "severity": severity}


def _null_count(values) -> int:
    """Nulls as pandas (and so GX) counts them: NaN too."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nans = pc.sum(pc.is_nan(values)).as_py() if pa.types.is_floating(values.type) else 0
    return values.null_count + (nans or 0)


def _column_expectations(name: str, values, null_fraction: float, margin: float) -> list[dict]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from .synthetic import dtype_name

    is_int = pa.types.is_integer(values.type)
    is_number = is_int or pa.types.is_floating(values.type)
    is_string = dtype_name(values.type) == "str"
    result = []

    type_name = "int64" if is_int and null_fraction else dtype_name(values.type)
    if type_name:
        result.append(_expectation("column_values_to_be_of_type", "critical",
                                   column=name, type_=type_name))
    mostly = 1.0 if not null_fraction else max(
        math.floor((1 - (1 + margin) * null_fraction) * 1000) / 1000, 0.0)
    result.append(_expectation("column_values_to_not_be_null",
                               "critical" if mostly == 1.0 else "warning",
                               column=name, mostly=mostly))

    valid = len(values) - _null_count(values)
    if not valid:
        return result
    distinct = pc.count_distinct(values).as_py()
    if (is_int or is_string) and distinct == valid and ID_LIKE.search(name):
        result.append(_expectation("column_values_to_be_unique", "critical", column=name))
    elif (is_int or is_string) and distinct <= MAX_SET_SIZE and distinct < MAX_SET_FRACTION * valid:
        value_set = sorted(pc.unique(values.drop_null()).to_pylist())
        result.append(_expectation("column_values_to_be_in_set", "warning",
                                   column=name, value_set=value_set))
    elif is_number:
        low, high = (v.as_py() for v in pc.min_max(values).values())
        result.append(_expectation("column_values_to_be_between", "warning",
                                   column=name, **_widened(low, high, margin, is_int)))
    return result


def _widened(low, high, margin: float, is_int: bool) -> dict:
    span = (high - low) or abs(high) or 1
    new_low, new_high = low - margin * span, high + margin * span
    if low >= 0:
        new_low = max(new_low, 0)
    if is_int:
        new_low, new_high = math.floor(new_low), math.ceil(new_high)
    return {"min_value": new_low, "max_value": new_high}
