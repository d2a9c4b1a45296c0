"""Nothing a run starts outlives it, whatever the program or its caller does: regression tests for
the leaks and hangs the load test (tests/reliability/test_sandbox_load.py) found.

Each test runs at a chosen isolation level (``bwrap`` and the plain-process fallback ``none``) with
sandbox uids from a range no other test uses, so a process found under one of them is ours.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import sandbox
from sandbox import box, isolate

REPO = Path(__file__).resolve().parents[2]
UID_BASE = 70000  # private to this file (default: 61000-61999; the load test claims 62000-69999)
LEVELS = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not shutil.which("bwrap"), reason="no bwrap")),
    "none",
]
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="boxes get a uid of their own only when run as root"
)

# a fork bomb whose children leave the program's process group (so killing the group misses them)
SETSID_BOMB = "import os\nwhile True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n    except OSError:\n        pass\n"
FORKER = "import os\nfor _ in range(30):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\nprint('forked')\n"


def processes_of(uid: int, zombies: bool = False) -> list[int]:
    found = []
    for p in psutil.process_iter(["uids", "status"]):
        try:
            if p.info["uids"].real == uid and (zombies or p.info["status"] != psutil.STATUS_ZOMBIE):
                found.append(p.pid)
        except (psutil.Error, TypeError, AttributeError):
            continue
    return found


def wait_until_gone(uid: int, timeout: float) -> list[int]:
    give_up = time.monotonic() + timeout
    while (left := processes_of(uid)) and time.monotonic() < give_up:
        time.sleep(0.1)
    return left


def uid_locked(uid: int) -> bool:
    fd = os.open(os.path.join(isolate.UidLease._dir, str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@pytest.fixture
def level(request, monkeypatch):
    """Run this test's boxes at isolation ``request.param`` under uids from UID_BASE."""
    box.POOL.close()
    monkeypatch.setattr(isolate, "UID_BASE", UID_BASE)
    monkeypatch.setenv("RING_SANDBOX_ISOLATION", request.param)
    isolate.choose_plan.cache_clear()
    yield request.param
    box.POOL.close()
    monkeypatch.undo()
    isolate.choose_plan.cache_clear()


def box_uid() -> int:
    return int(sandbox.run_code("import os\nprint(os.getuid())", "python").stdout)


@pytest.mark.parametrize("level", LEVELS, indirect=True)
def test_after_an_escaping_fork_bomb_the_next_program_can_fork(level):
    """Was: without a pid namespace, the bomb's killed processes stayed zombies (the host's init reaps
    them late or never) and counted against the uid's RLIMIT_NPROC, so the next program in the same
    box could not fork (a JVM could not start its threads): a wrong result for a correct program."""
    for _ in range(3):
        bomb = sandbox.run_code(SETSID_BOMB, "python", time_limit=0.5)
        assert bomb.status in ("time_limit", "runtime_error")
        after = sandbox.run_code(FORKER, "python", time_limit=10)
        assert (after.status, after.stdout) == ("ok", "forked\n"), after.stderr[-300:]


@needs_root
@pytest.mark.parametrize("level", LEVELS, indirect=True)
def test_a_program_that_kills_its_server_leaves_no_process(level):
    """Was (fallback level): the host killed only the server's process group; the program, in a group
    of its own, slept on after the call returned."""
    code = (
        "import os, signal, time\n"
        "if input() == 'uid':\n    print(os.getuid())\n"
        "else:\n    os.kill(os.getppid(), signal.SIGKILL)\n    time.sleep(120)\n"
    )
    r = sandbox.run_code(code, "python", inputs=["uid\n", "attack\n"], time_limit=2)
    uid = int(r.cases[0].stdout)
    assert r.status in ("runtime_error", "time_limit") and r.wall_s < 5
    assert sandbox.run_code("print('next')", "python").stdout == "next\n"
    box.POOL.close()  # bwrap's server shrugs the kill off and its box stays pooled: close it
    assert wait_until_gone(uid, 3) == []


@needs_root
@pytest.mark.parametrize("level", ["none"], indirect=True)
def test_a_stopped_server_fails_the_run_at_once_and_leaves_nothing(level):
    """Was: a server stopped by its program was noticed only at the host deadline (the time limit plus
    10 s), and the program then kept running after the call."""
    code = "import os, signal, time\nprint(os.getuid(), flush=True)\nos.kill(os.getppid(), signal.SIGSTOP)\ntime.sleep(120)\n"
    uid = box_uid()  # boxes are reused: the next run takes this one
    t0 = time.monotonic()
    r = sandbox.run_code(code, "python", time_limit=1)
    assert r.status == "time_limit" and time.monotonic() - t0 < 4, (r.status, r.reason)
    assert wait_until_gone(uid, 3) == []


@needs_root
@pytest.mark.timeout(60)
@pytest.mark.parametrize("level", ["none"], indirect=True)
def test_a_box_frozen_while_idle_is_replaced_not_waited_on(level):
    """Was: a request was written with a blocking write; to a stopped server, a request bigger than the
    pipe buffer blocked the caller forever."""
    uid = box_uid()
    server = [p for p in processes_of(uid)]
    assert len(server) == 1
    os.kill(server[0], signal.SIGSTOP)
    while psutil.Process(server[0]).status() != psutil.STATUS_STOPPED:
        time.sleep(0.01)
    big = "x" * (4 << 20)  # far beyond a pipe's 64 KiB
    t0 = time.monotonic()
    r = sandbox.run_code("print(len(input()))", "python", inputs=[big + "\n"], time_limit=5)
    assert (r.status, r.stdout) == ("ok", f"{len(big)}\n") and time.monotonic() - t0 < 5
    assert wait_until_gone(uid, 3) == []


@pytest.mark.parametrize("level", ["none"], indirect=True)
def test_no_free_uid_is_a_sandbox_error_not_an_exception(level, monkeypatch):
    """Was: UidLease's RuntimeError escaped run_code (which must never raise for a sandbox problem)."""
    if os.geteuid() != 0:
        pytest.skip("uids are leased only as root")
    monkeypatch.setattr(isolate, "UID_COUNT", 1)  # the only uid is UID_BASE, and we hold it
    os.makedirs(isolate.UidLease._dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(isolate.UidLease._dir, str(UID_BASE)), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = sandbox.run_code("print(1)", "python")
    finally:
        os.close(fd)
    assert r.status == "sandbox_error" and "uid" in r.reason


HOST_DIES = textwrap.dedent(
    """
    import os, sys, tempfile, threading, time
    sys.path.insert(0, sys.argv[2])
    import sandbox
    import sandbox.isolate  # its uid lock dir is fixed at import, before we move scratch
    tempfile.tempdir = sys.argv[1]  # host scratch dirs of the fallback level go here

    def report(i, r):
        print(r.stdout.strip(), flush=True)

    def busy():
        code = "import os, time\\nif input() == 'uid':\\n    print(os.getuid())\\nelse:\\n    time.sleep(2)\\n"
        sandbox.run_code(code, "python", inputs=["uid\\n", "sleep\\n"], time_limit=10, on_case=report)

    if sys.argv[3] == "busy":
        threading.Thread(target=busy, daemon=True).start()
        time.sleep(1.0)  # the box is in its second case
        pid = os.fork()
        if pid == 0:  # a worker forked while the box is busy, that outlives us
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            time.sleep(60)
            os._exit(0)
        print(pid, flush=True)
    else:
        print(sandbox.run_code("import os\\nprint(os.getuid())", "python").stdout.strip(), flush=True)
    os._exit(0)  # like a SIGKILLed or forked worker: no atexit, no pool shutdown
    """
)


@needs_root
@pytest.mark.parametrize("when", ["idle", "busy"])
def test_boxes_of_a_host_that_dies_without_cleanup_leave_nothing(when):
    """Was (fallback level): the host scratch dir stayed on disk; and a process forked while a box was
    busy inherited that box's pipes and uid lock, so the box outlived its host and its uid stayed
    locked for as long as the forked process lived."""
    scratch = tempfile.mkdtemp(prefix="ring-teardown-")
    os.chmod(scratch, 0o1777)
    env = dict(os.environ, RING_SANDBOX_ISOLATION="none", RING_SANDBOX_UID_BASE=str(UID_BASE))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOST_DIES, scratch, str(REPO), when],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    out, _ = proc.communicate(timeout=60)
    uid, *forked = map(int, out.split())
    try:
        assert wait_until_gone(uid, 8) == []
        give_up = time.monotonic() + 3
        while os.listdir(scratch) and time.monotonic() < give_up:
            time.sleep(0.1)
        assert os.listdir(scratch) == []
        assert not uid_locked(uid)
    finally:
        for pid in forked:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("level", ["none"], indirect=True)
def test_scratch_its_server_could_not_remove_goes_with_the_next_box(level, monkeypatch):
    """Was: in a temp dir owned by root (mode 0755), the server of a host that died cannot remove its
    own scratch dir (its uid may not delete entries there), so every such death left one for good.
    The next box made on the machine removes the dirs whose host process is gone, and only those."""
    scratch = tempfile.mkdtemp(prefix="ring-teardown-")
    os.chmod(scratch, 0o755)
    env = dict(os.environ, RING_SANDBOX_ISOLATION="none", RING_SANDBOX_UID_BASE=str(UID_BASE))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOST_DIES, scratch, str(REPO), "idle"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    out, _ = proc.communicate(timeout=60)
    try:
        assert wait_until_gone(int(out.split()[0]), 8) == []
        stale = os.listdir(scratch)
        assert len(stale) == 1 and stale[0].startswith(f"{box.SCRATCH_PREFIX}{proc.pid}-")  # the case
        live = f"{box.SCRATCH_PREFIX}{os.getpid()}-someone-elses"  # a live host's dir: never touched
        os.mkdir(os.path.join(scratch, live))
        monkeypatch.setattr(tempfile, "tempdir", scratch)
        monkeypatch.setattr(box, "_last_sweep", [float("-inf")])
        assert sandbox.run_code("print('next')", "python").stdout == "next\n"
        left = os.listdir(scratch)
        assert stale[0] not in left and live in left
    finally:
        box.POOL.close()
        shutil.rmtree(scratch, ignore_errors=True)
