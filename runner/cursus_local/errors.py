"""One error type for bad user input: it names the file, the field and the fix."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user. Rendered without a traceback by the CLI."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 fix: str | None = None):
        self.message, self.file, self.field, self.fix = message, file, field, fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.field) if p)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text}\n  fix: {self.fix}" if self.fix else text
