"""Handoff checks: Great Expectations suites run against the data a step wrote.

Suite files are GX 1.x `ExpectationSuite` JSON:

    {"name": "preprocess_output",
     "expectations": [
       {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "amount", "type_": "float64"}},
       {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0},
        "severity": "warning"}],
     "meta": {}}

`severity` is GX's own expectation field: "critical" (default; a failure blocks the downstream
step), "warning" or "info" (reported, not blocking).

Type names (`type_`, `type_list`) are pandas dtypes as a pandas 3 script reading the data sees
them: "int64", "float64", "str", "bool", "datetime64". Aliases are accepted (int, integer, long,
float, double, string, object, text, boolean, timestamp, ...). A float type also accepts an
integer column: CSV can't tell 12.0 from 12. Integer and boolean columns with nulls stay
"int64"/"bool". The three type expectations (`..._be_of_type`, `..._in_type_list`,
`expect_column_type_to_be`) are evaluated here, on the dtype: GX 1.24's in_type_list doesn't
recognise pandas 3 `str` columns. Row-count expectations are evaluated here too; GX runs the rest.

Splits (`train/`, `test/`, ...) are validated one by one, each against the whole suite (row
counts too); results carry their split. Splits larger than `max_rows` are sampled
deterministically (uniform, seeded); row-count expectations always see the split's full row
count, but uniqueness is only checked within the sample.

GX is imported inside functions: it takes ~2 s.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.util
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..results import jsonable
from ..status import Verdict
from . import datasets

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SEVERITIES = ("critical", "warning", "info")
TYPE_ALIASES = {
    **dict.fromkeys(("int", "int64", "integer", "long", "bigint"), "int64"),
    **dict.fromkeys(("float", "float64", "double", "real", "decimal", "numeric"), "float64"),
    **dict.fromkeys(("str", "string", "object", "text", "utf8", "large_string", "varchar"), "str"),
    **dict.fromkeys(("bool", "boolean"), "bool"),
    **dict.fromkeys(("datetime", "datetime64", "timestamp", "date"), "datetime64"),
}
NUMERIC_TYPES = ("int64", "float64")
TYPE_EXPECTATIONS = ("expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list",
                     "expect_column_type_to_be")
ROW_COUNT_EXPECTATIONS = ("expect_table_row_count_to_be_between", "expect_table_row_count_to_equal")
EXAMPLES = 5
INDEX_KEY = "cursus_local_index"  # in GX meta: maps results back to the suite


def canonical_type(name: str) -> str:
    """A type name in suite terms: "double" -> "float64", "Int64" (pandas dtype) -> "int64",
    "datetime64[ns]" -> "datetime64"; unknown names unchanged."""
    name = str(name)
    return "datetime64" if name.startswith("datetime64") else TYPE_ALIASES.get(name.lower(), name)


def declared_types(kwargs: dict) -> set[str]:
    """The canonical types a type expectation's kwargs name."""
    names = kwargs.get("type_list") or ([kwargs["type_"]] if kwargs.get("type_") else [])
    return {canonical_type(n) for n in names}


def accepted_types(kwargs: dict) -> set[str]:
    """The column types a type expectation accepts: those it names; a float type allows int64."""
    types = declared_types(kwargs)
    return types | {"int64"} if "float64" in types else types


def expectation_column(expectation: dict) -> str | None:
    return expectation.get("kwargs", {}).get("column")


# ---------------------------------------------------------------- loading suites


@functools.cache
def _known_expectation_types() -> frozenset[str]:
    """GX core expectation names, from its module file names (cheap: GX isn't imported)."""
    package = Path(importlib.util.find_spec("great_expectations").submodule_search_locations[0])
    return frozenset(p.stem for p in (package / "expectations" / "core").glob("expect_*.py"))


def load_suite(path: str | Path) -> dict:
    """A GX suite JSON file as a dict, with its structure checked (without importing GX)."""
    path = Path(path)
    file = str(path)
    try:
        suite = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError("suite file not found", file=file, fix="check the suite path") from None
    except json.JSONDecodeError as e:
        raise UserError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}",
                        file=file, fix="fix the JSON syntax") from None
    if isinstance(suite, dict):
        suite.setdefault("name", path.stem)
    return check_suite(suite, file)


def check_suite(suite: Any, file: str = "<suite>") -> dict:
    """`suite` with defaults filled in (severity, kwargs, meta); UserError if malformed."""
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise UserError("a suite is an object with an `expectations` list", file=file,
                        field="expectations",
                        fix='write {"name": "...", "expectations": [{"type": ..., "kwargs": {...}}]}')
    suite.setdefault("name", Path(file).stem)
    suite.setdefault("meta", {})
    for i, expectation in enumerate(suite["expectations"]):
        _check_expectation(expectation, file, f"expectations[{i}]")
    return suite


def _check_expectation(e: Any, file: str, where: str) -> None:
    if not isinstance(e, dict):
        raise UserError("an expectation is an object", file=file, field=where,
                        fix='write {"type": "expect_...", "kwargs": {...}}')
    if "expectation_type" in e:
        raise UserError("`expectation_type` is the GX 0.x name", file=file,
                        field=f"{where}.expectation_type", fix="rename it to `type` (GX 1.x)")
    kind = e.get("type")
    known = _known_expectation_types()
    if kind not in known:
        close = difflib.get_close_matches(str(kind), known, n=1)
        raise UserError(f"unknown expectation type {kind!r}", file=file, field=f"{where}.type",
                        fix=f"did you mean {close[0]!r}?" if close else
                        "use a Great Expectations core expectation (expect_...)")
    kwargs = e.setdefault("kwargs", {})
    if not isinstance(kwargs, dict):
        raise UserError("`kwargs` must be an object", file=file, field=f"{where}.kwargs",
                        fix='write "kwargs": {"column": "..."}')
    if "severity" in e.get("meta", {}):
        raise UserError("severity belongs on the expectation, not in meta", file=file,
                        field=f"{where}.meta.severity", fix='move it: "severity": "warning"')
    severity = e.setdefault("severity", "critical")
    if severity not in SEVERITIES:
        raise UserError(f"unknown severity {severity!r}", file=file, field=f"{where}.severity",
                        fix=f"use one of {', '.join(SEVERITIES)}")
    needed = _required_kwargs(kind)
    if missing := [k for k in needed if k not in kwargs]:
        raise UserError(f"{kind} needs kwargs {missing}", file=file, field=f"{where}.kwargs",
                        fix=f"add {', '.join(f'{k!r}' for k in missing)} to kwargs")


def _required_kwargs(kind: str) -> list[str]:
    """The kwargs checked at load time; GX checks the rest when the suite runs."""
    if kind.startswith("expect_column_pair_"):
        needed = ["column_A", "column_B"]
    elif kind.startswith(("expect_multicolumn_", "expect_compound_", "expect_select_")):
        needed = ["column_list"]
    elif kind.startswith("expect_column_"):
        needed = ["column"]
    else:
        needed = []
    specific = {"expect_column_values_to_be_of_type": "type_",
                "expect_column_values_to_be_in_type_list": "type_list",
                "expect_column_type_to_be": "type_",
                "expect_column_values_to_be_in_set": "value_set",
                "expect_column_values_to_not_be_in_set": "value_set",
                "expect_column_values_to_match_regex": "regex",
                "expect_table_columns_to_match_set": "column_set",
                "expect_table_columns_to_match_ordered_list": "column_list",
                "expect_table_row_count_to_equal": "value"}
    return needed + ([specific[kind]] if kind in specific else [])


def suite_columns(suite: dict, severity: str = "critical") -> list[str]:
    """Every column the suite's expectations of this severity name."""
    names = []
    for e in suite["expectations"]:
        if e.get("severity", "critical") != severity:
            continue
        kwargs = e.get("kwargs") or {}
        names += [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
        names += [c for c in kwargs.get("column_list") or [] if isinstance(c, str)]
    return list(dict.fromkeys(names))


def check_given_data(data_path: str | Path, suite_path: str | Path | None, field: str) -> None:
    """Data the user gave (an input from outside the DAG), before anything runs:
    there is some, and with a suite, it reads as a table (CSV, TSV, Parquet or JSON) holding rows
    and every column the suite names. Its values are the suite's to judge, when the run checks it."""
    datasets.check_not_empty(data_path)
    if suite_path is None:
        return
    suite = load_suite(suite_path)
    try:
        tables = datasets.read_splits(data_path)
    except UserError as exc:
        raise UserError(f"{exc.message} (read for the suite {Path(suite_path).name})", file=exc.file,
                        field=field, fix=exc.fix) from None
    for split, table in tables.items():
        where = f"{data_path}/{split}" if split else str(data_path)
        if table.num_rows == 0:
            raise UserError("no rows (a header at most)", file=where, field=field,
                            fix="give data with at least one row")
        if missing := [c for c in suite_columns(suite) if c not in table.column_names]:
            raise UserError(f"no column(s) {missing} that the suite {Path(suite_path).name} checks "
                            f"(critical); the "
                            f"data has {table.column_names[:20]}", file=where, field=field,
                            fix="point at the data this input expects (header row included), or fix the suite")


# ---------------------------------------------------------------- results


@dataclass
class ExpectationResult:
    type: str
    column: str | None
    kwargs: dict
    severity: str
    success: bool
    split: str = ""
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_examples: list = field(default_factory=list)
    observed_value: Any = None
    message: str = ""  # why it failed, in words


@dataclass
class CheckResult:
    suite: str
    data_path: str
    status: Verdict
    blocking: bool  # a critical expectation failed
    expectations: list[ExpectationResult]
    splits: list[str]
    total_rows: int
    sample_rows: int
    sample_method: str
    read_seconds: float
    validate_seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.expectations if not r.success]


# ---------------------------------------------------------------- validating


def validate(suite: dict | str | Path, data_path: str | Path, *, max_rows: int | None = 200_000,
             seed: int = 0, inputs=None) -> CheckResult:
    """Run `suite` against the data at `data_path`, each split on its own, plus the suite's file
    and split expectations (`layout_checks`), and its row ratio to the step's input when
    `inputs` (`layout_checks.StepInputs`) says what the step read. It never raises for the
    data: a file that can't be read, or an error while validating, is a failed critical result
    with its cause. A malformed suite raises UserError."""
    from . import layout_checks

    suite = check_suite(suite) if isinstance(suite, dict) else load_suite(suite)
    started = time.perf_counter()
    try:
        results = [_layout_result(p) for p in layout_checks.file_problems(suite, data_path)]
    except Exception:   # noqa: BLE001 - a folder that can't be listed: reading says why
        results = []
    try:
        tables = datasets.read_splits(data_path)
    except Exception as exc:   # noqa: BLE001 - whatever it is, the check fails with its cause
        tables = {}
        if not any(r.type == "text_encoding" for r in results):   # else that is the cause
            causes = _encoding_causes(data_path)   # a UTF-16 file reads as "binary content"
            results += causes or [_error_result("data_readable", "", exc)]
    read_seconds = time.perf_counter() - started

    started = time.perf_counter()
    total, sampled, methods = 0, 0, set()
    gx_suite = _gx_suite(suite)   # a malformed suite is bad input (UserError), not a data problem
    for split, table in tables.items():
        part, info = datasets.sample(table, max_rows, seed)
        total, sampled = total + info.total_rows, sampled + info.sample_rows
        methods.add(info.method)
        try:
            results += _validate_split(suite, gx_suite, part, info.total_rows, split)
        except Exception as exc:   # noqa: BLE001
            results.append(_error_result("suite_runs", split, exc))
    results += [_layout_result(p) for p in layout_checks.row_problems(
        suite, {split: table.num_rows for split, table in tables.items()})]
    if tables:
        try:
            results += [_layout_result(p) for p in layout_checks.row_ratio_problems(
                suite, sum(t.num_rows for t in tables.values()), inputs)]
        except Exception as exc:   # noqa: BLE001 - the input can't be read: say so
            results.append(_error_result("row_ratio", "", exc))
    status = verdict(results)
    return CheckResult(
        suite=suite["name"], data_path=str(data_path), status=status,
        blocking=status == Verdict.FAIL,
        expectations=results, splits=[s for s in tables if s], total_rows=total,
        sample_rows=sampled, sample_method=" / ".join(sorted(methods)),
        read_seconds=round(read_seconds, 3),
        validate_seconds=round(time.perf_counter() - started, 3))


def _encoding_causes(data_path) -> list[ExpectationResult]:
    """Why data that failed to read can't be read, if it is its encoding."""
    from . import layout_checks

    try:
        return [_layout_result(p) for p in layout_checks.encoding_problems(data_path)]
    except Exception:   # noqa: BLE001 - the read error then says what it can
        return []


def _layout_result(problem) -> ExpectationResult:
    """A failed file or split expectation (`layout_checks.Problem`), critical."""
    return ExpectationResult(type=problem.check, column=None,
                             kwargs={"file": problem.file} if problem.file else {},
                             severity="critical", success=False, split=problem.split,
                             observed_value=problem.observed, message=problem.message)


def _error_result(check: str, split: str, exc: Exception) -> ExpectationResult:
    """An error while reading or validating, as a failed critical result that says why."""
    if isinstance(exc, UserError):
        where = f"{exc.file}: " if exc.file else ""
        message = f"{where}{exc.message}" + (f" (fix: {exc.fix})" if exc.fix else "")
    else:
        message = f"{type(exc).__name__}: {exc}"
    return ExpectationResult(type=check, column=None, kwargs={}, severity="critical",
                             success=False, split=split, message=message)


def verdict(results: list[ExpectationResult]) -> Verdict:
    """FAIL if a critical expectation failed, WARN if only others did, else PASS."""
    return Verdict.worst(Verdict.FAIL if r.severity == "critical" else Verdict.WARN
                         for r in results if not r.success)


_GX_LOCK = threading.Lock()  # one shared GX context; the sequencer may check in threads


@functools.cache
def _batch_definition():
    """One in-memory GX context and pandas dataframe batch definition, reused by every check."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False)))
    asset = context.data_sources.add_pandas("handoff").add_dataframe_asset("data")
    return asset.add_batch_definition_whole_dataframe("whole")


def check_expectations(path: str | Path) -> dict:
    """A suite file loaded, with each expectation's kwargs checked by GX itself (names, types, and
    how they fit together), so a bad one is found before the data it would check exists."""
    suite = load_suite(path)
    # importing GX takes seconds: a suite GX accepted once is not asked again until it changes
    import hashlib
    from importlib.metadata import version

    from ..results import cache_root
    digest = hashlib.blake2b(json.dumps(suite, sort_keys=True).encode(), digest_size=16).hexdigest()
    accepted = cache_root() / "suites-accepted" / f"gx-{version('great_expectations')}-{digest}"
    if not accepted.exists():
        _gx_suite(suite, str(path))
        try:
            accepted.parent.mkdir(parents=True, exist_ok=True)
            accepted.touch()
        except OSError:   # a read-only home: check again next time
            pass
    return suite


def _gx_suite(suite: dict, file: str | None = None):
    """The GX suite for the expectations GX runs (all but LOCAL_CHECKS); None if there are none."""
    todo = [(i, e) for i, e in enumerate(suite["expectations"]) if e["type"] not in LOCAL_CHECKS]
    if not todo:
        return None
    import great_expectations as gx
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = []
    for i, e in todo:
        try:
            expectations.append(ExpectationConfiguration(
                type=e["type"], kwargs=e["kwargs"], meta={**e.get("meta", {}), INDEX_KEY: i},
                severity=e["severity"]).to_domain_obj())
        except (ValueError, ExpectationNotFoundError) as error:  # pydantic errors are ValueErrors
            raise UserError(f"invalid expectation {e['type']}: {error}", file=file or suite["name"],
                            field=f"expectations[{i}]",
                            fix="fix its kwargs (see the GX docs for this expectation)") from None
    return gx.ExpectationSuite(name=suite["name"], expectations=expectations)


def _validate_split(suite: dict, gx_suite, table: pa.Table, full_rows: int,
                    split: str) -> list[ExpectationResult]:
    frame = _to_pandas(table)
    by_index = {}
    if gx_suite is not None:
        with _GX_LOCK:
            batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
            validation = batch.validate(gx_suite, result_format={
                "result_format": "BASIC", "partial_unexpected_count": EXAMPLES})
        by_index = {r.expectation_config.meta[INDEX_KEY]: r for r in validation.results}
    results = []
    for i, e in enumerate(suite["expectations"]):
        result = ExpectationResult(
            type=e["type"], column=expectation_column(e), kwargs=e["kwargs"],
            severity=e["severity"], success=True, split=split)
        if result.column is not None and result.column not in frame.columns:
            result.success = False
            result.message = f"no column {result.column!r}; columns are {list(frame.columns)}"
        elif i in by_index:
            _fill_from_gx(result, by_index[i], frame)
        else:
            LOCAL_CHECKS[e["type"]](result, frame, full_rows)
        results.append(result)
    return results


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """The DataFrame a pandas 3 script would see, except that integer and boolean columns with
    nulls stay integer/boolean (nullable dtypes) instead of turning float/object."""
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas(date_as_object=False)  # dates as datetime64, not objects
    for name in table.column_names:
        column = table.column(name)
        if column.null_count and pa.types.is_integer(column.type):
            frame[name] = column.to_pandas(types_mapper=lambda _: pd.Int64Dtype())
        elif column.null_count and pa.types.is_boolean(column.type):
            frame[name] = column.to_pandas(types_mapper=lambda _: pd.BooleanDtype())
    return frame


def _fill_from_gx(result: ExpectationResult, gx_result, frame: pd.DataFrame) -> None:
    details = gx_result.result or {}
    result.success = bool(gx_result.success)
    result.observed_value = jsonable(details.get("observed_value"))
    result.unexpected_count = details.get("unexpected_count")
    result.unexpected_percent = jsonable(details.get("unexpected_percent"))
    result.unexpected_examples = [jsonable(v) for v in details.get("partial_unexpected_list", [])]
    if result.success:
        return
    where = f"column {result.column!r}: " if result.column else ""
    if error := _exception_message(gx_result.exception_info or {}):
        result.message = where + (_bounds_mismatch(result, frame) or error)
    elif result.unexpected_count is not None:
        nulls = result.type == "expect_column_values_to_not_be_null"
        shown = "" if nulls else f", e.g. {result.unexpected_examples}"
        of = "of rows are null" if nulls else "of non-null values fail"
        result.message = f"{where}{result.unexpected_count} ({result.unexpected_percent:.2f}% {of}){shown}"
    elif isinstance(result.observed_value, list) and result.type in COLUMN_SET_EXPECTATIONS:
        result.message = _columns_message(result.kwargs, result.observed_value)
    else:
        result.message = f"{where}observed {result.observed_value!r}"


def _bounds_mismatch(result: ExpectationResult, frame: pd.DataFrame) -> str:
    """GX raises a bare "must be of the same type" when a column's values and the
    min_value/max_value bounds differ in kind (text against numbers): say which, with an example.
    """
    low, high = result.kwargs.get("min_value"), result.kwargs.get("max_value")
    bounds = [b for b in (low, high) if b is not None]
    if result.column is None or not bounds:
        return ""
    needed = _value_kind(bounds)
    values = frame[result.column].dropna()
    kind = _value_kind(values)
    if kind == needed or values.empty:
        return ""
    example = next(v for v in values if _value_kind([v]) != needed)
    shown = ", ".join("..." if b is None else repr(b) for b in (low, high))
    return f"values are {kind} (e.g. {jsonable(example)!r}), the range [{shown}] needs {needed}"


def _value_kind(values) -> str:
    """What kind of values these are, in words."""
    import pandas as pd

    inferred = pd.api.types.infer_dtype(values, skipna=True)
    for words, names in (("text", ("string",)), ("booleans", ("boolean",)),
                         ("numbers", ("integer", "floating", "mixed-integer-float", "decimal")),
                         ("dates", ("datetime64", "datetime", "date"))):
        if inferred in names:
            return words
    return inferred  # e.g. "mixed"


COLUMN_SET_EXPECTATIONS = ("expect_table_columns_to_match_set",
                           "expect_table_columns_to_match_ordered_list")


def _columns_message(kwargs: dict, observed: list) -> str:
    """Which columns are missing, extra or out of order, rather than the whole list."""
    expected = kwargs.get("column_set") or kwargs.get("column_list") or []
    missing = [c for c in expected if c not in observed]
    extra = [c for c in observed if c not in expected]
    parts = [f"missing column(s) {missing}" if missing else "",
             f"extra column(s) {extra}" if extra and kwargs.get("exact_match", True) else ""]
    text = "; ".join(p for p in parts if p)
    return text or f"columns in another order: {observed}, expected {expected}"


def _check_type(result: ExpectationResult, frame: pd.DataFrame, _rows: int) -> None:
    """Type expectations, checked here: GX's in_type_list doesn't know pandas 3 `str` columns.

    For text where numbers are expected, count and show the values that aren't numbers.
    """
    import pandas as pd

    column = frame[result.column]
    expected = sorted(declared_types(result.kwargs))
    if column.isna().all():  # no values (CSV can't type an empty column): nothing contradicts
        result.observed_value = "null"
        return
    result.observed_value = "object" if column.dtype == object else canonical_type(column.dtype)
    result.success = result.observed_value in accepted_types(result.kwargs)
    if result.success:
        return
    result.message = f"column {result.column!r} is {result.observed_value}, expected " + (
        " or ".join(expected))
    if set(expected) & set(NUMERIC_TYPES) and result.observed_value == "str":
        values = column.dropna()
        bad = values[pd.to_numeric(values, errors="coerce").isna()]
        result.unexpected_count = len(bad)
        result.unexpected_percent = 100 * len(bad) / max(len(values), 1)
        result.unexpected_examples = [str(v) for v in bad.drop_duplicates().head(EXAMPLES)]
        result.message += (f"; {len(bad)} values are not numbers, e.g. "
                           f"{result.unexpected_examples}: write it as a numeric column")


def _check_row_count(result: ExpectationResult, _frame: pd.DataFrame, rows: int) -> None:
    """Row counts, checked here on the full split rather than on the sample."""
    k = result.kwargs
    if "value" in k:
        result.success = rows == k["value"]
    else:
        low, high = k.get("min_value"), k.get("max_value")
        result.success = ((low is None or (rows > low if k.get("strict_min") else rows >= low))
                          and (high is None or (rows < high if k.get("strict_max") else rows <= high)))
    result.observed_value = rows
    if not result.success:
        result.message = f"{rows} rows, expected " + (
            f"{k['value']}" if "value" in k else f"between {k.get('min_value')} and {k.get('max_value')}")


# Expectations cursus-local evaluates itself, by type; GX runs all others.
LOCAL_CHECKS = {
    **dict.fromkeys(TYPE_EXPECTATIONS, _check_type),
    **dict.fromkeys(ROW_COUNT_EXPECTATIONS, _check_row_count),
}


def _exception_message(info: dict) -> str:
    """GX nests exception details per metric; the first message is enough."""
    if info.get("raised_exception"):
        return info.get("exception_message") or "expectation raised an error"
    return next((m for v in info.values() if isinstance(v, dict)
                 if (m := _exception_message(v))), "")

