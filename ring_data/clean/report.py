"""``--report DIR`` for ``ring-data clean``: counts per reason and domain, similarity histograms and
examples of every kind of removal, so a user can audit precision in a minute."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..report import Report
from .decisions import Decision
from .decontam.hit import Hit
from .ingest import Ingested

MAX_CAUGHT_ROWS = 50


def _short(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_report(
    out_dir: Path, stats: dict[str, Any], decisions: dict[int, Decision], examples: list[dict], ing: Ingested
) -> Path:
    rep = Report(out_dir, "ring-data clean")
    rep.paragraph(
        f"{stats['conservation']} (checked). Kept rows: {stats['output']}; removed rows with reason "
        f"and evidence: {stats['rejects']}."
    )
    rep.paragraph(
        f"Keep rule: {stats['keep_rule']}. Throughput: {stats['rows_per_s']} rows/s "
        f"(stage seconds: {stats['stage_seconds']})."
    )
    rep.heading("Removed rows by reason")
    by_reason = stats["rejected_by_reason"]
    rep.table(
        ["reason", "rows", "share of input"],
        [
            [r, n, f"{n / max(1, stats['rows_in']):.2%}"]
            for r, n in sorted(by_reason.items(), key=lambda t: -t[1])
        ],
    )
    if by_reason:
        rep.bars(
            "reasons", dict(sorted(by_reason.items(), key=lambda t: -t[1])), title="Removed rows by reason"
        )
    rep.heading("By domain")
    reasons = sorted(by_reason)
    rep.table(
        ["domain", "kept", *reasons],
        [[dom, c.get("kept", 0), *[c.get(r, 0) for r in reasons]] for dom, c in stats["by_domain"].items()],
    )
    near = [d.evidence.similarity for d in decisions.values() if d.reason == "near_duplicate"]
    hits = sorted((i, d.evidence) for i, d in decisions.items() if isinstance(d.evidence, Hit))
    overlaps = [h.overlap for _, h in hits if h.kind == "ngram"]
    if near:
        rep.heading("Near-duplicate similarity")
        thr = stats["config"]["near"]["threshold"]
        rep.paragraph(
            f"Exact Jaccard of word 1+2-gram sets between each removed row and the kept row of its "
            f"cluster; a row is removed only when its own similarity reaches {thr}."
        )
        rep.histogram(
            "near_similarity",
            near,
            bins=20,
            range_=(0.0, 1.0),
            title="Near duplicates: similarity to the kept row",
            xlabel="Jaccard",
        )
    if overlaps:
        rep.heading("Contamination overlap")
        rep.histogram(
            "contamination_overlap",
            overlaps,
            bins=20,
            range_=(0.0, 1.0),
            title="Benchmark n-gram overlap of contaminated rows",
            xlabel="shared fraction",
        )
    if "decontam" in stats["stages"] or stats["config"]["benchmarks"]:
        per: Counter = Counter((h.benchmark, h.row_language or "?") for _, h in hits)
        rep.heading("Contamination by benchmark")
        rep.paragraph(
            "Language: of the caught row's prose (by script for CJK, Korean, Thai, Arabic, Cyrillic; by "
            "common words for Latin-script languages; ? when there is too little prose). Match: exact, "
            "digitless, ngram (word rules), math_signature (numbers, LaTeX and variables, any language), "
            "semantic."
        )
        table = []
        for bench in stats["config"]["benchmarks"]:
            langs = sorted(
                ((lang, n) for (b, lang), n in per.items() if b == bench), key=lambda t: (-t[1], t[0])
            )
            table += [[bench, lang, n] for lang, n in langs] or [[bench, "-", 0]]
        rep.table(["benchmark", "language", "rows"], table)
        if hits:
            rep.heading("Caught rows", level=3)
            shown = hits[:MAX_CAUGHT_ROWS]
            rep.table(
                ["row", "benchmark", "item", "match", "language"],
                [[ing.ids[i], h.benchmark, h.item, h.kind, h.row_language or "?"] for i, h in shown],
            )
            if len(hits) > len(shown):
                rep.paragraph(f"... and {len(hits) - len(shown)} more (all in the rejects file).")
    rep.heading("Examples of each removal")
    for ex in examples:
        rep.heading(f"{ex['reason']} — {ex['id']}", level=3)
        rows = [["removed", _short(ex["prompt"])]]
        if ex.get("kept_prompt") is not None:
            rows.append(["kept", _short(ex["kept_prompt"])])
        rows.append(["evidence", _short(str(ex["evidence"]), 400)])
        rep.table(["", "text"], rows)
    rep.write()
    return out_dir
