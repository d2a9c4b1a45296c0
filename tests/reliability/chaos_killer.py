"""A chaos thread: while armed, SIGKILLs a random verifier worker at seeded random times.

Verifier workers are forked children of the test process (same command line; the sandbox boxes they
start are their children, not ours). Intervals are exponential with a seeded generator, and so is the
choice of victim. The kill goes through a pidfd checked to still be our child, so a pid reused after
the pool reaped a worker is never hit. Every tick also records the descendants of this process for
the leak check (:mod:`chaos_census`).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from chaos_census import live_descendants, proc_table, still_alive


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2 :].split()[1])


class WorkerChaos:
    def __init__(self, seed: int, mean_interval_s: float, tick_s: float = 0.1) -> None:
        self.rng = random.Random(seed)
        self.mean_interval_s = mean_interval_s
        self.tick_s = tick_s
        self.me = os.getpid()
        self.my_cmdline = _cmdline(self.me)
        self.baseline = live_descendants(self.me)  # not ours to kill, not leaks of this run
        self.seen: set[tuple[int, int]] = set()  # descendants seen while running and not yet gone
        self.kills = 0
        self._armed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-chaos", daemon=True)

    def __enter__(self) -> WorkerChaos:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @contextmanager
    def armed(self, on: bool = True) -> Iterator[None]:
        """Kills happen only inside this block (the lock makes disarming wait for a kill under way)."""
        with self._lock:
            self._armed = on
        try:
            yield
        finally:
            with self._lock:
                self._armed = False

    def _loop(self) -> None:
        next_kill = time.monotonic() + self.rng.expovariate(1 / self.mean_interval_s)
        while not self._stop.wait(self.tick_s):
            table = proc_table()
            # the dead can no longer leak (pid and start time name one process for good): keep the living
            self.seen = still_alive(self.seen, table) | (live_descendants(self.me, table) - self.baseline)
            if time.monotonic() < next_kill:
                continue
            next_kill = time.monotonic() + self.rng.expovariate(1 / self.mean_interval_s)
            with self._lock:
                if self._armed:
                    self._kill_one(table)

    def _workers(self, table: dict[int, tuple[int, str, int]]) -> list[int]:
        ours = {pid for pid, _ in self.baseline}
        return sorted(
            pid
            for pid, (ppid, state, _) in table.items()
            if ppid == self.me and state not in "ZX" and pid not in ours and _cmdline(pid) == self.my_cmdline
        )

    def _kill_one(self, table: dict[int, tuple[int, str, int]]) -> None:
        workers = self._workers(table)
        if not workers:
            return
        victim = self.rng.choice(workers)
        try:
            fd = os.pidfd_open(victim)
        except ProcessLookupError:
            return
        try:
            if _parent(victim) == self.me:  # still our child behind this pidfd
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                self.kills += 1
        except ProcessLookupError:
            pass
        finally:
            os.close(fd)
