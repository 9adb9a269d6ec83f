"""Suggest a Great Expectations suite from good outputs: what protects the pipeline downstream.

One or more good outputs of the same step (several runs: the suite is their union, with
margins). Severities are meant to be kept: `critical` for what breaks a consumer, `warning` for
drift worth a look, `info` for what consumers reading columns by name don't mind.

Table:
- required columns (in every good output): `expect_table_columns_to_match_set` with
  `exact_match: false`, critical; the observed order and no extra column:
  `..._match_ordered_list`, info (CSV consumers read by name);
- at least 1 row per split, critical; and in `meta.cursus_local` (see `layout_checks`): the
  split folders every good output has (a missing one is critical), a row-count floor per split
  (half the fewest rows seen; all of them under 20 rows), the data files' name patterns
  (`*.csv`) and their encoding.
Per required column:
- type: `expect_column_values_to_be_of_type` with the dtype name `checks` sees (int64, float64,
  str, bool, datetime64 for timestamps and dates; integers with nulls are int64), critical;
  date-like text gets a format check (`expect_column_values_to_match_regex`), critical;
- not-null: `mostly` = the non-null fraction of the worst split, less `margin` of its null
  fraction, floored to 3 decimals; exactly 1.0 (critical) if there are no nulls;
- uniqueness for id-like columns (`id`, `*_id`, `*Id`, `*_key`, `*uuid`) whose values are all
  distinct within each split of each good output, critical (ids get no range: they are not quantities);
- value set, for text, integer and boolean columns with at most 20 distinct values and fewer
  than 5% of the rows distinct: critical when every value was seen at least `MIN_SEEN` times
  (a label, a category a consumer maps: a new value is one the pipeline never met), else warning;
- probability-like: a float column whose values all lie in [0, 1] is bounded by [0, 1], critical;
- other numbers: a range widened by `margin` of the span (warning), and, learned from at least
  `TRUST_ROWS` values, a hard range widened by a whole span (critical: a unit or sign change);
  a low end stays >= 0 where every value was.
Given the step's inputs in the same good runs (`inputs`): in `meta.cursus_local`, the row-count
ratio of its output to the input it passes rows through (`layout_checks.row_ratio`), checked
where the sequencer knows that step's inputs (its output checks).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from . import layout_checks

MAX_SET_SIZE = 20
MAX_SET_FRACTION = 0.05
MIN_SEEN = 10        # a value set is trusted (critical) when every value was seen this often
TRUST_ROWS = 100     # a range is trusted (critical hard bounds) from this many values
HARD_MARGIN = 1.0    # the critical range is widened by this many spans
ID_LIKE = re.compile(r"(^|_)(id|key|uuid|guid)$|[a-z](Id|Key)$", re.IGNORECASE)
# Date-like text, as scripts write it: the format a consumer parses must stay the same.
DATE_SHAPES = {
    "ISO date": r"\d{4}-\d{2}-\d{2}",
    "ISO timestamp": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
    "MM/DD/YYYY": r"\d{1,2}/\d{1,2}/\d{4}",
    "YYYY/MM/DD": r"\d{4}/\d{2}/\d{2}",
    "DD.MM.YYYY": r"\d{1,2}\.\d{1,2}\.\d{4}",
    "DD-Mon-YYYY": r"\d{1,2}-[A-Za-z]{3}-\d{4}",
}


def suggest_suite(data_paths, *, name: str | None = None, max_rows: int = 200_000,
                  margin: float = 0.1, inputs: list[dict] | None = None) -> dict:
    """A GX suite dict describing the good output(s) at `data_paths` (one path or a list),
    profiled on a sample of max_rows. `inputs`: for each good run, in the same order, the step's
    inputs in that run ({input name: path}), to learn a row ratio from."""
    import pyarrow as pa

    from . import datasets

    paths = [Path(data_paths)] if isinstance(data_paths, (str, Path)) else [Path(p) for p in data_paths]
    runs = [datasets.read_splits(p) for p in paths]
    if inputs is not None and len(inputs) != len(paths):
        raise ValueError(f"{len(inputs)} sets of inputs for {len(paths)} good outputs")
    splits = [t for run in runs for t in run.values()]
    required = [c for c in splits[0].column_names if all(c in t.column_names for t in splits)]
    table, info = datasets.sample(
        pa.concat_tables([t.select(required) for t in splits], promote_options="permissive"),
        max_rows)
    expectations = [
        _expectation("table_columns_to_match_set", "critical", column_set=required,
                     exact_match=False),
        _expectation("table_columns_to_match_ordered_list", "info",
                     column_list=splits[0].column_names),
        _expectation("table_row_count_to_be_between", "critical", min_value=1, max_value=None)]
    for column in required:
        null_fraction = max(_null_count(split[column]) / max(split.num_rows, 1)
                            for split in splits)
        unique = all(_all_distinct(split[column]) for split in splits)   # runs may share ids
        expectations += _column_expectations(column, table[column], null_fraction, unique, margin)
    layout = layout_checks.describe(paths, [{s: t.num_rows for s, t in run.items()} for run in runs])
    if inputs and (ratio := _row_ratio(runs, inputs, margin)):
        layout["row_ratio"] = ratio
    return {
        "name": name or paths[0].name,
        "expectations": expectations,
        "meta": {"suggested_by": "cursus-local", "source": [str(p) for p in paths]
                 if len(paths) > 1 else str(paths[0]),
                 "rows": sum(t.num_rows for t in splits), "rows_profiled": info.sample_rows,
                 layout_checks.META_KEY: layout},
    }


def _row_ratio(runs: list[dict], inputs: list[dict], margin: float) -> dict | None:
    """The row ratio to the inputs every good run names (see `layout_checks.row_ratio`)."""
    from . import datasets

    names = [n for n in inputs[0] if all(n in run_inputs for run_inputs in inputs)]
    input_rows = {n: [sum(t.num_rows for t in datasets.read_splits(run_inputs[n]).values())
                      for run_inputs in inputs] for n in names}
    return layout_checks.row_ratio([sum(t.num_rows for t in run.values()) for run in runs],
                                   input_rows, margin)


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


def _type_name(values, null_fraction: float) -> str | None:
    import pyarrow as pa

    from .synthetic import dtype_name

    if pa.types.is_integer(values.type) and null_fraction:
        return "int64"   # as `checks` reads integers with nulls
    if pa.types.is_date(values.type):
        return "datetime64"   # `checks` reads dates as datetime64
    return dtype_name(values.type)


def _all_distinct(values) -> bool:
    import pyarrow.compute as pc

    present = values.drop_null()
    return pc.count_distinct(present).as_py() == len(present)


def _column_expectations(name: str, values, null_fraction: float, unique: bool,
                         margin: float) -> list[dict]:
    import pyarrow as pa
    import pyarrow.compute as pc

    is_int = pa.types.is_integer(values.type)
    is_float = pa.types.is_floating(values.type)
    type_name = _type_name(values, null_fraction)
    result = []
    if type_name:
        result.append(_expectation("column_values_to_be_of_type", "critical",
                                   column=name, type_=type_name))
    mostly = 1.0 if not null_fraction else max(
        math.floor((1 - (1 + margin) * null_fraction) * 1000) / 1000, 0.0)
    result.append(_expectation("column_values_to_not_be_null",
                               "critical" if mostly == 1.0 else "warning",
                               column=name, mostly=mostly))

    present = values.drop_null()
    if is_float:
        present = present.filter(pc.invert(pc.is_nan(present)))
    valid = len(present)
    if not valid:
        return result
    distinct = pc.count_distinct(present).as_py()
    countable = is_int or type_name in ("str", "bool")
    if type_name == "str" and (shape := _date_shape(present)):
        result.append(_expectation("column_values_to_match_regex", "critical", column=name,
                                   regex=f"^{DATE_SHAPES[shape]}$", meta={"format": shape}))
    elif countable and unique and ID_LIKE.search(name):
        result.append(_expectation("column_values_to_be_unique", "critical", column=name))
    elif countable and distinct <= MAX_SET_SIZE and distinct < MAX_SET_FRACTION * valid:
        counts = pc.value_counts(present)
        trusted = min(counts.field("counts").to_pylist()) >= MIN_SEEN
        result.append(_expectation("column_values_to_be_in_set",
                                   "critical" if trusted else "warning", column=name,
                                   value_set=sorted(counts.field("values").to_pylist())))
    elif is_int or is_float:
        low, high = (v.as_py() for v in pc.min_max(present).values())
        if is_float and 0 <= low and high <= 1:   # probability-like
            result.append(_expectation("column_values_to_be_between", "critical",
                                       column=name, min_value=0, max_value=1))
            return result
        if valid >= TRUST_ROWS:
            result.append(_expectation("column_values_to_be_between", "critical", column=name,
                                       **_widened(low, high, HARD_MARGIN, is_int)))
        result.append(_expectation("column_values_to_be_between", "warning",
                                   column=name, **_widened(low, high, margin, is_int)))
    return result


def _date_shape(values) -> str | None:
    """The date format every value has (DATE_SHAPES), or None."""
    sample = [str(v) for v in values.to_pylist()]
    return next((shape for shape, regex in DATE_SHAPES.items()
                 if all(re.fullmatch(regex, v) for v in sample)), None)


def _widened(low, high, margin: float, is_int: bool) -> dict:
    span = (high - low) or abs(high) or 1
    new_low, new_high = low - margin * span, high + margin * span
    if low >= 0:
        new_low = max(new_low, 0)
    digits = 0 if is_int else 4   # rounded outwards: readable bounds, never tighter
    new_low = math.floor(new_low * 10 ** digits) / 10 ** digits
    new_high = math.ceil(new_high * 10 ** digits) / 10 ** digits
    if is_int:
        new_low, new_high = int(new_low), int(new_high)
    return {"min_value": new_low, "max_value": new_high}
