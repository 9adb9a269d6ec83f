"""Anonymising rules for production data, applied to rows in memory as they come from S3:
nothing raw is written anywhere, not even to a temporary file.

A rule names a column and an action: `hash` (an HMAC-SHA256 of the value under a per-project
salt: joins between tables still match, the value can't be looked up in a rainbow table),
`drop` (the column goes), `fake` (a made-up value of the same kind, stable per value) or
`null` (emptied). A rule whose column the sample never had is an error, not a silent pass:
a typo (`customerid`) would otherwise let the real column through.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    import pyarrow as pa

ACTIONS = ("hash", "drop", "fake", "null")
SALT_ENV = "CURSUS_LOCAL_ANONYMIZE_SALT"
SALT_FILE = ".cursus-local/anonymize.salt"   # in the project folder, never committed (mode 600)
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def parse_rules(items: list[str], *, file: str | None = None, field: str = "--anonymize") -> dict[str, str]:
    """`["customer_id=hash", "email=drop"]` -> {column: action}."""
    rules = {}
    for item in items:
        column, _, action = item.partition("=")
        rules[column.strip()] = action.strip()
    return check_rules(rules, file=file, field=field)


def check_rules(rules: Any, *, file: str | None = None, field: str = "anonymize") -> dict[str, str]:
    if not isinstance(rules, dict):
        raise UserError(f"expected a mapping of column: action, got {type(rules).__name__}",
                        file=file, field=field, fix="write e.g. `anonymize: {customer_id: hash, email: drop}`")
    for column, action in rules.items():
        if not column or action not in ACTIONS:
            raise UserError(f"{column}={action}: not a column and an action", file=file, field=field,
                            fix=f"write COLUMN=ACTION with ACTION one of {', '.join(ACTIONS)}")
    return {str(c): a for c, a in rules.items()}


def project_salt(project: Path) -> bytes:
    """The project's salt: $CURSUS_LOCAL_ANONYMIZE_SALT, else `.cursus-local/anonymize.salt` in
    the project folder, made once (random, owner-only). Same project, same hashes: samples taken
    on different days still join."""
    if env := os.environ.get(SALT_ENV):
        return env.encode()
    path = Path(project) / SALT_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class Anonymizer:
    """Applies `rules` to rows of text (CSV/TSV), records (JSON lines) or Arrow tables."""

    def __init__(self, rules: dict[str, str], salt: bytes):
        self.rules, self.salt = rules, salt
        self.seen: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def digest(self, value: Any) -> str:
        return hmac.new(self.salt, str(value).encode(), hashlib.sha256).hexdigest()

    def value(self, action: str, column: str, value: Any) -> Any:
        if value is None or value == "" or action == "null":
            return None if action == "null" or value is None else value
        h = self.digest(value)
        if action == "hash":
            return h[:32]
        # fake: the same kind of value, the same for the same input
        text = str(value)
        if isinstance(value, bool):
            return int(h, 16) % 2 == 0
        if isinstance(value, int) or (isinstance(value, str) and NUMBER.fullmatch(text)):
            digits = str(int(h, 16))[: max(1, len(text.lstrip("-").split(".")[0]))]
            out = digits + (text[text.index("."):] if "." in text else "")
            return int(out) if isinstance(value, int) else out
        if isinstance(value, float):
            return float(int(h[:8], 16) % 10**6) / 100
        if "@" in text:
            return f"user-{h[:10]}@example.com"
        return f"{column}-{h[:10]}"

    def text_rows(self, header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        """CSV/TSV cells, all text; `null` writes an empty cell."""
        acts = {i: self.rules[c] for i, c in enumerate(header) if c in self.rules}
        self.seen |= {header[i] for i in acts}
        keep = [i for i in range(len(header)) if acts.get(i) != "drop"]
        out = []
        for row in rows:
            for i, action in acts.items():
                if action != "drop" and i < len(row):
                    v = self.value(action, header[i], row[i])
                    row[i] = "" if v is None else str(v)
            out.append([row[i] for i in keep if i < len(row)])
        return [header[i] for i in keep], out

    def records(self, records: list[dict]) -> list[dict]:
        for rec in records:
            for column, action in self.rules.items():
                if column in rec:
                    self.seen.add(column)
                    if action == "drop":
                        del rec[column]
                    else:
                        rec[column] = self.value(action, column, rec[column])
        return records

    def table(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa
        for column, action in self.rules.items():
            if column not in table.column_names:
                continue
            self.seen.add(column)
            i = table.column_names.index(column)
            if action == "drop":
                table = table.remove_column(i)
                continue
            values = [self.value(action, column, v) for v in table.column(i).to_pylist()]
            kind = table.schema.field(i).type if action in ("null", "fake") else pa.string()
            try:
                array = pa.array(values, type=kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
            table = table.set_column(i, pa.field(column, array.type), array)
        return table

    def check_all_used(self, uri: str) -> None:
        """A rule for a column no object had is most likely a misspelt name."""
        if missing := sorted(set(self.rules) - self.seen):
            raise UserError(f"no column {', '.join(missing)} in the sampled data, so nothing was "
                            "anonymised for that rule", file=uri, field="anonymize",
                            fix="check the column names (the sample was not kept)")
