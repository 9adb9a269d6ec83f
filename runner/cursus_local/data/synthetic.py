"""Synthetic data from a Great Expectations suite and scenario parameters.

The suite says what valid data looks like: columns and their order, types, ranges, value sets,
null fractions, uniqueness, regexes and row counts. Data generated from a suite passes it.

Scenario parameters override or extend the suite (a `data_scenarios` entry of
`test_scenarios.yaml`):

    data_size: 1000                 the number of rows
    columns:                        the general form, one entry per column (new ones are added)
      currency_code: {values: [USD, EUR], null_rate: 0.1, type: str}
      amount: {min: 0, max: 500, unique: false, regex: null}
    <plural>: [...]                 shorthand for the values of one column: the first column
                                    named <key>, <singular>, <singular>_code or <singular>_id,
                                    singular = the key less -s or -es, or with -ies -> -y
                                    (currencies -> currency, currency_code or currency_id;
                                    marketplace_ids -> marketplace_id)
    missing_<x>_rate: 0.1           shorthand for the null rate of the first column named <x>,
                                    <x>_code or <x>_id

Scenario labels (`scenario`, `name`, `description`, `expected_behavior`) are ignored; any other
key that names no column is an error that lists the columns.

A column gets nulls only from a `not_null` expectation with `mostly` (exactly the allowed
fraction, rounded down) or from an explicit null rate. Types are the dtype names `checks` uses.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..fields import Fields
from .checks import canonical_type

log = logging.getLogger(__name__)

DEFAULT_RANGE_WIDTH = 1000
DEFAULT_VOCABULARY_SIZE = 10
DEFAULT_DATES = ("2024-01-01", "2024-12-31")
SCENARIO_LABELS = {"scenario", "name", "description", "expected_behavior"}
COLUMN_SETTINGS = {"values", "null_rate", "min", "max", "type", "unique", "regex"}
SUFFIXES = ("", "_code", "_id")
# Parameters come from no file yet: the config loader raises again naming test_scenarios.yaml.
PARAMS = Fields(None)

# Column types are the dtype names `checks` uses (int64, float64, str, bool, datetime64, after
# its aliases) or numpy's sized names (int32, float32, uint8, ...).
SIZED_NUMBERS = {f"{sign}{bits}" for sign in ("int", "uint") for bits in (8, 16, 32, 64)} | {
    "float32", "float64"}


@dataclass
class ColumnSpec:
    """What one column must look like; filled from the suite, then from the parameters."""
    name: str
    type: str | None = None               # a dtype name, see SIZED_NUMBERS
    values: list | None = None
    cover_values: bool = False            # every value must appear (distinct values equal a set)
    min: Any = None
    max: Any = None
    strict_min: bool = False
    strict_max: bool = False
    min_target: tuple | None = None       # (low, high) bounds of the column's min
    max_target: tuple | None = None
    mean_target: tuple | None = None
    suite_null_rate: float = 0.0          # 1 - mostly of the suite's not_null expectation
    null_rate: float | None = None        # explicit, from the parameters
    unique: bool = False
    regex: str | None = None


@dataclass
class Plan:
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)   # the suite's column list, if it has one
    min_rows: int | None = None
    max_rows: int | None = None
    data_size: int | None = None
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnSpec:
        return self.columns.setdefault(name, ColumnSpec(name))

    def column_names(self) -> list[str]:
        return self.order + [c for c in self.columns if c not in self.order]


# ---------------------------------------------------------------------------------- public API

def generate(suite: dict | None, *, rows: int, seed: int = 0, params: dict | None = None):
    """A pyarrow Table of `rows` rows (or `data_size`) that passes `suite`, changed by `params`."""
    import numpy as np
    import pyarrow as pa

    plan = _plan(suite, params)
    names = plan.column_names()
    n = _row_count(plan, rows)
    rng = np.random.default_rng(seed)
    arrays = [_generate_column(plan.column(name), n, rng, plan.notes) for name in names]
    for note in dict.fromkeys(plan.notes):
        log.warning("synthetic data: %s", note)
    return pa.table(arrays, names=names)


def check_params(suite: dict | None, params: dict | None) -> None:
    """Raise, as `generate` would, if `params` don't fit `suite`; nothing is generated."""
    _plan(suite, params)


def _plan(suite: dict | None, params: dict | None) -> Plan:
    plan = Plan()
    if suite:
        _read_suite(plan, suite)
    _apply_params(plan, params or {})
    if not plan.column_names():
        raise UserError("no columns to generate", field="params",
                        fix="give a suite with column expectations, or params "
                            "`columns: {<name>: {type: int64}}`")
    return plan


def generate_to(folder, suite: dict | None, rows: int, seed: int = 0, params: dict | None = None,
                layout=None) -> list[Path]:
    """Generate data and write it to `folder` in `layout` (see `datasets.write_table`).

    With splits, the rows (or `data_size`) are shared out and each split is generated on its
    own, as `checks` validates each split against the whole suite. Each split is written with
    its own file names and format (`{split}` in the pattern, `layout.per_split`).
    """
    from . import datasets, layout_checks
    floors = layout_checks.row_floors(suite or {})   # a split's rows never below its floor
    if not layout or not layout.splits:
        return datasets.write_table(generate(suite, rows=max(rows, floors.get("", 0)), seed=seed,
                                             params=params), folder, layout)
    params = dict(params or {})
    if "data_size" in params:
        rows = PARAMS.number(params.pop("data_size"), "params.data_size", int, 0)
    paths = []
    for i, split in enumerate(layout.splits):
        share = _share(rows, i, [floors.get(s, 0) for s in layout.splits])
        table = generate(suite, rows=max(share, floors.get(split, 0)), seed=seed + i, params=params)
        paths += datasets.write_table(table, folder, layout, split=split)
    return paths


def _share(rows: int, i: int, floors: list[int]) -> int:
    """Split i's share of `rows`: in proportion to the splits' row floors where every split has
    one (as the good runs were split), else equal; the shares add up to `rows`."""
    weights = floors if all(floors) else [1] * len(floors)
    total = sum(weights)
    return -(-rows * sum(weights[:i + 1]) // total) + (rows * sum(weights[:i]) // -total)


# ------------------------------------------------------------------------------ suite reading

def _read_suite(plan: Plan, suite: dict) -> None:
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        raise UserError("a suite needs a list of `expectations`", field="expectations",
                        fix='write it as {"name": ..., "expectations": [{"type": ..., '
                            '"kwargs": {...}}]}')
    for expectation in expectations:
        kind = str(expectation.get("type", "")).removeprefix("expect_")
        _read_expectation(plan, kind, expectation.get("kwargs") or {})


def _read_expectation(plan: Plan, kind: str, kw: dict) -> None:  # noqa: C901 - one flat switch
    if kind == "table_columns_to_match_ordered_list" or (
            kind == "table_columns_to_match_set" and not plan.order):
        columns = kw.get("column_list") or kw.get("column_set") or []   # GX 1.x: column_set
        plan.order = list(dict.fromkeys(columns))
        for name in plan.order:
            plan.column(name)
        return
    if kind == "table_row_count_to_be_between":
        low, high = kw.get("min_value"), kw.get("max_value")
        plan.min_rows = None if low is None else low + bool(kw.get("strict_min"))
        plan.max_rows = None if high is None else high - bool(kw.get("strict_max"))
        return
    if kind == "table_row_count_to_equal":
        plan.min_rows = plan.max_rows = kw.get("value")
        return
    if kind.startswith("table_") or "column" not in kw:
        plan.notes.append(f"expect_{kind} is not used to generate data")
        return
    spec = plan.column(kw["column"])
    if kind == "column_to_exist":
        pass
    elif kind == "column_values_to_be_of_type":
        spec.type = _type_name(kw.get("type_"), plan.notes)
    elif kind == "column_values_to_be_in_type_list":
        spec.type = next(filter(None, (_type_name(n, plan.notes)
                                       for n in kw.get("type_list") or [])), None)
    elif kind == "column_values_to_be_between":
        spec.min, spec.max = kw.get("min_value"), kw.get("max_value")
        spec.strict_min, spec.strict_max = kw.get("strict_min", False), kw.get("strict_max", False)
    elif kind == "column_min_to_be_between":
        spec.min_target = (kw.get("min_value"), kw.get("max_value"))
    elif kind == "column_max_to_be_between":
        spec.max_target = (kw.get("min_value"), kw.get("max_value"))
    elif kind == "column_mean_to_be_between":
        spec.mean_target = (kw.get("min_value"), kw.get("max_value"))
    elif kind in ("column_values_to_be_in_set", "column_distinct_values_to_be_in_set"):
        spec.values = list(kw.get("value_set") or [])
    elif kind in ("column_distinct_values_to_equal_set", "column_distinct_values_to_contain_set"):
        spec.values, spec.cover_values = list(kw.get("value_set") or []), True
    elif kind == "column_values_to_not_be_null":
        spec.suite_null_rate = 1.0 - (kw.get("mostly") if kw.get("mostly") is not None else 1.0)
    elif kind == "column_values_to_be_unique":
        spec.unique = True
    elif kind == "column_values_to_match_regex":
        spec.regex = kw.get("regex")
    else:
        plan.notes.append(f"expect_{kind} is not used to generate data")


def _type_name(name: str | None, notes: list[str] | None = None) -> str | None:
    """The dtype name for a suite's or parameter's type name; None (noted) if unknown."""
    canonical = canonical_type(str(name or ""))
    if canonical.startswith("datetime64"):
        return "datetime64"
    if canonical in SIZED_NUMBERS or canonical in ("str", "bool"):
        return canonical
    if notes is not None and name:
        notes.append(f"type {name!r} is unknown; the column's type is guessed")
    return None


def dtype_name(arrow_type) -> str | None:
    """The pandas dtype name of a pyarrow type (as `checks` sees it); None for others."""
    import pyarrow as pa
    if pa.types.is_integer(arrow_type):
        return str(arrow_type)           # int8 ... uint64, numpy's names too
    if pa.types.is_floating(arrow_type):
        return {32: "float32", 64: "float64"}.get(arrow_type.bit_width)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        return "datetime64"
    return None


# --------------------------------------------------------------------------------- parameters

def _apply_params(plan: Plan, params: dict) -> None:
    if not isinstance(params, dict):
        raise UserError("scenario parameters must be a mapping", field="params")
    for name, settings in (params.get("columns") or {}).items():
        _apply_column_settings(plan.column(name), settings)
    for key, value in params.items():
        if key in SCENARIO_LABELS or key == "columns":
            continue
        if key == "data_size":
            plan.data_size = PARAMS.number(value, f"params.{key}", int, 0)
        elif match := re.fullmatch(r"missing_(\w+)_rate", key):
            spec = _match_column(plan, key, [match[1]])
            spec.null_rate = PARAMS.number(value, f"params.{key}", float, 0, 1)
        elif isinstance(value, list):
            _match_column(plan, key, _singulars(key)).values = _values(value, f"params.{key}")
        else:
            raise UserError(f"unknown scenario parameter {key!r}", field=f"params.{key}",
                            fix=_params_help(plan))


def _apply_column_settings(spec: ColumnSpec, settings: Any) -> None:
    where = f"params.columns.{spec.name}"
    if not isinstance(settings, dict) or not set(settings) <= COLUMN_SETTINGS:
        raise UserError(f"column settings must be a mapping with keys from "
                        f"{sorted(COLUMN_SETTINGS)}", field=where,
                        fix=f"e.g. {spec.name}: {{values: [a, b], null_rate: 0.1}}")
    if "values" in settings:
        spec.values = _values(settings["values"], f"{where}.values")
    if "null_rate" in settings:
        spec.null_rate = PARAMS.number(settings["null_rate"], f"{where}.null_rate", float, 0, 1)
    if "type" in settings:
        spec.type = _type_name(settings["type"])
        if spec.type is None:
            raise UserError(f"unknown type {settings['type']!r}", field=f"{where}.type",
                            fix="use int64, float64, str, bool, datetime64 or a sized number "
                                "type like int32")
    for key in ("min", "max", "regex"):
        if key in settings:
            setattr(spec, key, settings[key])
    if "unique" in settings:
        spec.unique = bool(settings["unique"])


def _singulars(plural: str) -> list[str]:
    """Candidate singulars of a plural: currencies -> currency, boxes -> box, ids -> id."""
    candidates = [plural]
    if plural.endswith("ies"):
        candidates.append(plural[:-3] + "y")
    if plural.endswith("es"):
        candidates.append(plural[:-2])
    if plural.endswith("s"):
        candidates.append(plural[:-1])
    return candidates


def _match_column(plan: Plan, key: str, stems: list[str]) -> ColumnSpec:
    names = plan.column_names()
    for stem in stems:
        for suffix in SUFFIXES:
            if stem + suffix in names:
                return plan.column(stem + suffix)
    tried = ", ".join(stem + suffix for stem in stems for suffix in SUFFIXES)
    raise UserError(f"scenario parameter {key!r} names no column (tried {tried})",
                    field=f"params.{key}", fix=_params_help(plan))


def _params_help(plan: Plan) -> str:
    return (f"the columns are {plan.column_names()}; use data_size, <plural>: [values], "
            f"missing_<column>_rate, or columns: {{<column>: {{values, null_rate, min, max, "
            f"type, unique, regex}}}}")


def _values(value: Any, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise UserError("values must be a non-empty list", field=where)
    return value


def _row_count(plan: Plan, rows: int) -> int:
    if plan.data_size is not None:
        return plan.data_size
    if plan.min_rows is not None and rows < plan.min_rows:
        plan.notes.append(f"{rows} rows raised to the suite's minimum row count {plan.min_rows}")
        return int(plan.min_rows)
    if plan.max_rows is not None and rows > plan.max_rows:
        plan.notes.append(f"{rows} rows lowered to the suite's maximum row count {plan.max_rows}")
        return int(plan.max_rows)
    return int(rows)


# --------------------------------------------------------------------------------- generation

def _generate_column(spec: ColumnSpec, n: int, rng, notes: list[str]):
    """n values of one column: `n - nulls` valid ones, then nulls scattered at random rows."""
    import numpy as np
    import pyarrow as pa

    type_name = spec.type or _guess_type(spec)
    null_rate = spec.null_rate if spec.null_rate is not None else spec.suite_null_rate
    nulls = math.floor(null_rate * n)
    valid = _valid_values(spec, type_name, n - nulls, rng, notes)
    if not nulls:
        return valid
    is_null = np.zeros(n, dtype=bool)
    is_null[rng.choice(n, nulls, replace=False)] = True
    positions = np.zeros(n, dtype=np.int64)
    positions[~is_null] = np.arange(n - nulls)
    return valid.take(pa.array(positions, mask=is_null))


def _guess_type(spec: ColumnSpec) -> str:
    import pyarrow as pa
    if spec.values:
        return dtype_name(pa.array(spec.values).type) or "values"   # used as they are
    if spec.regex:
        return "str"
    bounds = [b for b in (spec.min, spec.max) if b is not None]
    if any(isinstance(b, str) for b in bounds):
        return "datetime64"
    if bounds and all(isinstance(b, int) for b in bounds) or spec.unique:
        return "int64"
    return "float64"


def _kind(type_name: str) -> str:
    """int, float, str, bool or datetime64."""
    if type_name.startswith(("int", "uint")):
        return "int"
    return "float" if type_name.startswith("float") else type_name


def _arrow_type(type_name: str):
    import pyarrow as pa
    special = {"str": pa.string(), "bool": pa.bool_(), "datetime64": pa.timestamp("us")}
    return special.get(type_name) or getattr(pa, type_name)()


def _valid_values(spec: ColumnSpec, type_name: str, m: int, rng, notes: list[str]):
    import pyarrow as pa

    kind = _kind(type_name)
    if spec.values is not None:
        return _from_values(spec, type_name, m, rng)
    if kind in ("int", "float", "datetime64"):
        values = _numbers(spec, kind, m, rng, notes)
        if kind == "datetime64":
            return pa.array(values, pa.int64()).cast(pa.timestamp("us"))
        return pa.array(values).cast(_arrow_type(type_name))
    if kind == "bool":
        if spec.unique and m > 2:
            raise UserError(f"column {spec.name!r}: {m} unique booleans are impossible",
                            field=spec.name, fix="drop the uniqueness or use at most 2 rows")
        return pa.array(rng.random(m) < 0.5)
    return _strings(spec, m, rng, notes)


def _from_values(spec: ColumnSpec, type_name: str, m: int, rng):
    import numpy as np
    import pyarrow as pa

    try:
        values = pa.array(spec.values)
        if spec.type and values.type != _arrow_type(type_name):
            values = values.cast(_arrow_type(type_name))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise UserError(f"column {spec.name!r}: values {spec.values[:5]} are not of type "
                        f"{type_name}: {error}", field=spec.name) from None
    if spec.unique:
        if len(values) < m:
            raise UserError(f"column {spec.name!r}: {m} unique values needed, the value set "
                            f"has {len(values)}", field=spec.name,
                            fix="generate fewer rows or give more values")
        return values.take(rng.permutation(len(values))[:m])
    picks = rng.integers(len(values), size=m)
    if spec.cover_values and m >= len(values):
        picks[rng.choice(m, len(values), replace=False)] = np.arange(len(values))
    return values.take(picks)


def _numbers(spec: ColumnSpec, kind: str, m: int, rng, notes: list[str]):
    """m numbers in the column's range (timestamps as int64 microseconds), as a numpy array."""
    import numpy as np

    mean = None if kind == "datetime64" else _target_value(spec.mean_target)
    low, high = _bounds(spec, kind, m, mean)
    if kind == "float":
        if spec.strict_min:
            low = np.nextafter(low, math.inf)
        if spec.strict_max:
            high = np.nextafter(high, -math.inf)
    else:
        low, high = math.ceil(low) + spec.strict_min, math.floor(high) - spec.strict_max
    if high < low:
        raise UserError(f"column {spec.name!r}: the range [{spec.min}, {spec.max}] is empty",
                        field=spec.name, fix="check the suite's and parameters' min and max")
    shape = _mean_shape(spec.name, mean, kind, low, high, notes)

    if kind == "float":
        # unique floats: one value per stratum of the range, so no two are equal
        u = (rng.permutation(m) + rng.random(m)) / m if spec.unique else rng.random(m)
        values = np.clip(low + (high - low) * u ** shape, low, high)
    elif spec.unique:
        size = high - low + 1
        if size < m:
            raise UserError(f"column {spec.name!r}: {m} unique integers do not fit in "
                            f"[{low}, {high}]", field=spec.name,
                            fix="widen the range or generate fewer rows")
        values = low + rng.choice(size, m, replace=False)
    else:
        offsets = (rng.random(m) ** shape * (high - low + 1)).astype(np.int64)
        values = low + np.minimum(offsets, high - low)

    if spec.unique or m < 2:
        return values
    free = np.ones(m, dtype=bool)    # values that may move to correct the mean
    anchors = rng.choice(m, 2, replace=False)
    for anchor, target, bound in zip(anchors, (spec.min_target, spec.max_target), (low, high)):
        if target:                   # make the column's min or max land where it must
            values[anchor], free[anchor] = bound, False
    if mean is not None:             # shift the rest onto the mean (clipping needs a few rounds)
        for _ in range(3):
            shift = (mean * m - values.sum()) / free.sum()
            values[free] = np.clip(values[free] + (shift if kind == "float" else round(shift)),
                                   low, high)
    return values


def _bounds(spec: ColumnSpec, kind: str, m: int, mean) -> tuple:
    """The range to draw from: the suite's and parameters' bounds, else defaults."""
    to_number = _timestamp_us if kind == "datetime64" else (lambda v: v)
    low, high = (None if v is None else to_number(v) for v in (spec.min, spec.max))
    if spec.min_target:
        target = next((to_number(v) for v in spec.min_target if v is not None), None)
        if target is not None:
            low = target if low is None else max(low, target)
    if spec.max_target:
        target = next((to_number(v) for v in reversed(spec.max_target) if v is not None), None)
        if target is not None:
            high = target if high is None else min(high, target)
    if kind == "datetime64":
        default_low, default_high = (_timestamp_us(d) for d in DEFAULT_DATES)
    elif spec.unique and kind == "int":
        default_low, default_high = 1, max(m, 1)      # ids 1..m
    elif mean is not None:
        default_low, default_high = mean - DEFAULT_RANGE_WIDTH / 2, mean + DEFAULT_RANGE_WIDTH / 2
    else:
        default_low, default_high = 0, DEFAULT_RANGE_WIDTH
    width = default_high - default_low
    if low is None and high is None:
        low, high = default_low, default_high
    elif low is None:
        low = min(default_low, high - width)
    elif high is None:
        high = max(low + width, low + m) if spec.unique else low + width
    return low, high


def _mean_shape(name: str, mean, kind: str, low, high, notes: list[str]) -> float:
    """Exponent k so that low + (high - low) * u**k (u uniform) has the target mean."""
    if mean is None or high == low:
        return 1.0
    span = high - low if kind == "float" else high - low + 1
    fraction = (mean - low + (0 if kind == "float" else 0.5)) / span
    if not 0 < fraction < 1:
        notes.append(f"column {name!r}: mean {mean} is outside the range [{low}, {high}]")
        return 1.0
    return 1 / fraction - 1


def _target_value(target: tuple | None):
    """The middle of a (low, high) target; the one bound if the other is open."""
    if not target:
        return None
    bounds = [v for v in target if v is not None]
    return sum(bounds) / len(bounds) if bounds else None


def _timestamp_us(value) -> int:
    import numpy as np
    return int(np.datetime64(value, "us").astype(np.int64))


def _strings(spec: ColumnSpec, m: int, rng, notes: list[str]):
    import pyarrow as pa
    import pyarrow.compute as pc

    if spec.regex:
        strings = _regex_strings(spec.regex, m, rng)
        if strings is not None:
            if spec.unique and pc.count_distinct(strings).as_py() < m:
                notes.append(f"column {spec.name!r}: the regex yields duplicate values")
            return strings
        notes.append(f"column {spec.name!r}: regex {spec.regex!r} is too complex to generate; "
                     "its values will not match it")
    if spec.unique:
        numbers = pa.array(rng.permutation(m) + 1).cast(pa.string())
        return pc.binary_join_element_wise(f"{spec.name}_", numbers, "")
    vocabulary = pa.array([f"{spec.name}_{i}" for i in range(1, DEFAULT_VOCABULARY_SIZE + 1)])
    return vocabulary.take(rng.integers(len(vocabulary), size=m))


# A regex generator for simple patterns: literals, classes, \d \w \s, '.', and quantifiers.
REGEX_CLASSES = {"d": "0123456789", "w": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "0123456789_", "s": " "}
REGEX_TOKEN = re.compile(
    r"\\([dws])"  # \d \w \s
    r"|\\([^A-Za-z0-9])"  # an escaped punctuation character
    r"|\[([^\]^][^\]]*)\]"  # a class, not negated
    r"|(\.)"  # any character
    r"|([^\\\[\](){}|?*+^$.])"  # a literal
    r"|(\{\d+(?:,\d*)?\}|[?*+])")  # a quantifier


def _regex_strings(regex: str, m: int, rng):
    """m strings matching `regex`, or None if the pattern is not simple enough."""
    import numpy as np
    import pyarrow as pa

    pattern = regex.removeprefix("^").removesuffix("$")
    pieces: list[tuple[str, int]] = []      # (alphabet, repeat count)
    position = 0
    while position < len(pattern):
        token = REGEX_TOKEN.match(pattern, position)
        if token is None:
            return None
        position = token.end()
        class_letter, escaped, char_class, dot, literal, quantifier = token.groups()
        if quantifier:
            if not pieces:
                return None
            pieces[-1] = (pieces[-1][0], _repeat_count(quantifier))
            continue
        alphabet = (REGEX_CLASSES.get(class_letter) if class_letter else escaped or literal
                    or (REGEX_CLASSES["w"][:-1] if dot else _expand_class(char_class)))
        if not alphabet:
            return None
        pieces.append((alphabet, 1))
    columns = [np.array(list(alphabet))[rng.integers(len(alphabet), size=(m, count))]
               for alphabet, count in pieces if count]
    if not columns:
        return pa.array([""] * m)
    chars = np.ascontiguousarray(np.concatenate(columns, axis=1))
    return pa.array(chars.view(f"<U{chars.shape[1]}").ravel())


def _repeat_count(quantifier: str) -> int:
    """How often to repeat a quantified piece: the upper bound if any, else at least once."""
    if quantifier in "?*+":
        return 1
    low, comma, high = quantifier.strip("{}").partition(",")
    if high:
        return int(high)
    return max(int(low), 1) if comma else int(low)


def _expand_class(char_class: str) -> str | None:
    """The characters of a class body like 'A-Z0-9_'; None for escapes we do not handle."""
    if "\\" in char_class:
        return None
    chars = []
    for start, dash, end in re.findall(r"(.)(-)?((?(2).))", char_class):
        chars.extend(map(chr, range(ord(start), ord(end) + 1)) if dash else start)
    return "".join(dict.fromkeys(chars))
