"""Near dedup: MinHash/LSH candidates (or all pairs of small same-number groups), confirmed by their
exact Jaccard of word 1+2-grams, joined into components; inside each component a row goes only if its
own similarity to a kept row reaches the threshold (docs/clean.md, "Near dedup")."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from .. import minhash as mh
from ..config import CleanConfig
from ..decisions import Decision, Duplicate
from ..ingest import Ingested
from .base import StageResult


class NearStage:
    name = "near"

    def enabled(self, config: CleanConfig) -> bool:
        return config.near

    def settings(self, config: CleanConfig) -> list:
        return [asdict(config.near_params), config.distinct_references]

    def run(self, rows: Ingested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        found, stats = near_duplicates(rows, alive, config.near_params, config.distinct_references)
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


def near_duplicates(
    ing: Ingested, alive: np.ndarray, params: mh.NearDupParams, distinct_references: bool = True
) -> tuple[dict[int, Decision], dict[str, Any]]:
    """MinHash/LSH candidates -> exact-Jaccard confirmed edges -> connected components; inside each
    component every removed row is checked against the row it is removed for (no chaining: a row only
    goes if its own similarity to a kept row reaches the threshold)."""
    lengths = np.diff(ing.enc.offsets)
    rows = np.flatnonzero(alive & (lengths > 0))
    info: dict[str, Any] = {"documents": int(len(rows)), "candidate_pairs": 0, "confirmed_pairs": 0}
    if params.same_numbers:  # a row whose number sequence no other row has cannot have a near duplicate
        _, inverse, counts = np.unique(ing.enc.numbers_hash[rows], return_inverse=True, return_counts=True)
        rows = rows[counts[inverse] > 1]
        info["documents_sharing_numbers"] = int(len(rows))
    if len(rows) < 2:
        return {}, info
    flat, offsets = mh.gather_runs(ing.enc.flat, ing.enc.offsets, rows)
    feats = mh.features(flat, offsets)
    del flat
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
    sims = feats.pair_jaccard(checked)
    pairs = mh.PairSimilarities(feats, checked, sims)
    edges = checked[sims >= params.threshold]
    if not len(edges):
        return {}, {**info, "kept_apart_in_linked_groups": 0}
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
    out: dict[int, Decision] = {}
    fast = others & np.repeat(group_ok, group_size)
    for m, k, sim, size in zip(
        rows[member[fast]].tolist(),
        rows[first[fast]].tolist(),
        sim_to_first[fast].tolist(),
        size_of[fast].tolist(),
    ):
        out[m] = Decision("near_duplicate", Duplicate(ing.ids[k], round(sim, 4), None, size), k)
    chained = 0
    for g in np.flatnonzero(~group_ok).tolist():
        members = order[group_start[g] : group_start[g] + group_size[g]].tolist()
        kept_rows: list[int] = []
        for m in members:
            for k in kept_rows:
                if compatible(np.array([m]), np.array([k]))[0]:
                    sim = float(pairs.get(np.array([m]), np.array([k]))[0])
                    if sim >= params.threshold:
                        ev = Duplicate(ing.ids[rows[k]], round(sim, 4), cluster_size=len(members))
                        out[int(rows[m])] = Decision("near_duplicate", ev, int(rows[k]))
                        break
            else:
                kept_rows.append(m)
        chained += len(kept_rows) - 1
    info["kept_apart_in_linked_groups"] = chained
    return out, info
