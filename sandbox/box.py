"""Host side of a box: a long-lived, isolated server process that runs one request at a time.

Boxes are pooled and reused (the warm fork-server), so a run costs a fork, not an interpreter and
namespace start. A box that dies, hangs or misbehaves is killed (its whole process group) and
replaced; the pool kills every box at interpreter exit.
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

# bwrap's --die-with-parent fires when the *thread* that spawned it exits, so boxes are spawned
# from one long-lived thread rather than from whichever (possibly short-lived) worker asks.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ring-sandbox-spawn")


class BoxError(RuntimeError):
    """The box failed (died, hung, spoke garbage): a sandbox error, never the program's fault."""


class BoxDied(BoxError):
    """The box's server is gone. While a program runs, that is the program's doing (it killed it)."""


class Box:
    def __init__(self, plan: isolate.Plan) -> None:
        self.plan = plan
        self.lease = isolate.UidLease() if plan.drop_uid else None
        self.host_scratch: str | None = None
        if plan.level == "none":
            self.host_scratch = tempfile.mkdtemp(prefix="ring-box-")
            if self.lease:
                os.chown(self.host_scratch, self.lease.uid, self.lease.uid)
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
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as e:
            raise BoxError("the sandbox died (its input is closed)") from e

    def stop(self) -> None:
        """Ask the box to skip the remaining cases of the current request."""
        try:
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def read(self, deadline: float) -> dict:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoxError("the sandbox stopped answering (host-side deadline)")
            r, _, _ = select.select([fd], [], [], remaining)
            if not r:
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

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass
        if hasattr(self, "proc"):
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._release()

    def _release(self) -> None:
        if self.host_scratch:
            shutil.rmtree(self.host_scratch, ignore_errors=True)
            self.host_scratch = None
        if self.lease:
            self.lease.release()


class BoxPool:
    """Idle boxes kept warm for reuse; at most ``max_idle`` are kept, any number may be busy."""

    def __init__(self, max_idle: int | None = None, max_runs: int = 2000) -> None:
        self.max_idle = max_idle or max(2, os.cpu_count() or 2)
        self.max_runs = max_runs  # recycle a box now and then (bounds any slow state build-up)
        self._idle: list[Box] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    def acquire(self, plan: isolate.Plan) -> Box:
        with self._lock:
            while self._idle:
                box = self._idle.pop()
                if box.plan == plan and box.alive():
                    return box
                box.kill()
        return Box(plan)

    def release(self, box: Box, healthy: bool) -> None:
        box.runs += 1
        if not healthy or not box.alive() or box.runs >= self.max_runs:
            box.kill()
            return
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(box)
                return
        box.kill()

    def close(self) -> None:
        with self._lock:
            boxes, self._idle = self._idle, []
        for box in boxes:
            box.kill()

    def forget_after_fork(self) -> None:
        """In a forked child: the inherited boxes belong to the parent. Close our copies of their pipes
        and lease locks (never kill them, never unlock: that would act on the parent's) and start over."""
        self._lock = threading.Lock()
        boxes, self._idle = self._idle, []
        for box in boxes:
            for f in (box.proc.stdin, box.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            if box.lease:
                box.lease.release()  # closes our fd copy only: the parent's flock stays held


POOL = BoxPool()


def _after_fork_in_child() -> None:
    # Threads do not survive fork: a verifier worker forked from a process that already used the
    # sandbox needs its own spawner thread and must not share the parent's boxes.
    global _spawner
    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ring-sandbox-spawn")
    isolate.UidLease.reset_after_fork()
    POOL.forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
