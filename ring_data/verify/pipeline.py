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
from ring_data.result import CommandResult
from ring_data.rows import make_reject
from ring_data.runtime import progress

from .checks import CheckConfig, RowVerdict, check_row, unverified_because
from .journal import Journal


@dataclass
class VerifyConfig:
    check: CheckConfig = field(default_factory=CheckConfig)
    workers: int = 4
    resume: bool = True
    on_bad_row: str = "raise"
    mapping: dict[str, str] | None = None
    engine: str = "local"  # "ray": the checks run on a Ray cluster (ring_data.verify.ray_engine)


@dataclass
class _RunCounts:
    """This run's counts (the result's kept/rejected cover the whole output, earlier runs too)."""

    rows_in: int = 0
    skipped_resumed: int = 0
    checked: int = 0


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

    # every journal gets its rows in input order (what a resumed run relies on): the unreadable rows
    # read before a row are recorded just before it, whenever its check finishes
    bad_before: dict[int, list[dict[str, Any]]] = {}
    unplaced: list[dict[str, Any]] = []

    def record(row: dict[str, Any], verdict: RowVerdict) -> None:
        for entry in bad_before.pop(id(row), ()):
            journal.reject(entry)
        run.checked += 1
        if verdict.ok:
            journal.keep(row)
        else:
            journal.reject(make_reject(row, verdict.reason, verdict.evidence))

    def take_bad_rows() -> None:
        while bad_rows:
            run.rows_in += 1
            unplaced.append(bad_rows.pop(0))

    def todo() -> Iterator[dict[str, Any]]:
        rows = read_rows(inputs, mapping=cfg.mapping, on_bad_row=cfg.on_bad_row, bad_rows=bad_rows)
        for row in progress(rows, desc="verify", unit="row"):
            run.rows_in += 1
            take_bad_rows()
            if journal.take_done(row["id"]):
                run.skipped_resumed += 1
                continue
            if unplaced:
                bad_before[id(row)] = unplaced[:]
                unplaced.clear()
            yield row

    last_flush = started
    try:
        window: deque[tuple[dict[str, Any], Future]] = deque()
        rows = todo()
        if cfg.engine == "ray":  # checked by Ray Data tasks, recorded here in input order
            from .ray_engine import checked_on_ray

            for row, verdict in checked_on_ray(rows, cfg.check, threads=cfg.workers):
                record(row, verdict)
                if time.perf_counter() - last_flush > 1.0:
                    journal.flush()
                    last_flush = time.perf_counter()
        with ThreadPoolExecutor(max(1, cfg.workers), thread_name_prefix="verify") as pool:
            for row in rows:  # (none left after a Ray run)
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
        take_bad_rows()
        for entry in unplaced:  # after the last row
            journal.reject(entry)
        journal.flush()
        summary = _summarize(journal)
    except BaseException:
        journal.suspend()  # an error or ^C: the journals stay partial, for a rerun to resume from
        raise
    result = journal.finish(
        "ring-data verify",
        inputs=inputs,
        rows_in=run.rows_in,
        started=started,
        report_dir=report_dir,
        done_this_run=("rows_per_s", run.checked),
        details={
            "skipped_resumed": run.skipped_resumed,
            "checked": run.checked,
            "kept_unverified": summary.kept_unverified,
            "by_domain": summary.by_domain,
            "examples": summary.examples,
            "config": {
                "quorum": cfg.check.quorum,
                "keep_unverified": cfg.check.keep_unverified,
                "engine": cfg.engine,
            },
        },
    )
    if report_dir:
        from .report import write_report

        write_report(report_dir, result.stats)
    return result


@dataclass
class _OutputSummary:
    """Per domain and reason over the whole output (earlier runs included), read from the journals."""

    by_domain: dict[str, dict[str, int]]
    examples: dict[str, list[dict[str, Any]]]  # reason -> the first few (id, domain, evidence)
    kept_unverified: int  # kept references nothing checked (``keep_unverified``)


def _summarize(journal: Journal) -> _OutputSummary:
    by_domain: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = {}
    unverified = 0
    for row in journal.kept_rows():
        by_domain[str(row.get("domain"))]["kept"] += 1
        unverified += unverified_because(row.get("reference"), row.get("domain")) is not None
    for entry in journal.rejected_rows():
        reason = str(entry.get("reason"))
        if reason == "bad_row":  # not a row of any domain (counted in rejected_by_reason)
            continue
        domain = str(entry.get("domain"))
        by_domain[domain][reason] += 1
        shown = examples.setdefault(reason, [])
        if len(shown) < 3:
            shown.append({"id": entry.get("id"), "domain": domain, "evidence": entry.get("evidence")})
    return _OutputSummary({d: dict(c) for d, c in sorted(by_domain.items())}, examples, unverified)
