"""Rows gathered from several shards as an :class:`~ring_data.clean.ingest.Ingested`, so the local
engine's stage functions (``exact_duplicates``, ``near_duplicates``) run unchanged on a partition.
Only the fields those functions read are real; the others are empty of the right shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..decisions import Decision, DuplicateTable
from ..ingest import Ingested
from ..minhash import gather_runs
from ..normalize import Encoded


@dataclass
class Docs:
    """Some documents of the run, in increasing row order: their global row index, id, reference facts,
    number-sequence hash and tokens (``flat[offsets[d]:offsets[d+1]]``)."""

    rows: np.ndarray  # int64 global row index, increasing
    ids: list[str]
    has_ref: np.ndarray
    reference_hash: np.ndarray
    numbers_hash: np.ndarray
    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, shard: Ingested, start: int, local: np.ndarray) -> Docs:
        """Documents ``local`` (shard positions, increasing) of a shard whose first row is ``start``."""
        flat, offsets = gather_runs(shard.enc.flat, shard.enc.offsets, local)
        return cls(
            local.astype(np.int64) + start,
            [shard.ids[i] for i in local.tolist()],
            shard.has_ref[local],
            shard.reference_hash[local],
            shard.enc.numbers_hash[local],
            flat,
            offsets,
        )

    @classmethod
    def concat(cls, parts: list[Docs]) -> Docs:
        """Parts from shards in shard order (so rows stay increasing)."""
        shift = np.cumsum([0] + [len(p.flat) for p in parts[:-1]])
        return cls(
            np.concatenate([np.zeros(0, np.int64)] + [p.rows for p in parts]),
            [i for p in parts for i in p.ids],
            np.concatenate([np.zeros(0, bool)] + [p.has_ref for p in parts]),
            np.concatenate([np.zeros(0, np.uint64)] + [p.reference_hash for p in parts]),
            np.concatenate([np.zeros(0, np.uint64)] + [p.numbers_hash for p in parts]),
            np.concatenate([np.zeros(0, np.uint64)] + [p.flat for p in parts]),
            np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shift)]).astype(np.int64),
        )


def positions_by(codes: np.ndarray, n: int) -> list[np.ndarray]:
    """For each code ``0..n-1`` the positions holding it, increasing (one sort instead of n scans)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(n)]


def as_ingested(
    ids: list[str],
    has_ref: np.ndarray,
    reference_hash: np.ndarray,
    *,
    exact_hash: np.ndarray | None = None,
    numbers_hash: np.ndarray | None = None,
    flat: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> Ingested:
    """An Ingested of these rows. Without tokens every row is one token long (non-empty), which is all
    exact dedup asks of them."""
    n = len(ids)
    offsets = np.arange(n + 1, dtype=np.int64) if offsets is None else offsets
    flat = np.zeros(int(offsets[-1]), np.uint64) if flat is None else flat
    zeros = np.zeros(n, np.uint64)
    enc = Encoded(
        flat=flat,
        offsets=offsets,
        is_number=np.zeros(len(flat), bool),
        exact_hash=zeros if exact_hash is None else exact_hash,
        digitless_hash=zeros,
        digitless_len=np.zeros(n, np.int64),
        numbers_hash=zeros if numbers_hash is None else numbers_hash,
    )
    return Ingested(ids, [""] * n, has_ref, reference_hash, enc, {}, [], Path(), verbatim=frozenset())


def to_global(found: Mapping[int, Decision], rows: np.ndarray) -> Mapping[int, Decision]:
    """A partition's decisions (its own row positions) in the run's row numbers: a stage's table of
    duplicates stays a table (its ids are the run's, set by the caller)."""
    if isinstance(found, DuplicateTable):
        return replace(found, idx=rows[found.idx], kept=rows[found.kept], ids=None)
    return {
        int(rows[i]): Decision(d.reason, d.evidence, None if d.kept_idx is None else int(rows[d.kept_idx]))
        for i, d in found.items()
    }


def merged(parts: list[Mapping[int, Decision]], reason: str, ids) -> Mapping[int, Decision]:
    """The partitions' decisions as one, in row order (one table when the stage gives tables)."""
    if all(isinstance(p, DuplicateTable) for p in parts):
        table = DuplicateTable.concat(parts, reason, next((p.match for p in parts), None))
        table.ids = ids
        return table
    out: dict[int, Decision] = {}
    for p in parts:
        out.update(p)
    return dict(sorted(out.items()))
