"""Resuming a clean run: one folder per stage in the work directory, done when its ``DONE`` file is
written: the fingerprint (a hash of everything the stage's result depends on: inputs, options, code
versions, the stages before it) and a checksum of every file the stage saved. A killed or repeated
run skips every finished stage whose fingerprint matches and whose files still have their checksums.

A stage whose saved files were truncated or overwritten after it finished (a full disk, a crash of
the machine, a hand edit) is recomputed, with one warning line naming the file: the work directory
is a cache of results the inputs still give, so redoing the stage is always correct, and reading it
would write wrong rows (the spooled rows are copied to the output as they are)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# the layout of what the stages save (decisions, ingested arrays): part of every fingerprint, so a work
# directory written by another layout is never read; bump it with any change to what is saved
WORK_FORMAT = "4"  # 3: DONE holds the checksums of the stage's files; 4: ingest columns, dedup .npz


class WorkDir:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def stage(self, name: str) -> Path:
        p = self.path / name
        p.mkdir(exist_ok=True)
        return p

    def done(self, name: str, fingerprint: str) -> bool:
        """Finished with this fingerprint, and every file it saved unchanged since."""
        stage = self.path / name
        try:
            lines = (stage / "DONE").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return False
        if not lines or lines[0] != fingerprint:
            return False
        saved = dict(line.split("  ", 1)[::-1] for line in lines[1:] if "  " in line)
        if len(saved) != len(lines) - 1:
            return self._corrupt(stage / "DONE", name, "checksum list is unreadable")
        present = _files(stage)
        for rel, digest in saved.items():
            if rel not in present:
                return self._corrupt(stage / rel, name, "saved stage result is missing")
            if _digest(stage / rel) != digest:
                return self._corrupt(
                    stage / rel,
                    name,
                    "saved stage result does not match its checksum (truncated or overwritten)",
                )
        return True

    def _corrupt(self, path: Path, stage: str, what: str) -> bool:
        log.warning("%s: %s; recomputing the %s stage", path, what, stage)
        return False

    def mark(self, name: str, fingerprint: str) -> None:
        """Record the stage as finished: its fingerprint, then ``<sha256>  <file>`` per saved file."""
        stage = self.path / name
        sums = [f"{_digest(stage / rel)}  {rel}" for rel in sorted(_files(stage))]
        (stage / "DONE").write_text("\n".join([fingerprint, *sums]) + "\n")

    def reset(self, name: str) -> Path:
        p = self.path / name
        shutil.rmtree(p, ignore_errors=True)
        return self.stage(name)


def _files(stage: Path) -> set[str]:
    return {p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file() and p.name != "DONE"}


def _digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fingerprint(*parts: Any) -> str:
    payload = json.dumps([WORK_FORMAT, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def input_fingerprint(inputs: list[Path]) -> list:
    """Names, sizes and modification times of the input files (a folder: of every file in it)."""
    out = []
    for p in inputs:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        out.append([str(p), [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]])
    return out
