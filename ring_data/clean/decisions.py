"""What a clean stage decides about a row: removed for ``reason`` with ``evidence`` (and, for a
duplicate, the row it duplicates). Stages return ``row index -> Decision`` and never drop rows.

Evidence stays typed until the rejects file is written: a filter's dict (final as it is), a
:class:`Duplicate` or a benchmark :class:`~.decontam.hit.Hit` (completed from the row's text when it
is written). The work directory keeps decisions as columns, each evidence tagged with its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

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


def save_decisions(path: Path, decisions: dict[int, Decision]) -> None:
    """One JSON object of columns (a stage's result in the work directory; one encoder call for
    100k decisions instead of one per decision): duplicates as arrays of their fields, benchmark hits
    and filter evidence as objects, each with the positions it fills."""
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


def load_decisions(path: Path) -> dict[int, Decision]:
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
