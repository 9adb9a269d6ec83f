"""Quality checks from test_scenarios.yaml (the format: config.py): each check type becomes GX
expectations; `parse_quality_checks` reads them, `evaluate_outputs` runs them and the step's output
suites on what a script wrote, and details the failing expectations with their failing rows."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..data import checks, datasets
from ..errors import UserError
from ..fields import Fields
from ..jobs.contracts import Step
from ..results import jsonable
from ..status import Verdict

EXAMPLE_ROWS = 5


@dataclass
class QualityCheck:
    name: str
    check_type: str
    output: str
    expectations: list[dict]           # GX expectations; `column: None` means every column


class CheckArgs:
    """One quality check entry as its builder reads it; bad values fail naming the field."""

    def __init__(self, fields: Fields, raw: dict, where: str):
        self.fields, self.raw, self.where = fields, raw, where

    def get(self, key: str, default=None):
        return self.raw.get(key, default)

    def columns(self, required: bool = True) -> list[str]:
        value = self.raw.get("columns", self.raw.get("column"))
        if value is None and not required:
            return []
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            self.fields.fail(f"{self.where}.column", f"expected a column name or a list, got {value!r}",
                             "write `column: converted_amount` or `columns: [a, b]`")
        return values

    def fraction(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1:
            self.fields.fail(f"{self.where}.{key}", f"{value} is more than 1: this is a fraction",
                             f"write 0.05 for 5% (`{key}: 0.05`)")
        return self.fields.number(value, f"{self.where}.{key}", float, 0, 1)

    def bounds(self) -> dict:
        out = {k: self.raw[k] for k in ("min_value", "max_value") if self.raw.get(k) is not None}
        if not out:
            self.fields.fail(self.where, "no bounds", "give min_value, max_value or both")
        for key, value in out.items():
            if not isinstance(value, (int, float, str)) or isinstance(value, bool):
                self.fields.fail(f"{self.where}.{key}", f"expected a number, got {value!r}",
                                 f"write `{key}: 0`")
        return out


def _expect(kind: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs}


def _schema(a: CheckArgs) -> list[dict]:
    required = a.get("required_columns") or []
    types = a.fields.mapping(a.get("column_types"), f"{a.where}.column_types",
                             "write `column_types: {amount: float64}`")
    if not isinstance(required, list) or not (required or types):
        a.fields.fail(f"{a.where}.required_columns", "expected a list of column names",
                      "write `required_columns: [order_id, converted_amount]`")
    return ([_expect("column_to_exist", column=c) for c in required if c not in types]
            + [_expect("column_values_to_be_of_type", column=c, type_=t) for c, t in types.items()])


def _nulls(a: CheckArgs) -> list[dict]:
    mostly = round(1 - a.fraction("max_null_percentage", 0.0), 6)
    return [_expect("column_values_to_not_be_null", column=c, mostly=mostly)
            for c in a.columns(required=False) or [None]]


def _row_count(a: CheckArgs) -> list[dict]:
    bounds = {k: a.fields.number(v, f"{a.where}.{k}", int, 0) for k, v in a.bounds().items()}
    return [_expect("table_row_count_to_be_between", min_value=bounds.get("min_value"),
                    max_value=bounds.get("max_value"))]


def _raw_expectation(a: CheckArgs) -> list[dict]:
    kind = a.get("type")
    if not isinstance(kind, str) or not kind.startswith("expect_"):
        a.fields.fail(f"{a.where}.type", f"expected a GX expectation type, got {kind!r}",
                      "write `type: expect_column_values_to_be_between`")
    return [{"type": kind, "kwargs": dict(a.fields.mapping(a.get("kwargs"), f"{a.where}.kwargs",
                                                           "write `kwargs: {column: ...}`"))}]


# check_type -> (builder, its keys)
QUALITY_CHECKS: dict[str, tuple[Callable[[CheckArgs], list[dict]], set]] = {
    "schema_validation": (_schema, {"required_columns", "column_types"}),
    "data_range_validation": (lambda a: [_expect("column_values_to_be_between", column=c, **a.bounds())
                                         for c in a.columns()],
                              {"column", "columns", "min_value", "max_value"}),
    "null_value_validation": (_nulls, {"column", "columns", "max_null_percentage"}),
    "unique_validation": (lambda a: [_expect("column_values_to_be_unique", column=c)
                                     for c in a.columns()], {"column", "columns"}),
    "value_set_validation": (lambda a: [_expect("column_values_to_be_in_set", column=c,
                                                value_set=list(a.get("value_set") or []))
                                        for c in a.columns()], {"column", "columns", "value_set"}),
    "regex_validation": (lambda a: [_expect("column_values_to_match_regex", column=c,
                                            regex=str(a.get("regex") or ""))
                                    for c in a.columns()], {"column", "columns", "regex"}),
    "row_count_validation": (_row_count, {"min_value", "max_value"}),
    "expectation": (_raw_expectation, {"type", "kwargs"}),
}


def parse_quality_checks(step: Step, items: list, where: str, fields: Fields) -> list[QualityCheck]:
    """The `quality_checks:` entries of one script (`where` is that list's field)."""
    parsed = [parse_quality_check(step, raw, f"{where}[{i}]", fields) for i, raw in enumerate(items)]
    _name_duplicates(parsed)
    return parsed


def parse_quality_check(step: Step, raw: Any, where: str, fields: Fields) -> QualityCheck:
    raw = fields.mapping(raw, where,
                         "write `- {check_type: null_value_validation, max_null_percentage: 0.05}`")
    kind = raw.get("check_type")
    if kind not in QUALITY_CHECKS:
        close = difflib.get_close_matches(str(kind), QUALITY_CHECKS, n=1)
        fields.fail(f"{where}.check_type", f"unknown check type {kind!r}",
                    f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(QUALITY_CHECKS)}")
    build, keys = QUALITY_CHECKS[kind]
    fields.known_keys(raw, keys | {"check_type", "name", "output", "severity"}, where)
    output = raw.get("output") or next(iter(step.outputs), None)
    if output not in step.outputs:
        fields.fail(f"{where}.output", f"no output {output!r} in {step.name}",
                    f"use one of {sorted(step.outputs)}")
    severity = raw.get("severity", "critical")
    expectations = build(CheckArgs(fields, raw, where))
    for e in expectations:
        e["severity"] = severity
    try:   # "every column" expectations (column None) are checked once the columns are known
        checks.check_suite({"name": kind, "expectations": [
            e for e in expectations if e["kwargs"].get("column", "") is not None]})
    except UserError as exc:
        fields.fail(where, exc.message, exc.fix)
    return QualityCheck(str(raw.get("name") or kind), kind, output, expectations)


def _name_duplicates(parsed: list[QualityCheck]):
    """Two checks of one type get their column (or position) in their names."""
    names = [c.name for c in parsed]
    for i, check in enumerate(parsed):
        if names.count(check.name) > 1:
            columns = {e["kwargs"].get("column") for e in check.expectations} - {None}
            check.name += f"[{','.join(sorted(columns))}]" if columns else f"[{i + 1}]"


@dataclass
class Quality:
    statuses: dict[str, Verdict] = field(default_factory=dict)
    details: dict[str, dict] = field(default_factory=dict)     # for checks that didn't pass
    score: float | None = None

    @property
    def failed(self) -> bool:
        return Verdict.FAIL in self.statuses.values()


def evaluate_outputs(step: Step, quality_checks: list[QualityCheck],
                     outputs: dict[str, Path]) -> Quality:
    """Quality checks and the step's output suites on what the script wrote."""
    quality, fractions = Quality(), []
    for output, folder in outputs.items():
        mine = [c for c in quality_checks if c.output == output]
        groups: list[tuple[dict, list[str]]] = []   # (suite, the check owning each expectation)
        if mine:
            try:
                columns = datasets.read_table(folder).column_names if any(
                    e["kwargs"].get("column", "") is None for c in mine for e in c.expectations) else []
            except UserError as exc:
                _all_fail(quality, [c.name for c in mine], exc.message)
                continue
            expectations, owners = [], []
            for check in mine:
                for e in check.expectations:
                    for column in (columns if e["kwargs"].get("column", "") is None else [""]):
                        expectations.append({**e, "kwargs": {**e["kwargs"], "column": column}}
                                            if column else dict(e))
                        owners.append(check.name)
            groups.append(({"name": f"{step.name}.quality_checks", "expectations": expectations},
                           owners))
        if output in step.output_suites:
            suite = checks.load_suite(step.output_suites[output])
            groups.append((suite, [f"suite:{suite['name']}"] * len(suite["expectations"])))
        for suite, owners in groups:
            try:
                result = checks.validate(suite, folder)
            except UserError as exc:
                _all_fail(quality, list(dict.fromkeys(owners)), exc.message)
                continue
            by_owner: dict[str, list] = {o: [] for o in owners}
            for i, r in enumerate(result.expectations):
                by_owner[owners[i % len(owners)]].append(r)
                fractions.append(_pass_fraction(r))
            for owner, items in by_owner.items():
                quality.statuses[owner] = checks.verdict(items)
                if quality.statuses[owner] != Verdict.PASS:
                    quality.details[owner] = _failure_details(folder, items)
    quality.score = round(sum(fractions) / len(fractions), 4) if fractions else None
    return quality


def _all_fail(quality: Quality, names: list[str], message: str):
    for name in names:
        quality.statuses[name] = Verdict.FAIL
        quality.details[name] = {"status": Verdict.FAIL, "message": message}


def _pass_fraction(r) -> float:
    if r.unexpected_percent is not None and not math.isnan(r.unexpected_percent):
        return max(0.0, 1 - r.unexpected_percent / 100)
    return float(r.success)


def _failure_details(folder: Path, items: list) -> dict:
    """The failing expectations with their failing rows: count, values and example rows."""
    import pyarrow.compute as pc

    failed = [r for r in items if not r.success]
    critical = [r for r in failed if r.severity == "critical"]
    failures, masks, tables = [], {}, {}
    for r in critical + [r for r in failed if r.severity != "critical"]:
        failure = {"expectation": r.type, "column": r.column, "split": r.split, "severity": r.severity,
                   "message": r.message, "failing_rows": r.unexpected_count,
                   "examples": r.unexpected_examples}
        if (mask := _failing_mask(folder, r, tables)) is not None:
            table = tables[r.split]
            failure["failing_rows"] = pc.sum(mask).as_py() or 0
            failure["example_rows"] = jsonable(table.filter(mask).slice(0, EXAMPLE_ROWS).to_pylist())
            if r in critical or not critical:   # count the rows behind the status
                masks[r.split] = pc.or_(masks[r.split], mask) if r.split in masks else mask
        failures.append(failure)
    counted = sum(pc.sum(m).as_py() or 0 for m in masks.values())
    uncounted = sum(f["failing_rows"] or 0 for f in failures if "example_rows" not in f
                    and (f["severity"] == "critical" or not critical))
    return {"status": checks.verdict(items), "failing_rows": counted + uncounted, "failures": failures}


def _failing_mask(folder: Path, r, tables: dict):
    """Which rows of its split fail a null, range or value-set expectation (None: other kinds).
    `tables` caches the splits read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if r.column is None or r.type not in ROW_PREDICATES:
        return None
    try:
        if not tables:
            tables.update(datasets.read_splits(folder))
        values, k = tables[r.split].column(r.column), r.kwargs
        if r.type == "expect_column_values_to_not_be_null":
            mask = pc.is_null(values, nan_is_null=True)
        elif r.type == "expect_column_values_to_be_between":
            low = pc.less(values, k["min_value"]) if k.get("min_value") is not None else None
            high = pc.greater(values, k["max_value"]) if k.get("max_value") is not None else None
            mask = low if high is None else high if low is None else pc.or_(low, high)
        else:
            outside = pc.invert(pc.is_in(values, value_set=pa.array(k["value_set"]).cast(values.type)))
            mask = pc.and_(outside, pc.is_valid(values))   # GX leaves nulls to the null checks
        return pc.fill_null(mask, False)
    except (KeyError, UserError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


ROW_PREDICATES = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
                  "expect_column_values_to_be_in_set")

