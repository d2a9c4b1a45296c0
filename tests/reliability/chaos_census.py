"""What a test process owns, read from /proc: its descendants, open descriptors, resident memory.

Used to show that a soak leaves nothing behind: every process that ever descended from the test
process (verifier workers, the sandbox boxes they start, the programs in the boxes) is recorded while
it runs, so one that outlives the run is found even after it was re-parented to init.
"""

from __future__ import annotations

import os


def proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, state letter, start time in clock ticks) of every process now."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parens
        table[int(name)] = (int(fields[1]), fields[0], int(fields[19]))
    return table


def live_descendants(root: int, table: dict[int, tuple[int, str, int]] | None = None) -> set[tuple[int, int]]:
    """(pid, start time) of every living (not zombie) descendant of ``root``."""
    table = proc_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), list(children.get(root, []))
    while todo:
        pid = todo.pop()
        _, state, start = table[pid]
        if state not in "ZX":
            out.add((pid, start))
        todo.extend(children.get(pid, []))
    return out


def still_alive(
    procs: set[tuple[int, int]], table: dict[int, tuple[int, str, int]] | None = None
) -> set[tuple[int, int]]:
    """Those of ``procs`` (pid, start time) that still run (same pid *and* start time: not a reuse)."""
    table = proc_table() if table is None else table
    return {
        (pid, start)
        for pid, start in procs
        if pid in table and table[pid][2] == start and table[pid][1] not in "ZX"
    }


def describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/status") as fh:
            uid = next(line.split()[1] for line in fh if line.startswith("Uid:"))
    except (OSError, StopIteration):
        return f"{pid} (gone)"
    return f"{pid} uid={uid} {cmd[:120]}"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def robust_slope(points: list[tuple[float, float]]) -> float:
    """Theil-Sen slope (the median of the slopes between all pairs of points): one block that happened
    to hold several megabyte strings moves it little, a steady leak moves it fully."""
    slopes = sorted(
        (y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1 :] if x2 != x1
    )
    if not slopes:
        return 0.0
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
