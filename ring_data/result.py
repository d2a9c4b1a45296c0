"""One result shape for the data commands: ``clean``, ``verify`` and ``annotate`` are library calls that
write their own stats (``OUT.stats.json``) and report, and return a :class:`CommandResult`.

Every stats file starts with the same keys (:func:`finish`): ``command``, ``inputs``, ``output``,
``rejects``, ``rows_in``, ``kept``, ``rejected``, ``in_equals_kept_plus_rejected``,
``rejected_by_reason`` and ``seconds``, all over the whole output (a resumed run's earlier rows
included); what a command adds comes after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtime import write_stats


@dataclass
class CommandResult:
    command: str  # e.g. "ring-data clean"
    rows_in: int
    kept: int
    rejected: int
    rejected_by_reason: dict[str, int]
    output: Path
    rejects: Path
    stats_path: Path
    report_dir: Path | None
    seconds: float
    stats: dict[str, Any]  # everything written to ``stats_path``

    @property
    def balanced(self) -> bool:
        """Input rows = kept + rejected (a resumed run over changed input can break it)."""
        return self.rows_in == self.kept + self.rejected

    @property
    def conservation(self) -> str:
        return f"{self.rows_in} in = {self.kept} kept + {self.rejected} rejected"


def finish(
    command: str,
    *,
    inputs: Sequence[str | Path] | str | Path,
    output: str | Path,
    rejects: str | Path,
    rows_in: int,
    kept: int,
    rejected: int,
    rejected_by_reason: dict[str, int],
    seconds: float,
    report_dir: str | Path | None = None,
    details: dict[str, Any] | None = None,
) -> CommandResult:
    """Write the command's stats next to ``output`` (the common keys first, then ``details``) and
    return its result. The caller writes its report after, from ``result.stats``."""
    inputs = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    stats: dict[str, Any] = {
        "command": command,
        "inputs": [str(p) for p in inputs],
        "output": str(output),
        "rejects": str(rejects),
        "rows_in": rows_in,
        "kept": kept,
        "rejected": rejected,
        "in_equals_kept_plus_rejected": rows_in == kept + rejected,
        "rejected_by_reason": dict(rejected_by_reason),
        "seconds": round(seconds, 3),
        **(details or {}),
    }
    path = write_stats(output, stats)
    return CommandResult(
        command,
        rows_in,
        kept,
        rejected,
        dict(rejected_by_reason),
        Path(output),
        Path(rejects),
        path,
        Path(report_dir) if report_dir else None,
        seconds,
        stats,
    )
