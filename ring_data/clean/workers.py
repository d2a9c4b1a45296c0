"""Ingest worker processes: ``python -m ring_data.clean.ingest_worker`` children that take one job (a
pickle file named on their stdin), report progress as row counts on stdout and hand back their result
as a pickle file. Plain subprocesses, not ``multiprocessing``: a user's script without a ``__main__``
guard still works.

A worker spends ~0.35 s importing numpy, polars and the cleaning modules before it can read a row. The
``ring-data clean`` command therefore starts its workers first thing (:func:`prewarm`), so they import
while the parent does; :func:`take` hands them to the ingest stage, or starts fresh ones for library
callers. This module imports nothing heavy, so the command can call it before its own imports.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runtime import GLIBC_ENV, JEMALLOC_ENV

_prewarmed: list[WorkerProcess] = []


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen):
        self.proc, self.rows, self.result_path = proc, 0, None
        self._reader = threading.Thread(target=self._read_progress, daemon=True)
        self._reader.start()

    @classmethod
    def spawn(cls) -> WorkerProcess:
        package_root = str(Path(__file__).resolve().parents[2])
        env = {
            **JEMALLOC_ENV,  # a worker process exists to process data (see runtime.py)
            **GLIBC_ENV,
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "ring_data.clean.ingest_worker", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    def assign(self, job: Path, payload: Any, result: Path) -> None:
        """Give the worker its job: ``payload`` is pickled to ``job``; its result will be at ``result``."""
        result.unlink(missing_ok=True)
        job.write_bytes(pickle.dumps(payload))
        self.result_path = result
        self.proc.stdin.write(str(job).encode() + b"\n")
        self.proc.stdin.close()

    def _read_progress(self) -> None:
        for line in self.proc.stdout:
            self.rows = int(line)

    def result(self, tick: Callable[[], None]) -> Any:
        """Wait for the worker (calling ``tick`` twice a second) and return its result; its exception
        is raised here."""
        while True:
            try:
                code = self.proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                tick()
        self._reader.join()
        if not self.result_path.exists():
            raise RuntimeError(f"ingest worker exited with code {code} and no result (see its stderr above)")
        ok, value = pickle.loads(self.result_path.read_bytes())
        self.result_path.unlink()
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def prewarm_for(inputs: list[str], requested: int = 0, min_shard_mb: float = 16.0) -> None:
    """Prewarm the workers the ingest stage will cut these inputs for (plain JSONL files of at least
    two shards; ``requested`` = ``--workers``, 0 = one per core, at most 8). A guess is enough: the
    stage stops prewarmed workers it does not need and starts any it lacks."""
    n = requested or min(usable_cores(), 8)
    paths = [Path(p) for p in inputs]
    if n < 2 or not all(p.name.lower().endswith(".jsonl") and p.is_file() for p in paths):
        return
    shards = min(n, sum(p.stat().st_size for p in paths) // int(min_shard_mb * 2**20))
    prewarm(shards - 1)


def prewarm(n: int) -> None:
    """Start ``n`` workers now (they import, then wait for a job); unused ones are stopped at exit."""
    while len(_prewarmed) < n:
        _prewarmed.append(WorkerProcess.spawn())


def prewarmed() -> int:
    return len(_prewarmed)


def take(n: int) -> list[WorkerProcess]:
    """``n`` workers: prewarmed ones first, then fresh ones. Prewarmed workers not taken are stopped."""
    got = [_prewarmed.pop(0) for _ in range(min(n, len(_prewarmed)))]
    release()
    return got + [WorkerProcess.spawn() for _ in range(n - len(got))]


def release() -> None:
    """Stop every prewarmed worker nobody took."""
    while _prewarmed:
        _prewarmed.pop().stop()


atexit.register(release)
