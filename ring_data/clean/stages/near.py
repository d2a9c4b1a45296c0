"""Near dedup: MinHash/LSH candidates (or all pairs of small same-number groups), confirmed by their
exact Jaccard of word 1+2-grams, joined into components; inside each component a row goes only if its
own similarity to a kept row reaches the threshold (docs/clean.md, "Near dedup")."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import minhash as mh
from ..columns import TokenReader
from ..config import CleanConfig
from ..decisions import DuplicateTable
from ..ingest import Ingested
from .base import StageResult

REASON = "near_duplicate"


class NearStage:
    name = "near"

    def enabled(self, config: CleanConfig) -> bool:
        return config.near

    def settings(self, config: CleanConfig) -> list:
        return [asdict(config.near_params), config.distinct_references]

    def run(self, rows: Ingested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        found, stats = near_duplicates(
            rows, alive, config.near_params, config.distinct_references, config.shard_rows
        )
        return StageResult(found, stats)


def _candidates(
    feats: mh.Features, salt: np.ndarray | None, params: mh.NearDupParams, info: dict[str, Any]
) -> np.ndarray:
    """Pairs worth an exact-Jaccard check. With a salt (the numbers), small same-salt groups give all
    their pairs and only the documents of big groups go through MinHash/LSH."""
    n = len(feats.uni_offsets) - 1
    if salt is None:
        lsh_docs, direct = np.arange(n), np.empty((0, 2), dtype=np.int64)
    else:
        direct, lsh_docs = mh.split_by_salt(salt, params.all_pairs_group)
    info["all_pairs_candidates"] = int(len(direct))
    info["minhash_documents"] = int(len(lsh_docs))
    if len(lsh_docs) < 2:
        return direct
    sub = feats if len(lsh_docs) == n else feats.subset(lsh_docs)
    sig = sub.signatures(params.num_perm, params.seed)
    found = mh.candidate_pairs(sig, params, salt=None if salt is None else salt[lsh_docs])
    del sig
    return mh.sort_pairs(np.concatenate([direct, lsh_docs[found]]), n)


# tokens read from the column files per pass of the partitioning: 16M tokens (128 MB), ~450k short problems
READ_TOKENS = 1 << 24


def near_duplicates(
    ing: Ingested,
    alive: np.ndarray,
    params: mh.NearDupParams,
    distinct_references: bool = True,
    shard_rows: int | None = None,
) -> tuple[DuplicateTable, dict[str, Any]]:
    """MinHash/LSH candidates -> exact-Jaccard confirmed edges -> connected components; inside each
    component every removed row is checked against the row it is removed for (no chaining: a row only
    goes if its own similarity to a kept row reaches the threshold).

    With ``same_numbers`` only rows with the same number sequence can pair, so with ``shard_rows``
    the rows are partitioned by the hash of their numbers into parts of about that many rows, their
    tokens spilled to one file per part, and each part is decided on its own: the same decisions
    (every component lies inside one part) in the memory of one part."""
    lengths = np.diff(ing.enc.offsets)
    rows = np.flatnonzero(alive & (lengths > 0))
    info: dict[str, Any] = {"documents": int(len(rows)), "candidate_pairs": 0, "confirmed_pairs": 0}
    if params.same_numbers:  # a row whose number sequence no other row has cannot have a near duplicate
        _, inverse, counts = np.unique(ing.enc.numbers_hash[rows], return_inverse=True, return_counts=True)
        rows = rows[counts[inverse] > 1]
        del inverse, counts
        info["documents_sharing_numbers"] = int(len(rows))
    if len(rows) < 2:
        return DuplicateTable.empty(REASON), info
    reader = TokenReader.of(ing)
    n_parts = -(-len(rows) // shard_rows) if shard_rows and params.same_numbers else 1
    found = []
    if n_parts == 1:
        found.append(_near_in(ing, rows, mh.features(*reader.gather(rows)), params, distinct_references))
    else:
        info["parts"] = n_parts
        part = (ing.enc.numbers_hash[rows] % np.uint64(n_parts)).astype(np.int64)
        with tempfile.TemporaryDirectory(prefix="near-", dir=_scratch_dir(ing)) as tmp:
            files = [Path(tmp) / f"part{p}.flat" for p in range(n_parts)]
            handles = [f.open("wb") for f in files]
            try:  # one pass over the token file: each row's tokens to its part's file
                for i, j, flat, offsets in reader.chunks(rows, READ_TOKENS):
                    for p, sel in _groups(part[i:j], n_parts):
                        handles[p].write(mh.gather_runs(flat, offsets, sel)[0].data)
                    del flat
            finally:
                for h in handles:
                    h.close()
            for p, sel in _groups(part, n_parts):
                sub = rows[sel]
                offsets = np.zeros(len(sub) + 1, np.int64)
                np.cumsum(lengths[sub], out=offsets[1:])
                feats = mh.features(np.fromfile(files[p], dtype=np.uint64), offsets)
                files[p].unlink()
                found.append(_near_in(ing, sub, feats, params, distinct_references))
                del feats
    for key in (
        "all_pairs_candidates",
        "minhash_documents",
        "candidate_pairs",
        "confirmed_pairs",
        "kept_apart_in_linked_groups",
    ):
        info[key] = sum(f[1].get(key, 0) for f in found)
    table = DuplicateTable.concat([f[0] for f in found], REASON)
    table.ids = ing.ids
    return table, info


def _groups(part: np.ndarray, n_parts: int):
    """``(p, positions)`` for each part that has some of ``part``'s entries (positions increasing)."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(n_parts + 1))
    for p in range(n_parts):
        if bounds[p + 1] > bounds[p]:
            yield p, order[bounds[p] : bounds[p + 1]]


def _scratch_dir(ing: Ingested) -> str | None:
    """Next to the run's work files (a big run's disk), else the system's temporary folder."""
    return str(ing.columns.parent) if ing.columns is not None else None


def _near_in(
    ing: Ingested, rows: np.ndarray, feats: mh.Features, params: mh.NearDupParams, distinct_references: bool
) -> tuple[DuplicateTable, dict[str, Any]]:
    """The decisions about ``rows`` (increasing; their features ``feats``), a set of rows no other
    row can pair with: all of them, or one part of them by number sequence."""
    info: dict[str, Any] = {}
    cand = _candidates(feats, ing.enc.numbers_hash[rows] if params.same_numbers else None, params, info)
    info["candidate_pairs"] = int(len(cand))
    numbers, refs = ing.enc.numbers_hash[rows], ing.reference_hash[rows]

    def compatible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ok = np.ones(len(a), dtype=bool)
        if params.same_numbers:
            ok &= numbers[a] == numbers[b]
        if distinct_references:
            ra, rb = refs[a], refs[b]
            ok &= (ra == 0) | (rb == 0) | (ra == rb)
        return ok

    # exact Jaccard of every compatible candidate pair in one vectorised pass
    checked = cand[compatible(cand[:, 0], cand[:, 1])]  # sorted by (i, j), like cand
    del cand
    sims = feats.pair_jaccard(checked)
    pairs = mh.PairSimilarities(feats, checked, sims)
    edges = checked[sims >= params.threshold]
    if not len(edges):
        return DuplicateTable.empty(REASON), info
    label, linked = mh.components(len(rows), edges)
    info["confirmed_pairs"] = int(
        len(linked) - len(np.unique(label[linked]))
    )  # edges a spanning forest needs

    # keep rule: a reference answer first, then input order (rows are in input order)
    order = linked[np.lexsort((linked, ~ing.has_ref[rows[linked]], label[linked]))]
    group_start = np.flatnonzero(np.concatenate([[True], label[order][1:] != label[order][:-1]]))
    group_size = np.diff(np.concatenate([group_start, [len(order)]]))
    first = np.repeat(order[group_start], group_size)  # each member's would-be kept row
    member = order
    others = member != first
    sim_to_first = np.ones(len(member))
    sim_to_first[others] = pairs.get(member[others], first[others])
    joins_first = compatible(member, first) & (sim_to_first >= params.threshold)
    # the usual group: every member joins its first row (vectorised); otherwise walk the group
    group_ok = np.logical_and.reduceat(joins_first, group_start)
    size_of = np.repeat(group_size, group_size)
    fast = others & np.repeat(group_ok, group_size)
    walked: list[tuple[int, int, float, int]] = []
    chained = 0
    for g in np.flatnonzero(~group_ok).tolist():
        members = order[group_start[g] : group_start[g] + group_size[g]].tolist()
        kept_rows: list[int] = []
        for m in members:
            for k in kept_rows:
                if compatible(np.array([m]), np.array([k]))[0]:
                    sim = float(pairs.get(np.array([m]), np.array([k]))[0])
                    if sim >= params.threshold:
                        walked.append((int(rows[m]), int(rows[k]), round(sim, 4), len(members)))
                        break
            else:
                kept_rows.append(m)
        chained += len(kept_rows) - 1
    info["kept_apart_in_linked_groups"] = chained
    # the evidence shows similarities rounded as Python rounds them (numpy's rounding differs in the
    # last digit for some values)
    idx = np.concatenate([rows[member[fast]], np.array([w[0] for w in walked], np.int64)])
    by_row = np.argsort(idx, kind="stable")
    return DuplicateTable(
        REASON,
        idx[by_row],
        np.concatenate([rows[first[fast]], np.array([w[1] for w in walked], np.int64)])[by_row],
        np.array([round(s, 4) for s in sim_to_first[fast].tolist()] + [w[2] for w in walked])[by_row],
        None,
        cluster_size=np.concatenate([size_of[fast], np.array([w[3] for w in walked], np.int64)])[by_row],
    ), info
