"""Test-only fault injection: a named point in the code where a test can make the process die.

``RING_FAULT_KILL_AT=<point>:<k>`` makes the process SIGKILL itself the ``k``-th time it passes
``point(<point>)`` (counted from the start of the process), so a kill test can land in windows that a
kill at a random time almost never hits: between two renames, half way through a checkpoint.
``RING_FAULT_TRACE=FILE`` appends every point the process passes to FILE, one line each: its name and
the time (``time.monotonic()``, the system-wide monotonic clock), so a test learns which points a run
passes, how often and when.

Unset (always, outside tests), :func:`point` is one call and one test of a module flag. The points:

- ``atomic.replace``: a finished temporary file, fsynced, about to be renamed over its final name
  (:mod:`ring_data.atomic`); the k-th pass is the k-th file a run commits
- ``rows.write``: a row writer about to write rows (:class:`ring_data.io.RowWriter`)
- ``journal.write`` / ``journal.flush``: a verify/annotate journal about to take a row, or between
  flushing the output journal and the rejects journal (:mod:`ring_data.verify.journal`)
- ``clean.stage``: a clean stage's results saved, its DONE marker not yet written
- ``checkpoint.save``: each step of saving a trainer checkpoint (:mod:`ring_train.checkpoint`)
- ``metrics.log``: a training metrics record written (:mod:`ring_train.metrics`)
"""

from __future__ import annotations

import os
import signal
import time

_ARMED = False
_KILL_AT: tuple[str, int] | None = None
_TRACE: str | None = None
_PASSES: dict[str, int] = {}


def arm(environ: dict[str, str] | None = None) -> None:
    """Read the two variables (done at import; a process that sets them later calls this again)."""
    global _ARMED, _KILL_AT, _TRACE
    env = os.environ if environ is None else environ
    spec, trace = env.get("RING_FAULT_KILL_AT", ""), env.get("RING_FAULT_TRACE", "")
    _KILL_AT = None
    if spec:
        name, _, count = spec.rpartition(":")
        if not name or not count.isdigit() or int(count) < 1:
            raise ValueError(f"RING_FAULT_KILL_AT must be <point>:<k> with k >= 1, got {spec!r}")
        _KILL_AT = (name, int(count))
    _TRACE = trace or None
    _PASSES.clear()
    _ARMED = _KILL_AT is not None or _TRACE is not None


def point(name: str) -> None:
    """A place where a test may kill the process (see the module docstring)."""
    if _ARMED:
        _pass(name)


def _pass(name: str) -> None:
    n = _PASSES[name] = _PASSES.get(name, 0) + 1
    if _TRACE is not None:
        fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{name} {time.monotonic():.4f}\n".encode())
        finally:
            os.close(fd)
    if (name, n) == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)


arm()
