"""One checker for the fields of a user's file (step file, DAG, test_scenarios.yaml, scenario
parameters): each failure is a UserError that names the file, the field and the fix.

Loaders keep what is theirs (which keys a section has, what a value means); the checks that
every loader repeats live here, so their wording is the same everywhere.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Iterable, NoReturn

from .errors import UserError


class Fields:
    """Field checks for one file. `path` may be None for values that come from no file yet
    (scenario parameters): the loader that read them raises again naming its own file."""

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)

    def fail(self, field: str, message: str, fix: str | None) -> NoReturn:
        raise UserError(message, file=None if self.path is None else str(self.path), field=field, fix=fix)

    def mapping(self, value: Any, field: str, fix: str, *, required: bool = False) -> dict:
        """`value` as a mapping; an absent one (None) is empty unless `required`."""
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(field, f"expected a mapping, got {type(value).__name__}", fix)
        return value

    def known_keys(self, value: dict, allowed: Iterable[str], where: str) -> None:
        """Every key of `value` is one of `allowed`; an unknown one gets a did-you-mean."""
        allowed = sorted(allowed)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                self.fail(f"{where}.{key}" if where else str(key), f"unknown key {key!r}",
                          f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(allowed)}")

    def strings(self, value: Any, field: str) -> dict[str, str]:
        """`NAME: value` pairs as strings (env, job arguments): a list or mapping as JSON, so a
        script reads it back with json.loads; nothing (or an empty `[]`) is no pairs."""
        value = self.mapping(value or None, field, "write it as `NAME: value` pairs")
        return {str(k): "" if v is None else v if isinstance(v, str)
                else json.dumps(v) if isinstance(v, (list, dict)) else str(v) for k, v in value.items()}

    def number(self, value: Any, field: str, kind: type = int, minimum=None, maximum=None):
        """A number (`kind` int: a whole one) within the bounds given; returned as `kind`."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not (
            kind is int and value != int(value))
        if not ok or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = (f" from {minimum} to {maximum}" if maximum is not None and minimum is not None
                      else f" >= {minimum}" if minimum is not None
                      else f" <= {maximum}" if maximum is not None else "")
            self.fail(field, f"expected {'a whole number' if kind is int else 'a number'}{bounds}, "
                             f"got {value!r}", f"write e.g. `{field.rsplit('.', 1)[-1]}: {minimum or 1}`")
        return kind(value)

    def positive_int(self, value: Any, field: str, example: int) -> int:
        """A count (instances, seconds, gigabytes): a whole number >= 1, never a bool or a float."""
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.fail(field, f"expected a positive whole number, got {value!r}",
                      f"write e.g. `{field.rsplit('.', 1)[-1]}: {example}`")
        return value

    def entries(self, section: dict, key: str, where: str, required: bool = False) -> list:
        """`section[key]` as a list of entries; absent is none, unless `required` (then non-empty)."""
        value = section.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            self.fail(f"{where}.{key}", f"expected a list, got {type(value).__name__}",
                      f"write `{key}:` followed by `- ...` entries")
        return value

    def sole(self, names: list[str], field: str, what: str, fix: str = "") -> str:
        """The one name of `names` (e.g. the step's only input) when the user named none."""
        if len(names) != 1:
            self.fail(field, f"the step has {len(names)} {what}s ({', '.join(names) or 'none'}); "
                             f"which one is meant?", fix or f"name it: `{what}: <{what}>`")
        return names[0]

    def unique(self, names: list[str], field: str) -> None:
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            self.fail(field, f"names used twice: {dupes}", "give each its own `name:`")
