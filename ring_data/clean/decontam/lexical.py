"""The word rules: a row's normalised text against every text of every item (vectorised over rows).

1. ``exact``: its whole normalised token sequence equals one of the item's texts;
2. ``digitless``: the same with every number removed (catches number-changed copies, Light-R1's rule),
   for sequences of at least ``min_digitless_tokens`` tokens (shorter ones are too generic);
3. ``ngram``: word ``n``-grams of the digit-free token sequence are shared with one of the item's texts,
   and the shared fraction of the smaller of the two n-gram sets is at least ``min_overlap`` (one
   common 8-gram is not enough: benchmark-style phrasing is everywhere; a copied or embedded problem
   shares most of them). Items shorter than ``n`` tokens rely on 1 and 2, which is why they exist:
   half of MATH-500 is under 30 words.
"""

from __future__ import annotations

import numpy as np

from ..normalize import Encoded
from .arrays import lookup_all, ngrams_passing
from .hit import Hit
from .index import BenchmarkIndex
from .params import DecontamParams


def lexical_hits(
    enc: Encoded, indexes: list[BenchmarkIndex], params: DecontamParams, active: np.ndarray
) -> dict[int, Hit]:
    """Row index -> first word-rule hit, for the active rows of ``enc``."""
    hits: dict[int, Hit] = {}
    for index in indexes:
        for kind, doc_h, text_h, ok in (
            ("exact", enc.exact_hash, index.exact_hash, active & (np.diff(enc.offsets) > 0)),
            (
                "digitless",
                enc.digitless_hash,
                np.where(index.digitless_len >= params.min_digitless_tokens, index.digitless_hash, 0),
                active & (enc.digitless_len >= params.min_digitless_tokens),
            ),
        ):
            lookup: dict[int, int] = {}
            for t, h in enumerate(text_h.tolist()):
                if h:
                    lookup.setdefault(h, t)
            for d in np.flatnonzero(ok & np.isin(doc_h, text_h)):
                t = lookup.get(int(doc_h[d]))
                if t is not None and int(d) not in hits:
                    hits[int(d)] = Hit(
                        index.name, index.item_ids[index.text_item[t]], kind, 1.0, lang=index.text_lang[t]
                    )
    dl_flat, dl_offsets = enc.digitless()
    groups: dict[int, list[BenchmarkIndex]] = {}
    for index in indexes:
        groups.setdefault(index.n, []).append(index)
    for n, group in groups.items():
        # a bitmap of every index's hashes drops most row n-grams before the binary searches (2^23:
        # the ~300k n-gram hashes of 10 languages fill 4% of it)
        mask = np.uint64((1 << 23) - 1)
        bitmap = np.zeros(1 << 23, dtype=bool)
        for index in group:
            bitmap[(index.ngram_hash & mask).astype(np.int64)] = True
        hashes, doc, pos_in_doc = ngrams_passing(dl_flat, dl_offsets, n, bitmap, mask)
        keep = active[doc]
        hashes, doc, pos_in_doc = hashes[keep], doc[keep], pos_in_doc[keep]
        doc_ngrams = np.maximum(np.diff(dl_offsets) - n + 1, 0)
        for index in group:
            q, e = lookup_all(index.ngram_hash, hashes)
            if not len(q):
                continue
            m_doc, m_text, m_hash, m_at = doc[q], index.ngram_text[e], hashes[q], pos_in_doc[q]
            order = np.lexsort((m_at, m_hash, m_text, m_doc))
            m_doc, m_text, m_hash, m_at = m_doc[order], m_text[order], m_hash[order], m_at[order]
            distinct = np.concatenate(
                [
                    [True],
                    (m_doc[1:] != m_doc[:-1]) | (m_text[1:] != m_text[:-1]) | (m_hash[1:] != m_hash[:-1]),
                ]
            )
            n_texts = max(1, index.n_texts)
            key = m_doc.astype(np.int64) * n_texts + m_text
            keys, first, counts = np.unique(key[distinct], return_index=True, return_counts=True)
            denom = np.maximum(1, np.minimum(index.text_ngrams[keys % n_texts], doc_ngrams[keys // n_texts]))
            overlap = counts / denom
            for k, f, o in zip(
                keys[overlap >= params.min_overlap],
                first[overlap >= params.min_overlap],
                overlap[overlap >= params.min_overlap],
            ):
                d, t = int(k // n_texts), int(k % n_texts)
                if d in hits:
                    continue
                at = int(m_at[distinct][f])
                hits[d] = Hit(
                    index.name,
                    index.item_ids[index.text_item[t]],
                    "ngram",
                    round(float(o), 4),
                    at,
                    n,
                    lang=index.text_lang[t],
                )
    return hits
