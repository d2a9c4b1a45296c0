"""What a clean stage decides about a row: removed for ``reason`` with ``evidence`` (and, for a
duplicate, the row it duplicates). Stages return ``row index -> Decision`` and never drop rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import _dumps, _loads


@dataclass
class Decision:
    reason: str
    evidence: dict[str, Any]
    kept_idx: int | None = None


def save_decisions(path: Path, decisions: dict[int, Decision]) -> None:
    """One JSON object of columns (a stage's result in the work directory; one encoder call for
    100k decisions instead of one per decision)."""
    order = sorted(decisions)
    columns = {
        "idx": order,
        "reason": [decisions[i].reason for i in order],
        "evidence": [decisions[i].evidence for i in order],
        "kept_idx": [decisions[i].kept_idx for i in order],
    }
    path.write_bytes(_dumps(columns))


def load_decisions(path: Path) -> dict[int, Decision]:
    c = _loads(path.read_bytes())
    return {i: Decision(r, e, k) for i, r, e, k in zip(c["idx"], c["reason"], c["evidence"], c["kept_idx"])}
