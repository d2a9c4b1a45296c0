"""``ring-data verify`` over a file: rows are checked concurrently (code references run in the sandbox,
which waits on subprocesses, so threads overlap well), results are written in input order to resumable
journals, and a summary per domain and reason goes to the stats, the report and the returned
:class:`~ring_data.result.CommandResult`."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ring_data.io import read_rows
from ring_data.result import CommandResult, finish
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
class _RunCounts:
    """This run's counts (the result's kept/rejected cover the whole output, earlier runs too)."""

    rows_in: int = 0
    skipped_resumed: int = 0
    checked: int = 0
    kept_unverified: int = 0  # kept references nothing checked (``keep_unverified``)
    by_domain: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # reason -> a few (id, evidence)


def verify_file(
    inputs: str | Path | list[str | Path],
    output: str | Path,
    *,
    rejects: str | Path | None = None,
    report_dir: str | Path | None = None,
    config: VerifyConfig | None = None,
) -> CommandResult:
    """Keep the rows whose reference checks out, reject the rest with reason and evidence; writes
    ``OUT.stats.json`` and, with ``report_dir``, the report."""
    cfg = config or VerifyConfig()
    run = _RunCounts()
    journal = Journal(output, rejects, resume=cfg.resume)
    bad_rows: list[dict[str, Any]] = []
    started = time.perf_counter()

    def record(row: dict[str, Any], verdict: RowVerdict) -> None:
        run.checked += 1
        domain = str(row.get("domain"))
        if verdict.ok:
            journal.keep(row)
            run.kept_unverified += verdict.unverified
            run.by_domain[domain]["kept"] += 1
            return
        journal.reject(make_reject(row, verdict.reason, verdict.evidence))
        run.by_domain[domain][verdict.reason] += 1
        examples = run.examples.setdefault(verdict.reason, [])
        if len(examples) < 3:
            examples.append({"id": row["id"], "domain": domain, "evidence": verdict.evidence})

    def drain_bad_rows() -> None:
        while bad_rows:
            run.rows_in += 1
            journal.reject(bad_rows.pop(0))

    def todo() -> Iterator[dict[str, Any]]:
        rows = read_rows(inputs, mapping=cfg.mapping, on_bad_row=cfg.on_bad_row, bad_rows=bad_rows)
        for row in progress(rows, desc="verify", unit="row"):
            run.rows_in += 1
            drain_bad_rows()
            if row["id"] in journal.done:
                run.skipped_resumed += 1
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
        totals = journal.close()
    seconds = time.perf_counter() - started
    result = finish(
        "ring-data verify",
        inputs=inputs,
        output=output,
        rejects=journal.rejects,
        rows_in=run.rows_in,
        kept=totals.kept,
        rejected=totals.rejected,
        rejected_by_reason=totals.rejected_by_reason,
        seconds=seconds,
        report_dir=report_dir,
        details={
            "skipped_resumed": run.skipped_resumed,
            "checked": run.checked,
            "kept_unverified": run.kept_unverified,
            "rows_per_s": round(run.checked / seconds, 3) if seconds else 0.0,
            "by_domain": {d: dict(c) for d, c in sorted(run.by_domain.items())},
            "examples": run.examples,
            "config": {"quorum": cfg.check.quorum, "keep_unverified": cfg.check.keep_unverified},
        },
    )
    if report_dir:
        from .report import write_report

        write_report(report_dir, result.stats)
    return result
