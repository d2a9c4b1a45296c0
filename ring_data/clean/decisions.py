"""What a clean stage decides about a row: removed for ``reason`` with ``evidence`` (and, for a
duplicate, the row it duplicates). Stages return ``row index -> Decision`` and never drop rows.

Evidence stays typed until the rejects file is written: a filter's dict (final as it is), a
:class:`Duplicate` or a benchmark :class:`~.decontam.hit.Hit` (completed from the row's text when it
is written). The dedup stages, which remove millions of rows in a big run, return their decisions as
columns (:class:`DuplicateTable`: ~40 bytes a row instead of ~400 as Python objects) that build a
row's :class:`Decision` when it is looked up; :class:`Decisions` holds a run's decisions of every
stage. The work directory keeps decisions as columns too (JSON, or ``.npz`` for a table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from ..io import dumps, loads
from .decontam.hit import Hit


@dataclass(slots=True)
class Duplicate:
    """A row removed for another one: exact (``match="normalized_text"``) or near (``cluster_size``)."""

    kept_id: str
    similarity: float
    match: str | None = None  # exact duplicates: what was compared
    cluster_size: int | None = None  # near duplicates: rows in the linked group
    reference_differs: bool = False  # kept despite another reference (``--references ignore``)
    duplicate_of: str | None = None  # the row it duplicated, when that one was removed later

    def as_dict(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"kept_id": self.kept_id, "similarity": self.similarity}
        if self.match is not None:
            ev["match"] = self.match
        if self.cluster_size is not None:
            ev["cluster_size"] = self.cluster_size
        if self.reference_differs:
            ev["reference_differs"] = True
        if self.duplicate_of is not None:
            ev["duplicate_of"] = self.duplicate_of
        return ev


Evidence = dict[str, Any] | Duplicate | Hit


@dataclass(slots=True)
class Decision:
    reason: str
    evidence: Evidence
    kept_idx: int | None = None

    @property
    def needs_row(self) -> bool:
        """Does writing the evidence need the row's text (a benchmark hit)?"""
        return isinstance(self.evidence, Hit)

    def evidence_dict(self, prompt: str | None = None, verbatim: bool = False) -> dict[str, Any]:
        """The evidence as written to the rejects file (``prompt``: the row's, for a benchmark hit)."""
        ev = self.evidence
        if isinstance(ev, Duplicate):
            return ev.as_dict()
        if isinstance(ev, Hit):
            return ev.evidence(prompt or "", verbatim)
        return ev


_duplicate_fields = attrgetter(
    "kept_id", "similarity", "match", "cluster_size", "reference_differs", "duplicate_of"
)


def save_decisions(path: Path, decisions: Mapping[int, Decision]) -> None:
    """One JSON object of columns (a stage's result in the work directory; one encoder call for
    100k decisions instead of one per decision): duplicates as arrays of their fields, benchmark hits
    and filter evidence as objects, each with the positions it fills. A :class:`DuplicateTable` is
    saved as its arrays, next to ``path`` with the suffix ``.npz``."""
    if isinstance(decisions, DuplicateTable):
        decisions.save(path.with_suffix(".npz"))
        return
    order = sorted(decisions)
    rows = list(map(decisions.__getitem__, order))
    evidence = [d.evidence for d in rows]
    kinds = list(map(type, evidence))
    if set(kinds) == {Duplicate}:  # a dedup stage: nothing else (the common case, 100k rows)
        dup, hit, other = list(range(len(rows))), [], []
    else:
        dup = [k for k, t in enumerate(kinds) if t is Duplicate]
        hit = [k for k, t in enumerate(kinds) if t is Hit]
        other = [k for k, t in enumerate(kinds) if t is not Duplicate and t is not Hit]
    columns = {
        "idx": order,
        "reason": [d.reason for d in rows],
        "kept_idx": [d.kept_idx for d in rows],
        "duplicates": {"at": dup, "fields": list(map(_duplicate_fields, (evidence[k] for k in dup)))},
        "hits": {"at": hit, "fields": [vars(evidence[k]) for k in hit]},
        "dicts": {"at": other, "evidence": [evidence[k] for k in other]},
    }
    path.write_bytes(dumps(columns))


def load_decisions(path: Path) -> Mapping[int, Decision]:
    if path.with_suffix(".npz").exists():
        return DuplicateTable.load(path.with_suffix(".npz"))
    c = loads(path.read_bytes())
    evidence: list[Any] = [None] * len(c["idx"])
    for k, fields in zip(c["duplicates"]["at"], c["duplicates"]["fields"]):
        evidence[k] = Duplicate(*fields)
    for k, fields in zip(c["hits"]["at"], c["hits"]["fields"]):
        evidence[k] = Hit(**fields)
    for k, ev in zip(c["dicts"]["at"], c["dicts"]["evidence"]):
        evidence[k] = ev
    return {
        i: Decision(r, ev, kept) for i, r, ev, kept in zip(c["idx"], c["reason"], evidence, c["kept_idx"])
    }


# ---- decisions as columns -----------------------------------------------------------------------------
_NO_ROW = -1


@dataclass(eq=False)  # compared as a mapping (row -> Decision), not field by field
class DuplicateTable(Mapping[int, Decision]):
    """The decisions of a dedup stage as columns: rows ``idx`` (increasing) removed for ``reason``
    in favour of rows ``kept``; ``table[i]`` builds the :class:`Decision` of row ``i`` with the same
    :class:`Duplicate` evidence the stage would have made (``ids`` names the rows in it)."""

    reason: str
    idx: np.ndarray  # int64, increasing
    kept: np.ndarray  # int64
    similarity: np.ndarray  # float64, as the evidence shows it (near: already rounded)
    match: str | None = None  # exact duplicates: what was compared
    cluster_size: np.ndarray | None = None  # int64 (near duplicates)
    reference_differs: np.ndarray | None = None  # bool (exact duplicates)
    duplicate_of: np.ndarray | None = None  # int64, -1: none (set by ``Decisions.point_to_kept_rows``)
    ids: Sequence[str] | None = None

    @classmethod
    def empty(cls, reason: str, match: str | None = None) -> DuplicateTable:
        z = np.zeros(0, np.int64)
        return cls(reason, z, z.copy(), np.zeros(0), match)

    @classmethod
    def concat(cls, parts: list[DuplicateTable], reason: str, match: str | None = None) -> DuplicateTable:
        """Tables of disjoint rows as one, sorted by row."""
        parts = [p for p in parts if len(p.idx)]
        if not parts:
            return cls.empty(reason, match)
        idx = np.concatenate([p.idx for p in parts])
        order = np.argsort(idx, kind="stable")

        def cat(name: str) -> np.ndarray | None:
            cols = [getattr(p, name) for p in parts]
            return None if any(c is None for c in cols) else np.concatenate(cols)[order]

        return cls(
            reason,
            idx[order],
            cat("kept"),
            cat("similarity"),
            match,
            cat("cluster_size"),
            cat("reference_differs"),
            cat("duplicate_of"),
            parts[0].ids,
        )

    def __len__(self) -> int:
        return len(self.idx)

    def __iter__(self) -> Iterator[int]:
        return iter(self.idx.tolist())

    def __contains__(self, i: object) -> bool:
        if not isinstance(i, (int, np.integer)):
            return False
        pos = int(np.searchsorted(self.idx, i))
        return pos < len(self.idx) and self.idx[pos] == i

    def __getitem__(self, i: int) -> Decision:
        pos = int(np.searchsorted(self.idx, i))
        if pos >= len(self.idx) or self.idx[pos] != i:
            raise KeyError(i)
        return next(iter(self._build(pos, pos + 1).values()))

    def between(self, lo: int, hi: int) -> dict[int, Decision]:
        """The decisions of rows ``lo <= i < hi``, built at once."""
        a, b = np.searchsorted(self.idx, [lo, hi])
        return self._build(int(a), int(b))

    def _build(self, a: int, b: int) -> dict[int, Decision]:
        ids, n = self.ids, b - a
        if ids is None:
            raise RuntimeError("a DuplicateTable needs the row ids to build evidence")
        size = [None] * n if self.cluster_size is None else self.cluster_size[a:b].tolist()
        differs = [False] * n if self.reference_differs is None else self.reference_differs[a:b].tolist()
        dup_of: list[str | None] = [None] * n
        if self.duplicate_of is not None:
            chained = np.flatnonzero(self.duplicate_of[a:b] != _NO_ROW)
            for pos, name in zip(chained.tolist(), _names(ids, self.duplicate_of[a:b][chained])):
                dup_of[pos] = name
        reason, match, kept = self.reason, self.match, self.kept[a:b]
        out = {}
        for i, k, name, sim, sz, diff, first in zip(
            self.idx[a:b].tolist(),
            kept.tolist(),
            _names(ids, kept),
            self.similarity[a:b].tolist(),
            size,
            differs,
            dup_of,
        ):
            out[i] = Decision(reason, Duplicate(name, sim, match, sz, diff, first), k)
        return out

    def save(self, path: Path) -> None:
        cols = {
            k: getattr(self, k)
            for k in ("idx", "kept", "similarity", "cluster_size", "reference_differs", "duplicate_of")
        }
        meta = {"reason": self.reason, "match": self.match}
        np.savez(path, meta=np.array(dumps(meta)), **{k: v for k, v in cols.items() if v is not None})

    @classmethod
    def load(cls, path: Path) -> DuplicateTable:
        with np.load(path) as z:
            cols = {k: z[k] for k in z.files}
        meta = loads(bytes(cols.pop("meta")))
        return cls(meta["reason"], match=meta["match"], **cols)


def _names(ids: Sequence[str], rows: np.ndarray) -> list[str]:
    take = getattr(ids, "take", None)  # an IdColumn: all at once
    return take(rows) if take is not None else [ids[k] for k in rows.tolist()]


class Decisions(Mapping[int, Decision]):
    """Every decision of a run: those with evidence of their own (filters, contamination; a dict) and
    the dedup stages' :class:`DuplicateTable` s, as one mapping ``row -> Decision``. Looking rows up
    in increasing order (what the writer does) builds each block of rows' decisions once."""

    BLOCK = 1 << 16

    def __init__(self, decided: Mapping[int, Decision] | None = None, ids: Sequence[str] | None = None):
        self.loose: dict[int, Decision] = dict(decided or {})
        self.tables: list[DuplicateTable] = []
        self.ids = ids
        self._block: tuple[int, int, dict[int, Decision]] = (0, 0, {})

    def update(self, found: Mapping[int, Decision]) -> None:
        if isinstance(found, DuplicateTable):
            if found.ids is None:
                found.ids = self.ids
            self.tables.append(found)
        else:
            self.loose.update(found)
        self._block = (0, 0, {})

    def __len__(self) -> int:
        return len(self.loose) + sum(len(t) for t in self.tables)

    def __iter__(self) -> Iterator[int]:
        yield from self.loose
        for t in self.tables:
            yield from t

    def __contains__(self, i: object) -> bool:
        return i in self.loose or any(i in t for t in self.tables)

    def __getitem__(self, i: int) -> Decision:
        d = self.loose.get(i)
        if d is not None:
            return d
        lo, hi, block = self._block
        if not lo <= i < hi:
            lo = i - i % self.BLOCK
            hi = lo + self.BLOCK
            block = {}
            for t in self.tables:
                block.update(t.between(lo, hi))
            self._block = (lo, hi, block)
        return block[i]

    def rows(self) -> np.ndarray:
        """The decided rows, in iteration order."""
        return np.concatenate(
            [np.fromiter(self.loose, np.int64, len(self.loose))] + [t.idx for t in self.tables]
        )

    def reasons(self) -> Iterator[str]:
        """Each decision's reason, in iteration order."""
        for d in self.loose.values():
            yield d.reason
        for t in self.tables:
            yield from [t.reason] * len(t)

    def needs_row(self) -> np.ndarray:
        """Whether writing each decision's evidence needs the row's text, in iteration order."""
        loose = np.fromiter((d.needs_row for d in self.loose.values()), bool, len(self.loose))
        return np.concatenate([loose] + [np.zeros(len(t), bool) for t in self.tables])

    def first_per_reason(self, k: int) -> dict[str, list[int]]:
        """The first ``k`` rows of every reason, reasons in the order of their first row."""
        firsts: dict[str, list[int]] = {}
        for i in sorted(self.loose):
            lst = firsts.setdefault(self.loose[i].reason, [])
            if len(lst) < k:
                lst.append(i)
        for t in self.tables:
            if len(t):
                firsts[t.reason] = sorted(firsts.get(t.reason, []) + t.idx[:k].tolist())[:k]
        return dict(sorted(firsts.items(), key=lambda item: item[1][0]))

    def point_to_kept_rows(self) -> None:
        """An exact duplicate's kept row may itself be removed later as a near duplicate: point the
        evidence at the row that is really kept (the chain is recorded in ``duplicate_of``); what
        ``write.point_to_kept_rows`` does to a dict of decisions, on the columns."""
        loose_dups = {i: d for i, d in self.loose.items() if isinstance(d.evidence, Duplicate)}
        idx = np.concatenate(
            [np.fromiter(self.loose, np.int64, len(self.loose))] + [t.idx for t in self.tables]
        )
        nxt = np.concatenate(
            [
                np.fromiter(
                    (_NO_ROW if d.kept_idx is None else d.kept_idx for d in self.loose.values()),
                    np.int64,
                    len(self.loose),
                )
            ]
            + [t.kept for t in self.tables]
        )
        sim = np.concatenate(
            [
                np.fromiter(
                    (d.evidence.similarity if i in loose_dups else np.nan for i, d in self.loose.items()),
                    np.float64,
                    len(self.loose),
                )
            ]
            + [t.similarity for t in self.tables]
        )
        order = np.argsort(idx, kind="stable")
        idx, nxt, sim = idx[order], nxt[order], sim[order]

        def where(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pos = np.minimum(np.searchsorted(idx, rows), max(len(idx) - 1, 0))
            return pos, (idx[pos] == rows) if len(idx) else np.zeros(len(rows), bool)

        def resolve(first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """(first is decided, the end of its chain, the similarity of first's evidence)"""
            pos, decided = where(first)
            first_sim = np.where(decided, sim[pos], np.nan) if len(idx) else np.full(len(first), np.nan)
            k = first.copy()
            while True:
                pos, found = where(k)
                step = found & (nxt[pos] != _NO_ROW) if len(idx) else found
                if not step.any():
                    return decided, k, first_sim
                k = np.where(step, nxt[pos], k)

        for t in self.tables:
            decided, final, first_sim = resolve(t.kept)
            if not decided.any():
                continue
            if t.duplicate_of is None:
                t.duplicate_of = np.full(len(t), _NO_ROW, np.int64)
            t.duplicate_of[decided] = t.kept[decided]
            if t.reason == "exact_duplicate":
                copy = decided & ~np.isnan(first_sim)  # first's evidence is a Duplicate
                t.similarity = np.where(copy, first_sim, t.similarity)
            t.kept = np.where(decided, final, t.kept)
        if loose_dups:
            rows = list(loose_dups)
            first = np.array(
                [loose_dups[i].kept_idx if loose_dups[i].kept_idx is not None else _NO_ROW for i in rows]
            )
            decided, final, first_sim = resolve(first)
            for i, f, dec, k, fs in zip(
                rows, first.tolist(), decided.tolist(), final.tolist(), first_sim.tolist()
            ):
                d = loose_dups[i]
                if f == _NO_ROW or not dec:
                    continue
                d.evidence.kept_id, d.evidence.duplicate_of = self.ids[k], self.ids[f]
                if d.reason == "exact_duplicate" and fs == fs:  # not NaN: first's evidence is a Duplicate
                    d.evidence.similarity = fs
                d.kept_idx = k
        self._block = (0, 0, {})


def decided_rows(decisions: Mapping[int, Decision]) -> np.ndarray:
    """The rows of ``decisions`` in its iteration order (vectorised for :class:`Decisions`)."""
    if isinstance(decisions, Decisions):
        return decisions.rows()
    return np.fromiter(decisions, dtype=np.int64, count=len(decisions))


def needs_row(decisions: Mapping[int, Decision]) -> np.ndarray:
    """Per decision (iteration order): does writing its evidence need the row's text?"""
    if isinstance(decisions, Decisions):
        return decisions.needs_row()
    return np.fromiter((d.needs_row for d in decisions.values()), dtype=bool, count=len(decisions))


def reasons(decisions: Mapping[int, Decision]) -> Iterable[str]:
    """Each decision's reason (iteration order)."""
    if isinstance(decisions, Decisions):
        return decisions.reasons()
    return (d.reason for d in decisions.values())


def first_per_reason(decisions: Mapping[int, Decision], k: int) -> dict[str, list[int]]:
    """The first ``k`` rows of every reason, reasons in the order of their first row."""
    if isinstance(decisions, Decisions):
        return decisions.first_per_reason(k)
    per_reason: dict[str, list[int]] = {}
    for idx in sorted(decisions):
        lst = per_reason.setdefault(decisions[idx].reason, [])
        if len(lst) < k:
            lst.append(idx)
    return per_reason
