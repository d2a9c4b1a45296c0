"""Drives ``sandbox.run_code`` from many callers at once, from threads of one process or from forked
processes (as the verifier pool's workers use it), and summarises what came back.

Every call is timed by its caller. Its budget is what the contract lets it take: ``time_limit`` per
input plus the compile time it reports; the overrun is wall time beyond that budget (the sandbox's
own overhead: box start, pipes, the sweep after a run, waiting for a core).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass

from sandbox_mix import Call, Program, check, draw

import sandbox


@dataclass
class Record:
    program: str
    hostile: bool
    status: str
    wall_s: float
    overrun_s: float
    violation: str | None
    raised: str | None = None


def budget(call: Call, res: sandbox.RunResult) -> float:
    compiled = res.extra.get("compile") or {}
    return call.kwargs["time_limit"] * call.n_cases + float(compiled.get("wall_s") or 0.0)


def one_call(call: Call) -> Record:
    t0 = time.monotonic()
    try:
        res = sandbox.run_code(call.code, call.language, **call.kwargs)
    except Exception as e:  # run_code must never raise for anything a program does
        wall = time.monotonic() - t0
        return Record(call.program, call.hostile, "raised", wall, 0.0, f"raised {e!r}", repr(e))
    wall = time.monotonic() - t0
    return Record(
        call.program, call.hostile, res.status.value, wall, wall - budget(call, res), check(call, res)
    )


def caller_loop(seed: int, until: float, programs: list[Program], emit) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        call = draw(rng, programs)
        emit({"begin": call.program})
        emit(asdict(one_call(call)))


def drive_threads(callers: int, seconds: float, seed: int, programs: list[Program]) -> dict:
    """``callers`` threads calling ``run_code`` back to back for ``seconds``."""
    records: list[Record] = []
    lock = threading.Lock()

    def emit(obj: dict) -> None:
        if "begin" not in obj:
            with lock:
                records.append(Record(**obj))

    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=caller_loop, args=(seed + i, until, programs, emit), daemon=True)
        for i in range(callers)
    ]
    for t in threads:
        t.start()
    # the longest call of the mix, plus far more than any sane overhead: past this a call is hung
    for t in threads:
        t.join(max(0.0, until - time.monotonic()) + 120)
    return {"records": records, "hung": sum(t.is_alive() for t in threads), "killed_callers": 0}


class _Child:
    """A forked caller process; its records come back as JSON lines on a pipe."""

    def __init__(self, seed: int, until: float, programs: list[Program]) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(r)

                def emit(obj: dict) -> None:
                    os.write(w, (json.dumps(obj) + "\n").encode())

                caller_loop(seed, until, programs, emit)
            except BaseException:
                code = 1
            os._exit(code)  # like a multiprocessing worker: no atexit handlers, no pool shutdown
        os.close(w)
        self.pid, self.fd, self.buf, self.in_flight = pid, r, b"", None

    def pump(self, records: list[Record]) -> bool:
        """Read what the child wrote; False at end of stream."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return False
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            obj = json.loads(line)
            if "begin" in obj:
                self.in_flight = obj["begin"]
            else:
                records.append(Record(**obj))
                self.in_flight = None
        return True


def drive_processes(
    callers: int, seconds: float, seed: int, programs: list[Program], kill_every_s: float
) -> dict:
    """``callers`` forked processes calling ``run_code`` for ``seconds``; every ``kill_every_s`` one
    caller is SIGKILLed in the middle of a call and replaced, as the verifier pool does with a worker
    that overruns its deadline."""
    sandbox.run_code("print('warm')", "python")  # children fork from a process whose pool holds boxes
    until = time.monotonic() + seconds
    records: list[Record] = []
    children = {c.fd: c for c in (_Child(seed + i, until, programs) for i in range(callers))}
    killed: Counter[str] = Counter()
    next_kill, spawned = time.monotonic() + kill_every_s, callers
    hard_stop = until + 120  # past this a caller is hung
    exits: list[int] = []
    while children and time.monotonic() < hard_stop:
        ready, _, _ = select.select(list(children), [], [], 0.1)
        for fd in ready:
            child = children[fd]
            if not child.pump(records):
                exits.append(os.waitpid(child.pid, 0)[1])
                os.close(fd)
                del children[fd]
        now = time.monotonic()
        if now >= next_kill and now < until - 1:
            next_kill = now + kill_every_s
            busy = [c for c in children.values() if c.in_flight]
            if busy:
                victim = random.Random(seed + spawned).choice(busy)
                os.kill(victim.pid, signal.SIGKILL)
                os.waitpid(victim.pid, 0)
                while victim.pump(records):  # what it wrote before it died
                    pass
                killed[victim.in_flight or "between_calls"] += 1
                os.close(victim.fd)
                del children[victim.fd]
                fresh = _Child(seed + spawned, until, programs)
                spawned += 1
                children[fresh.fd] = fresh
    hung = len(children)
    for child in children.values():
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        os.close(child.fd)
    bad_exits = sum(1 for st in exits if not (os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0))
    return {
        "records": records,
        "hung": hung,
        "killed_callers": sum(killed.values()),
        "killed_in_flight": dict(killed),
        "bad_exits": bad_exits,
    }


def summarize(records: list[Record]) -> dict:
    normal = [r for r in records if not r.hostile]
    overruns = sorted(r.overrun_s for r in records)
    worst = max(records, key=lambda r: r.overrun_s, default=None)
    return {
        "calls": len(records),
        "hostile_calls": sum(r.hostile for r in records),
        "normal_calls": len(normal),
        "by_status": dict(Counter(r.status for r in records)),
        "by_program": dict(Counter(r.program for r in records)),
        "outcomes": {
            prog: dict(Counter(r.status for r in records if r.program == prog))
            for prog in sorted({r.program for r in records})
        },
        "violations": sum(r.violation is not None for r in records),
        "wrong_results_on_normal": sum(r.violation is not None for r in normal),
        "max_overrun_s": round(overruns[-1], 3) if overruns else 0.0,
        "p99_overrun_s": round(overruns[int(0.99 * (len(overruns) - 1))], 3) if overruns else 0.0,
        "worst_overrun_program": worst.program if worst else None,
    }


def violations(records: list[Record], limit: int = 8) -> list[str]:
    return [f"{r.program}: {r.violation}" for r in records if r.violation][:limit]
