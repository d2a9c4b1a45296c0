"""The process that lives inside a box (stdlib only; run as ``python3 -I -c <this file's source>``).

It speaks JSON lines: one request on stdin, one line per test case and a final ``{"done": ...}`` on
stdout. Each case runs in a forked child with its own process group, rlimits, stdio pipes and a
fresh working directory; Python programs run in the fork itself (a clean, pre-imported interpreter:
no interpreter start per case), other programs are exec'd. After every case, everything else in
the box (escaped grandchildren included) is killed and the scratch space is wiped, so one program
never sees another's leftovers. The server is non-dumpable, so a program running under the same
uid can neither ptrace it nor open its pipes through /proc; it can only kill it, which the host
sees as a failed run.
"""

import atexit
import base64
import builtins
import ctypes
import io
import json
import os
import random
import resource
import select
import shutil
import signal
import sys
import threading
import time
import traceback
import types

# Pre-imported for warm Python runs (the fork inherits them; a program's `import` is then a dict hit).
WARM_MODULES = ("array", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal", "fractions",
                "functools", "heapq", "itertools", "math", "operator", "re", "statistics", "string", "typing")  # fmt: skip
for _name in WARM_MODULES:
    __import__(_name)

CONFIG = json.loads(sys.argv[1])
RUN_DIR = os.path.join(CONFIG["scratch"], "run")
WIPE_DIRS = CONFIG["wipe"]
KEEP = set(CONFIG.get("keep", ()))  # mount points inside the wiped places (the compile cache)
STDERR_KEEP = 64 * 1024
CHUNK = 1 << 16

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: no ptrace, no /proc/<pid>/fd for same-uid programs
# PR_SET_CHILD_SUBREAPER: a program's orphans (setsid'ed grandchildren) become our children, not the
# host init's, so we can kill and reap them (without a pid namespace nothing else would: their zombies
# would count against the uid's RLIMIT_NPROC and starve the next program's fork)
_libc.prctl(36, 1, 0, 0, 0)


def send(obj):
    os.write(1, (json.dumps(obj) + "\n").encode())


def set_limits(lim):
    def cap(which, soft, hard=None):
        hard = soft if hard is None else hard
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass

    cpu = int(lim["time"]) + 1
    cap(resource.RLIMIT_CPU, cpu, cpu + 1)
    if lim.get("as_bytes"):
        cap(resource.RLIMIT_AS, lim["as_bytes"])
    cap(resource.RLIMIT_FSIZE, lim["fsize"])
    cap(resource.RLIMIT_NOFILE, lim["nofile"])
    cap(resource.RLIMIT_NPROC, lim["nproc"] + CONFIG.get("nproc_base", 0))
    cap(resource.RLIMIT_CORE, 0)
    if lim.get("stack_bytes"):
        cap(resource.RLIMIT_STACK, lim["stack_bytes"])


def exec_python(source, filename):
    """Run ``source`` as ``__main__`` in this (forked) interpreter, then exit like ``python3 file`` would."""
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)))
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), errors="backslashreplace", line_buffering=True
    )
    sys.argv = [filename]
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    random.seed()  # a fresh interpreter would not share its parent's random state
    code = 0
    try:
        exec(compile(source, filename, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code & 0xFF
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120
    os._exit(code)


def child(req, case_stdin_r, out_w, err_w, env):
    try:
        os.setpgid(0, 0)
        os.dup2(case_stdin_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        os.chdir(req.get("cwd", RUN_DIR))
        set_limits(req["limits"])
        if req["kind"] == "python":
            os.environ.clear()
            os.environ.update(env)
            exec_python(req["source"], req.get("filename", "main.py"))
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # exec keeps ignored signals; programs expect default
        os.execve(req["argv"][0], req["argv"], env)
    except BaseException as e:  # could not start the program at all
        try:
            os.write(2, f"sandbox: cannot start program: {e!r}\n".encode())
        finally:
            os._exit(127)


def run_case(req, cases, i, env):
    """Run case ``i``. The inputs live only in ``cases`` (no frame holds one): a Python program runs in
    a fork of this process, under these very frames, and must not find other cases' inputs (or a
    verifier's end marker) by walking them; the child empties its copy of the list first."""
    lim = req["limits"]
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        cases.clear()
        child(req, in_r, out_w, err_w, env)
    data = cases[i].encode() if cases else b""
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    for fd in (in_w, out_r, err_r):
        os.set_blocking(fd, False)
    deadline = start + lim["time"]
    out, err = bytearray(), bytearray()
    err_total = 0
    pending = memoryview(data)
    if not pending:
        os.close(in_w)
        in_w = -1
    readers = {out_r, err_r}
    timed_out = over = False
    status = rusage = None
    while readers:
        now = time.monotonic()
        if now >= deadline:
            timed_out = status is None
            break
        writers = [in_w] if in_w >= 0 else []
        r, w, _ = select.select(list(readers), writers, [], min(deadline - now, 0.05))
        if w:
            try:
                n = os.write(in_w, pending[:CHUNK])
                pending = pending[n:]
            except BrokenPipeError:
                pending = pending[:0]
            if not pending:
                os.close(in_w)
                in_w = -1
        for fd in r:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                readers.discard(fd)
            elif fd == out_r:
                out += chunk
                if len(out) > lim["output"]:
                    over = True
            else:
                err_total += len(chunk)
                if len(err) < STDERR_KEEP:
                    err += chunk[: STDERR_KEEP - len(err)]
                if err_total > lim["output"]:
                    over = True
        if over:
            break
        if not r and status is None:
            wpid, st, ru = os.wait4(pid, os.WNOHANG)
            if wpid:  # exited, but something it left behind holds the pipes: drain briefly, then stop
                status, rusage = st, ru
                deadline = min(deadline, time.monotonic() + 0.05)
    # Stdio is closed (or abandoned): wait for the exit within the same deadline.
    while status is None:
        wpid, st, ru = os.wait4(pid, os.WNOHANG)
        if wpid:
            status, rusage = st, ru
            break
        if timed_out or over or time.monotonic() >= deadline:
            timed_out = timed_out or not over
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, rusage = os.wait4(pid, 0)
            break
        time.sleep(0.0005)
    wall = time.monotonic() - start
    try:
        os.killpg(pid, signal.SIGKILL)  # children left in the group
    except ProcessLookupError:
        pass
    for fd in (in_w, out_r, err_r):
        if fd >= 0:
            os.close(fd)
    return {
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "output_exceeded": over,
        "wall": wall,
        "cpu": rusage.ru_utime + rusage.ru_stime,
        "maxrss_kb": rusage.ru_maxrss,
        "stdout": base64.b64encode(bytes(out[: lim["output"]])).decode(),
        "stderr": base64.b64encode(bytes(err)).decode(),
        "stderr_truncated": err_total > len(err),
    }


def _descendants(me):
    """Pids below ``me`` in the process tree (as a subreaper, every orphan of a program is one)."""
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
                parent[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = set(), {me}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier and pid not in found}
        found |= frontier
    return found


def _reap_all(timeout=2.0):
    """Wait for every child (all were just killed) so none stays a zombie counting against RLIMIT_NPROC."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= give_up:
                return
            time.sleep(0.001)


def sweep(sweep_all):
    """Kill every other process in the box, reap them, and wipe the writable places.

    With a pid namespace or a uid of its own (``sweep_all``), kill(-1) reaches every process of the box
    in one atomic step (a fork bomb cannot fork past it); it spares only this server and the
    namespace's init. Without either, only our own descendants may be touched: kill them in rounds."""
    if sweep_all:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:  # ESRCH: nothing else was running
            pass
    else:
        me = os.getpid()
        for _ in range(50):
            victims = _descendants(me)
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    _reap_all()
    for top in WIPE_DIRS:
        try:
            names = os.listdir(top)
        except OSError:
            continue
        for name in names:
            path = os.path.join(top, name)
            if path in KEEP:
                continue
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


def write_files(root, files):
    os.makedirs(root, mode=0o700, exist_ok=True)
    for name, b64 in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(b64))


def stop_requested():
    if not CONFIG.get("stop_via_stdin", True):  # requests come from a file (E2B): nobody to ask
        return False
    r, _, _ = select.select([0], [], [], 0)
    if not r:
        return False
    line = os.read(0, 4096)
    return b"stop" in line or not line


def handle(req, config):
    env = config["env"]
    sweep(config["sweep"])
    cwd = req.get("cwd", RUN_DIR)
    write_files(cwd, req.get("files", {}))
    try:
        if req["op"] == "compile":
            res = run_case(req, [], 0, env)
            arts = {}
            for name in sorted(os.listdir(cwd)):
                if any(name.endswith(s) for s in req["artifacts"]) or name in req["artifacts"]:
                    with open(os.path.join(cwd, name), "rb") as f:
                        arts[name] = base64.b64encode(f.read()).decode()
            res["artifacts"] = arts
            send({"done": True, "compile": res})
            return
        cases = req.pop("cases")
        for i in range(len(cases)):
            if i and stop_requested():
                break
            res = run_case(req, cases, i, env)
            res["case"] = i
            send(res)
            failed = res["timed_out"] or res["output_exceeded"] or res["exit"] != 0
            if failed and req.get("stop_on_error"):
                break
            if i + 1 < len(cases):
                sweep(config["sweep"])
                write_files(cwd, req.get("files", {}))
        send({"done": True})
    finally:
        sweep(config["sweep"])


def serve(config):
    reader = io.BufferedReader(io.FileIO(0, "r", closefd=False))
    send({"ready": True, "pid": os.getpid(), "uid": os.getuid()})
    while True:
        line = reader.readline()
        if not line:
            return
        line = line.strip()
        if not line or line == b"stop":
            continue
        try:
            req = json.loads(line)
            line = None  # the raw request (all inputs) must not stay in a frame a program can walk
            handle(req, config)
        except Exception as e:  # a server bug: report it, stay alive
            send({"done": True, "error": f"{type(e).__name__}: {e}"})


def main():
    os.umask(0o077)
    try:
        serve(CONFIG)  # until the host closes our input (or goes away: its end of the pipe closes)
    finally:
        # the host may be gone (SIGKILLed, or a forked worker that exits without cleanup): leave
        # nothing behind ourselves, including a host scratch directory
        sweep(CONFIG["sweep"])
        if CONFIG.get("remove_scratch"):
            try:
                os.rmdir(CONFIG["scratch"])
            except OSError:
                pass
        os._exit(0)  # nothing is buffered (send writes directly): skip the interpreter's slow teardown


main()
