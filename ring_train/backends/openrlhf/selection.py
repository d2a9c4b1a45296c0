"""C3PO on OpenRLHF's data structures: cut a rollout's ``Experience`` list to the token budget Φ.

The plan itself comes from ``ring_train.core.c3po.plan_step`` (the same planner the embedded backend
uses); this module only maps it onto OpenRLHF objects: responses are visited in batch order, the one
that straddles Φ keeps its first tokens (its ``action_mask`` tail is cleared), later ones are removed.
Advantages were already computed on full groups, so kept responses keep theirs.
"""

from __future__ import annotations

from ring_train.core.c3po import StepPlan, plan_step


def _rows(exp) -> list[int]:
    counts = exp.action_mask.sum(dim=-1)
    return [int(counts)] if counts.dim() == 0 else [int(n) for n in counts.tolist()]


def response_lengths(experiences) -> list[int]:
    """Response-token count of every sample, in batch order (batched or single-sample experiences)."""
    return [n for exp in experiences for n in _rows(exp)]


def truncate_action_mask(mask, keep: int):
    """Keep the first ``keep`` action tokens of one row (positions counted among True entries)."""
    return mask & (mask.long().cumsum(dim=-1) <= keep)


def apply_plan(experiences, plan: StepPlan, *, packing_samples: bool = False) -> list:
    """Return the experiences cut to ``plan``: dropped samples removed, the straddler truncated.
    Batched experiences stay batched; single-sample ones (a replay buffer's items) stay single."""
    from openrlhf.trainer.ppo_utils.experience import make_experience_batch, split_experience_batch

    out, i = [], 0
    for exp in experiences:
        single = exp.action_mask.dim() == 1
        kept_items = []
        for item in [exp] if single else split_experience_batch(exp):
            keep, full = plan.keep[i], plan.lengths[i]
            i += 1
            if keep == 0 and full > 0:
                continue
            if keep < full:
                item.action_mask = truncate_action_mask(item.action_mask, keep)
            kept_items.append(item)
        if kept_items:
            out.extend(
                kept_items if single else [make_experience_batch(kept_items, packing_samples=packing_samples)]
            )
    return out


def select_experiences(
    experiences, budget: int, *, order: str = "batch", seed: int | None = None, packing_samples: bool = False
) -> tuple[list, StepPlan]:
    """Global-scope C3PO selection over one rollout's experiences."""
    plan = plan_step(response_lengths(experiences), budget, scope="global", order=order, seed=seed)
    return apply_plan(experiences, plan, packing_samples=packing_samples), plan
