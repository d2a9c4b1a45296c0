"""Summary and report for ``ring-data annotate``: pass-rate histogram per domain, bucket counts, drops."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ring_data.report import Report

from .difficulty import BUCKETS


def summarize(kept: Iterable[dict[str, Any]], rejected: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per-domain pass rates and buckets over every labelled row (kept, or dropped for its pass rate),
    plus reject counts by reason. Whole output, earlier (resumed) runs included."""
    pass_rates: dict[str, list[float]] = defaultdict(list)
    buckets: dict[str, Counter] = defaultdict(Counter)
    kept_by_domain: Counter = Counter()
    reasons: Counter = Counter()
    dropped_by_rule: Counter = Counter()
    for row in kept:
        kept_by_domain[row.get("domain", "?")] += 1
        _add_difficulty(row, pass_rates, buckets)
    for entry in rejected:
        reasons[entry.get("reason", "?")] += 1
        if entry.get("reason") == "extreme_pass_rate":
            dropped_by_rule[(entry.get("evidence") or {}).get("rule", "?")] += 1
        _add_difficulty(entry, pass_rates, buckets)
    return {
        "kept": sum(kept_by_domain.values()),
        "rejected": sum(reasons.values()),
        "kept_by_domain": dict(kept_by_domain),
        "rejected_by_reason": dict(reasons),
        "dropped_by_rule": dict(dropped_by_rule),
        "buckets_by_domain": {d: {b: c[b] for b in BUCKETS if c[b]} for d, c in sorted(buckets.items())},
        "mean_pass_rate_by_domain": {
            d: round(sum(v) / len(v), 4) for d, v in sorted(pass_rates.items()) if v
        },
        "pass_rates_by_domain": {d: v for d, v in sorted(pass_rates.items())},
    }


def _add_difficulty(row: dict[str, Any], pass_rates, buckets) -> None:
    diff = row.get("difficulty")
    if isinstance(diff, dict) and "pass_rate" in diff:
        domain = row.get("domain", "?")
        pass_rates[domain].append(float(diff["pass_rate"]))
        buckets[domain][diff.get("bucket", "?")] += 1


def write_report(report_dir: str | Path, summary: dict[str, Any], stats: dict[str, Any]) -> Path:
    rep = Report(report_dir, "ring-data annotate")
    rep.paragraph(
        f"{stats['rows_in']} rows in = {summary['kept']} kept + {summary['rejected']} rejected "
        f"(whole output; this run annotated {stats['annotated']}, skipped {stats['skipped_resumed']} "
        f"already done). Model: {stats['model']}."
    )
    rep.heading("Throughput")
    busy = stats["generate_s"] + stats["verify_s"]
    rep.table(
        [
            "problems/s",
            "wall s",
            "generation s",
            "verification s",
            "verification share",
            "waited on verify s",
        ],
        [
            [
                stats["problems_per_s"],
                round(stats["seconds"], 2),
                round(stats["generate_s"], 2),
                round(stats["verify_s"], 2),
                f"{100 * stats['verify_s'] / busy:.1f}%" if busy else "-",
                round(stats["verify_wait_s"], 2),
            ]
        ],
    )
    if summary["pass_rates_by_domain"]:
        rep.heading("Pass rate per domain")
        rep.histogram(
            "pass_rate_histogram",
            summary["pass_rates_by_domain"],
            bins=max(2, min(33, stats.get("n", 8) + 1)),
            range_=(0.0, 1.0),
            title="Pass rate per problem",
            xlabel="pass rate",
        )
        rep.table(
            ["domain", *_buckets_present(summary), "mean pass rate"],
            [
                [
                    d,
                    *[b.get(k, 0) for k in _buckets_present(summary)],
                    summary["mean_pass_rate_by_domain"].get(d, "-"),
                ]
                for d, b in summary["buckets_by_domain"].items()
            ],
        )
        totals = Counter()
        for b in summary["buckets_by_domain"].values():
            totals.update(b)
        rep.bars("buckets", {k: totals[k] for k in _buckets_present(summary)}, title="Difficulty buckets")
    if summary["rejected_by_reason"]:
        rep.heading("Dropped")
        rep.table(["reason", "rows"], sorted(summary["rejected_by_reason"].items(), key=lambda kv: -kv[1]))
        if summary["dropped_by_rule"]:
            rep.table(["pass-rate rule", "rows"], sorted(summary["dropped_by_rule"].items()))
        rep.bars("dropped", summary["rejected_by_reason"], title="Rejected rows by reason")
    rep.heading("Sample verdicts")
    rep.table(["status", "samples"], sorted(stats["sample_status"].items(), key=lambda kv: -kv[1]))
    md, _ = rep.write()
    return md


def _buckets_present(summary: dict[str, Any]) -> list[str]:
    seen = {b for counts in summary["buckets_by_domain"].values() for b in counts}
    return [b for b in BUCKETS if b in seen]
