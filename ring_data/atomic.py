"""Outputs that are either complete or absent: a file is written under a temporary name in its own
directory, flushed to disk (fsync), then renamed over its final name (``os.replace``, atomic on POSIX)
and the directory entry is flushed too. A process killed at any moment leaves the old file (or none)
and at most a hidden ``.NAME.tmp`` beside it, which the next write of that file replaces; never a
half-written file under the final name.

Used by every writer of ``ring_data`` and ``ring_train``: row files (:class:`ring_data.io.RowWriter`),
stats, reports, journals at the end of a run, checkpoints.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from . import faults


def temp_path(final: str | Path) -> Path:
    """``dir/name`` -> ``dir/.name.tmp``: same directory (a rename never crosses a file system), hidden,
    one fixed name per final file (a killed writer's leftover is overwritten by the next write)."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp")


def fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (a rename is durable once its directory is)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a platform without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file under ``root``, then every directory (deepest first)."""
    root = Path(root)
    dirs = [root]
    for path in root.rglob("*"):
        if path.is_dir():
            dirs.append(path)
        elif path.is_file():
            fsync_file(path)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)


def commit(tmp: str | Path, final: str | Path, *, synced: bool = False) -> Path:
    """Rename the finished ``tmp`` over ``final`` durably (``synced``: its data is already fsynced)."""
    tmp, final = Path(tmp), Path(final)
    if not synced:
        fsync_file(tmp)
    faults.point("atomic.replace")
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return final


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """``with atomic_open(p, "w") as fh: ...``: written to ``temp_path(p)``, renamed over ``p`` when the
    block ends normally; on an exception the temporary file is removed and ``p`` is left as it was."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes a new file; mode {mode!r} has no 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    fh = open(tmp, mode, **kwargs)  # noqa: SIM115 - closed below on both paths
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        raise
    fh.close()
    commit(tmp, path, synced=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes(path, text.encode(encoding))


def replace_dir(tmp_dir: str | Path, final_dir: str | Path) -> Path:
    """Put the finished directory ``tmp_dir`` in place of ``final_dir``. A directory cannot be renamed
    over a non-empty one, so an old ``final_dir`` is first renamed aside (``.NAME.old``) and removed
    after: a kill in between leaves ``final_dir`` absent (the old one aside), never half of each."""
    tmp_dir, final_dir = Path(tmp_dir), Path(final_dir)
    fsync_tree(tmp_dir)
    old = final_dir.with_name(f".{final_dir.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final_dir.exists():
        os.replace(final_dir, old)
    faults.point("atomic.replace")
    os.replace(tmp_dir, final_dir)
    fsync_dir(final_dir.parent)
    shutil.rmtree(old, ignore_errors=True)
    return final_dir
