"""Compiled artifacts (C++ binaries, Java classes) cached by source hash on the host.

Boxes see the cache read-only (bwrap: at ``/cache``; unshare: at ``/tmp/.ring-cache``, a bind mount
made before their private /tmp hides the host's); only the host writes it (atomically: a temporary
directory renamed into place), so a program can never plant a binary another run will execute.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile


def cache_root() -> str:
    # not under /tmp by default: /tmp is shared by everyone (and cleaned by the host's tmp reaper)
    default = (
        "/var/cache/ring-sandbox"
        if os.geteuid() == 0
        else os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ring-sandbox")
    )
    root = os.environ.get("RING_SANDBOX_CACHE") or default
    os.makedirs(root, mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)  # boxes run as another uid and must read (never write) it
    return root


def key(language: str, argv: list[str], source: str) -> str:
    h = hashlib.sha256()
    for part in (language, "\0".join(argv), source):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00\x01")
    return h.hexdigest()[:32]


def lookup(k: str) -> str | None:
    path = os.path.join(cache_root(), k)
    return path if os.path.isdir(path) else None


def store(k: str, artifacts: dict[str, str]) -> str:
    """Write base64 ``artifacts`` (name -> data) under key ``k``; returns the entry's host path."""
    root = cache_root()
    final = os.path.join(root, k)
    if os.path.isdir(final):
        return final
    tmp = tempfile.mkdtemp(prefix=f".{k}.", dir=root)
    for name, data in artifacts.items():
        if "/" in name or name.startswith("."):
            continue
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        os.chmod(path, 0o755)
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, final)
    except OSError:  # another process stored it first
        shutil.rmtree(tmp, ignore_errors=True)
    return final
