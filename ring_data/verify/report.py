"""Report for ``ring-data verify``: kept/rejected per domain and reason, with example evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ring_data.report import Report


def write_report(report_dir: str | Path, stats: dict[str, Any]) -> Path:
    rep = Report(report_dir, "ring-data verify")
    rep.paragraph(
        f"{stats['rows_in']} rows in = {stats['kept']} kept + {stats['rejected']} rejected "
        f"(whole output; this run checked {stats['checked']} rows at {stats['rows_per_s']} rows/s, "
        f"skipped {stats['skipped_resumed']} already done)."
    )
    if stats.get("kept_unverified"):
        rep.paragraph(
            f"{stats['kept_unverified']} kept rows have references nothing checked (--keep-unverified: "
            "code tests without a reference solution)."
        )
    reasons = sorted({r for c in stats["by_domain"].values() for r in c if r != "kept"})
    if stats["by_domain"]:
        rep.heading("Per domain (whole output)")
        rep.table(
            ["domain", "kept", *reasons],
            [[d, c.get("kept", 0), *[c.get(r, 0) for r in reasons]] for d, c in stats["by_domain"].items()],
        )
        rep.bars(
            "kept_by_domain",
            {d: c.get("kept", 0) for d, c in stats["by_domain"].items()},
            title="Kept per domain",
        )
    if stats["rejected_by_reason"]:
        rep.heading("Rejected by reason (whole output)")
        rep.table(["reason", "rows"], sorted(stats["rejected_by_reason"].items(), key=lambda kv: -kv[1]))
        rep.bars("rejected_by_reason", stats["rejected_by_reason"], title="Rejected rows by reason")
        rep.heading("Examples")
        for reason, examples in sorted(stats["examples"].items()):
            for ex in examples:
                evidence = json.dumps(ex["evidence"], ensure_ascii=False)
                rep.paragraph(f"{reason}: {ex['id']} ({ex['domain']}): {evidence[:400]}")
    md, _ = rep.write()
    return md
