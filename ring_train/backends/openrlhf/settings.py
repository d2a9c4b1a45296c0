"""C3PO settings passed to OpenRLHF's Ray workers through environment variables.

OpenRLHF's argument parser rejects unknown flags, so the budget travels as ``RING_C3PO_*`` variables
set in the Ray ``runtime_env``; every worker reads them here. Stdlib only: this is imported inside
vLLM workers too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PREFIX = "RING_C3PO_"


@dataclass(frozen=True)
class C3POSettings:
    budget: int | None  # Φ (per rank for scope "rank"); None = c3po off
    scope: str = "global"
    order: str = "batch"
    seed: int = 0

    def to_env(self) -> dict[str, str]:
        return {
            PREFIX + "BUDGET": "off" if self.budget is None else str(self.budget),
            PREFIX + "SCOPE": self.scope,
            PREFIX + "ORDER": self.order,
            PREFIX + "SEED": str(self.seed),
        }

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> C3POSettings:
        env = os.environ if env is None else env
        raw = env.get(PREFIX + "BUDGET", "off")
        budget = None if raw in ("", "off", "none") else int(raw)
        return cls(
            budget,
            env.get(PREFIX + "SCOPE", "global"),
            env.get(PREFIX + "ORDER", "batch"),
            int(env.get(PREFIX + "SEED", "0")),
        )
