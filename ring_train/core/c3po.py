"""C3PO step planner (Ring-lite Eq. 3): keep responses greedily, end to end, up to a fixed token budget Φ.

Runs after group advantages are computed on full groups. Responses are visited in batch order (or a
seeded shuffle); each is kept whole while it fits, the one that straddles Φ is truncated, the rest are
dropped for this step. With ``budget=None`` (``--c3po off``) every token is kept: plain sample-level GRPO.
Scope ``rank`` splits the responses into ``dp_size`` contiguous shards (as data-parallel ranks see them)
and gives each shard its own budget Φ; scope ``global`` fills one budget over all responses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StepPlan:
    keep: tuple[int, ...]  # tokens kept per response, in input order (0 = dropped)
    lengths: tuple[int, ...]  # full response lengths
    budget: int | None  # Φ per scope unit (None: c3po off)
    n_units: int  # 1 for global scope, dp_size for rank scope

    @property
    def kept_tokens(self) -> int:
        return sum(self.keep)

    @property
    def total_tokens(self) -> int:
        return sum(self.lengths)

    @property
    def dropped_tokens(self) -> int:
        return self.total_tokens - self.kept_tokens

    @property
    def normalizer(self) -> int | None:
        """The constant Φ of the loss (summed over ranks for rank scope); None when c3po is off."""
        return None if self.budget is None else self.budget * self.n_units

    @property
    def fill_ratio(self) -> float:
        """Kept tokens / Φ (1.0 whenever the rollout has at least Φ tokens); kept/total when off."""
        denom = self.normalizer if self.normalizer is not None else self.total_tokens
        return self.kept_tokens / denom if denom else 0.0

    @property
    def n_truncated(self) -> int:
        return sum(1 for k, n in zip(self.keep, self.lengths) if 0 < k < n)

    @property
    def n_dropped(self) -> int:
        return sum(1 for k, n in zip(self.keep, self.lengths) if k == 0 and n > 0)

    def stats(self) -> dict[str, float]:
        return {
            "c3po/kept_tokens": self.kept_tokens,
            "c3po/total_tokens": self.total_tokens,
            "c3po/dropped_tokens": self.dropped_tokens,
            "c3po/fill_ratio": self.fill_ratio,
            "c3po/truncated_responses": self.n_truncated,
            "c3po/dropped_responses": self.n_dropped,
        }


def visit_order(n: int, order: str, seed: int | None = None) -> list[int]:
    if order == "batch":
        return list(range(n))
    if order == "shuffle":
        idx = list(range(n))
        random.Random(seed).shuffle(idx)
        return idx
    raise ValueError(f"c3po order must be 'batch' or 'shuffle', got {order!r}")


def _fill(lengths: Sequence[int], indices: Sequence[int], budget: int, keep: list[int]) -> None:
    used = 0
    for i in indices:
        if used >= budget:
            break
        take = min(lengths[i], budget - used)
        keep[i] = take
        used += take


def plan_step(
    lengths: Sequence[int],
    budget: int | None,
    *,
    scope: str = "global",
    dp_size: int = 1,
    order: str = "batch",
    seed: int | None = None,
) -> StepPlan:
    """Plan which tokens of each response train this step. ``lengths`` are response token counts in
    batch order (prompt 1's K responses, then prompt 2's, ...)."""
    lengths = [int(n) for n in lengths]
    if any(n < 0 for n in lengths):
        raise ValueError("response lengths must be >= 0")
    if budget is None:
        return StepPlan(tuple(lengths), tuple(lengths), None, 1)
    if budget <= 0:
        raise ValueError(f"c3po budget must be a positive token count, got {budget}")
    keep = [0] * len(lengths)
    if scope == "global":
        _fill(lengths, visit_order(len(lengths), order, seed), budget, keep)
        return StepPlan(tuple(keep), tuple(lengths), budget, 1)
    if scope != "rank":
        raise ValueError(f"c3po scope must be 'global' or 'rank', got {scope!r}")
    if dp_size < 1:
        raise ValueError("dp_size must be >= 1")
    for rank, shard in enumerate(rank_shards(len(lengths), dp_size)):
        local = visit_order(len(shard), order, None if seed is None else seed + rank)
        _fill(lengths, [shard[j] for j in local], budget, keep)
    return StepPlan(tuple(keep), tuple(lengths), budget, dp_size)


def rank_shards(n: int, dp_size: int) -> list[list[int]]:
    """Contiguous, near-equal shards of ``range(n)``, one per data-parallel rank."""
    base, extra = divmod(n, dp_size)
    shards, start = [], 0
    for r in range(dp_size):
        size = base + (1 if r < extra else 0)
        shards.append(list(range(start, start + size)))
        start += size
    return shards
