"""The last clean step: stream the spooled rows once to the output and the rejects file, and collect the
report's examples. Kept rows are copied as they are and rejected rows get ``reason``/``evidence``
spliced into their JSON line; only report examples, evidence that needs the row's text (benchmark
hits) and non-JSONL outputs decode rows."""

from __future__ import annotations

import re
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from ..io import RowWriter, dumps, loads
from ..rows import make_reject
from ..runtime import bar
from .decisions import Decision, Decisions, Duplicate, decided_rows, first_per_reason, needs_row
from .ingest import Ingested


def point_to_kept_rows(decisions: dict[int, Decision], ids: list[str]) -> None:
    """An exact duplicate's kept row may itself be removed later as a near duplicate: point the
    evidence at the row that is really kept (the chain is recorded in ``duplicate_of``)."""
    if isinstance(decisions, Decisions):  # the same on its columns
        return decisions.point_to_kept_rows()
    for d in decisions.values():
        k = d.kept_idx
        if k is None or k not in decisions or not isinstance(d.evidence, Duplicate):
            continue
        first = k
        while k in decisions and decisions[k].kept_idx is not None:
            k = decisions[k].kept_idx
        ev = d.evidence
        ev.kept_id, ev.duplicate_of = ids[k], ids[first]
        first_ev = decisions[first].evidence
        if d.reason == "exact_duplicate" and isinstance(first_ev, Duplicate):
            ev.similarity = first_ev.similarity
        d.kept_idx = k


EXAMPLES_PER_REASON = 3


def _copy_raw(
    lines: list[bytes],
    how: np.ndarray,
    lo: int,
    hi: int,
    start: int,
    decisions: dict[int, Decision],
    out: RowWriter,
    rej: RowWriter,
) -> None:
    """Write ``lines[lo:hi]`` (none of which needs decoding): kept ones as they are, rejected ones
    with ``reason`` and ``evidence`` appended to their JSON object (same result as make_reject)."""
    if hi <= lo:
        return
    part = how[lo:hi]
    if (part == _RAW_KEPT).any():
        out.write_raw_lines(list(compress(lines[lo:hi], (part == _RAW_KEPT).tolist())))
    rejected = (np.flatnonzero(part == _RAW_REJECT) + lo).tolist()
    if rejected:
        rej.write_raw_lines(
            [
                lines[j].rstrip()[:-1]
                + b","
                + dumps(
                    {"reason": decisions[start + j].reason, "evidence": decisions[start + j].evidence_dict()}
                )[1:]
                + b"\n"
                for j in rejected
            ]
        )


def _spliceable_line(line: bytes) -> bool:
    """A JSON object line without its own ``reason``/``evidence`` keys (those rows are decoded). Every
    spooled line is a JSON object (it was decoded as one), so this only looks for the two keys."""
    return _KEYS_WE_ADD.search(line) is None


_KEYS_WE_ADD = re.compile(rb'"(?:reason|evidence)"')


_RAW_KEPT, _RAW_REJECT, _DECODE = 0, 1, 2


def write_outputs(
    ing: Ingested, decisions: dict[int, Decision], output: Path, rejects: Path
) -> tuple[int, list[dict[str, Any]]]:
    """Stream the spooled rows to the output and rejects files; collect report examples. Kept rows
    are copied as they are and rejected rows get ``reason``/``evidence`` spliced into their JSON line;
    only report examples, evidence that needs the text, and non-JSONL outputs decode rows."""
    per_reason = first_per_reason(decisions, EXAMPLES_PER_REASON)
    wanted = {i for lst in per_reason.values() for i in lst}
    wanted_kept = {decisions[i].kept_idx for i in wanted if decisions[i].kept_idx is not None}
    prompts: dict[int, str] = {}
    evidences: dict[int, dict] = {}
    with RowWriter(output) as out, RowWriter(rejects) as rej, ing.rows_path.open("rb") as spool:
        how = np.full(ing.n, _RAW_KEPT if out.format == "jsonl" else _DECODE, dtype=np.uint8)
        removed = decided_rows(decisions)
        if rej.format == "jsonl":
            final = ~needs_row(decisions)
            how[removed] = np.where(final, _RAW_REJECT, _DECODE)
        else:
            how[removed] = _DECODE
        how[list(wanted | wanted_kept)] = _DECODE  # report examples: decoded to keep their text
        progress_bar = bar(total=ing.n, desc="clean: write", unit="rows")
        start = 0
        # lines in chunks; between rows that must be decoded, kept lines are copied in one call and
        # rejected lines spliced in one comprehension
        while lines := spool.readlines(1 << 24):
            chunk_how = how[start : start + len(lines)]
            if _KEYS_WE_ADD.search(b"".join(lines)):  # rare: some line may carry its own reason/evidence
                for j in np.flatnonzero(chunk_how == _RAW_REJECT).tolist():
                    if not _spliceable_line(lines[j]):
                        chunk_how[j] = _DECODE
            cut = 0
            for j in [*np.flatnonzero(chunk_how == _DECODE).tolist(), len(lines)]:
                _copy_raw(lines, chunk_how, cut, j, start, decisions, out, rej)
                if j == len(lines):
                    break
                idx, row = start + j, loads(lines[j])
                d = decisions.get(idx)
                if d is None:
                    out.write(row)
                else:
                    ev = d.evidence_dict(row["prompt"], row["domain"] in ing.verbatim)
                    rej.write(make_reject(row, d.reason, ev))
                    if idx in wanted:
                        evidences[idx] = ev
                if idx in wanted or idx in wanted_kept:
                    prompts[idx] = row["prompt"]
                cut = j + 1
            start += len(lines)
            progress_bar.update(len(lines))
        progress_bar.close()
        kept = out.count
        for b in ing.bad_rows:
            rej.write(b)
    examples = []
    for reason, lst in per_reason.items():
        for i in lst:
            k = decisions[i].kept_idx
            examples.append(
                {
                    "reason": reason,
                    "id": ing.ids[i],
                    "prompt": prompts.get(i, ""),
                    "evidence": evidences.get(i, {}),
                    "kept_prompt": prompts.get(k) if k is not None else None,
                }
            )
    for b in ing.bad_rows[:EXAMPLES_PER_REASON]:
        examples.append(
            {"reason": "bad_row", "id": "", "prompt": b.get("raw", ""), "evidence": b["evidence"]}
        )
    return kept, examples
