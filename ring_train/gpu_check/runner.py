"""Runs named checks in order, each under its own time limit and all under one total cap.

A GPU machine is lent for minutes, so no single check may eat the budget: a check gets
``min(its limit, what is left of the cap)`` and is abandoned when it overruns (its subprocesses are
killed by :func:`run_logged`). Once the cap is spent the remaining checks are reported as SKIP without
starting. A check whose prerequisites (``needs``) did not pass is a SKIP naming the first of them.

Statuses: PASS, FAIL (the check ran and something is wrong, including a hang past its own limit) and
SKIP (it could not run here: no GPU, a package that could not be installed, the time budget). Setup
checks (installs) never FAIL on a timeout: an install that cannot finish in time is a SKIP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
MIN_START_S = 5.0  # a check is not started with less than this left of the cap
GRACE_S = 10.0  # how long past its limit a check's function may take to return (killing, reading logs)


class CheckTimeout(Exception):
    """A check's work ran past the time it was given (raised by :func:`run_logged`)."""


@dataclass
class Outcome:
    status: str
    detail: str = ""
    figures: dict[str, Any] = field(default_factory=dict)  # measured values (e.g. a throughput row)


@dataclass(frozen=True)
class Check:
    name: str
    limit_s: float
    run: Callable[[float], Outcome]  # gets its time limit in seconds
    needs: tuple[str, ...] = ()  # checks that must PASS first (earlier in the list)
    setup: bool = False  # an install step: running out of time is a SKIP, not a FAIL


@dataclass
class Result:
    name: str
    status: str
    seconds: float
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


_PENDING = object()  # what _call returns for a check that did not return in time


def _call(fn: Callable[[float], Outcome], limit: float, grace: float) -> Any:
    """``fn(limit)`` (its value or exception) on a daemon thread; ``_PENDING`` when it has not returned
    ``grace`` seconds after ``limit`` (a check that ignores its limit is abandoned, not waited for)."""
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(fn(limit))
        except BaseException as e:  # noqa: BLE001 (reported as the check's result)
            box.append(e)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit + grace)
    return box[0] if box else _PENDING


def _needs_detail(dep: Result) -> str:
    """Why a check that needs ``dep`` is skipped: the root cause, not a chain of 'needs'."""
    if dep.detail.startswith("needs "):
        return dep.detail
    why = dep.detail if dep.status == SKIP else f"{dep.status}: {dep.detail}"
    return f"needs {dep.name} ({why})"


def run_checks(
    checks: Sequence[Check],
    cap_s: float,
    *,
    emit: Callable[[Result], None] = lambda r: None,
    grace_s: float = GRACE_S,
    min_start_s: float = MIN_START_S,
) -> list[Result]:
    """Run ``checks`` in order under a total of ``cap_s`` seconds; ``emit`` gets each result as it
    comes. Returns the results in check order."""
    start = time.monotonic()
    done: dict[str, Result] = {}
    for check in checks:
        t0 = time.monotonic()
        unmet = [done[n] for n in check.needs if n in done and done[n].status != PASS]
        missing = [n for n in check.needs if n not in done]
        left = cap_s - (t0 - start)
        if missing:
            result = Result(check.name, FAIL, 0.0, f"needs {', '.join(missing)}, which is not run before it")
        elif unmet:
            result = Result(check.name, SKIP, 0.0, _needs_detail(unmet[0]))
        elif left < min_start_s:
            result = Result(check.name, SKIP, 0.0, f"time budget: the {cap_s:.0f}s cap was reached")
        else:
            limit = min(check.limit_s, left)
            got = _call(check.run, limit, grace_s)
            seconds = time.monotonic() - t0
            if isinstance(got, Outcome):
                result = Result(check.name, got.status, seconds, got.detail, got.figures)
            elif got is _PENDING or isinstance(got, CheckTimeout):
                if limit < check.limit_s:
                    detail = f"time budget: cut at the {cap_s:.0f}s cap after {seconds:.0f}s"
                    result = Result(check.name, SKIP, seconds, detail)
                elif check.setup:
                    result = Result(check.name, SKIP, seconds, f"did not finish within {limit:.0f}s")
                else:
                    result = Result(check.name, FAIL, seconds, f"timed out after {limit:.0f}s (its limit)")
            elif isinstance(got, BaseException):
                result = Result(check.name, FAIL, seconds, f"check error: {type(got).__name__}: {got}")
            else:
                result = Result(check.name, FAIL, seconds, f"check error: returned {got!r}, not an Outcome")
        done[check.name] = result
        emit(result)
    return [done[c.name] for c in checks]


def exit_code(results: Sequence[Result]) -> int:
    """Non-zero only when a check FAILed (a machine where everything is skipped exits 0)."""
    return 1 if any(r.status == FAIL for r in results) else 0


_RUNNING: set[subprocess.Popen] = set()  # commands started by run_logged that have not returned yet


def stop_running() -> None:
    """Kill every command still running (the script itself is being stopped)."""
    for proc in list(_RUNNING):
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM ``proc``'s process group, then SIGKILL what is left of it a few seconds later. The leader
    is reaped as it goes (a zombie still counts as a member of its group)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def run_logged(
    cmd: Sequence[str],
    log: Path,
    timeout_s: float,
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Run ``cmd`` in a process group of its own, stdout and stderr appended to ``log``; returns its
    exit status. Past ``timeout_s`` the whole group is killed and :class:`CheckTimeout` raised. Anything
    the command left running in its group (engine workers) is killed when it exits, so the next check
    gets the GPU's memory back. ``on_start(pid)`` is called once it runs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        # its own process group (same session: whoever stops this script's session stops it too)
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, process_group=0
        )
        _RUNNING.add(proc)
        try:
            if on_start is not None:
                on_start(proc.pid)
            try:
                rc = proc.wait(timeout=max(0.0, timeout_s))
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                out.write(f"\n[gpu-check] killed after {timeout_s:.0f}s\n".encode())
                raise CheckTimeout(f"{cmd[0]} ran past {timeout_s:.0f}s") from None
            _kill_group(proc)
            return rc
        finally:
            _RUNNING.discard(proc)


def log_tail(log: Path, lines: int = 1) -> str:
    """The last non-empty lines of a log, for a check's detail."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("[gpu-check]")]
    return " | ".join(kept[-lines:])
