"""Which isolation this host offers, chosen once and reported by ``sandbox.isolation()``.

Order of preference: bubblewrap (new user, pid, net, ipc, uts namespaces; read-only /usr; size-capped
tmpfs scratch; nothing else of the host visible), else ``unshare`` (new net, pid, ipc, uts and mount
namespaces, private tmpfs over /tmp, /var/tmp and /dev/shm; the rest of the host filesystem stays
visible, guarded only by the unprivileged uid's permissions), else bare processes. Every level adds
rlimits, an own process group killed on every exit path and a clean environment; as root, every level
also runs the box under an unprivileged uid leased for its lifetime, so RLIMIT_NPROC bites and a
program cannot signal another box's processes. ``RING_SANDBOX_ISOLATION=bwrap|unshare|none`` forces
a level (tests, debugging).
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

UID_BASE = int(os.environ.get("RING_SANDBOX_UID_BASE", "61000"))
UID_COUNT = 1000
# What a program sees: nothing from the host environment.
PROGRAM_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "TMPDIR": "/tmp"}
LEVELS = ("bwrap", "unshare", "none")
UNSHARE_CACHE = "/tmp/.ring-cache"  # the compile cache inside unshare boxes (on their private /tmp)


@dataclass(frozen=True)
class Plan:
    level: str  # bwrap | unshare | none
    drop_uid: bool  # run the box under a leased unprivileged uid (host is root)
    python: str  # interpreter used inside the box

    @property
    def label(self) -> str:
        parts = {"bwrap": ["bwrap"], "unshare": ["unshare"], "none": []}[self.level]
        if self.drop_uid:
            parts.append("uid")
        if self.level != "none":
            parts += ["netns", "pidns"]
        parts += ["rlimits", "pgroup", "cleanenv"]
        return "+".join(parts)


def box_python() -> str:
    """An interpreter an unprivileged uid can execute, outside any virtualenv (stdlib only is needed)."""
    forced = os.environ.get("RING_SANDBOX_PYTHON")
    if forced:
        return forced
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(cand, os.X_OK) and _world_executable(cand):
            return cand
    return os.path.realpath(sys.executable)


def _world_executable(path: str) -> bool:
    try:
        return bool(os.stat(os.path.realpath(path)).st_mode & 0o001)
    except OSError:
        return False


def _extra_ro_binds(python: str) -> list[str]:
    """Host paths the box needs besides /usr: the interpreter's prefix if it lives elsewhere, and the
    few /etc entries compilers and the JVM resolve through (alternatives, Java config, ld cache)."""
    paths = []
    real = os.path.realpath(python)
    if not real.startswith("/usr/"):
        paths.append(os.path.dirname(os.path.dirname(real)))
    for p in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"):
        if os.path.exists(p):
            paths.append(p)
    try:
        paths += [os.path.join("/etc", n) for n in os.listdir("/etc") if n.startswith("java-")]
    except OSError:
        pass
    return paths


def launch_spec(plan: Plan, uid: int | None, cache_dir: str, scratch_bytes: int) -> tuple[list[str], dict]:
    """(command prefix, Popen keyword arguments) that put a box's server inside the chosen isolation
    and, when ``uid`` is given, under that unprivileged uid."""
    as_uid = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
    if plan.level == "unshare" and uid is not None:
        # root makes the namespaces without a user namespace (works where unprivileged ones are
        # blocked), then drops to the uid with no capabilities left before the server starts
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--"]
        return _wrapper_argv(plan, cache_dir, scratch_bytes) + drop, {}
    return _wrapper_argv(plan, cache_dir, scratch_bytes), as_uid


@functools.cache
def _bwrap_has(option: str) -> bool:
    try:
        out = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return option in out.stdout + out.stderr


def _wrapper_argv(plan: Plan, cache_dir: str, scratch_bytes: int) -> list[str]:
    if plan.level == "bwrap":
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
        if _bwrap_has("--as-pid-1"):
            # The server is the pid namespace's init: signals from its programs (kill -9 of the
            # parent, kill(-1), SIGSTOP) cannot touch it; it reaps orphans itself.
            argv.insert(1, "--as-pid-1")
        for name in ("bin", "lib", "lib64", "sbin", "lib32"):
            if os.path.islink(f"/{name}"):
                argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
            elif os.path.isdir(f"/{name}"):
                argv += ["--ro-bind", f"/{name}", f"/{name}"]
        for p in _extra_ro_binds(plan.python):
            argv += ["--ro-bind", p, p]
        argv += ["--ro-bind", cache_dir, "/cache", "--proc", "/proc", "--dev", "/dev"]
        argv += ["--size", str(scratch_bytes), "--tmpfs", "/tmp"]
        argv += ["--size", str(min(scratch_bytes, 64 << 20)), "--tmpfs", "/dev/shm"]
        argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
        for k, v in PROGRAM_ENV.items():
            argv += ["--setenv", k, v]
        return argv + ["--"]
    if plan.level == "unshare":
        argv = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts"]
        if os.geteuid() != 0:
            argv.insert(1, "--map-root-user")  # unprivileged unshare needs a user namespace
        # private, size-capped tmpfs over the world-writable places, inside the new mount namespace
        mounts = " && ".join(
            f"mount -t tmpfs -o size={size},mode=1777,nosuid,nodev tmpfs {d}"
            for d, size in (
                ("/tmp", scratch_bytes),
                ("/var/tmp", 1 << 20),
                ("/dev/shm", min(scratch_bytes, 64 << 20)),
            )
            if os.path.isdir(d)
        )
        # The compile cache may live under one of those (RING_SANDBOX_CACHE, or a HOME under /tmp):
        # hold it open (fd 3) across the tmpfs mounts, then bind it read-only at UNSHARE_CACHE.
        cache = (
            f"mkdir -m 755 {UNSHARE_CACHE} && mount --bind /proc/self/fd/3 {UNSHARE_CACHE}"
            f" && mount -o remount,bind,ro {UNSHARE_CACHE} && exec 3<&-"
        )
        script = f'exec 3<"$1" && {mounts} && {cache} && shift && exec "$@"'
        return argv + ["--", "/bin/sh", "-c", script, "sh", cache_dir]
    return []


def cache_in_box(plan: Plan, host_cache: str) -> str:
    """Where a box of ``plan`` sees the host's compile cache ``host_cache``."""
    return {"bwrap": "/cache", "unshare": UNSHARE_CACHE}.get(plan.level, host_cache)


def server_config(plan: Plan, host_scratch: str | None) -> dict:
    """What the in-box server needs: the program environment, where scratch lives and what to wipe.

    Under bwrap and unshare, /tmp and /dev/shm are the box's own size-capped tmpfs; without
    namespaces the box gets a private host directory (never the host's /tmp itself). Sweeping
    "every other process" is only safe where the box has its own pid namespace or uid."""
    env = dict(PROGRAM_ENV)
    keep = [UNSHARE_CACHE] if plan.level == "unshare" else []  # a read-only mount: never wiped
    if plan.level != "none":  # /tmp and /dev/shm are the box's own tmpfs
        scratch, wipe = "/tmp", [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]
    else:
        scratch, wipe = host_scratch, [host_scratch]
        env["HOME"] = env["TMPDIR"] = host_scratch
    return {
        "env": env,
        "sweep": plan.level != "none" or plan.drop_uid,
        "scratch": scratch,
        "wipe": wipe,
        "keep": keep,
        "remove_scratch": plan.level == "none",  # the server removes its host dir if the host cannot
        # RLIMIT_NPROC counts every process of the real uid: without a uid of its own, the box's
        # budget comes on top of what the user already runs
        "nproc_base": 0 if plan.drop_uid else _processes_of(os.getuid()),
    }


def _processes_of(uid: int) -> int:
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                n += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return n


def kill_uid(uid: int) -> None:
    """SIGKILL every process running under ``uid`` (root only). Without namespaces, killing a box's
    server leaves its programs running (they have process groups of their own, and one may have
    killed the server itself); the uid is the box's, so its processes are exactly the box's.
    kill(-1) issued as that uid reaches them all in one atomic step; a /proc scan then checks (and is
    the fallback where no ``kill`` binary exists)."""
    kill = shutil.which("kill")
    if kill:
        try:
            subprocess.run(
                [kill, "-KILL", "-1"],  # its exit status says nothing useful; the scan below checks
                user=uid,
                group=uid,
                extra_groups=[],
                env=PROGRAM_ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            pass
    for _ in range(20):
        victims = _live_pids_of(uid)
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _live_pids_of(uid: int) -> list[int]:
    """Processes of ``uid`` that are not zombies (those are dead; their parent or init reaps them)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
        except OSError:
            continue
        if process_state(int(name)) not in (None, "Z"):
            found.append(int(name))
    return found


def process_state(pid: int) -> str | None:
    """The state letter of ``pid`` in /proc (``R``, ``S``, ``T`` stopped, ``Z`` zombie...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    end = stat.rindex(b")")  # the command name may contain spaces and parentheses
    return stat[end + 2 : end + 3].decode()


class UidLease:
    """An unprivileged uid held exclusively (flock) for one box's lifetime, across processes."""

    _dir = os.path.join(tempfile.gettempdir(), "ring-sandbox-uids")
    _lock = threading.Lock()
    _next = 0

    def __init__(self) -> None:
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        with UidLease._lock:
            start = UidLease._next
            UidLease._next = (UidLease._next + 1) % UID_COUNT
        for k in range(UID_COUNT):
            uid = UID_BASE + (start + os.getpid() + k) % UID_COUNT
            fd = os.open(os.path.join(self._dir, str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError("no free sandbox uid (all leased)")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @classmethod
    def reset_after_fork(cls) -> None:
        cls._lock = threading.Lock()


def _probe(plan: Plan, cache_dir: str) -> bool:
    """Does a trivial box start and report the expected uid under this plan?"""
    lease = UidLease() if plan.drop_uid else None
    try:
        prefix, kw = launch_spec(plan, lease.uid if lease else None, cache_dir, 1 << 20)
        argv = prefix + [
            plan.python,
            "-I",
            "-c",
            "import os; print(os.getuid())",
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=PROGRAM_ENV, **kw)
        want = str(lease.uid) if lease else None
        got = out.stdout.strip().splitlines()[-1:] if out.returncode == 0 else []
        return bool(got) and (want is None or got[0] in (want, "0"))
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        if lease:
            lease.release()


@functools.cache
def choose_plan() -> Plan:
    from .compile_cache import cache_root

    python = box_python()
    drop = os.geteuid() == 0
    forced = os.environ.get("RING_SANDBOX_ISOLATION")
    if forced:
        if forced not in LEVELS:
            raise ValueError(f"RING_SANDBOX_ISOLATION={forced!r}: expected one of {', '.join(LEVELS)}")
        return Plan(forced, drop, python)
    for level, tool in (("bwrap", "bwrap"), ("unshare", "unshare")):
        if shutil.which(tool):
            plan = Plan(level, drop, python)
            if _probe(plan, cache_root()):
                return plan
    return Plan("none", drop, python)
