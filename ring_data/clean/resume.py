"""Resuming a clean run: one folder per stage in the work directory, done when its fingerprint (a hash
of everything the stage's result depends on: inputs, options, code versions, the stages before it)
is written. A killed or repeated run skips every finished stage whose fingerprint matches."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

# the layout of what the stages save (decisions, ingested arrays): part of every fingerprint, so a work
# directory written by another layout is never read; bump it with any change to what is saved
WORK_FORMAT = "2"


class WorkDir:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def stage(self, name: str) -> Path:
        p = self.path / name
        p.mkdir(exist_ok=True)
        return p

    def done(self, name: str, fingerprint: str) -> bool:
        f = self.path / name / "DONE"
        return f.exists() and f.read_text() == fingerprint

    def mark(self, name: str, fingerprint: str) -> None:
        (self.path / name / "DONE").write_text(fingerprint)

    def reset(self, name: str) -> Path:
        p = self.path / name
        shutil.rmtree(p, ignore_errors=True)
        return self.stage(name)


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
