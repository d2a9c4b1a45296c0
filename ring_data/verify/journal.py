"""Resumable outputs for row-by-row stages (``verify``, ``annotate``): kept rows and rejects are appended
to JSONL journals and flushed per batch, so an interrupted run loses at most one batch; a rerun skips
ids already written. A torn last line (the process died mid-write) is cut off on resume.

Outputs that are not plain JSONL (Parquet, a ``datasets`` directory, ``.jsonl.gz``) are journaled to
``OUT.partial.jsonl`` and converted when the run finishes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ring_data.io import dumps, loads, read_json_lines, write_rows


def default_rejects_path(output: str | Path) -> Path:
    """``out/data.jsonl`` -> ``out/data.rejects.jsonl`` (next to the output)."""
    output = Path(output)
    stem = output.name.split(".")[0] or output.name
    return output.with_name(f"{stem}.rejects.jsonl")


def journal_path(final: Path) -> Path:
    name = final.name.lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return final
    return final.with_name(final.name + ".partial.jsonl")


def iter_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a journal; a torn last line is skipped (and cut off by :func:`_repair`)."""
    for _, row in read_json_lines(path, skip_bad=True):
        yield row


def _repair(path: Path) -> None:
    """Cut a partial last line left by a crash, so appended rows start on a fresh line."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    tail = data[end:]
    if tail.strip():
        try:
            loads(tail)
            with path.open("ab") as fh:  # a complete row without its newline
                fh.write(b"\n")
            return
        except ValueError:  # not JSON: torn
            pass
    if end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)


def bad_row_key(entry: dict[str, Any]) -> tuple[str, Any] | None:
    ev = entry.get("evidence") or {}
    if entry.get("reason") == "bad_row":
        return (str(ev.get("file") or entry.get("source")), ev.get("line"))
    return None


class Journal:
    """Append-only kept/rejects outputs with resume. ``done`` holds the ids an earlier run decided (rows
    repeated within one run are all processed, so input rows = kept + rejected holds for them too)."""

    def __init__(self, output: str | Path, rejects: str | Path | None = None, *, resume: bool = True):
        self.output = Path(output)
        self.rejects = Path(rejects) if rejects else default_rejects_path(self.output)
        self.out_journal = journal_path(self.output)
        self.rej_journal = journal_path(self.rejects)
        self.done: set[str] = set()
        self.bad_seen: set[tuple[str, Any]] = set()
        for path in (self.out_journal, self.rej_journal):
            path.parent.mkdir(parents=True, exist_ok=True)
            if resume:
                _repair(path)
            elif path.exists():
                path.unlink()
        if resume:
            for row in iter_journal(self.out_journal):
                self.done.add(str(row.get("id")))
            for entry in iter_journal(self.rej_journal):
                key = bad_row_key(entry)
                if key is not None:
                    self.bad_seen.add(key)
                elif entry.get("id") is not None:
                    self.done.add(str(entry["id"]))
        self._out = self.out_journal.open("ab")
        self._rej = self.rej_journal.open("ab")
        self.kept = self.rejected = 0
        self._lock = threading.Lock()  # the annotate pipeline writes from its verification thread too

    def keep(self, row: dict[str, Any]) -> None:
        data = dumps(row) + b"\n"
        with self._lock:
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
            self._rej.write(data)
            self.rejected += 1
        return True

    def flush(self) -> None:
        with self._lock:
            self._out.flush()
            self._rej.flush()

    def kept_rows(self) -> Iterator[dict[str, Any]]:
        """Everything kept so far, earlier runs included (call after :meth:`flush`)."""
        return iter_journal(self.out_journal)

    def rejected_rows(self) -> Iterator[dict[str, Any]]:
        return iter_journal(self.rej_journal)

    def close(self) -> JournalTotals:
        """Close, convert non-JSONL outputs, and count the whole journal (earlier runs included)."""
        self._out.close()
        self._rej.close()
        kept = sum(1 for _ in iter_journal(self.out_journal))
        reasons = Counter(str(entry.get("reason")) for entry in iter_journal(self.rej_journal))
        for final, journal in ((self.output, self.out_journal), (self.rejects, self.rej_journal)):
            if final != journal:
                write_rows(final, iter_journal(journal))
                journal.unlink()
        return JournalTotals(kept, sum(reasons.values()), dict(reasons))


@dataclass(frozen=True)
class JournalTotals:
    """What a journal holds when it is closed: kept rows, rejected rows, rejects per reason."""

    kept: int
    rejected: int
    rejected_by_reason: dict[str, int]
