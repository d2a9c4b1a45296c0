"""Near-duplicate search for short problems: vectorised MinHash, LSH banding, exact-Jaccard check,
union-find clusters (pure numpy/Python; no I/O).

Why these defaults (measured on the seeded corpus, ``ring_data.clean.corpus``): word 5-grams lose
most of a 30-word problem to three word edits (Jaccard ~0.3), so features are word 1-grams plus
2-grams (median Jaccard 0.86 for <=10% edits, 1st percentile 0.67; distinct problems <0.15). 32
bands of 4 rows (128 permutations) find a pair at Jaccard 0.6 with probability 0.988 and at 0.7 with
0.9999, while unrelated pairs (Jaccard < 0.15) collide < 1.3% of the time; every candidate is then
confirmed by its exact Jaccard, so banding only has to be generous. With ``same_numbers`` the number
sequence is part of every band key and of the check: problems that differ only in their numbers
have different answers and stay apart (the pipeline also keeps apart rows whose references differ).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .normalize import FNV_PRIME, mix64


@dataclass(frozen=True)
class NearDupParams:
    threshold: float = 0.6  # exact Jaccard of word 1+2-gram sets needed to call a pair duplicates
    bands: int = 32
    rows_per_band: int = 4
    same_numbers: bool = True  # problems whose number sequences differ are never duplicates
    seed: int = 1
    max_bucket: int = 64  # a bigger LSH bucket is linked as a star around its first member
    # with same_numbers, documents whose number sequence at most this many documents share are compared
    # all-pairs (exact Jaccard, recall 1, no MinHash): in a math corpus most documents never need a
    # signature; a singleton sequence cannot have a near duplicate at all
    all_pairs_group: int = 16

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows_per_band

    def collision_probability(self, jaccard: float) -> float:
        """P(a pair with this Jaccard shares at least one band) = 1 - (1 - s^r)^b."""
        return 1.0 - (1.0 - jaccard**self.rows_per_band) ** self.bands


@dataclass
class Features:
    """32-bit word 1-gram and 2-gram hashes of many documents: ``uni[uni_offsets[d]:uni_offsets[d+1]]``
    and likewise ``bi`` for document d (two blocks, so nothing has to be interleaved)."""

    uni: np.ndarray
    uni_offsets: np.ndarray
    bi: np.ndarray
    bi_offsets: np.ndarray

    def pair_jaccard(self, pairs: np.ndarray, chunk: int = 1 << 15) -> np.ndarray:
        """Exact Jaccard of the feature sets of many ``(a, b)`` document pairs at once (same float as
        :func:`jaccard` on each document's 1-gram and 2-gram set): each document's distinct features
        sorted once (:meth:`distinct_sets`); a pair's intersection is the features of ``a`` found in
        ``b`` by one binary search over the chunk's keys ``pair << 32 | feature`` (both sides are in
        increasing order, which numpy's search exploits). Chunks of pairs on up to 4 threads (numpy
        releases the GIL); memory: the sets (~4 bytes a feature) and one chunk per thread."""
        out = np.empty(len(pairs), dtype=np.float64)
        if not len(pairs):
            return out
        docs, local = np.unique(pairs, return_inverse=True)
        local = local.reshape(pairs.shape)
        values, bounds = self.distinct_sets(docs)

        def fill(start: int) -> None:
            a, b = local[start : start + chunk, 0], local[start : start + chunk, 1]
            inter = _intersections(values, bounds, a, b)
            union = (bounds[a + 1] - bounds[a]) + (bounds[b + 1] - bounds[b]) - inter
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start : start + chunk] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)

        starts = range(0, len(pairs), chunk)
        with ThreadPoolExecutor(_threads(len(starts))) as pool:
            list(pool.map(fill, starts))
        return out

    def distinct_sets(self, docs: np.ndarray, block: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
        """The distinct features (1-grams and 2-grams together) of each document in ``docs``, sorted:
        ``values[bounds[k]:bounds[k+1]]`` for ``docs[k]`` (uint32). Sorted per document by scipy's
        per-row sort, a block of documents at a time."""
        from scipy import sparse

        values, sizes = [], []
        for start in range(0, len(docs), block):
            d = docs[start : start + block]
            uni, uni_off = gather_runs(self.uni, self.uni_offsets, d)
            bi, bi_off = gather_runs(self.bi, self.bi_offsets, d)
            n_uni, n_bi = np.diff(uni_off), np.diff(bi_off)
            indptr = np.zeros(len(d) + 1, np.int64)
            np.cumsum(n_uni + n_bi, out=indptr[1:])
            cols = np.empty(int(indptr[-1]), np.int64)  # per document: its 1-grams, then its 2-grams
            cols[np.repeat(indptr[:-1], n_uni) + _positions_in_runs(n_uni)] = uni
            cols[np.repeat(indptr[:-1] + n_uni, n_bi) + _positions_in_runs(n_bi)] = bi
            m = sparse.csr_matrix((np.ones(len(cols), np.int8), cols, indptr), shape=(len(d), 2**32))
            m.sum_duplicates()  # sorts each row's columns and merges repeats
            values.append(m.indices.astype(np.uint32))
            sizes.append(np.diff(m.indptr))
        bounds = np.zeros(len(docs) + 1, np.int64)
        np.cumsum(np.concatenate([np.zeros(0, np.int64)] + sizes), out=bounds[1:])
        return np.concatenate([np.zeros(0, np.uint32)] + values), bounds

    def subset(self, docs: np.ndarray) -> Features:
        """The features of documents ``docs`` (renumbered 0..len(docs)-1)."""
        uni, uni_off = gather_runs(self.uni, self.uni_offsets, docs)
        bi, bi_off = gather_runs(self.bi, self.bi_offsets, docs)
        return Features(uni, uni_off, bi, bi_off)

    def signatures(self, num_perm: int, seed: int = 1) -> np.ndarray:
        """MinHash of the union = elementwise minimum of the two blocks' MinHashes."""
        sig = signatures(self.uni, self.uni_offsets, num_perm, seed)
        return signatures(
            self.bi, self.bi_offsets, num_perm, seed, out=sig
        )  # one matrix: memory is slow here


def gather_runs(values: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs ``values[offsets[d]:offsets[d+1]]`` of documents ``docs``, end to end, and their offsets."""
    lengths = offsets[docs + 1] - offsets[docs]
    take = np.repeat(offsets[docs], lengths) + _positions_in_runs(lengths)
    return values[take], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _positions_in_runs(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each run of length n, end to end: ``[2, 3] -> [0, 1, 0, 1, 2]``."""
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _intersections(values: np.ndarray, bounds: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many values the sorted runs of ``a[k]`` and ``b[k]`` share, for every k."""
    len_a = bounds[a + 1] - bounds[a]
    shift = np.uint64(32)
    keys_a = np.repeat(np.arange(len(a), dtype=np.uint64) << shift, len_a)
    keys_a |= gather_runs(values, bounds, a)[0]
    keys_b = np.repeat(np.arange(len(b), dtype=np.uint64) << shift, bounds[b + 1] - bounds[b])
    keys_b |= gather_runs(values, bounds, b)[0]
    if not len(keys_a) or not len(keys_b):
        return np.zeros(len(a), np.int64)
    pos = np.searchsorted(keys_b, keys_a)
    np.minimum(pos, len(keys_b) - 1, out=pos)
    found = np.zeros(len(keys_a) + 1, np.int64)
    np.cumsum(keys_b[pos] == keys_a, out=found[1:])
    ends = np.cumsum(len_a)
    return found[ends] - found[ends - len_a]


def features(flat_tokens: np.ndarray, offsets: np.ndarray, block_tokens: int = 1 << 22) -> Features:
    """Word 1-gram and 2-gram features of every document (token hashes end to end, ``offsets``),
    computed a block of whole documents at a time (bounded temporaries)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    bi_offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(np.maximum(lengths - 1, 0), out=bi_offsets[1:])
    uni = np.empty(len(flat_tokens), np.uint32)
    bi = np.empty(int(bi_offsets[-1]), np.uint32)
    d = 0
    while d < len(lengths):
        e = max(d + 1, int(np.searchsorted(offsets, offsets[d] + block_tokens, side="right")) - 1)
        lo, hi = int(offsets[d]), int(offsets[e])
        block = flat_tokens[lo:hi]
        uni[lo:hi] = to_32bit(block)
        if hi - lo > 1:
            with np.errstate(over="ignore"):
                pairs = mix64(block[:-1] * FNV_PRIME + block[1:])
            # a bigram starting at a document's last token would cross into the next document
            crossing = np.zeros(len(pairs), dtype=bool)
            ends = offsets[d + 1 : e + 1][lengths[d:e] > 0] - 1 - lo
            crossing[ends[ends < len(pairs)]] = True
            bi[bi_offsets[d] : bi_offsets[e]] = to_32bit(pairs[~crossing])
        d = e
    return Features(uni=uni, uni_offsets=offsets, bi=bi, bi_offsets=bi_offsets)


def to_32bit(values: np.ndarray) -> np.ndarray:
    """Top 32 bits of 64-bit feature hashes (half the memory; collisions inside a problem are ~1e-8)."""
    return (np.asarray(values, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 2**31, size=num_perm, dtype=np.uint64) * 2 + 1).astype(np.uint32)  # odd: bijective
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def signatures(
    values: np.ndarray,
    doc_offsets: np.ndarray,
    num_perm: int,
    seed: int = 1,
    block: int = 256,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """MinHash signatures, permutation-major ``(num_perm, n_docs)`` uint32: per permutation
    ``x -> a*x + b (mod 2^32)`` (odd ``a``: a bijection) of the features' top 32 bits, minimum per
    document. 32-bit lanes and this layout make it ~8x faster than 64-bit row-major numpy. Documents
    without features get all-ones columns and are left out by :func:`candidate_pairs`. With ``out``
    (signatures of the same documents over other features) the result is the MinHash of the union,
    computed in place."""
    n_docs = len(doc_offsets) - 1
    a, b = _permutations(num_perm, seed)
    x32 = values if values.dtype == np.uint32 else to_32bit(values)
    sig = np.full((num_perm, n_docs), 0xFFFFFFFF, dtype=np.uint32) if out is None else out
    lengths = np.diff(doc_offsets)

    def fill(blocks: range) -> None:  # disjoint document ranges: safe from several threads
        for start in blocks:
            stop = min(start + block, n_docs)
            docs = np.arange(start, stop)[lengths[start:stop] > 0]
            if not len(docs):
                continue
            lo, hi = doc_offsets[start], doc_offsets[stop]
            permuted = a[:, None] * x32[None, lo:hi]
            permuted += b[:, None]
            mins = np.minimum.reduceat(permuted, doc_offsets[docs] - lo, axis=1)
            sig[:, docs] = mins if out is None else np.minimum(sig[:, docs], mins)

    starts = range(0, n_docs, block)
    workers = _threads(len(starts))
    with ThreadPoolExecutor(workers) as pool:  # numpy releases the GIL in these loops
        list(pool.map(fill, [starts[w::workers] for w in range(workers)]))
    return sig


def import_scipy() -> None:
    """Import what the exact-Jaccard check and the components need (a caller may do it early, in a thread)."""
    import scipy.sparse  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401


def _threads(tasks: int) -> int:
    return max(1, min(os.cpu_count() or 1, 4, tasks))


def _pairs_within_runs(members: np.ndarray, run_start: np.ndarray, run_len: np.ndarray) -> np.ndarray:
    """Every unordered pair inside each run of ``members`` (runs given by start and length), vectorised."""
    if not len(run_start):
        return np.empty((0, 2), dtype=np.int64)
    rank = _positions_in_runs(run_len)  # position inside its run
    absolute = np.repeat(run_start, run_len) + rank
    later = np.repeat(run_len, run_len) - rank - 1  # partners after it in the same run
    left = np.repeat(absolute, later)
    right = left + 1 + _positions_in_runs(later)
    return np.stack([members[left], members[right]], axis=1)


def split_by_salt(salt: np.ndarray, all_pairs_group: int) -> tuple[np.ndarray, np.ndarray]:
    """Documents grouped by equal ``salt`` (only equal salts may pair): every pair inside groups of 2 to
    ``all_pairs_group`` members, sorted ``(i, j)``, i < j; and the documents of bigger groups, which need
    MinHash/LSH. Singletons appear in neither."""
    order = np.argsort(salt, kind="stable")
    s = salt[order]
    run_start = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]])) if len(s) else np.empty(0, np.int64)
    run_len = np.diff(np.concatenate([run_start, [len(s)]]))
    small = (run_len > 1) & (run_len <= all_pairs_group)
    pairs = _pairs_within_runs(order, run_start[small], run_len[small])
    pairs.sort(axis=1)
    big = np.repeat(run_len > all_pairs_group, run_len)
    return sort_pairs(pairs, len(salt)), np.sort(order[big])


def sort_pairs(pairs: np.ndarray, n_docs: int) -> np.ndarray:
    """Distinct ``(i, j)`` pairs (i < j in each), sorted; sort + diff beats np.unique's hashing here."""
    if not len(pairs):
        return np.empty((0, 2), dtype=np.int64)
    code = np.sort(pairs[:, 0].astype(np.int64) * np.int64(n_docs) + pairs[:, 1])
    code = code[np.concatenate([[True], code[1:] != code[:-1]])]
    return np.stack([code // n_docs, code % n_docs], axis=1)


def candidate_pairs(
    sig: np.ndarray,
    params: NearDupParams,
    *,
    active: np.ndarray | None = None,
    salt: np.ndarray | None = None,
) -> np.ndarray:
    """Unique ``(i, j)`` pairs (i < j) of active documents that share a band key. ``salt`` (one uint64
    per document, e.g. the hash of its numbers) is mixed into every key so only equal salts collide.
    Buckets up to ``max_bucket`` give all their pairs; bigger ones a star around their lowest member."""
    n_docs = sig.shape[1]
    idx = np.arange(n_docs) if active is None else np.flatnonzero(active)
    if len(idx) < 2:
        return np.empty((0, 2), dtype=np.int64)
    r = params.rows_per_band
    base = np.zeros(len(idx), dtype=np.uint64) if salt is None else salt[idx].astype(np.uint64)
    sub = sig[:, idx] if active is not None else sig

    def band_pairs(band: int) -> list[np.ndarray]:
        out = []
        with np.errstate(over="ignore"):
            key = base + np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15)
            for k in range(band * r, band * r + r):
                key = key * FNV_PRIME + sub[k].astype(np.uint64)
        key = mix64(key)
        order = np.argsort(key)
        sk = key[order]
        new_run = np.concatenate([[True], sk[1:] != sk[:-1]])
        run_start = np.flatnonzero(new_run)
        run_len = np.diff(np.concatenate([run_start, [len(sk)]]))
        multi = run_len > 1
        if not multi.any():
            return out
        members = idx[order]
        small = multi & (run_len <= params.max_bucket)
        out.append(_pairs_within_runs(members, run_start[small], run_len[small]))
        for s in np.flatnonzero(run_len > params.max_bucket):
            # the lowest row as the centre: the same star whatever other rows the run has (a part
            # of the rows gives the pairs the whole gives), which argsort's order among ties is not
            m = np.sort(members[run_start[s] : run_start[s] + run_len[s]])
            out.append(np.stack([np.full(len(m) - 1, m[0]), m[1:]], axis=1))
        return out

    with ThreadPoolExecutor(_threads(params.bands)) as pool:  # bands are independent; numpy drops the GIL
        pairs = [p for found in pool.map(band_pairs, range(params.bands)) for p in found]
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    p = np.concatenate(pairs).astype(np.int64)
    p.sort(axis=1)
    return sort_pairs(p, n_docs)


class PairSimilarities:
    """Exact Jaccard of document pairs: the precomputed values of ``known`` pairs (sorted ``(i, j)``,
    i < j) looked up, any other pair computed on demand."""

    def __init__(self, feats: Features, known: np.ndarray, sims: np.ndarray):
        self.feats, self.n = feats, np.int64(len(feats.uni_offsets) - 1)
        self.codes = known[:, 0] * self.n + known[:, 1]
        self.sims = sims

    def get(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        code = lo * self.n + hi
        pos = np.searchsorted(self.codes, code).clip(0, max(len(self.codes) - 1, 0))
        found = (self.codes[pos] == code) if len(self.codes) else np.zeros(len(code), dtype=bool)
        out = np.where(found, self.sims[pos] if len(self.codes) else 0.0, 0.0)
        if not found.all():
            missing = np.flatnonzero(~found)
            out[missing] = self.feats.pair_jaccard(np.stack([lo[missing], hi[missing]], axis=1))
        return out


def components(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of ``n`` nodes: a label per node, and the nodes that have an edge."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    linked = np.unique(edges) if len(edges) else np.empty(0, dtype=np.int64)
    return label, linked


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class UnionFind:
    """Union by size with path halving."""

    def __init__(self, n: int):
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def clusters(n: int, edges: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    """Connected components with more than one member: ``root -> sorted members``."""
    uf = UnionFind(n)
    touched = set()
    for a, b in edges:
        uf.union(a, b)
        touched.update((a, b))
    groups: dict[int, list[int]] = {}
    for x in sorted(touched):
        groups.setdefault(uf.find(x), []).append(x)
    return {r: m for r, m in groups.items() if len(m) > 1}
