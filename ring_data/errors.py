"""User-facing errors: one line naming file, line and field (CONTRIBUTING.md, "Errors")."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad input, bad option). The CLI prints it as one line and exits 2."""


class BadInputError(UserError):
    """Input that cannot be read as rows: ``path:line: field 'x': what is wrong``."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __reduce__(self):  # keyword-only fields: default pickling would lose them (worker processes)
        return _rebuild_bad_input, (self.path, self.message, self.line, self.field)

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}: {what}{self.message}"


def _rebuild_bad_input(path: str, message: str, line: int | None, field: str | None) -> BadInputError:
    return BadInputError(path, message, line=line, field=field)
