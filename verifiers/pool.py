"""Warm worker processes that run verifier calls under a hard wall-clock deadline.

Why processes: a hung sympy simplification or a 10**10**10 cannot be interrupted inside a thread, and
``signal.alarm`` only works in the main thread (math-verify's own timeouts break in trainers that verify
from threads). Each worker is a forked process that waits on a pipe; a call is one round-trip (tens of
microseconds). A worker that overruns its deadline is SIGKILLed and replaced, and its item is
``status="timeout"``. Workers are forked so that domains registered at run time (``@register`` in a
script or a test) exist in the worker; when the registry changes, idle workers are retired and new ones
forked.

A worker that dies before its item's deadline (SIGKILLed by the OOM killer or an operator, a segfault)
is replaced and the item is checked once more, on a fresh worker with a fresh deadline: a death from
outside must not change a reward. If the second worker dies too, the item is ``status="error"``, so an
item that kills whatever checks it costs two attempts, never a loop. An item's wall clock is therefore
at most twice its deadline (plus a fork). A worker found dead when an item is handed to it (killed while
idle) never saw the item: the item goes to another worker without using up its retry. A result that
needed a retry says so: ``details["worker_deaths"]`` (how many workers died on it) and
``details["worker_lost_s"]`` (the seconds those attempts ran: work lost to the deaths). Each item gets
exactly one result, in input order.

One pool per process, shared by ``verify`` (one worker per calling thread) and ``verify_batch`` (N workers
at once); workers stay alive between calls, so an RL step pays no start-up.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any

from . import registry
from .result import Status, VerifyResult

log = logging.getLogger(__name__)

# extra address space a worker may allocate beyond what it inherited (giant sympy expressions die here)
WORKER_MEMORY_MB = int(os.environ.get("RING_VERIFIERS_WORKER_MEMORY_MB", "4096"))
_MAX_IDLE = max(4, os.cpu_count() or 1)
# workers that may die while checking one item before it is "error" (the first death is retried)
MAX_WORKER_DEATHS = 2
# hand-overs to workers found dead before the item reached them (never the item's fault; bounded so a
# host that cannot keep workers alive still ends every batch)
MAX_HANDOVER_FAILURES = 3

Task = tuple[str, Any, str, dict[str, Any]]  # (response, reference, domain, options)


def run_task(task: Task) -> VerifyResult:
    """Run one verifier call in this process; exceptions become ``status="error"``."""
    response, reference, domain, options = task
    try:
        fn = registry.get_verifier(domain)
        res = fn(response, reference, **options)
        if not isinstance(res, VerifyResult):
            return VerifyResult.make(
                Status.ERROR, reason=f"verifier for {domain!r} returned {type(res).__name__}"
            )
        return res
    except RecursionError:
        return VerifyResult.make(Status.WRONG, reason="answer nested too deeply to parse")
    except MemoryError:
        return VerifyResult.make(Status.WRONG, reason="answer too large to evaluate (memory limit)")
    except Exception as e:  # a verifier bug must not stop training
        return VerifyResult.make(Status.ERROR, reason=f"{type(e).__name__} in {domain} verifier: {e}"[:500])


def _limit_memory() -> None:
    try:
        import resource

        with open("/proc/self/status") as fh:
            vm_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmSize:"))
        limit = vm_kb * 1024 + WORKER_MEMORY_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except Exception:  # no /proc or no resource module: run without the cap
        pass


def _worker_main(conn: Connection, parent_pid: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    _limit_memory()
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent_pid:  # the parent died without closing the pipe: leave too
                    return
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            conn.send(run_task(task))
        except (BrokenPipeError, OSError):
            return
        except Exception as e:  # an unpicklable result
            conn.send(VerifyResult.make(Status.ERROR, reason=f"result not transferable: {e}"[:500]))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        # A process forked while this worker starts (another worker started from another thread, a
        # DataLoader) would inherit the worker's end of the pipe and keep it open after the worker
        # dies: its death would then look like a hang until the deadline. So workers start one at a
        # time, and any other process forked meanwhile closes its copy (_forget_after_fork).
        with _SPAWN_LOCK:
            self.conn, child = ctx.Pipe()
            _PARENT_ENDS.add(self.conn)
            _STARTING.append(child)
            _SPAWNING.own_end = child  # the worker itself, forked by this thread, keeps it
            try:
                self.proc = ctx.Process(
                    target=_worker_main, args=(child, os.getpid()), daemon=True, name="verifiers-worker"
                )
                self.proc.start()
            finally:
                _SPAWNING.own_end = None
                _STARTING.clear()
                child.close()
        self.generation = registry.generation()

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(1)
        except Exception:
            pass
        self.conn.close()

    def close(self) -> None:
        try:
            self.conn.send(None)
        except Exception:
            pass
        self.conn.close()
        self.proc.join(0.5)
        if self.proc.is_alive():
            self.proc.kill()


class Pool:
    """A set of warm workers; ``run`` checks a sequence of tasks on up to ``workers`` of them."""

    def __init__(self) -> None:
        method = os.environ.get("RING_VERIFIERS_START_METHOD", "fork")
        self.ctx = mp.get_context(method)
        self.idle: list[_Worker] = []
        self.max_idle = _MAX_IDLE  # grows to the largest batch width asked for, so no re-fork per call
        self.lock = threading.Lock()

    def _acquire(self) -> _Worker:
        with self.lock:
            gen = registry.generation()
            while self.idle:
                w = self.idle.pop()
                if w.generation == gen and w.proc.is_alive():
                    return w
                w.close()
        return _Worker(self.ctx)

    def _release(self, w: _Worker) -> None:
        with self.lock:
            if len(self.idle) < self.max_idle and w.proc.is_alive():
                self.idle.append(w)
                return
        w.close()

    def run(
        self,
        tasks: Sequence[Task],
        deadlines: Sequence[float],
        workers: int,
        on_done: Callable[[int], None] | None = None,
    ) -> list[VerifyResult]:
        """Results of ``tasks`` in input order; task i gets ``deadlines[i]`` seconds of wall clock per
        attempt (a second attempt only after its worker died: module docstring). ``on_done(i)`` is
        called exactly once per task, when its result is final."""
        if not tasks:
            return []
        results: list[VerifyResult | None] = [None] * len(tasks)
        queue = deque(range(len(tasks)))  # retries go to the front
        deaths: dict[int, list[int | None]] = {}  # item -> exit codes of the workers that died on it
        lost_s: dict[int, float] = {}  # item -> seconds its dead attempts ran
        handover_failures: dict[int, int] = {}
        busy: dict[Connection, tuple[_Worker, int, float, float]] = {}  # worker, item, started, deadline
        free: list[_Worker] = []
        width = max(1, min(workers, len(tasks)))
        self.max_idle = max(self.max_idle, min(width, 64))

        def finish(i: int, res: VerifyResult) -> None:
            if i in deaths:
                extra = {"worker_deaths": len(deaths[i]), "worker_lost_s": round(lost_s[i], 3)}
                res = replace(res, details={**res.details, **extra})
            results[i] = res
            if on_done:
                on_done(i)

        try:
            free = [self._acquire() for _ in range(width)]
            while queue or busy:
                while queue and len(busy) < width:
                    w = free.pop() if free else self._acquire()
                    i = queue.popleft()
                    try:
                        w.conn.send(tasks[i])
                    except OSError as e:  # the worker died while idle: the item never reached it
                        w.kill()
                        handover_failures[i] = handover_failures.get(i, 0) + 1
                        if handover_failures[i] < MAX_HANDOVER_FAILURES:
                            queue.appendleft(i)
                        else:
                            finish(i, _send_failure(e))
                        continue
                    except Exception as e:  # not picklable: pickling fails before a byte is written
                        free.append(w)
                        finish(i, _send_failure(e))
                        continue
                    now = time.monotonic()
                    busy[w.conn] = (w, i, now, now + deadlines[i])
                if not busy:
                    continue
                now = time.monotonic()
                first_deadline = min(d for _, _, _, d in busy.values())
                ready = wait(list(busy), timeout=max(0.0, first_deadline - now))
                for conn in ready:
                    w, i, started, d = busy.pop(conn)
                    try:
                        res = conn.recv()
                    except (EOFError, OSError):  # the worker died with the item in hand
                        w.kill()  # reaps it, so its exit code is known
                        if time.monotonic() >= d:
                            finish(i, _timeout(deadlines[i]))
                            continue
                        deaths.setdefault(i, []).append(w.proc.exitcode)
                        lost_s[i] = lost_s.get(i, 0.0) + time.monotonic() - started
                        if len(deaths[i]) < MAX_WORKER_DEATHS:
                            log.warning(
                                "verifier worker died (exit code %s); checking the item again",
                                w.proc.exitcode,
                            )
                            queue.appendleft(i)
                        else:
                            codes = ", ".join(str(c) for c in deaths[i])
                            finish(
                                i,
                                VerifyResult.make(
                                    Status.ERROR,
                                    reason=f"verifier worker died on each of {len(deaths[i])} attempts "
                                    f"(exit codes {codes})",
                                ),
                            )
                        continue
                    free.append(w)
                    finish(i, res)
                now = time.monotonic()
                for conn, (w, i, _, d) in list(busy.items()):
                    if now >= d:
                        del busy[conn]
                        w.kill()
                        finish(i, _timeout(deadlines[i]))
        finally:
            for w, *_ in busy.values():  # interrupted (KeyboardInterrupt): in-flight workers are unusable
                w.kill()
            for w in free:
                self._release(w)
        return [r if r is not None else VerifyResult.make(Status.ERROR, reason="not run") for r in results]

    def shutdown(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for w in idle:
            w.close()


def _timeout(seconds: float) -> VerifyResult:
    return VerifyResult.make(
        Status.TIMEOUT,
        reason=f"verification took longer than {seconds:g} s; worker killed",
        timeout_s=seconds,
    )


def _send_failure(e: Exception) -> VerifyResult:
    return VerifyResult.make(Status.ERROR, reason=f"could not send the item to a worker: {e}"[:500])


_POOL: Pool | None = None
_PARENT_ENDS: weakref.WeakSet[Connection] = weakref.WeakSet()
_POOL_LOCK = threading.Lock()
_SPAWN_LOCK = threading.Lock()
_STARTING: list[Connection] = []  # the child end of the worker being started (at most one)
_SPAWNING = threading.local()  # .own_end: set in the thread that forks the worker


def _forget_after_fork() -> None:
    """In a forked child (a DataLoader worker, one of our workers) the parent's pool is not ours, and its
    locks may have been held by a thread that does not exist here: start from nothing."""
    global _POOL, _POOL_LOCK, _SPAWN_LOCK
    _POOL, _POOL_LOCK, _SPAWN_LOCK = None, threading.Lock(), threading.Lock()
    # close inherited parent ends of worker pipes: a worker sees EOF (and exits) only when no process
    # holds a copy of its parent end
    for c in list(_PARENT_ENDS):
        try:
            c.close()
        except OSError:
            pass
    _PARENT_ENDS.clear()
    # the end of a worker that was starting at the fork belongs to that worker alone
    for c in _STARTING:
        if c is not getattr(_SPAWNING, "own_end", None):
            c.close()
    _STARTING.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def get_pool() -> Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = Pool()
            atexit.register(_POOL.shutdown)
        return _POOL
