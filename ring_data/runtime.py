"""Conventions every long command shares: progress bars with rates and a JSON stats file next to the output."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from . import atomic

T = TypeVar("T")


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """Wrap ``items`` in a tqdm bar on stderr (rate shown); silent when stderr is not a terminal and
    RING_PROGRESS is not set, so logs and CI output stay readable."""
    yield from _tqdm(items, total=total, desc=desc, unit=unit)


def bar(*, total: int | None = None, desc: str = "", unit: str = "it"):
    """A tqdm bar to update by hand (work that is not one iterable, e.g. rows read by several
    processes); shown under the same rule as :func:`progress`."""
    return _tqdm(None, total=total, desc=desc, unit=unit)


def _tqdm(items, **kwargs):
    import os

    from tqdm import tqdm

    disable = not (sys.stderr.isatty() or os.environ.get("RING_PROGRESS"))
    return tqdm(items, disable=disable, dynamic_ncols=True, mininterval=0.5, **kwargs)


def stats_path_for(output: str | Path) -> Path:
    """``out/clean.jsonl`` -> ``out/clean.jsonl.stats.json``."""
    output = Path(output)
    return output.with_name(output.name + ".stats.json")


def write_stats(output: str | Path, stats: dict[str, Any]) -> Path:
    """Write machine-readable stats next to ``output`` (or to ``output`` itself if it ends in .json)."""
    output = Path(output)
    path = output if output.name.endswith(".stats.json") else stats_path_for(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **stats}
    # complete or absent: a killed run never leaves half a stats file
    atomic.write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path


# ---- allocator settings for batch data processes -------------------------------------------------------
# Cleaning allocates and frees arrays of tens of MB many times. By default glibc gives them back to
# the kernel at once (munmap / heap trim) and polars' jemalloc purges its free pages; the next batch
# then faults the same memory in again: ~400k page faults and a quarter of the CPU time of a 200k-row
# ingest. Keeping freed memory in the process cuts that by half; the cost is that RSS stays near its
# peak until the process exits, so only processes that exist to process data opt in.
JEMALLOC_ENV = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}  # read once, when polars loads
GLIBC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def numpy_without_hugepages() -> None:
    """Stop numpy asking for transparent huge pages on its big arrays (madvise), unless the environment
    says ``RING_NUMPY_HUGEPAGES=1``. Where the kernel's THP defrag setting is ``madvise`` (a common
    default), such a request compacts memory synchronously at the first touch: on these VMs 512 MB took
    1.26 s to fault in with it and 0.23 s without (4 KB pages), and the cost varied run to run with the
    host's fragmentation."""
    import os

    if os.environ.get("RING_NUMPY_HUGEPAGES", "0") == "1":
        return
    try:
        import numpy as np
    except ImportError:
        return
    core = getattr(np, "_core", None) or getattr(np, "core", None)  # numpy 2 / numpy 1
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)


# Python's cycle collector runs after every 700 new container objects. Reading rows makes ~10 per
# row (the decoded dict, its reference, tests, meta) and a batch keeps tens of thousands alive, so
# the collector walks the same live batch again and again: 14% of a 200k-row ingest (0.97 of 7.0 s,
# 13 full collections, measured with gc.callbacks). Rows are trees, freed by reference counting;
# collecting cycles every 50,000 objects instead cost 0.21 s there.
GC_GEN0_THRESHOLD = 50_000


def fewer_gc_passes() -> None:
    """Run the cycle collector less often in this process (see above); a data process's setting."""
    import gc

    gen0, *older = gc.get_threshold()
    if gen0:  # 0: the collector is off, leave it so
        gc.set_threshold(max(gen0, GC_GEN0_THRESHOLD), *older)


def tune_allocator_for_batch_work() -> bool:
    """Apply the settings above to this process (glibc now; jemalloc only if polars is not loaded yet;
    the collector's threshold). Call it at the start of a command-line process, never from library
    code. Returns whether glibc took the settings."""
    import ctypes
    import ctypes.util
    import os

    fewer_gc_passes()
    if "polars" not in sys.modules:
        for key, value in JEMALLOC_ENV.items():
            os.environ.setdefault(key, value)
    numpy_without_hugepages()
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
        return bool(
            libc.mallopt(m_mmap_threshold, int(GLIBC_ENV["MALLOC_MMAP_THRESHOLD_"]))
            and libc.mallopt(m_trim_threshold, int(GLIBC_ENV["MALLOC_TRIM_THRESHOLD_"]))
        )
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
