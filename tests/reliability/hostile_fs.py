"""Hostile file systems for the command-line tests: a tiny or read-only tmpfs (root only), and what a
command left behind (files changed, files added)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def mount_refusal() -> str | None:
    """None when this process may mount a tmpfs, else why not (the reason a test skips with)."""
    if not is_root():
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount binary"
    probe = tempfile.mkdtemp(prefix="ring-mount-probe-")
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", probe], capture_output=True)
        if done.returncode != 0:
            return f"mount -t tmpfs not permitted here ({done.stderr.decode(errors='replace').strip()})"
        subprocess.run(["umount", probe], check=True)
        return None
    finally:
        os.rmdir(probe)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``path``, unmounted (lazily if still busy) after."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(mount: Path, leave: int) -> None:
    """Take all but ``leave`` bytes of a file system's free space with one file at its root."""
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    with (mount / "filler").open("wb") as fh:
        fh.truncate(0)
        if free > leave:
            fh.write(b"\0" * (free - leave))


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def open_base() -> Path:
    """A folder for the cases (its own, so that a failed run can be inspected)."""
    base = Path(tempfile.mkdtemp(prefix="ring-hostile-"))
    base.chmod(0o755)
    return base


# ---- what a command left behind -------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root``."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            with p.open("rb") as fh:
                out[p.relative_to(root).as_posix()] = hashlib.file_digest(fh, "sha256").hexdigest()
    return out


# names a partial result may have: temp and partial files, hidden spool files, a clean work dir (the
# resume state of one output: a run over other input starts it over)
TEMP_NAME = re.compile(r"(^|/)\.|\.tmp\b|\.partial\b|\.part\b|\.work(/|$)")


def destroyed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Files of an earlier output that are gone or changed (resume caches under TEMP_NAME aside)."""
    return sorted(n for n, digest in before.items() if after.get(n) != digest and not TEMP_NAME.search(n))


def final_leftovers(
    before: dict[str, str], after: dict[str, str], state: re.Pattern | None = None
) -> list[str]:
    """New files under a final name (a partial result must stay under a temp/partial name; ``state``
    names what a command keeps on purpose to resume, e.g. a trainer's checkpoints)."""
    return sorted(
        name
        for name in after
        if name not in before and not TEMP_NAME.search(name) and not (state and state.search(name))
    )
