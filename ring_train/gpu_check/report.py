"""What a GPU check prints and writes: one line per check, a summary line, and a Markdown report.

Line: ``PASS|FAIL|SKIP <check name> <seconds>s <short detail>`` (the detail is one line, at most
:data:`DETAIL_CHARS` characters). Summary: ``SUMMARY <n> passed, <n> failed, <n> skipped in <s>s
(cap <s>s); report <path>``. The report holds the same results as a table plus the throughput rows
that checks measured (``figures["throughput"]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .runner import FAIL, PASS, SKIP, Result

DETAIL_CHARS = 160


def short(text: str, limit: int = DETAIL_CHARS) -> str:
    """One line of at most ``limit`` characters (whitespace runs collapsed)."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def line(result: Result) -> str:
    return f"{result.status} {result.name} {result.seconds:.1f}s {short(result.detail)}".rstrip()


def counts(results: Sequence[Result]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIP)}


def summary(results: Sequence[Result], total_s: float, cap_s: float, report_path: str | Path) -> str:
    n = counts(results)
    return (
        f"SUMMARY {n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped in {total_s:.1f}s "
        f"(cap {cap_s:.0f}s); report {report_path}"
    )


def _cell(text: str) -> str:
    return short(text, 400).replace("|", "\\|")


def _rate(value) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else "-"


def throughput_rows(results: Sequence[Result]) -> list[dict]:
    return [r.figures["throughput"] for r in results if "throughput" in r.figures]


def markdown(
    results: Sequence[Result], *, total_s: float, cap_s: float, header: Sequence[str], command: str
) -> str:
    """The report: ``header`` lines (machine, date), the checks table and the throughput table."""
    n = counts(results)
    out = ["# GPU check", ""]
    out += [f"- {h}" for h in header]
    out += [
        f"- {n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped in {total_s:.1f}s (cap {cap_s:.0f}s)",
        f"- command: `{command}`",
        "",
        "| check | result | seconds | detail |",
        "|---|---|---:|---|",
    ]
    out += [f"| {r.name} | {r.status} | {r.seconds:.1f} | {_cell(r.detail)} |" for r in results]
    out += ["", "## Throughput", ""]
    rows = throughput_rows(results)
    if rows:
        out += [
            "| engine | rollout tokens/s | train tokens/s | step s | model | device, precision | per step |",
            "|---|---:|---:|---:|---|---|---|",
        ]
        for t in rows:
            per_step = (
                f"{t.get('prompts')} prompts x {t.get('group')}, {t.get('max_new_tokens')} new tokens, "
                f"budget {t.get('budget')}"
            )
            out.append(
                f"| {t.get('engine')} | {_rate(t.get('rollout_tokens_per_s'))} "
                f"| {_rate(t.get('train_tokens_per_s'))} | {t.get('step_s', 0):.2f} "
                f"| {_cell(str(t.get('model', '')))} | {t.get('device')}, {t.get('precision')} | {per_step} |"
            )
        out += [
            "",
            "Medians over the steps after the first. Rollout: sampled tokens / sampling time; train: "
            "trained (C3PO-kept) tokens / forward + backward + optimizer time.",
        ]
    else:
        skipped = [r for r in results if r.name.startswith("throughput")]
        why = (
            "; ".join(f"{r.name}: {r.status} {short(r.detail, 120)}" for r in skipped)
            or "no throughput check"
        )
        out.append(f"Not measured ({_cell(why)}).")
    return "\n".join(out) + "\n"
