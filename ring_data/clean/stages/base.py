"""The one protocol of a clean stage after ingest (decontamination, exact dedup, near dedup).

A stage takes the ingested rows, the mask of rows still alive and the run's config, and returns its
decisions (``row index -> Decision``; it never drops a row itself) and its stats. The run saves both
in the work directory under a fingerprint of the stage's :meth:`~Stage.settings` and the stages
before it, so a resumed run skips it when nothing it depends on changed (``ring_data.clean.resume``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..config import CleanConfig
from ..decisions import Decision
from ..ingest import Ingested


@dataclass
class StageResult:
    decisions: dict[int, Decision]
    stats: dict[str, Any] = field(default_factory=dict)  # JSON: goes to ``stats["stages"][name]``


class Stage(Protocol):
    name: str

    def enabled(self, config: CleanConfig) -> bool:
        """Does this run include the stage?"""
        ...

    def settings(self, config: CleanConfig) -> list:
        """Everything the stage's result depends on besides the rows (JSON; part of its fingerprint)."""
        ...

    def run(self, rows: Ingested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        """Decide about the ``alive`` rows of ``rows``."""
        ...
