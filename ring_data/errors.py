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


class CorruptStateError(UserError):
    """Saved state of an earlier run that cannot be trusted (a resume journal, a checkpoint): names the
    file (and line) and what to do, ``path[:line]: what is wrong; what to do``. Exit 2 like bad input:
    nothing is repaired or deleted silently, the user decides."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, fix: str | None = None):
        self.path = str(path)
        self.line = line
        self.message = message
        self.fix = fix
        super().__init__(str(self))

    def __reduce__(self):
        return _rebuild_corrupt_state, (self.path, self.message, self.line, self.fix)

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}" + (f"; {self.fix}" if self.fix else "")


def _rebuild_corrupt_state(path: str, message: str, line: int | None, fix: str | None) -> CorruptStateError:
    return CorruptStateError(path, message, line=line, fix=fix)
