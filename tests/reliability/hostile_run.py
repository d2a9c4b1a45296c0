"""Run the real console commands as subprocesses under hostile conditions (an unprivileged user, a file
size limit, an input changed while it is read) and judge how they ended: exactly one line on stderr
naming the path and the cause, no traceback, a non-zero exit."""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from hostile_fs import is_root

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = {"ring-data": "cli.ring_data", "ring-train": "cli.ring_train"}


@dataclass
class Outcome:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    acted: bool = True  # mid-read cases: whether the change really happened while the file was open

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@dataclass
class Tally:
    """What every hostile case ended with (the figures the module records)."""

    cases: int = 0
    one_line_errors: int = 0
    nonzero_exits: int = 0
    outputs_destroyed: int = 0
    tracebacks: int = 0
    examples: dict[str, str] = field(default_factory=dict)


def argv(program: str, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", PROGRAMS[program], *map(str, args)]


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RING_PROGRESS", "PYTEST"))}
    env.update(
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONPATH=str(REPO),
        HOME=str(home),  # a writable home (caches, matplotlib's config)
        MPLCONFIGDIR=str(home / "mpl"),
        PYTHONDONTWRITEBYTECODE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


# capabilities that let root ignore file permissions (linux/capability.h)
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
PR_CAPBSET_DROP = 24


def _limits(fsize: int | None, unprivileged: bool) -> Callable[[], None] | None:
    if fsize is None and not (unprivileged and is_root()):
        return None

    def apply() -> None:  # in the child, before exec
        if fsize is not None:
            # ignored, SIGXFSZ is not delivered and an oversized write fails with EFBIG instead of killing
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if unprivileged and is_root():
            # root ignores file permissions. Switching to nobody would do, but the interpreter may live
            # where nobody cannot reach it (pyenv under /root, mode 0700); dropping the capabilities
            # that bypass permissions from the bounding set makes the exec'd root process obey them.
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
                if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return apply


def start(
    cmd: list[str],
    home: Path,
    *,
    unprivileged: bool = False,
    fsize: int | None = None,
    stdout: int | None = subprocess.PIPE,
) -> subprocess.Popen:
    """Start ``cmd`` in its own session. ``unprivileged``: file permissions apply to it even when the
    tests run as root; ``fsize``: RLIMIT_FSIZE in bytes."""
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=environment(home),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_limits(fsize, unprivileged),
    )


@functools.cache
def permissions_refusal() -> str | None:
    """None when a command started with ``unprivileged=True`` is refused an unreadable file, else why
    not (a root without CAP_SETPCAP cannot drop its capabilities: the test skips with that reason)."""
    with tempfile.TemporaryDirectory() as d:
        secret = Path(d) / "secret"
        secret.write_text("x")
        secret.chmod(0)
        try:
            probe = start([sys.executable, "-c", f"open({str(secret)!r}).read()"], Path(d), unprivileged=True)
        except subprocess.SubprocessError as e:
            return f"cannot drop the capabilities that bypass file permissions ({e})"
        _, err = probe.communicate(timeout=60)
        if probe.returncode == 0 or "PermissionError" not in err:
            return "file permissions do not apply to this user here"
    return None


def finish(proc: subprocess.Popen, cmd: list[str], started: float, timeout: float = 240) -> Outcome:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[test harness: killed after {timeout}s]"
    return Outcome(cmd, proc.returncode, out or "", err or "", time.perf_counter() - started)


def run(cmd: list[str], home: Path, **kw) -> Outcome:
    t = time.perf_counter()
    return finish(start(cmd, home, **kw), cmd, t)


# ---- changing an input while the command reads it ---------------------------------------------------
def reading(proc: subprocess.Popen, path: Path) -> bool:
    """Has ``proc`` (or a process it started) ``path`` open, somewhere short of its end?"""
    target = str(path.resolve())
    size = path.stat().st_size
    try:
        procs = [psutil.Process(proc.pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    for p in procs:
        try:
            for f in p.open_files():
                if f.path == target and 0 < f.position < size:
                    return True
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return False


def run_changing_input(
    cmd: list[str], home: Path, path: Path, change: Callable[[Path], None], *, deadline_s: float = 60
) -> Outcome:
    """Run ``cmd`` and apply ``change`` to ``path`` once the command is part way through reading it.
    ``acted`` says whether that moment was caught (the command may finish first on a busy machine)."""
    t = time.perf_counter()
    proc = start(cmd, home)
    acted = False
    while proc.poll() is None and time.perf_counter() - t < deadline_s:
        if reading(proc, path):
            change(path)
            acted = True
            break
        time.sleep(0.002)
    outcome = finish(proc, cmd, t)
    outcome.acted = acted
    return outcome


# ---- judging -----------------------------------------------------------------------------------------
def judge(outcome: Outcome, tally: Tally, case: str, *, names: list[str | Path], cause: str) -> list[str]:
    """Problems with a command that had to fail: not exactly one stderr line, a traceback, exit 0, or
    a line that does not name one of ``names`` and the ``cause``. Counts the case in ``tally``."""
    problems = []
    lines = outcome.lines
    tally.cases += 1
    if "Traceback" in outcome.stderr:
        tally.tracebacks += 1
        problems.append("traceback on stderr")
    if outcome.rc != 0:
        tally.nonzero_exits += 1
    else:
        problems.append("exit code 0")
    if len(lines) == 1:
        line = lines[0]
        tally.examples[case] = line
        if not any(str(n) in line for n in names):
            problems.append(f"the line names none of {[str(n) for n in names]}")
        elif cause.lower() not in line.lower():
            problems.append(f"the line does not give the cause {cause!r}")
        else:
            tally.one_line_errors += 1
    else:
        problems.append(f"{len(lines)} stderr lines, not 1")
    return problems


def explain(outcome: Outcome, problems: list[str]) -> str:
    return f"{'; '.join(problems)}\nrc={outcome.rc} argv={outcome.argv}\nstderr:\n{outcome.stderr[-3000:]}"
