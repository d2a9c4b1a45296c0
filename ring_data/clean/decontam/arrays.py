"""Array helpers the matchers share: n-grams that pass a bitmap, lookups in sorted tables, runs."""

from __future__ import annotations

import numpy as np

from ..normalize import rolling_ngram_hashes


def ngrams_passing(
    flat: np.ndarray, offsets: np.ndarray, n: int, bitmap: np.ndarray, mask: np.uint64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n-grams of many documents (as :func:`flat_ngram_hashes` with positions) whose hash sets
    ``bitmap[hash & mask]``: the bitmap is tested on every window first, so the per-n-gram document
    and position arrays are built for the few survivors only."""
    hashes = rolling_ngram_hashes(flat, n)
    hit = np.flatnonzero(bitmap[(hashes & mask).astype(np.int64)])
    doc = np.searchsorted(offsets, hit, side="right") - 1
    at = hit - offsets[doc]
    inside = at <= np.diff(offsets)[doc] - n  # windows that cross into the next document are not n-grams
    return hashes[hit[inside]], doc[inside], at[inside]


def lookup_all(table: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (query index, table index) with ``table[t] == queries[q]``; ``table`` is sorted and may
    hold a value several times."""
    if not len(table) or not len(queries):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = np.searchsorted(table, queries, side="left")
    hit = np.flatnonzero(table[lo.clip(0, len(table) - 1)] == queries)  # most queries match nothing
    lo = lo[hit]
    count = np.searchsorted(table, queries[hit], side="right") - lo
    q = np.repeat(hit, count)
    starts = np.repeat(lo - (np.cumsum(count) - count), count)
    return q, starts + np.arange(len(q))


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """For arrays sorted together: True where a new run of equal keys begins."""
    if not len(keys[0]):
        return np.zeros(0, bool)
    change = np.zeros(len(keys[0]) - 1, bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    return np.concatenate([[True], change])
