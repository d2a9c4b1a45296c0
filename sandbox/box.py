"""Host side of a box: a long-lived, isolated server process that runs one request at a time.

Boxes are pooled and reused (the warm fork-server), so a run costs a fork, not an interpreter and
namespace start. A box that dies, hangs or misbehaves is killed (its whole process group, and under
the fallback level every process of its uid) and replaced; an idle box is closed by closing its
input, upon which its server kills and reaps what is left and removes its scratch. The pool closes
every box at interpreter exit; a process that exits without that (a forked worker, a SIGKILL) closes
its boxes' input all the same, so their servers clean up after themselves.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import isolate
from .compile_cache import cache_root

SERVER_SOURCE = (Path(__file__).with_name("_server.py")).read_text()
SCRATCH_MB = int(os.environ.get("RING_SANDBOX_SCRATCH_MB", "512"))
START_TIMEOUT = 20.0
SEND_TIMEOUT = 10.0  # a request goes to an idle server; one that takes no input for this long is broken
CLOSE_TIMEOUT = 2.0  # how long a closed box may take to clean up and exit before it is killed
WATCH_EVERY_S = 0.25  # how often a wait for a reply checks that the server is not stopped

# bwrap's --die-with-parent fires when the *thread* that spawned it exits, so boxes are spawned
# from one long-lived thread rather than from whichever (possibly short-lived) worker asks.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ring-sandbox-spawn")


# Plain-process level: a box's host scratch dir is named after the process that made it. Its server
# removes it when the host goes away, except where it cannot: the box's uid may not delete entries of a
# TMPDIR it does not own. Whoever next makes a box removes the dirs of hosts that no longer exist.
SCRATCH_PREFIX = "ring-box-"
SWEEP_EVERY_S = 60.0
_last_sweep = [float("-inf")]


def sweep_stale_scratch(root: str | None = None, *, force: bool = False) -> list[str]:
    """Remove the scratch dirs under ``root`` (default: the temp dir) whose host process is gone; at
    most once a minute per process unless ``force``. Returns the removed paths."""
    now = time.monotonic()
    if not force and now - _last_sweep[0] < SWEEP_EVERY_S:
        return []
    _last_sweep[0] = now
    root = root or tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(SCRATCH_PREFIX)]
    except OSError:
        return []
    removed = []
    for name in names:
        pid = name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path = os.path.join(root, name)
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (permission denied: it exists)
        return True
    return True


class BoxError(RuntimeError):
    """The box failed (died, hung, spoke garbage): a sandbox error, never the program's fault."""


class BoxDied(BoxError):
    """The box's server is gone. While a program runs, that is the program's doing (it killed it)."""


class Box:
    def __init__(self, plan: isolate.Plan) -> None:
        self.plan = plan
        self.lease: isolate.UidLease | None = None
        self.host_scratch: str | None = None
        try:
            self.lease = isolate.UidLease() if plan.drop_uid else None
            if plan.level == "none":
                sweep_stale_scratch()
                self.host_scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
                if self.lease:
                    os.chown(self.host_scratch, self.lease.uid, self.lease.uid)
        except (OSError, RuntimeError) as e:  # no free uid, no room for scratch: the sandbox's problem
            self._release()
            raise BoxError(f"cannot set up the sandbox: {e}") from e
        config = isolate.server_config(plan, self.host_scratch)
        uid = self.lease.uid if self.lease else None
        argv, kw = isolate.launch_spec(plan, uid, cache_root(), SCRATCH_MB << 20)
        argv += [plan.python, "-I", "-c", SERVER_SOURCE, json.dumps(config)]
        try:
            self.proc = _spawner.submit(
                subprocess.Popen,
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=config["env"],
                cwd="/",
                process_group=0,
                close_fds=True,
                **kw,
            ).result()
        except OSError as e:
            self._release()
            raise BoxError(f"cannot start the sandbox: {e}") from e
        _LIVE.add(self)
        self._in = self.proc.stdin.fileno()
        os.set_blocking(self._in, False)  # writes carry a deadline (send): a frozen box never blocks us
        self._buf = b""
        self.runs = 0
        try:
            hello = self.read(time.monotonic() + START_TIMEOUT)
        except BoxError:
            self.kill()
            raise
        if not hello.get("ready"):
            self.kill()
            raise BoxError(f"sandbox did not start: {hello}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, obj: dict) -> None:
        data = memoryview((json.dumps(obj) + "\n").encode())
        deadline = time.monotonic() + SEND_TIMEOUT
        try:
            while data:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BoxError("the sandbox takes no input (frozen)")
                _, w, _ = select.select([], [self._in], [], min(remaining, WATCH_EVERY_S))
                if not w and self.stopped():
                    raise BoxError("the sandbox is stopped (SIGSTOP) and takes no input")
                if w:
                    try:
                        data = data[os.write(self._in, data[: 1 << 16]) :]
                    except BlockingIOError:
                        pass
        except (BrokenPipeError, OSError, ValueError) as e:
            raise BoxError("the sandbox died (its input is closed)") from e

    def stop(self) -> None:
        """Ask the box to skip the remaining cases of the current request."""
        try:
            os.write(self._in, b"stop\n")
        except (BlockingIOError, BrokenPipeError, OSError, ValueError):
            pass

    def read(self, deadline: float) -> dict:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoxError("the sandbox stopped answering (host-side deadline)")
            r, _, _ = select.select([fd], [], [], min(remaining, WATCH_EVERY_S))
            if not r:
                if self.stopped():
                    raise BoxError("the sandbox was stopped (SIGSTOP) while a program ran")
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise BoxDied("the sandbox died (killed, or a program killed it)")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError as e:
            raise BoxError("the sandbox sent a malformed reply") from e

    def stopped(self) -> bool:
        """Is the server stopped? Only the fallback level's server can be (a program under the same uid
        can SIGSTOP it); waiting out the host deadline would then only add HOST_MARGIN_S to the call.
        Under bwrap and unshare, ``proc`` is the wrapper, which no program can reach."""
        return self.plan.level == "none" and isolate.process_state(self.proc.pid) == "T"

    def kill(self) -> None:
        """Kill the box now (it is broken, or would not exit when closed)."""
        if self.lease and self.plan.level == "none" and hasattr(self, "proc"):
            # no pid namespace: the programs are not in the server's process group, and one may have
            # killed the server already; everything under the box's uid goes
            isolate.kill_uid(self.lease.uid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass
        self._finish(CLOSE_TIMEOUT)

    def begin_close(self) -> None:
        """Close the box's input: its server kills and reaps what is left, wipes scratch and exits."""
        self._in = -1  # the number may be reused by another file once closed: never write to it again
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def finish_close(self, deadline: float) -> None:
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._finish(0)

    def close(self) -> None:
        self.begin_close()
        self.finish_close(time.monotonic() + CLOSE_TIMEOUT)

    def _finish(self, wait_s: float) -> None:
        self._in = -1
        if hasattr(self, "proc"):
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass
        _LIVE.discard(self)
        self._release()

    def _release(self) -> None:
        if self.host_scratch:
            shutil.rmtree(self.host_scratch, ignore_errors=True)
            self.host_scratch = None
        if self.lease:
            self.lease.release()

    def forget(self) -> None:
        """In a forked child: this box is the parent's. Close our copies of its pipes and lease lock
        (never kill it, never unlock: that would act on the parent's box)."""
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self.lease:
            self.lease.release()  # closes our fd copy only: the parent's flock stays held


class _LiveBoxes:
    """Every box this process started and has not closed yet, idle or busy."""

    def __init__(self) -> None:
        self._boxes: set[Box] = set()
        self._lock = threading.Lock()

    def add(self, box: Box) -> None:
        with self._lock:
            self._boxes.add(box)

    def discard(self, box: Box) -> None:
        with self._lock:
            self._boxes.discard(box)

    def forget_after_fork(self) -> None:
        # Busy boxes too: a forked child that kept a copy of a busy box's input would hold that box
        # open after the parent is gone, and a copy of its lease fd would keep its uid locked.
        self._lock = threading.Lock()
        boxes, self._boxes = self._boxes, set()
        for box in boxes:
            box.forget()


_LIVE = _LiveBoxes()


class BoxPool:
    """Idle boxes kept warm for reuse; at most ``max_idle`` are kept, any number may be busy."""

    def __init__(self, max_idle: int | None = None, max_runs: int = 2000) -> None:
        self.max_idle = max_idle or max(2, os.cpu_count() or 2)
        self.max_runs = max_runs  # recycle a box now and then (bounds any slow state build-up)
        self._idle: list[Box] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    def acquire(self, plan: isolate.Plan) -> Box:
        found, discard = None, []
        with self._lock:
            while self._idle and found is None:
                box = self._idle.pop()
                if box.plan == plan and box.alive() and not box.stopped():
                    found = box
                else:  # dead, frozen while idle, or built for another isolation level
                    discard.append(box)
        for box in discard:  # outside the lock: killing may take a moment
            box.kill()
        return found or Box(plan)

    def release(self, box: Box, healthy: bool) -> None:
        box.runs += 1
        if not healthy or not box.alive():
            box.kill()
            return
        if box.runs < self.max_runs:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(box)
                    return
        box.close()

    def close(self) -> None:
        """Close every idle box (all at once: each cleans up in parallel, then we wait)."""
        with self._lock:
            boxes, self._idle = self._idle, []
        for box in boxes:
            box.begin_close()
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for box in boxes:
            box.finish_close(deadline)

    def forget_after_fork(self) -> None:
        """In a forked child: the inherited boxes belong to the parent (_LIVE forgets them): start over."""
        self._lock = threading.Lock()
        self._idle = []


POOL = BoxPool()


def _after_fork_in_child() -> None:
    # Threads do not survive fork: a verifier worker forked from a process that already used the
    # sandbox needs its own spawner thread and must not share the parent's boxes.
    global _spawner
    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ring-sandbox-spawn")
    isolate.UidLease.reset_after_fork()
    POOL.forget_after_fork()
    _LIVE.forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
