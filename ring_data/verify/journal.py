"""Resumable outputs for row-by-row stages (``verify``, ``annotate``): kept rows and rejects are appended
to journals, ``OUT.partial.jsonl`` and ``REJECTS.partial.jsonl``, flushed per batch, so an interrupted
run loses at most one batch; a rerun skips ids already journaled. A torn last line (the process died
mid-write) is cut off on resume; a bad line anywhere else stops the run with one line naming it.

Each journal receives its rows in input order, so what a killed run leaves is a prefix of each final
file and a resumed run (whose samples and checks depend on the row alone) ends with the same bytes
as an uninterrupted one. When the run finishes each journal is fsynced and renamed to its final name
(plain JSONL), or converted to it atomically (Parquet, a ``datasets`` directory, ``.jsonl.gz``): a
final file is always complete. A rerun over a finished output treats that output as the journal of
a complete run: it is copied to the partial name, which the rerun appends to, so the finished output
stays as it was until the rerun finishes (a rerun that fails or is killed leaves it untouched).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ring_data import atomic, faults
from ring_data.errors import BadInputError, CorruptStateError
from ring_data.io import (
    _hf_records,
    _parquet_records,
    detect_format,
    dumps,
    loads,
    read_json_lines,
    write_rows,
)
from ring_data.result import CommandResult, finish

log = logging.getLogger(__name__)

SYNC_EVERY_S = 30.0  # journals reach the disk at least this often while a run goes on (flush)


def default_rejects_path(output: str | Path) -> Path:
    """``out/data.jsonl`` -> ``out/data.rejects.jsonl`` (next to the output)."""
    output = Path(output)
    stem = output.name.split(".")[0] or output.name
    return output.with_name(f"{stem}.rejects.jsonl")


def journal_path(final: Path) -> Path:
    """Where a run appends before its output is final: ``out.jsonl`` -> ``out.jsonl.partial.jsonl``."""
    return final.with_name(final.name + ".partial.jsonl")


def _plain_jsonl(final: Path) -> bool:
    """A final file that a finished journal becomes by a rename (any other format is converted)."""
    return final.name.lower().endswith((".jsonl", ".ndjson"))


def iter_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a journal (none when it does not exist). Only a last line without its newline may be
    unreadable: a write the process did not finish, skipped here and cut off by :func:`_repair`. Any
    other line that is not a JSON object is corruption, and resuming from it would silently redo or
    lose rows: :class:`CorruptStateError` naming the file and line."""
    if not path.is_file():
        return
    try:
        for lineno, row in read_json_lines(path, check_unchanged=False):  # our own file, appended to
            if not isinstance(row, dict):
                raise CorruptStateError(path, "journal line is not a JSON object", line=lineno, fix=_FIX)
            yield row
    except BadInputError as e:
        if isinstance(e, CorruptStateError) or e.line is None:  # None: the file itself (cannot open, ...)
            raise
        if not _is_torn_tail(path, e.line):
            raise CorruptStateError(
                path, f"journal line is unreadable ({e.message})", line=e.line, fix=_FIX
            ) from None


_FIX = "delete that line to resume, or rerun with --no-resume to start over"


def _is_torn_tail(path: Path, line: int) -> bool:
    """Is ``line`` the file's last line, with no newline after it?"""
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            return False
        fh.seek(-1, 2)
        if fh.read(1) == b"\n":  # every line was finished
            return False
        fh.seek(0)
        newlines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    return newlines == line - 1


def _after_last_newline(path: Path, block: int = 1 << 16) -> int:
    """Offset just after the file's last newline (0 when it has none), reading from the end."""
    with path.open("rb") as fh:
        pos = fh.seek(0, 2)
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            found = fh.read(pos - start).rfind(b"\n")
            if found >= 0:
                return start + found + 1
            pos = start
    return 0


def _repair(path: Path) -> None:
    """Cut a partial last line left by a crash, so appended rows start on a fresh line (only the tail
    is read: journals can be large)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    end = _after_last_newline(path)
    with path.open("rb") as fh:
        fh.seek(end)
        tail = fh.read()
    if not tail:
        return
    try:
        complete = isinstance(loads(tail), dict)
    except ValueError:  # not JSON: torn
        complete = False
    if complete:  # a complete row without its newline
        with path.open("ab") as fh:
            fh.write(b"\n")
        return
    log.info("%s: cut a partial last line (%d bytes) left by an interrupted run", path, len(tail))
    with path.open("r+b") as fh:
        fh.truncate(end)


def bad_row_key(entry: dict[str, Any]) -> tuple[str, Any] | None:
    ev = entry.get("evidence") or {}
    if entry.get("reason") == "bad_row":
        return (str(ev.get("file") or entry.get("source")), ev.get("line"))
    return None


class Journal:
    """Append-only kept/rejects journals with resume. ``done`` counts the ids an earlier run decided: a
    rerun skips as many occurrences of an id as were decided (rows repeated within one run are all
    processed, so input rows = kept + rejected holds for them too); ask :meth:`take_done`."""

    def __init__(self, output: str | Path, rejects: str | Path | None = None, *, resume: bool = True):
        self.output = Path(output)
        self.rejects = Path(rejects) if rejects else default_rejects_path(self.output)
        self.out_journal = journal_path(self.output)
        self.rej_journal = journal_path(self.rejects)
        self.done: Counter[str] = Counter()
        self.bad_seen: set[tuple[str, Any]] = set()
        pairs = ((self.output, self.out_journal), (self.rejects, self.rej_journal))
        sources: list[Path | None] = []
        for final, journal in pairs:
            journal.parent.mkdir(parents=True, exist_ok=True)
            if not resume:
                journal.unlink(missing_ok=True)  # the final output stays until this run replaces it
            # an unfinished journal, else a finished output (the journal of a complete run)
            found = journal if journal.exists() else final if final.exists() else None
            sources.append(found if resume else None)
        for source in sources:
            if source is not None and _plain_jsonl(source):  # (a .partial.jsonl journal too)
                _repair(source)
        # read both before touching either: a corrupt journal stops the run with both files as they were
        out_source, rej_source = sources
        for row in _rows_of(out_source):
            self.done[str(row.get("id"))] += 1
        for entry in _rows_of(rej_source):
            key = bad_row_key(entry)
            if key is not None:
                self.bad_seen.add(key)
            elif entry.get("id") is not None:
                self.done[str(entry["id"])] += 1
        # a finished output read back in full, its final file unchanged unless this run appends
        self._adopted = {final for (final, _), source in zip(pairs, sources) if source == final}
        for final in self._adopted:
            _adopt(final, journal_path(final))
        self._out = self.out_journal.open("ab")
        self._rej = self.rej_journal.open("ab")
        self.kept = self.rejected = 0
        self._lock = threading.Lock()  # the annotate pipeline writes from its verification thread too
        self._synced_at = time.monotonic()

    def take_done(self, row_id: str) -> bool:
        """Was this occurrence of ``row_id`` decided by an earlier run? (Counts it off if so.)"""
        if self.done[row_id] > 0:
            self.done[row_id] -= 1
            return True
        return False

    def keep(self, row: dict[str, Any]) -> None:
        data = dumps(row) + b"\n"
        with self._lock:
            faults.point("journal.write")
            self._out.write(data)
            self.kept += 1

    def reject(self, entry: dict[str, Any]) -> bool:
        """Append a reject; False when it is a bad row an earlier run already recorded."""
        data = dumps(entry) + b"\n"
        key = bad_row_key(entry)
        with self._lock:
            if key is not None:
                if key in self.bad_seen:
                    return False
                self.bad_seen.add(key)
            faults.point("journal.write")
            self._rej.write(data)
            self.rejected += 1
        return True

    def flush(self) -> None:
        """Hand what was written to the OS (a killed process loses nothing flushed); every
        ``SYNC_EVERY_S`` also to the disk (a power loss loses at most that much, which a resume redoes)."""
        with self._lock:
            self._out.flush()
            faults.point("journal.flush")
            self._rej.flush()
            if time.monotonic() - self._synced_at >= SYNC_EVERY_S:
                for fh in (self._out, self._rej):
                    os.fsync(fh.fileno())
                for folder in {self.out_journal.parent, self.rej_journal.parent}:
                    atomic.fsync_dir(folder)  # the journals' own directory entries
                self._synced_at = time.monotonic()

    def suspend(self) -> None:
        """Stop without finishing (an error, ^C): what was written stays in the partial journals, which
        a rerun resumes from; no final file is touched."""
        with self._lock:
            self._out.close()
            self._rej.close()

    def kept_rows(self) -> Iterator[dict[str, Any]]:
        """Everything kept so far, earlier runs included (call after :meth:`flush`)."""
        return iter_journal(self.out_journal)

    def rejected_rows(self) -> Iterator[dict[str, Any]]:
        return iter_journal(self.rej_journal)

    def close(self) -> JournalTotals:
        """Count the whole journal (earlier runs included) and make both outputs final: every final
        file is written (renamed or converted, atomically) before any journal is removed, so a kill
        in between leaves journals the next run finishes from."""
        self._out.close()
        self._rej.close()
        kept = sum(1 for _ in iter_journal(self.out_journal))
        reasons = Counter(str(entry.get("reason")) for entry in iter_journal(self.rej_journal))
        wrote = {self.output: self.kept > 0, self.rejects: self.rejected > 0}
        done = []  # journals whose final file is written (or was already complete)
        for final, journal in ((self.output, self.out_journal), (self.rejects, self.rej_journal)):
            if final in self._adopted and not wrote[final]:
                done.append(journal)  # a finished output this run added nothing to: left as it is
            elif _plain_jsonl(final):
                atomic.commit(journal, final)
            else:
                write_rows(final, iter_journal(journal))
                done.append(journal)
        for journal in done:
            journal.unlink()
        return JournalTotals(kept, sum(reasons.values()), dict(reasons))

    def finish(
        self,
        command: str,
        *,
        inputs: Sequence[str | Path],
        rows_in: int,
        started: float,
        report_dir: str | Path | None,
        done_this_run: tuple[str, int],
        details: dict[str, Any],
    ) -> CommandResult:
        """:meth:`close`, then the command's stats from the journals' totals (``ring_data.result``):
        the seconds since ``started`` (``time.perf_counter``) and, for ``done_this_run = (key, n)``,
        ``key`` = this run's n rows per second, ahead of ``details``."""
        totals = self.close()
        seconds = time.perf_counter() - started
        key, n = done_this_run
        return finish(
            command,
            inputs=inputs,
            output=self.output,
            rejects=self.rejects,
            rows_in=rows_in,
            kept=totals.kept,
            rejected=totals.rejected,
            rejected_by_reason=totals.rejected_by_reason,
            seconds=seconds,
            report_dir=report_dir,
            details={key: round(n / seconds, 3) if seconds else 0.0, **details},
        )


def _rows_of(source: Path | None) -> Iterator[dict[str, Any]]:
    """What a journal source holds: a journal or finished JSONL(.gz) file, or the rows of a finished
    Parquet file or ``datasets`` directory (read back to be the journal of a rerun)."""
    if source is None:
        return
    fmt = "jsonl" if source.name.endswith(".partial.jsonl") else detect_format(source, for_writing=True)
    if fmt == "jsonl":
        yield from iter_journal(source)
        return
    for _, obj, _, _ in (_parquet_records if fmt == "parquet" else _hf_records)(source):
        yield obj


def _adopt(final: Path, journal: Path) -> None:
    """Make a copy of a finished output the journal this run appends to (its rows were just read, which
    costs more than the copy); the output itself is replaced only when this run finishes."""
    if _plain_jsonl(final):
        tmp = atomic.temp_path(journal)
        shutil.copyfile(final, tmp)
        atomic.commit(tmp, journal)
        return
    with atomic.atomic_open(journal, "wb") as fh:
        for row in _rows_of(final):
            fh.write(dumps(row) + b"\n")


@dataclass(frozen=True)
class JournalTotals:
    """What a journal holds when it is closed: kept rows, rejected rows, rejects per reason."""

    kept: int
    rejected: int
    rejected_by_reason: dict[str, int]
