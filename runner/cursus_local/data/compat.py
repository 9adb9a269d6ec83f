"""Static compatibility of a handoff: does the producer's output suite promise what the
consumer's input suite requires? Nothing runs; only the two suites are compared.

Each consumer expectation is a requirement; the producer's expectations are its promises.
Checked: columns the consumer uses but the producer doesn't declare; types; value ranges;
value sets; nullability; split folders (`meta.cursus_local.splits`, see `layout_checks`). A requirement the producer says nothing about (no range, no type)
can't be checked statically and is left to the handoff check on real data. An issue takes the
severity of the consumer expectation behind it: critical -> FAIL, warning/info -> WARN.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..status import Verdict
from . import layout_checks
from .checks import (
    SEVERITIES,
    TYPE_EXPECTATIONS,
    accepted_types,
    check_suite,
    declared_types,
    load_suite,
)

BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
NOT_NULL = "expect_column_values_to_not_be_null"


@dataclass
class Issue:
    kind: str  # missing_column | type | range | value_set | nullability | missing_split
    column: str
    severity: str
    message: str
    recommendation: str


@dataclass
class _Promises:
    """What a producer's suite says about one column."""

    types: set[str] | None = None
    low: float | None = None
    high: float | None = None
    values: set | None = None
    not_null: bool = False


def check_connection(producer_suite: dict | str | Path, consumer_suite: dict | str | Path, *,
                     producer: str, consumer: str) -> dict:
    """The data-flow result for `producer -> consumer` (the design note's shape)."""
    started = time.perf_counter()
    out, need = (check_suite(s) if isinstance(s, dict) else load_suite(s)
                 for s in (producer_suite, consumer_suite))
    promises = _promises(out)
    missing: dict[str, str] = {}  # column -> most severe consumer expectation using it
    issues = []
    for e in need["expectations"]:
        for column in _columns(e):
            if column not in promises:
                missing[column] = min(missing.get(column, "info"), e["severity"],
                                      key=SEVERITIES.index)
        column = e["kwargs"].get("column")
        if column in promises:
            issues += _compare(e, column, promises[column], producer, consumer)
    issues += _split_issues(out, need, producer, consumer)
    issues[:0] = [Issue("missing_column", column, severity, f"Missing required column: {column!r}",
                        f"Add {column!r} to the output of {producer} and declare it in its suite "
                        f"{out['name']!r}, or stop requiring it in {need['name']!r}")
                  for column, severity in missing.items()]
    kinds = {i.kind for i in issues}
    return {
        "connection": f"{producer} -> {consumer}",
        "status": Verdict.worst(Verdict.FAIL if i.severity == "critical" else Verdict.WARN
                                for i in issues),
        "schema_compatibility": "missing_column" not in kinds,
        "data_type_compatibility": "type" not in kinds,
        "issues": [i.message for i in issues],
        "recommendations": [i.recommendation for i in issues],
        "details": [asdict(i) for i in issues],
        "execution_time": f"{time.perf_counter() - started:.2f}s",
        "data_sample_size": 0,
    }


def _split_issues(out: dict, need: dict, producer: str, consumer: str) -> list[Issue]:
    """Split folders the consumer's suite expects (`meta.cursus_local.splits`) that the
    producer's suite, declaring its own, does not."""
    promised = layout_checks.expected(out).get("splits")
    required = layout_checks.expected(need).get("splits")
    if not promised or not required:
        return []
    return [Issue("missing_split", "", "critical",
                  f"Missing split: {consumer} expects split {split!r}, {producer} writes "
                  f"{sorted(promised)}",
                  f"Write a {split!r} split folder in {producer}, or drop it from the "
                  f"splits in the {need['name']!r} suite's meta")
            for split in required if split not in promised]


def _columns(e: dict) -> list[str]:
    """Every column an expectation names."""
    k = e["kwargs"]
    names = [k.get("column"), k.get("column_A"), k.get("column_B"),
             *k.get("column_list", []), *k.get("column_set", [])]
    return list(dict.fromkeys(n for n in names if n is not None))


def _promises(suite: dict) -> dict[str, _Promises]:
    """Per declared column, what the producer promises (several expectations narrow it)."""
    promises: dict[str, _Promises] = {}
    for e in suite["expectations"]:
        for column in _columns(e):
            promises.setdefault(column, _Promises())
        k, kind, p = e["kwargs"], e["type"], promises.get(e["kwargs"].get("column"))
        if p is None:
            continue
        if kind in TYPE_EXPECTATIONS:
            p.types = accepted_types(k) if p.types is None else p.types & accepted_types(k)
        elif kind == BETWEEN:
            p.low = _tighter(p.low, k.get("min_value"), max)
            p.high = _tighter(p.high, k.get("max_value"), min)
        elif kind == IN_SET:
            p.values = set(k["value_set"]) if p.values is None else p.values & set(k["value_set"])
        elif kind == NOT_NULL and k.get("mostly", 1) >= 1:
            p.not_null = True
    return promises


def _tighter(current, new, pick):
    return new if current is None else current if new is None else pick(current, new)


def _compare(e: dict, column: str, p: _Promises, producer: str, consumer: str) -> list[Issue]:
    """Issues between one consumer requirement and the producer's promises for its column."""
    k, kind = e["kwargs"], e["type"]
    if kind in TYPE_EXPECTATIONS and p.types is not None and not p.types <= accepted_types(k):
        wanted = " or ".join(sorted(declared_types(k)))
        written = " or ".join(sorted(p.types - accepted_types(k)))
        what = "a numeric column" if declared_types(k) & {"int64", "float64"} else "a column"
        return [_issue(e, "type", column,
                       f"Data type mismatch: {column!r} expected {wanted}, got {written}",
                       f"Ensure {column!r} is written as {what} ({wanted}) by {producer}; "
                       f"the {consumer} suite expects {wanted}")]
    if kind == BETWEEN and (p.low is not None or p.high is not None):
        return _compare_range(e, column, p, producer)
    if kind == IN_SET and p.values is not None and (extra := p.values - set(k["value_set"])):
        extra = sorted(extra, key=str)
        return [_issue(e, "value_set", column,
                       f"Value set mismatch: {producer} may write {column!r} values {extra} "
                       f"that {consumer} rejects",
                       f"Map or drop {extra} in {column!r} in {producer}, or add them to the "
                       f"value_set in the {consumer} suite")]
    if kind == NOT_NULL and k.get("mostly", 1) >= 1 and not p.not_null:
        return [_issue(e, "nullability", column,
                       f"Nullability mismatch: {producer} allows nulls in {column!r}; "
                       f"{consumer} requires none",
                       f"Fill or drop nulls in {column!r} in {producer} and add "
                       f"{NOT_NULL} to its suite, or set `mostly` in the {consumer} suite")]
    return []


def _compare_range(e: dict, column: str, p: _Promises, producer: str) -> list[Issue]:
    low, high = e["kwargs"].get("min_value"), e["kwargs"].get("max_value")
    try:
        below = low is not None and (p.low is None or p.low < low)
        above = high is not None and (p.high is None or p.high > high)
        disjoint = ((low is not None and p.high is not None and p.high < low)
                    or (high is not None and p.low is not None and p.low > high))
    except TypeError:  # e.g. dates against numbers: not comparable statically
        return []
    if not (below or above):
        return []
    promised, required = f"[{p.low}, {p.high}]", f"[{low}, {high}]"
    message = (f"Value range mismatch: {column!r} from {producer} is in {promised}, "
               + ("which never meets" if disjoint else "not inside") + f" the required {required}")
    return [_issue(e, "range", column, message,
                   f"Clip or filter {column!r} to {required} in {producer} (and say so in its "
                   f"suite), or widen the consumer's range")]


def _issue(e: dict, kind: str, column: str, message: str, recommendation: str) -> Issue:
    return Issue(kind, column, e["severity"], message, recommendation)
