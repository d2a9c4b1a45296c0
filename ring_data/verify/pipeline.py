"""``ring-data verify`` over a file: rows are checked concurrently (code references run in the sandbox,
which waits on subprocesses, so threads overlap well), results are written in input order to resumable
journals, and a summary per domain and reason is collected for the stats and report."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ring_data.io import read_rows
from ring_data.rows import make_reject
from ring_data.runtime import progress

from .checks import CheckConfig, RowVerdict, check_row
from .journal import Journal


@dataclass
class VerifyConfig:
    check: CheckConfig = field(default_factory=CheckConfig)
    workers: int = 4
    resume: bool = True
    on_bad_row: str = "raise"
    mapping: dict[str, str] | None = None


@dataclass
class VerifyStats:
    input_rows: int = 0
    skipped_resumed: int = 0
    checked: int = 0
    kept: int = 0
    kept_unverified: int = 0  # of ``kept``: references nothing checked, kept by ``keep_unverified``
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    by_domain: dict[str, dict[str, int]] = field(default_factory=dict)  # domain -> {kept, reason...}
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # reason -> a few (id, evidence)
    wall_s: float = 0.0
    total_kept: int = 0
    total_rejected: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows_per_s"] = round(self.checked / self.wall_s, 3) if self.wall_s else 0.0
        return d


def verify_file(
    inputs: str | Path | list[str | Path],
    output: str | Path,
    *,
    rejects: str | Path | None = None,
    config: VerifyConfig | None = None,
) -> VerifyStats:
    cfg = config or VerifyConfig()
    stats = VerifyStats()
    by_domain: dict[str, Counter] = defaultdict(Counter)
    journal = Journal(output, rejects, resume=cfg.resume)
    bad_rows: list[dict[str, Any]] = []
    started = time.perf_counter()

    def record(row: dict[str, Any], verdict: RowVerdict) -> None:
        stats.checked += 1
        domain = str(row.get("domain"))
        if verdict.ok:
            journal.keep(row)
            stats.kept += 1
            stats.kept_unverified += verdict.unverified
            by_domain[domain]["kept"] += 1
            return
        journal.reject(make_reject(row, verdict.reason, verdict.evidence))
        _count_reject(stats, verdict.reason)
        by_domain[domain][verdict.reason] += 1
        examples = stats.examples.setdefault(verdict.reason, [])
        if len(examples) < 3:
            examples.append({"id": row["id"], "domain": domain, "evidence": verdict.evidence})

    def drain_bad_rows() -> None:
        while bad_rows:
            entry = bad_rows.pop(0)
            stats.input_rows += 1
            if journal.reject(entry):
                _count_reject(stats, "bad_row")

    def todo() -> Iterator[dict[str, Any]]:
        rows = read_rows(inputs, mapping=cfg.mapping, on_bad_row=cfg.on_bad_row, bad_rows=bad_rows)
        for row in progress(rows, desc="verify", unit="row"):
            stats.input_rows += 1
            drain_bad_rows()
            if row["id"] in journal.done:
                stats.skipped_resumed += 1
            else:
                yield row

    last_flush = started
    try:
        window: deque[tuple[dict[str, Any], Future]] = deque()
        with ThreadPoolExecutor(max(1, cfg.workers), thread_name_prefix="verify") as pool:
            for row in todo():
                window.append((row, pool.submit(check_row, row, cfg.check)))
                while len(window) > 4 * max(1, cfg.workers) or (window and window[0][1].done()):
                    done_row, fut = window.popleft()
                    record(done_row, fut.result())
                if time.perf_counter() - last_flush > 1.0:  # an interrupted run loses at most ~1 s of work
                    journal.flush()
                    last_flush = time.perf_counter()
            while window:
                done_row, fut = window.popleft()
                record(done_row, fut.result())
        drain_bad_rows()
    finally:
        stats.by_domain = {d: dict(c) for d, c in sorted(by_domain.items())}
        stats.total_kept, stats.total_rejected = journal.close()
        stats.wall_s = time.perf_counter() - started
    return stats


def _count_reject(stats: VerifyStats, reason: str) -> None:
    stats.rejected += 1
    stats.rejected_by_reason[reason] = stats.rejected_by_reason.get(reason, 0) + 1
