"""The math-signature rule: a row's mathematics (numbers, LaTeX, variables: ``math_tokens.math_tokens``)
against every item's signature, whatever language the words are in (vectorised over rows). See
:func:`math_matches` for the three ways a pair matches and docs/clean.md for the tuning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..normalize import MathEncoded, mix64, rolling_ngram_hashes
from .arrays import lookup_all, ngrams_passing, run_starts
from .hit import Hit
from .index import BenchmarkIndex
from .params import MATH_N, RARE_NUMBER_BITS, DecontamParams


def math_hits(
    math: MathEncoded, indexes: list[BenchmarkIndex], params: DecontamParams, active: np.ndarray
) -> dict[int, Hit]:
    """Row index -> its best math-signature hit, for the active rows (one pass for every index)."""
    if not any(ix.n_signatures for ix in indexes):
        return {}
    merged = merge_signatures(indexes)
    return math_matches(RowMath.of(math, active, [merged]), merged, params)


def merge_signatures(indexes: list[BenchmarkIndex]) -> BenchmarkIndex:
    """The math signatures of several indexes as one (hits still name their own benchmark)."""
    with_sigs = [ix for ix in indexes if ix.n_signatures]
    if len(with_sigs) == 1:
        return with_sigs[0]
    key = tuple(id(ix) for ix in with_sigs)
    cached = _MERGED.get(key)
    if cached is not None and all(a is b for a, b in zip(cached[0], with_sigs)):
        return cached[1]
    sig_base = np.cumsum([0] + [ix.n_signatures for ix in with_sigs])
    item_base = np.cumsum([0] + [len(ix.item_ids) for ix in with_sigs])

    def cat(name: str, shift: np.ndarray | None = None) -> np.ndarray:
        parts = [getattr(ix, name) + (0 if shift is None else shift[k]) for k, ix in enumerate(with_sigs)]
        return np.concatenate(parts)

    merged = BenchmarkIndex(
        name="",
        item_ids=[i for ix in with_sigs for i in ix.item_ids],
        n=0,
        ngram_hash=np.zeros(0, np.uint64),
        ngram_text=np.zeros(0, np.int32),
        text_ngrams=np.zeros(0, np.int32),
        exact_hash=np.zeros(0, np.uint64),
        digitless_hash=np.zeros(0, np.uint64),
        digitless_len=np.zeros(0, np.int32),
        text_item=np.zeros(0, np.int32),
        text_lang=[],
        sig_item=cat("sig_item", item_base).astype(np.int32),
        sig_lang=[x for ix in with_sigs for x in ix.sig_lang],
        sig_ngrams=cat("sig_ngrams"),
        sig_numbers=cat("sig_numbers"),
        sig_number_bits=cat("sig_number_bits"),
        item_answer=cat("item_answer"),
        item_answer_bits=cat("item_answer_bits"),
    )
    for name in ("mgram", "mnum"):
        h, sig = cat(f"{name}_hash"), cat(f"{name}_sig", sig_base).astype(np.int32)
        order = np.argsort(h, kind="stable")
        setattr(merged, f"{name}_hash", h[order])
        setattr(merged, f"{name}_sig", sig[order])
        if name == "mnum":
            merged.mnum_bits = cat("mnum_bits")[order]
    merged.sig_benchmark = [ix.name for ix in with_sigs for _ in range(ix.n_signatures)]
    _MERGED.clear()
    _MERGED[key] = (with_sigs, merged)
    return merged


_MERGED: dict[tuple[int, ...], tuple[list[BenchmarkIndex], BenchmarkIndex]] = {}


@dataclass
class RowMath:
    """The rows' side of math matching, computed once for all indexes: their math 3-grams that some
    index holds (a bitmap drops the rest), their number tokens, their answers."""

    math: MathEncoded
    active: np.ndarray  # rows still to check
    g_hash: np.ndarray  # 3-grams in some index: hash, row, position
    g_doc: np.ndarray
    g_at: np.ndarray
    n_hash: np.ndarray  # number tokens of active rows: hash, bits, row (rows in order)
    n_bits: np.ndarray
    n_doc: np.ndarray
    n_start: np.ndarray  # per row: where its numbers start in n_* (n_docs + 1)
    anchored: np.ndarray  # indices into n_*: numbers that may be some index's anchor (bitmap)
    answered: np.ndarray  # rows whose answer may be some index's item answer (bitmap)

    @classmethod
    def of(cls, math: MathEncoded, active: np.ndarray, indexes: list[BenchmarkIndex]) -> RowMath:
        mask = np.uint64((1 << 22) - 1)
        bitmap = np.zeros(1 << 22, dtype=bool)
        for index in indexes:
            bitmap[(index.mgram_hash & mask).astype(np.int64)] = True
        g_hash, g_doc, g_at = ngrams_passing(math.flat, math.offsets, MATH_N, bitmap, mask)
        keep = active[g_doc]
        lengths = np.diff(math.offsets)
        t_doc = np.repeat(np.arange(len(lengths)), lengths)
        num = math.is_number & active[t_doc]
        n_doc = t_doc[num]
        n_start = np.searchsorted(n_doc, np.arange(len(lengths) + 1))
        n_hash = math.flat[num]
        anchors = np.concatenate([np.zeros(0, np.uint64)] + [_anchors(ix)[0] for ix in indexes])
        answers = np.concatenate(
            [np.zeros(0, np.uint64)] + [ix.item_answer[ix.item_answer != 0] for ix in indexes]
        )
        bitmap[:] = False
        bitmap[(anchors & mask).astype(np.int64)] = True
        anchored = np.flatnonzero(bitmap[(n_hash & mask).astype(np.int64)])
        bitmap[:] = False
        bitmap[(answers & mask).astype(np.int64)] = True
        answered = np.flatnonzero(
            active & (math.answer_hash != 0) & bitmap[(math.answer_hash & mask).astype(np.int64)]
        )
        return cls(
            math,
            active.copy(),
            g_hash[keep],
            g_doc[keep],
            g_at[keep],
            n_hash,
            math.number_bits[num],
            n_doc,
            n_start,
            anchored,
            answered,
        )


def _pair_keys(index: BenchmarkIndex) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys of (signature, number) with the number's bits: is a number one of a signature's?"""
    cached = index.derived.get(("pair_keys",))
    if cached is None:
        with np.errstate(over="ignore"):
            keys = mix64(index.mnum_hash ^ (index.mnum_sig.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
        order = np.argsort(keys)
        cached = index.derived[("pair_keys",)] = (keys[order], index.mnum_bits[order])
    return cached


def math_matches(rows: RowMath, index: BenchmarkIndex, params: DecontamParams) -> dict[int, Hit]:
    """Rows whose math signature matches one of the index's (vectorised over rows).

    For a row and an item signature: ``c`` shared informative math 3-grams (common ones such as
    ``x ^ 2`` never count), ``f = c / (item's informative 3-grams)``, ``cover`` = share of the item's
    distinct numbers found in the row, ``purity`` = share of the row's distinct numbers that are the
    item's, ``bits`` = information of the shared numbers (:func:`~..math_tokens.number_bits`). A match
    is any of

    - ``sequence``: ``c >= math_min_ngrams`` and ``f >= math_min_overlap`` and ``cover >=
      math_min_number_cover`` (formula-rich problems; the numbers must be there too, so a
      same-template problem with other numbers does not match);
    - ``numbers``: the row has every number of the item (at least 2) and ``purity >=
      math_min_purity`` and ``bits >= math_number_bits`` (number-rich problems whose numbers move
      around the sentence in translation);
    - ``answer``: the row's reference answer has the item's answer's signature, every number of the
      item is in the row, ``purity >= math_min_purity``, something beyond the answer is shared, and
      ``bits + answer bits + c >= math_answer_bits`` (word problems with a few numbers).
    """
    out: dict[int, Hit] = {}
    math, active = rows.math, rows.active
    if not index.n_signatures or not active.any():
        return out
    n_sig = index.n_signatures
    # candidate (row, signature) pairs: shared informative 3-grams ...
    live = active[rows.g_doc]
    q, e = lookup_all(index.mgram_hash, rows.g_hash[live])
    g_key = rows.g_doc[live][q].astype(np.int64) * n_sig + index.mgram_sig[e]
    g_hash = rows.g_hash[live][q]
    order = np.lexsort((g_hash, g_key))
    g_key, g_hash = g_key[order], g_hash[order]
    distinct = run_starts(g_key, g_hash)
    cand_g, c = np.unique(g_key[distinct], return_counts=True)
    # ... the row holds the rarest number of a signature the numbers rule could match ...
    anchored = rows.anchored[active[rows.n_doc[rows.anchored]]]
    anchor_hash, anchor_sig = _anchors(index, params.math_number_bits)
    q, e = lookup_all(anchor_hash, rows.n_hash[anchored])
    cand_n = rows.n_doc[anchored][q].astype(np.int64) * n_sig + anchor_sig[e]
    # ... or the row's answer is the item's
    cand_a = np.zeros(0, np.int64)
    if index.item_answer.any() and math.answer_hash.any():
        sig_answer = index.item_answer[index.sig_item]
        order = np.argsort(sig_answer)
        answered = rows.answered[active[rows.answered]]
        q, e = lookup_all(sig_answer[order], math.answer_hash[answered])
        cand_a = answered[q].astype(np.int64) * n_sig + order[e]
    cands = np.unique(np.concatenate([cand_g, cand_n, cand_a]))
    if not len(cands):
        return out
    shared_g = np.zeros(len(cands), np.int64)
    shared_g[np.searchsorted(cands, cand_g)] = c
    cd, cs = cands // n_sig, cands % n_sig
    # before counting shared numbers, drop pairs no rule can match: the numbers and answer rules need
    # most of the item's number bits in the row (so at least as many number tokens as that takes);
    # the numbers rule a signature rich in rare numbers, the answer rule the same answer and, for an
    # item with formula structure, some of it
    p = params
    sig_grams = index.sig_ngrams[cs]
    could_sequence = (shared_g >= p.math_min_ngrams) & (shared_g >= p.math_min_overlap * sig_grams)
    enough_numbers = (
        rows.n_start[cd + 1] - rows.n_start[cd] >= _numbers_needed(index, p.math_min_number_cover)[cs]
    )
    could_numbers = np.isin(cs, _anchors(index, p.math_number_bits)[1])
    same_answer = (math.answer_hash[cd] != 0) & (
        math.answer_hash[cd] == index.item_answer[index.sig_item[cs]]
    )
    structure_ok = (sig_grams < p.math_min_ngrams) | (shared_g >= p.math_answer_min_overlap * sig_grams)
    keep = could_sequence | (enough_numbers & (could_numbers | (same_answer & structure_ok)))
    cands, cd, cs, shared_g = cands[keep], cd[keep], cs[keep], shared_g[keep]
    if not len(cands):
        return out
    # shared numbers: each candidate pair x the row's number tokens, distinct, looked up as (sig, number)
    lo, hi = rows.n_start[cd], rows.n_start[cd + 1]
    count = hi - lo
    pair = np.repeat(np.arange(len(cands)), count)
    tok = np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
    t_hash, t_bits = rows.n_hash[tok], rows.n_bits[tok]
    order = np.lexsort((t_hash, pair))
    pair, t_hash, t_bits = pair[order], t_hash[order], t_bits[order]
    first = run_starts(pair, t_hash)
    pair, t_hash, t_bits = pair[first], t_hash[first], t_bits[first]
    row_bits = np.bincount(pair, weights=t_bits, minlength=len(cands))
    keys, key_bits = _pair_keys(index)
    with np.errstate(over="ignore"):
        probe = mix64(t_hash ^ (cs[pair].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
    at = np.searchsorted(keys, probe).clip(0, max(0, len(keys) - 1))
    found = (keys[at] == probe) if len(keys) else np.zeros(len(probe), bool)
    shared_n = np.bincount(pair[found], minlength=len(cands))
    shared_bits = np.bincount(pair[found], weights=key_bits[at[found]], minlength=len(cands))
    # the numbers rule counts only numbers of two significant digits or more: prompts with long lists
    # of small numbers (1, 2, 3, 9, 18 ...) otherwise add up to anything
    big = np.where(key_bits[at[found]] >= RARE_NUMBER_BITS, key_bits[at[found]], 0.0)
    shared_big_bits = np.bincount(pair[found], weights=big, minlength=len(cands))
    # coverage in bits: a translation may spell a small number out ("3-dimensional", "两个") and lose
    # it; a same-template problem with other numbers loses all of them
    item_bits = index.sig_number_bits[cs]
    cover = np.where(item_bits > 0, shared_bits / np.maximum(item_bits, 1e-9), 1.0)
    # purity in bits too: a translation brings no new numbers; a row with other rare numbers
    # (448, 272) beside the item's small ones (2, 8) is another problem
    purity = np.where(row_bits > 0, shared_bits / np.maximum(row_bits, 1e-9), 1.0)
    f = shared_g / np.maximum(1, index.sig_ngrams[cs])
    seq = (shared_g >= p.math_min_ngrams) & (f >= p.math_min_overlap) & (cover >= p.math_min_number_cover)
    nums = (
        (shared_n >= 2)
        & (cover >= p.math_min_number_cover)
        & (purity >= p.math_min_purity)
        & (shared_big_bits >= p.math_number_bits)
    )
    item = index.sig_item[cs]
    same_answer = same_answer[keep]
    answer_bits = index.item_answer_bits[item]
    seq_part = np.where(f >= p.math_min_overlap, shared_g, 0)
    # an item with formula structure must share some of it (its numbers alone are too common: 2, 4, 8)
    structure_ok = structure_ok[keep]
    ans = (
        same_answer
        & structure_ok
        & (cover >= p.math_min_number_cover)
        & (purity >= p.math_min_purity)
        & (shared_n + shared_g >= 1)
        & (
            (shared_bits + answer_bits + seq_part >= p.math_answer_bits)
            # less evidence: only when the row's numbers are exactly the item's
            | (
                (shared_bits + answer_bits + seq_part >= p.math_answer_exact_bits)
                & (purity >= 0.99)
                & (cover >= 0.99)
            )
        )
    )
    match = seq | nums | ans
    if not match.any():
        return out
    # the best signature per row: most evidence (bits of shared numbers + shared 3-grams + answer)
    score = shared_bits + shared_g + np.where(same_answer, answer_bits, 0)
    m = np.flatnonzero(match)
    m = m[np.lexsort((-score[m], cd[m]))]
    m = m[np.concatenate([[True], cd[m][1:] != cd[m][:-1]])]
    for i in m.tolist():
        d, s = int(cd[i]), int(cs[i])
        rule = "sequence" if seq[i] else "numbers" if nums[i] else "answer"
        out[d] = Hit(
            index.sig_benchmark[s] if index.sig_benchmark else index.name,
            index.item_ids[index.sig_item[s]],
            "math_signature",
            round(float(f[i] if rule == "sequence" else cover[i]), 4),
            lang=index.sig_lang[s],
            math_positions=_evidence_positions(math, index, d, s),
            rule=rule,
            shared_numbers=int(shared_n[i]),
            answer=bool(same_answer[i]),
        )
    return out


MAX_EVIDENCE_TOKENS = 48


def _numbers_needed(index: BenchmarkIndex, cover: float) -> np.ndarray:
    """Per signature: the fewest of its numbers whose bits reach ``cover`` of its number bits."""
    key = ("numbers_needed", float(cover))
    if key not in index.derived:
        need = np.zeros(index.n_signatures, np.int64)
        order = np.lexsort((-index.mnum_bits, index.mnum_sig))
        sig, bits = index.mnum_sig[order], index.mnum_bits[order].astype(np.float64)
        starts = np.searchsorted(sig, np.arange(index.n_signatures))
        ends = np.searchsorted(sig, np.arange(index.n_signatures), side="right")
        for s, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist())):
            if hi > lo:
                running = np.cumsum(bits[lo:hi])
                need[s] = int(np.searchsorted(running, cover * running[-1] - 1e-6)) + 1
        index.derived[key] = need
    return index.derived[key]


def _evidence_positions(math: MathEncoded, index: BenchmarkIndex, d: int, s: int) -> list[int]:
    """Positions in row ``d``'s math tokens of what it shares with signature ``s``: the tokens of its
    informative 3-grams and its numbers (the "shared math-token sequence" of the evidence)."""
    toks = math.flat[math.offsets[d] : math.offsets[d + 1]]
    grams = index.mgram_hash[index.mgram_sig == s]
    numbers = index.mnum_hash[index.mnum_sig == s]
    pos: set[int] = set()
    if len(toks) >= MATH_N and len(grams):
        for a in np.flatnonzero(np.isin(rolling_ngram_hashes(toks, MATH_N), grams)).tolist():
            pos.update(range(a, a + MATH_N))
    pos.update(
        np.flatnonzero(
            math.is_number[math.offsets[d] : math.offsets[d + 1]] & np.isin(toks, numbers)
        ).tolist()
    )
    return sorted(pos)[:MAX_EVIDENCE_TOKENS]


def _anchors(
    index: BenchmarkIndex, min_bits: float = DecontamParams.math_number_bits
) -> tuple[np.ndarray, np.ndarray]:
    """The rarest number (most bits) of each signature the numbers rule can match (at least 2 numbers
    and ``min_bits``), sorted by hash: a row can match such a signature by that rule only if it holds
    that number, so only those pairs are looked at."""
    key = ("anchors", float(min_bits))
    if key not in index.derived:
        index.derived[key] = _compute_anchors(index, min_bits)
    return index.derived[key]


def _compute_anchors(index: BenchmarkIndex, min_bits: float) -> tuple[np.ndarray, np.ndarray]:
    big = np.bincount(
        index.mnum_sig,
        weights=np.where(index.mnum_bits >= RARE_NUMBER_BITS, index.mnum_bits, 0.0),
        minlength=index.n_signatures,
    )
    sigs = np.flatnonzero((big >= min_bits) & (index.sig_numbers >= 2))
    if not len(sigs):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    wanted = np.isin(index.mnum_sig, sigs)
    h, s, b = index.mnum_hash[wanted], index.mnum_sig[wanted], index.mnum_bits[wanted]
    order = np.lexsort((-b, s))
    h, s = h[order], s[order]
    first = np.concatenate([[True], s[1:] != s[:-1]])
    h, s = h[first], s[first].astype(np.int64)
    order = np.argsort(h)
    return h[order], s[order]
