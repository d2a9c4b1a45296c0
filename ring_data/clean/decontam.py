"""Benchmark decontamination: hashed n-gram indexes (no benchmark text) and matching.

A row is contaminated by a benchmark item when any of these holds (checked in this order):

1. ``exact``: its whole normalised token sequence equals the item's;
2. ``digitless``: the same with every number removed (catches number-changed copies, Light-R1's rule),
   for sequences of at least ``min_digitless_tokens`` tokens (shorter ones are too generic);
3. ``ngram``: word ``n``-grams of the digit-free token sequence are shared with the item, and the
   shared fraction of the smaller of the two n-gram sets is at least ``min_overlap`` (one common
   8-gram is not enough: benchmark-style phrasing is everywhere; a copied or embedded problem shares
   most of them). Items shorter than ``n`` tokens rely on 1 and 2, which is why they exist: half of
   MATH-500 is under 30 words.

An index stores sorted uint64 n-gram hashes with the item each came from, and per item its exact and
digit-free hashes, so it can ship in the wheel without benchmark text. Item ids (e.g. ``AIME2024/3``)
and the matched n-gram (taken from the training row) are the evidence.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .normalize import NORMALIZER_VERSION, Encoded, encode, flat_ngram_hashes, rolling_ngram_hashes

INDEX_DIR = Path(__file__).with_name("indexes")


@dataclass(frozen=True)
class DecontamParams:
    n: int = 8
    min_overlap: float = 0.5
    min_digitless_tokens: int = 6


@dataclass
class BenchmarkIndex:
    name: str
    item_ids: list[str]
    n: int
    ngram_hash: np.ndarray  # sorted uint64
    ngram_item: np.ndarray  # int32, the item of each n-gram hash
    item_ngrams: np.ndarray  # int32, distinct n-grams per item
    exact_hash: np.ndarray  # uint64 per item
    digitless_hash: np.ndarray  # uint64 per item
    digitless_len: np.ndarray  # int32 per item
    manifest: dict[str, Any] = field(default_factory=dict)
    embeddings: np.ndarray | None = None  # float16 (n_items, dim) unit vectors for the semantic pass

    @classmethod
    def build(
        cls, name: str, item_ids: list[str], texts: list[str], *, n: int = 8, source: str = ""
    ) -> BenchmarkIndex:
        enc = encode(texts)
        dl_flat, dl_offsets = enc.digitless()
        hashes, doc = flat_ngram_hashes(dl_flat, dl_offsets, n)
        pairs = np.unique(np.stack([hashes, doc.astype(np.uint64)], axis=1), axis=0)
        item_ngrams = np.bincount(pairs[:, 1].astype(np.int64), minlength=len(texts)).astype(np.int32)
        # one owner per hash (the first item); shared n-grams across items are rare and count once
        uniq, first = np.unique(pairs[:, 0], return_index=True)
        manifest = {
            "name": name,
            "source": source,
            "n_items": len(texts),
            "n": n,
            "n_ngrams": len(uniq),
            "normalizer_version": NORMALIZER_VERSION,
            "hash": "xxh64 tokens, polynomial n-gram fold + splitmix64 (ring_data.clean.normalize)",
            "created": time.strftime("%Y-%m-%d"),
        }
        return cls(
            name=name,
            item_ids=list(item_ids),
            n=n,
            ngram_hash=uniq.astype(np.uint64),
            ngram_item=pairs[first, 1].astype(np.int32),
            item_ngrams=item_ngrams,
            exact_hash=enc.exact_hash,
            digitless_hash=enc.digitless_hash,
            digitless_len=enc.digitless_len.astype(np.int32),
            manifest=manifest,
        )

    def save(self, directory: str | Path) -> Path:
        """Write ``<name>.npz`` (hashes) and ``<name>.json`` (manifest with item ids and sha256)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        npz = directory / f"{self.name}.npz"
        with npz.open("wb") as fh:
            np.savez_compressed(
                fh,
                ngram_hash=self.ngram_hash,
                ngram_item=self.ngram_item,
                item_ngrams=self.item_ngrams,
                exact_hash=self.exact_hash,
                digitless_hash=self.digitless_hash,
                digitless_len=self.digitless_len,
            )
        manifest = {**self.manifest, "item_ids": self.item_ids, "sha256": _sha256(npz)}
        if self.embeddings is not None:
            np.save(directory / f"{self.name}.emb.npy", self.embeddings.astype(np.float16))
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
            arrays = {k: z[k] for k in z.files}
        emb = npz.with_name(npz.stem + ".emb.npy")
        arrays["embeddings"] = np.load(emb) if emb.exists() else None
        return cls(
            name=manifest["name"],
            item_ids=manifest.pop("item_ids"),
            n=int(manifest["n"]),
            manifest=manifest,
            **arrays,
        )


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


def index_from_rows(path: str | Path, *, n: int = 8, embedder=None) -> BenchmarkIndex:
    """Index a user's benchmark file (JSONL/Parquet/datasets dir with a ``prompt`` column, or a
    ``question``/``problem`` column) on the fly; item ids are the rows' ids."""
    from ..io import read_rows

    path = Path(path)
    if path.suffix == ".npz":
        return BenchmarkIndex.load(path)
    rows = list(read_rows(path, defaults={"domain": "benchmark"}, mapping=_guess_prompt_column(path)))
    index = BenchmarkIndex.build(
        path.name.split(".")[0], [r["id"] for r in rows], [r["prompt"] for r in rows], n=n, source=str(path)
    )
    if embedder is not None:
        index.embeddings = embedder.embed([r["prompt"] for r in rows]).astype(np.float16)
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


@dataclass
class Hit:
    benchmark: str
    item: str
    kind: str  # exact | digitless | ngram
    overlap: float
    ngram_start: int | None = None  # position of a matched n-gram in the row's digit-free tokens
    n: int = 0


def find_contamination(
    enc: Encoded, indexes: list[BenchmarkIndex], params: DecontamParams, active: np.ndarray | None = None
) -> dict[int, Hit]:
    """Row index -> first hit, for the active rows of ``enc`` (vectorised over rows)."""
    active = np.ones(enc.n_docs, dtype=bool) if active is None else active
    hits: dict[int, Hit] = {}
    for index in indexes:
        for kind, doc_h, item_h, ok in (
            ("exact", enc.exact_hash, index.exact_hash, active & (np.diff(enc.offsets) > 0)),
            (
                "digitless",
                enc.digitless_hash,
                np.where(index.digitless_len >= params.min_digitless_tokens, index.digitless_hash, 0),
                active & (enc.digitless_len >= params.min_digitless_tokens),
            ),
        ):
            lookup = {int(h): i for i, h in enumerate(item_h) if h}
            for d in np.flatnonzero(ok & np.isin(doc_h, item_h)):
                item = lookup.get(int(doc_h[d]))
                if item is not None and int(d) not in hits:
                    hits[int(d)] = Hit(index.name, index.item_ids[item], kind, 1.0)
    dl_flat, dl_offsets = enc.digitless()
    groups = {}
    for index in indexes:
        groups.setdefault(index.n, []).append(index)
    for n, group in groups.items():
        # a bitmap of every index's hashes drops ~99% of the row n-grams before the binary searches
        mask = np.uint64((1 << 22) - 1)
        bitmap = np.zeros(1 << 22, dtype=bool)
        for index in group:
            bitmap[(index.ngram_hash & mask).astype(np.int64)] = True
        hashes, doc, pos_in_doc = ngrams_passing(dl_flat, dl_offsets, n, bitmap, mask)
        keep = active[doc]
        hashes, doc, pos_in_doc = hashes[keep], doc[keep], pos_in_doc[keep]
        doc_ngrams = np.maximum(np.diff(dl_offsets) - n + 1, 0)
        for index in group:
            if not len(index.ngram_hash) or not len(hashes):
                continue
            pos = np.searchsorted(index.ngram_hash, hashes).clip(0, len(index.ngram_hash) - 1)
            match = index.ngram_hash[pos] == hashes
            if not match.any():
                continue
            m_doc, m_item, m_hash, m_at = (
                doc[match],
                index.ngram_item[pos[match]],
                hashes[match],
                pos_in_doc[match],
            )
            order = np.lexsort((m_at, m_hash, m_item, m_doc))
            m_doc, m_item, m_hash, m_at = m_doc[order], m_item[order], m_hash[order], m_at[order]
            distinct = np.concatenate(
                [
                    [True],
                    (m_doc[1:] != m_doc[:-1]) | (m_item[1:] != m_item[:-1]) | (m_hash[1:] != m_hash[:-1]),
                ]
            )
            key = m_doc.astype(np.int64) * len(index.item_ids) + m_item
            keys, first, counts = np.unique(key[distinct], return_index=True, return_counts=True)
            for k, f, c in zip(keys, first, counts):
                d, item = int(k // len(index.item_ids)), int(k % len(index.item_ids))
                if d in hits:
                    continue
                denom = max(1, min(int(index.item_ngrams[item]), int(doc_ngrams[d])))
                overlap = c / denom
                if overlap >= params.min_overlap:
                    at = int(m_at[distinct][f])
                    hits[d] = Hit(index.name, index.item_ids[item], "ngram", round(float(overlap), 4), at, n)
    return hits
