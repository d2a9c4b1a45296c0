"""What a sandbox run may leave behind on the host, measured from the outside: processes (under the
run's uids, descended from the caller, or inside the namespaces its boxes made), mounts, scratch
entries and the caller's open file descriptors.

The machine is shared with other users of the sandbox, so a load run leases its boxes' uids from a
range of its own (:func:`claim_uid_range`) and only counts what belongs to that range or to itself.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field

import psutil

NAMESPACES = ("pid", "net", "mnt")


def claim_uid_range() -> tuple[int, int]:
    """(uid base, lock fd): a block of 1000 sandbox uids no other load run uses while the fd is open."""
    lock_dir = os.path.join(tempfile.gettempdir(), "ring-sandbox-load-ranges")
    os.makedirs(lock_dir, exist_ok=True)
    for base in range(62000, 70000, 1000):
        fd = os.open(os.path.join(lock_dir, str(base)), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return base, fd
    raise RuntimeError("every sandbox load uid range is taken")


def _ns(pid: int) -> dict[str, int]:
    out = {}
    for kind in NAMESPACES:
        try:
            out[kind] = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
        except OSError:
            pass
    return out


def _cgroup(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def processes_of(uid_base: int) -> list[psutil.Process]:
    """Live (non-zombie) processes running under a uid of the range."""
    found = []
    for p in psutil.process_iter(["uids", "status"]):
        try:
            if uid_base <= p.info["uids"].real < uid_base + 1000 and p.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.Error, TypeError, AttributeError):
            continue
    return found


def zombies_of(uid_base: int) -> int:
    n = 0
    for p in psutil.process_iter(["uids", "status"]):
        try:
            n += (
                uid_base <= p.info["uids"].real < uid_base + 1000 and p.info["status"] == psutil.STATUS_ZOMBIE
            )
        except (psutil.Error, TypeError, AttributeError):
            continue
    return n


class NamespaceSampler:
    """Records, while the load runs, every namespace a process of the uid range lives in (other than
    the host's), so that afterwards we can ask whether anything still lives in one of them."""

    def __init__(self, uid_base: int, every_s: float = 0.25) -> None:
        self.uid_base, self.every_s = uid_base, every_s
        self.host = _ns(os.getpid())
        self.seen: dict[str, set[int]] = {k: set() for k in NAMESPACES}
        # cgroups a box process was seen in other than its caller's: the sandbox makes none, so
        # there is nothing of that kind to clean up as long as this stays empty
        self.foreign: set[str] = set()
        self._suspects: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ns-sampler")

    def __enter__(self) -> NamespaceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            # the caller's cgroup, read before and after the scan: whoever runs the test may move it
            own = {_cgroup(os.getpid())}
            boxes = processes_of(self.uid_base)
            for p in boxes:
                for kind, ino in _ns(p.pid).items():
                    if ino != self.host.get(kind):
                        self.seen[kind].add(ino)
            now = {p.pid: _cgroup(p.pid) for p in boxes}
            own.add(_cgroup(os.getpid()))
            # An exiting process shows the root cgroup for a moment: a pid counts only if it is
            # seen in the same foreign cgroup again at the next look, still alive.
            alive = {p.pid for p in processes_of(self.uid_base)}
            self.foreign |= {cg for pid, cg in self._suspects.items() if now.get(pid) == cg and pid in alive}
            self._suspects = {pid: cg for pid, cg in now.items() if cg and cg not in own}

    def still_inhabited(self) -> list[int]:
        """Pids of processes (any uid) that live in a namespace a box made."""
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                ns = _ns(int(name))
                if any(ino in self.seen[kind] for kind, ino in ns.items()):
                    pids.append(int(name))
        return pids


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what they point to."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out


def new_fds(before: dict[int, str]) -> list[str]:
    """Descriptors open now under a number that was free before."""
    # /proc reads are transient (psutil and the namespace sampler open /proc/<pid>/stat for a moment)
    return [
        f"{fd}->{target}"
        for fd, target in sorted(open_fds().items())
        if fd not in before and not target.startswith("/proc/")
    ]


def mounts() -> set[str]:
    with open("/proc/self/mounts") as fh:
        return set(fh.read().splitlines())


def scratch_entries(*roots: str) -> list[str]:
    """What sandbox scratch left under ``roots``: host scratch dirs (``ring-box-*``, the fallback
    level's) and half-written compile-cache entries (``.<key>.*``)."""
    left = []
    for root in roots:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        left += [os.path.join(root, n) for n in names if n.startswith(("ring-box-", "."))]
    return left


@dataclass
class Leftovers:
    processes: list[str] = field(default_factory=list)
    zombies: int = 0
    namespaces: list[int] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)
    fds: list[str] = field(default_factory=list)
    settle_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not (
            self.processes or self.zombies or self.namespaces or self.mounts or self.scratch or self.fds
        )


def _describe(p: psutil.Process) -> str:
    try:
        return f"{p.pid} uid={p.uids().real} {p.status()} {' '.join(p.cmdline())[:100]}"
    except psutil.Error:
        return f"{p.pid} (gone)"


def descendants() -> set[tuple[int, float]]:
    """(pid, start time) of this process's living descendants: what existed before a run is not its leak."""
    found = set()
    for c in psutil.Process().children(recursive=True):
        try:
            found.add((c.pid, c.create_time()))
        except psutil.Error:
            pass
    return found


def leftovers(
    uid_base: int,
    sampler: NamespaceSampler,
    mounts_before: set[str],
    fds_before: dict[int, str],
    scratch_roots: tuple[str, ...],
    grace_s: float,
    kids_before: set[tuple[int, float]] = frozenset(),
) -> Leftovers:
    """Wait up to ``grace_s`` for teardown to finish (boxes of exited callers die asynchronously),
    then report what is still there."""
    t0 = time.monotonic()
    while True:
        kids = []
        for c in psutil.Process().children(recursive=True):
            try:
                if c.status() != psutil.STATUS_ZOMBIE and (c.pid, c.create_time()) not in kids_before:
                    kids.append(c)
            except psutil.Error:  # gone meanwhile
                pass
        found = Leftovers(
            processes=[_describe(p) for p in {p.pid: p for p in processes_of(uid_base) + kids}.values()],
            zombies=zombies_of(uid_base),
            namespaces=sampler.still_inhabited(),
            mounts=sorted(mounts() - mounts_before),
            scratch=scratch_entries(*scratch_roots),
            fds=new_fds(fds_before),
        )
        found.settle_s = round(time.monotonic() - t0, 2)
        if found.clean or found.settle_s >= grace_s:
            return found
        time.sleep(0.2)
