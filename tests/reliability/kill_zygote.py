"""A warm interpreter that starts the commands of the kill tests: it imports the heavy modules once
(torch, transformers, the pipelines) and forks a child per run, which sets its environment, runs the
command's own ``main(argv)`` (what the console script runs) and exits with its code.

The kill tests start dozens of runs of each command; a cold ``python -m cli...`` spends 3-5 s of a
loaded 2-core machine importing torch before it does anything. A child here is still a real process
of its own (own session and process group, its own files), killed with a real SIGKILL.

Forking is only safe from a single-threaded parent: the zygote is started with
``OPENBLAS_NUM_THREADS=1`` (numpy's BLAS would otherwise start its thread pool at import) and refuses
to serve when an import has started a thread anyway or has loaded polars (its thread pool does not
survive a fork; ``ring-data clean`` runs cold instead).

Importing a package is not enough to make a run warm: transformers loads most of its modules lazily, on
first use. So a first run can list every module it ended up with (``dump_modules``) and the zygote then
imports those too (``preload``), after which a run starts in a fraction of a second.

Protocol, one JSON object per line on stdin / stdout:
``{"op": "run", "module": "cli.ring_data", "argv": [...], "env": {...}, "log": PATH, "dump_modules": PATH}``
-> ``{"pid": N}`` (``dump_modules`` optional: the child writes its ``sys.modules`` there at exit);
``{"op": "wait", "pid": N, "timeout": S}`` -> ``{"code": C}``, ``{"signal": S}`` or ``{"running": true}``;
``{"op": "preload", "modules": PATH}`` -> ``{"ok": bool, "why": ...}`` (the modules listed in PATH);
``{"op": "exit"}`` ends it (the end of stdin may never come: processes forked by the test process, a
verifier pool for one, hold a copy of the pipe's write end).
Run as ``python kill_zygote.py MODULE...`` (the modules to import first); ``{"ready": true}`` first.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _send(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _child(req: dict) -> None:
    """In the forked child: become the command and never return."""
    code = 1
    try:
        os.setsid()
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        for key, value in req.get("env", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        from ring_data import faults

        faults.arm()  # the variables were set after the import
        sys.argv = [req["module"], *req["argv"]]
        code = int(importlib.import_module(req["module"]).main(req["argv"]) or 0)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        if req.get("dump_modules"):
            with open(req["dump_modules"], "w") as fh:
                fh.write("\n".join(list(sys.modules)) + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, timeout: float) -> dict:
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return {"signal": os.WTERMSIG(status)}
            return {"code": os.WEXITSTATUS(status)}
        if time.monotonic() >= deadline:
            return {"running": True}
        time.sleep(0.005)


def _unsafe() -> str | None:
    if "polars" in sys.modules or _threads() > 1:
        return f"{_threads()} threads, polars loaded: {'polars' in sys.modules}"
    return None


def _preload(path: str) -> dict:
    """Import what a finished run had imported (polars and anything that fails to import aside)."""
    failed = 0
    for name in Path(path).read_text().split():
        if name in sys.modules or name.split(".")[0] in ("polars", "__main__"):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # a module that only imports inside its package's own machinery
            failed += 1
    why = _unsafe()
    return {"ok": why is None, "why": why, "failed": failed}


def main() -> None:
    for name in sys.argv[1:]:
        importlib.import_module(name)
    why = _unsafe()
    if why:
        _send({"ready": False, "why": why})
        return
    _send({"ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "run":
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(req)
            _send({"pid": pid})
        elif req["op"] == "wait":
            _send(_wait(req["pid"], req["timeout"]))
        elif req["op"] == "exit":
            return
        elif req["op"] == "preload":
            reply = _preload(req["modules"])
            _send(reply)
            if not reply["ok"]:
                return


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # nothing to clean up: skip finalising thousands of modules (slow, and a preloaded
    # module's exit hook has nothing to do here)
