"""Exact dedup: rows with the same normalised token sequence (and, with ``distinct_references``, the same
reference) are one problem; each group keeps its best row (a reference answer first, then input order)."""

from __future__ import annotations

import numpy as np

from ..config import CleanConfig
from ..decisions import DuplicateTable
from ..ingest import Ingested
from .base import StageResult

MATCH = "normalized_text"  # what the evidence says was compared
REASON = "exact_duplicate"


class ExactStage:
    name = "exact"

    def enabled(self, config: CleanConfig) -> bool:
        return config.exact

    def settings(self, config: CleanConfig) -> list:
        return [config.distinct_references]

    def run(self, rows: Ingested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        return StageResult(exact_duplicates(rows, alive, config.distinct_references))


def exact_duplicates(ing: Ingested, alive: np.ndarray, distinct_references: bool = True) -> DuplicateTable:
    """Rows with the same normalised text (and, with ``distinct_references``, the same reference):
    each group keeps its best row (a reference answer first, then input order). The result is a
    mapping ``row -> Decision`` held as columns."""
    lengths = np.diff(ing.enc.offsets)
    cand = np.flatnonzero(alive & (lengths > 0))
    if not len(cand):
        return DuplicateTable.empty(REASON, MATCH)
    order = cand[np.lexsort((cand, ~ing.has_ref[cand], ing.enc.exact_hash[cand]))]
    h = ing.enc.exact_hash[order]
    starts = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]]))
    sizes = np.diff(np.concatenate([starts, [len(order)]]))
    refs = ing.reference_hash
    # the usual group: every member has the first one's reference (or none) -> all go for the first
    best = np.repeat(order[starts], sizes)
    r, r_best = refs[order], refs[best]
    simple = (r == 0) | (r == r_best) | (not distinct_references)
    group_simple = np.logical_and.reduceat(simple, starts) & (sizes > 1)
    members_simple = np.repeat(group_simple, sizes) & (order != best)
    differs = (r != 0) & (r_best != 0) & (r != r_best)
    idx, kept_idx, diffs = [order[members_simple]], [best[members_simple]], [differs[members_simple]]
    walked: list[tuple[int, int, bool]] = []
    mixed = ~group_simple & (sizes > 1)  # same text, several references: walk the group
    for start, size in zip(starts[mixed].tolist(), sizes[mixed].tolist()):
        members = order[start : start + size].tolist()
        first = members[0]
        kept_for_ref = {int(refs[first]): first}
        for m in members[1:]:
            ref = int(refs[m])
            if ref and ref not in kept_for_ref and refs[first]:
                kept_for_ref[ref] = m  # same text, another reference: a different problem, kept
                continue
            kept = kept_for_ref.get(ref, first)
            walked.append((m, kept, bool(refs[m] and refs[kept] and refs[m] != refs[kept])))
    if walked:
        w = np.array(walked, dtype=np.int64).reshape(-1, 3)
        idx, kept_idx, diffs = idx + [w[:, 0]], kept_idx + [w[:, 1]], diffs + [w[:, 2].astype(bool)]
    rows = np.concatenate(idx)
    by_row = np.argsort(rows, kind="stable")
    return DuplicateTable(
        REASON,
        rows[by_row],
        np.concatenate(kept_idx)[by_row],
        np.ones(len(rows)),
        MATCH,
        reference_differs=np.concatenate(diffs)[by_row],
        ids=ing.ids,
    )
