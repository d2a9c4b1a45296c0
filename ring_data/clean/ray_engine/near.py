"""Near dedup on Ray, in the local engine's steps (``ring_data.clean.stages.near``) with the rows spread
over the cluster:

1. per shard: the documents still alive; on the driver, how many share each number sequence (8 bytes
   per document);
2. per shard: word features and MinHash signatures of the documents that need them, shuffled to
   bucket partitions by band key; the documents of small same-number groups by their numbers;
3. per bucket partition: the candidate pairs (all pairs of a small number group or of a band bucket,
   a star around its first row for a bucket over ``max_bucket``), sent to the shard of their first
   row, deduplicated there;
4. per shard: the tokens of the documents its pairs need are fetched from their shards, and the
   pairs are confirmed by exact Jaccard next to them; only the edges go to the driver;
5. on the driver: connected components over the edge list;
6. per partition of whole components: ``near_duplicates`` itself on the components' rows, each
   component keyed by its own number so that every pair inside it is compared and nothing across.
   The edges inside a component are a superset of the ones that linked it, so the components come
   out the same, and the keep rule, the similarities and the evidence are the local engine's.

Step 6 compares every pair inside a linked group: groups are a few rows each in practice; a group
of ``m`` rows costs ``m**2 / 2`` Jaccards on one worker.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import ray

from .. import minhash as mh
from ..config import CleanConfig
from ..decisions import Decision
from ..ingest import Ingested
from ..normalize import FNV_PRIME, mix64
from ..stages.base import StageResult
from ..stages.near import REASON, NearStage, near_duplicates
from . import cluster
from .shards import ShardedIngested
from .views import Docs, as_ingested, merged, positions_by, to_global


def _candidates_of(shard: Ingested, alive: np.ndarray) -> np.ndarray:
    """Shard positions of the documents near dedup looks at: alive and not empty."""
    return np.flatnonzero(alive & (np.diff(shard.enc.offsets) > 0))


@cluster.remote()
def _numbers(shard: Ingested, alive: np.ndarray) -> np.ndarray:
    return shard.enc.numbers_hash[_candidates_of(shard, alive)]


def band_keys(sig: np.ndarray, salt: np.ndarray, band: int, rows_per_band: int) -> np.ndarray:
    """The LSH key of each document in one band, as ``minhash.candidate_pairs`` computes it."""
    with np.errstate(over="ignore"):
        key = salt.astype(np.uint64) + np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15)
        for k in range(band * rows_per_band, band * rows_per_band + rows_per_band):
            key = key * FNV_PRIME + sig[k].astype(np.uint64)
    return mix64(key)


@cluster.remote()
def _signed(
    shard: Ingested, start: int, alive: np.ndarray, counts: tuple | None, params: mh.NearDupParams, parts: int
) -> list:
    """A shard's documents for the bucket partitions, ``(direct, banded)`` per partition: direct =
    (numbers hash, row) of the documents of small same-number groups (compared all-pairs), banded =
    per band (keys, rows) of the documents that go through MinHash; and, last, how many were signed."""
    docs = _candidates_of(shard, alive)
    direct, direct_salt, salt = np.zeros(0, np.int64), np.zeros(0, np.uint64), None
    if params.same_numbers:  # as near_duplicates: a sequence no other document has cannot pair
        uniq, count = counts
        salt = shard.enc.numbers_hash[docs]
        n = count[np.searchsorted(uniq, salt)]
        docs, salt, n = docs[n > 1], salt[n > 1], n[n > 1]
        small = n <= params.all_pairs_group
        direct, direct_salt = docs[small] + start, salt[small]
        docs, salt = docs[~small], salt[~small]
    keys = np.zeros((params.bands, 0), np.uint64)
    if len(docs):
        flat, offsets = mh.gather_runs(shard.enc.flat, shard.enc.offsets, docs)
        sig = mh.features(flat, offsets).signatures(params.num_perm, params.seed)
        base = np.zeros(len(docs), np.uint64) if salt is None else salt
        keys = np.stack([band_keys(sig, base, b, params.rows_per_band) for b in range(params.bands)])
    rows = docs + start
    direct_to = positions_by((direct_salt % np.uint64(parts)).astype(np.int64), parts)
    band_to = [positions_by((k % np.uint64(parts)).astype(np.int64), parts) for k in keys]
    out: list = []
    for p in range(parts):
        banded = [(key[to[p]], rows[to[p]]) for key, to in zip(keys, band_to)]
        out.append(((direct_salt[direct_to[p]], direct[direct_to[p]]), banded))
    out.append(len(docs))
    return out


@cluster.remote()
def _bucketed(params: mh.NearDupParams, starts: np.ndarray, *parts: tuple) -> list:
    """One bucket partition: candidate pairs ``(i, j)``, i < j, split by the shard of ``i``; last, how
    many came from all-pairs groups (each group is whole here: it was sent by its numbers)."""
    salt = np.concatenate([np.zeros(0, np.uint64)] + [d[0] for d, _ in parts])
    rows = np.concatenate([np.zeros(0, np.int64)] + [d[1] for d, _ in parts])
    direct, _ = mh.split_by_salt(salt, params.all_pairs_group)
    found = [rows[direct]]
    for b in range(params.bands):
        key = np.concatenate([np.zeros(0, np.uint64)] + [banded[b][0] for _, banded in parts])
        members = np.concatenate([np.zeros(0, np.int64)] + [banded[b][1] for _, banded in parts])
        found.append(_bucket_pairs(key, members, params.max_bucket))
    pairs = np.concatenate(found)
    owner = np.searchsorted(starts, pairs[:, 0], side="right") - 1
    return [pairs[mine] for mine in positions_by(owner, len(starts) - 1)] + [len(direct)]


def _bucket_pairs(key: np.ndarray, members: np.ndarray, max_bucket: int) -> np.ndarray:
    """Pairs of documents sharing a key: all pairs in a bucket up to ``max_bucket``, else a star around
    its first row."""
    if len(key) < 2:
        return np.zeros((0, 2), np.int64)
    order = np.lexsort((members, key))  # by key, then row: a bucket's first member is its first row
    pairs, big = mh.split_by_salt(key[order], max_bucket)
    out = [members[order][pairs]]
    if len(big):
        k, m = key[order][big], members[order][big]
        start = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
        first = np.repeat(m[start], np.diff(np.concatenate([start, [len(m)]])))
        out.append(np.stack([first, m], axis=1)[first != m])
    return np.concatenate(out).astype(np.int64)


@cluster.remote()
def _requests(starts: np.ndarray, *parts: np.ndarray) -> list:
    """One shard's candidate pairs from every bucket partition: deduplicated; then the documents they
    need, split by the shard holding them; last, the pairs."""
    pairs = mh.sort_pairs(np.concatenate([np.zeros((0, 2), np.int64)] + list(parts)), int(starts[-1]))
    need = np.unique(pairs)
    owner = np.searchsorted(starts, need, side="right") - 1
    return [need[mine] - starts[k] for k, mine in enumerate(positions_by(owner, len(starts) - 1))] + [pairs]


@cluster.remote()
def _gather(shard: Ingested, start: int, *wanted: np.ndarray) -> list[Docs] | Docs:
    """The documents each destination asked for, from this shard."""
    out = [Docs.of(shard, start, local) for local in wanted]
    return out if len(out) > 1 else out[0]


@cluster.remote()
def _confirmed(
    pairs: np.ndarray, params: mh.NearDupParams, distinct_references: bool, *docs: Docs
) -> tuple[np.ndarray, int]:
    """Candidate pairs confirmed by exact Jaccard (as ``near_duplicates`` does): the edges, and how many
    pairs were candidates."""
    d = Docs.concat(list(docs))
    local = np.searchsorted(d.rows, pairs)
    a, b = local[:, 0], local[:, 1]
    ok = np.ones(len(a), dtype=bool)
    if params.same_numbers:
        ok &= d.numbers_hash[a] == d.numbers_hash[b]
    if distinct_references:
        ra, rb = d.reference_hash[a], d.reference_hash[b]
        ok &= (ra == 0) | (rb == 0) | (ra == rb)
    checked = local[ok]
    sims = mh.features(d.flat, d.offsets).pair_jaccard(checked)
    return d.rows[checked[sims >= params.threshold]], len(pairs)


@cluster.remote()
def _resolved(
    labels: np.ndarray, params: mh.NearDupParams, distinct_references: bool, *docs: Docs
) -> tuple[Mapping[int, Decision], int]:
    """Whole linked groups (``labels``: each row's component) decided by ``near_duplicates``."""
    d = Docs.concat(list(docs))
    view = as_ingested(
        d.ids,
        d.has_ref,
        d.reference_hash,
        numbers_hash=labels.astype(np.uint64),
        flat=d.flat,
        offsets=d.offsets,
    )
    largest = int(np.unique(labels, return_counts=True)[1].max())
    every_pair = replace(params, same_numbers=True, all_pairs_group=max(2, largest))
    found, info = near_duplicates(view, np.ones(len(d.rows), bool), every_pair, distinct_references)
    return to_global(found, d.rows), int(info.get("kept_apart_in_linked_groups", 0))


def near_on_ray(
    ing: ShardedIngested,
    alive: np.ndarray,
    params: mh.NearDupParams,
    distinct_references: bool,
    shard_rows: int | None = None,
) -> tuple[Mapping[int, Decision], dict[str, Any]]:
    shards, starts, n_shards = ing.shards, ing.starts, len(ing.shards)
    offsets = [int(s) for s in starts[:-1]]
    alive_parts = ing.alive_parts(alive)
    parts = cluster.partitions()

    # 1. documents, and how many share each number sequence
    numbers = cluster.get([_numbers.remote(s, a) for s, a in zip(shards, alive_parts)])
    info: dict[str, Any] = {
        "documents": int(sum(map(len, numbers))),
        "candidate_pairs": 0,
        "confirmed_pairs": 0,
    }
    counts, sharing = None, info["documents"]
    if params.same_numbers:
        uniq, count = np.unique(np.concatenate([np.zeros(0, np.uint64)] + numbers), return_counts=True)
        sharing = info["documents_sharing_numbers"] = int(count[count > 1].sum())
        counts = ray.put((uniq, count))
    del numbers
    if sharing < 2:
        return merged([], REASON, ing.ids), info
    if shard_rows and params.same_numbers and sharing > shard_rows:  # as the local engine reports it
        info["parts"] = -(-sharing // shard_rows)

    # 2-3. band keys and small groups shuffled to bucket partitions -> candidate pairs per shard
    signed = [
        _signed.options(num_returns=parts + 1).remote(s, o, a, counts, params, parts)
        for s, o, a in zip(shards, offsets, alive_parts)
    ]
    buckets = [
        _bucketed.options(num_returns=n_shards + 1).remote(params, starts, *[s[p] for s in signed])
        for p in range(parts)
    ]
    requests = [
        _requests.options(num_returns=n_shards + 1).remote(starts, *[b[k] for b in buckets])
        for k in range(n_shards)
    ]

    # 4. each shard's pairs confirmed next to the documents they need
    fetched = [
        _gather.options(num_returns=n_shards).remote(s, o, *[r[b] for r in requests])
        for b, (s, o) in enumerate(zip(shards, offsets))
    ]
    confirmed = [
        _confirmed.remote(requests[k][-1], params, distinct_references, *_column(fetched, k, n_shards))
        for k in range(n_shards)
    ]
    info["all_pairs_candidates"] = int(sum(cluster.get([b[-1] for b in buckets])))
    info["minhash_documents"] = int(sum(cluster.get([s[-1] for s in signed])))
    confirmed = cluster.get(confirmed)
    info["candidate_pairs"] = int(sum(n for _, n in confirmed))
    edges = np.concatenate([np.zeros((0, 2), np.int64)] + [e for e, _ in confirmed])
    if not len(edges):
        return merged([], REASON, ing.ids), {**info, "kept_apart_in_linked_groups": 0}

    # 5. components on the driver
    linked, inverse = np.unique(edges, return_inverse=True)
    label, _ = mh.components(len(linked), inverse.reshape(edges.shape))
    info["confirmed_pairs"] = int(len(linked) - len(np.unique(label)))

    # 6. whole components to partitions, resolved there
    group = _spread(label, parts)
    owner = np.searchsorted(starts, linked, side="right") - 1
    cell = positions_by(owner * parts + group, n_shards * parts)  # (shard, partition), rows increasing
    fetched = [
        _gather.options(num_returns=parts).remote(
            s, o, *[linked[c] - o for c in cell[b * parts : (b + 1) * parts]]
        )
        for b, (s, o) in enumerate(zip(shards, offsets))
    ]
    resolved = cluster.get(
        [
            _resolved.remote(label[mine], params, distinct_references, *_column(fetched, q, parts))
            for q, mine in enumerate(positions_by(group, parts))
            if len(mine)
        ]
    )
    info["kept_apart_in_linked_groups"] = sum(n for _, n in resolved)
    return merged([part for part, _ in resolved], REASON, ing.ids), info


def _column(refs: list, k: int, width: int) -> list:
    """Output ``k`` of each task (a task with one output returns its ref itself)."""
    return [r[k] if width > 1 else r for r in refs]


def _spread(label: np.ndarray, parts: int) -> np.ndarray:
    """A partition for each linked document: whole components, balanced by their all-pairs cost."""
    sizes = np.bincount(label)
    load = [(0, q) for q in range(parts)]
    where = np.zeros(len(sizes), np.int64)
    for c in np.argsort(-sizes, kind="stable").tolist():
        cost, q = heapq.heappop(load)
        where[c] = q
        heapq.heappush(load, (cost + int(sizes[c]) ** 2, q))
    return where[label]


class RayNearStage(NearStage):
    def run(self, rows: ShardedIngested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        found, stats = near_on_ray(
            rows, alive, config.near_params, config.distinct_references, config.shard_rows
        )
        return StageResult(found, stats)
