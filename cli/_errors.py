"""How a failed command ends: one line on stderr and an exit code, never a traceback (``--debug`` adds it).

- 2: the user can fix it: bad input or options, saved state of an earlier run that cannot be trusted
  (``ring_data.errors.UserError``: bad rows, a corrupt resume journal, a corrupt checkpoint);
- 1: the environment refused: no space left, a file size limit, a read-only file system, permission
  denied, a file or directory that vanished (an ``OSError``, or a library error that carries one);
- 141: stdout or stderr is a pipe whose reader went away (``ring-data ... | head``): quiet, as a
  process killed by SIGPIPE, which is what the shell reports then (128 + 13);
- 130: interrupted.
"""

from __future__ import annotations

import errno as errno_names
import io
import os
import re
import select
import sys
from types import TracebackType

EXIT_ENVIRONMENT = 1
EXIT_USER = 2
EXIT_BROKEN_PIPE = 141

_HINTS = {
    errno_names.ENOSPC: "free space there or write elsewhere",
    errno_names.EDQUOT: "free space there or write elsewhere",
    errno_names.EFBIG: "the file size limit (ulimit -f) is smaller than this output",
    errno_names.EROFS: "choose a writable location",
}
# libraries that wrap an OS error in their own exception keep its number in the text (Rust crates:
# safetensors, tokenizers, polars) or only say that writing failed (torch's checkpoint writer)
_OS_ERROR_TEXT = re.compile(r"\(os error (\d+)\)")
_WRITE_FAILED_TEXT = re.compile(r"write failed|failed writing", re.IGNORECASE)
# arguments that name the file a library call writes (torch.save(obj, f), save_file(t, filename))
_PATH_ARGS = ("f", "file", "filename", "path")


def pipe_closed() -> bool:
    """Is stdout or stderr a pipe with no reader left? (poll reports POLLERR on such a write end)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            continue
        poller = select.poll()
        poller.register(fd, 0)
        if any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0)):
            return True
    return False


def silence_output() -> None:
    """Point stdout and stderr at /dev/null, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, ValueError, OSError):
            pass
    os.close(devnull)


def environment_error(exc: BaseException, fallback_path: str | None = None) -> str | None:
    """``path: what happened (ERRNO); hint`` when ``exc`` is an error of the environment, else None
    (a bug: the caller lets it show its traceback)."""
    os_error = _os_error_in(exc)
    if os_error is not None:
        code = os_error.errno
        what = os_error.strerror or str(os_error)
        path = _filename_of(os_error) or _path_in_traceback(os_error.__traceback__)
    else:
        text = str(exc)
        found = _OS_ERROR_TEXT.search(text)
        if found:
            code = int(found.group(1))
            what = os.strerror(code)
        elif _WRITE_FAILED_TEXT.search(text):
            code, what = None, "write failed (" + text.splitlines()[0][:160] + ")"
        else:
            return None
        path = None
    path = path or _path_in_traceback(exc.__traceback__) or fallback_path or "(unknown file)"
    line = f"{path}: {what}"
    if code is not None:
        line += f" ({errno_names.errorcode.get(code, code)})"
    hint = _HINTS.get(code) if code is not None else None
    return f"{line}; {hint}" if hint else line


def _os_error_in(exc: BaseException) -> OSError | None:
    """``exc`` itself or the OSError it was raised from or while handling (a library re-raising)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        if isinstance(cur, OSError) and cur.errno is not None:
            return cur
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


def _filename_of(e: OSError) -> str | None:
    if e.filename is None:
        return None
    name = os.fsdecode(e.filename) if isinstance(e.filename, str | bytes | os.PathLike) else str(e.filename)
    if e.filename2 is not None:
        name += f" -> {os.fsdecode(e.filename2)}"
    return name


def _path_in_traceback(tb: TracebackType | None) -> str | None:
    """The file being written where the error was raised. A buffered write that fails when it is
    flushed or closed raises an OSError without a file name: look, from the innermost frame out,
    for a file open for writing among the frame's locals (or attributes of its ``self``), else an
    argument naming the file a library call writes."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        local = frame.f_locals
        values = list(local.values())
        owner = local.get("self")
        if owner is not None and hasattr(owner, "__dict__"):
            values += list(vars(owner).values())
        for value in values:
            name = _writer_name(value)
            if name:
                return name
        for arg in _PATH_ARGS:
            value = local.get(arg)
            if isinstance(value, str | os.PathLike) and str(value):
                return os.fspath(value)
    return None


def _writer_name(value: object) -> str | None:
    if not isinstance(value, io.IOBase):
        return None
    name, mode = getattr(value, "name", None), getattr(value, "mode", "")
    writes = mode == 2 if isinstance(mode, int) else any(c in str(mode) for c in "wax+")  # gzip: WRITE == 2
    return name if writes and isinstance(name, str) else None
