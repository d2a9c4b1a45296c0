"""Group advantages for K responses per prompt (rewards ``[G, K]``) and dynamic filtering (DAPO)."""

from __future__ import annotations

import torch

METHODS = ("grpo", "grpo-nostd", "dr-grpo", "rloo")


def group_advantages(rewards: torch.Tensor, method: str = "grpo", eps: float = 1e-6) -> torch.Tensor:
    """Per-response advantages, computed on the full group.

    grpo: (R - mean) / (std + eps) (sample std, as in DeepSeekMath); grpo-nostd and dr-grpo: R - mean
    (Dr. GRPO drops the std; pair it with a constant loss normaliser); rloo: R minus the mean of the
    other K-1 responses (leave-one-out baseline)."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be [groups, K], got shape {tuple(rewards.shape)}")
    rewards = rewards.float()
    k = rewards.shape[1]
    mean = rewards.mean(dim=1, keepdim=True)
    if method == "grpo":
        std = rewards.std(dim=1, keepdim=True) if k > 1 else torch.zeros_like(mean)
        return (rewards - mean) / (std + eps)
    if method in ("grpo-nostd", "dr-grpo"):
        return rewards - mean
    if method == "rloo":
        if k < 2:
            raise ValueError("rloo needs a group size of at least 2")
        return (rewards - mean) * (k / (k - 1))
    raise ValueError(f"advantage method must be one of {METHODS}, got {method!r}")


def zero_variance_groups(rewards: torch.Tensor, tol: float = 1e-8) -> torch.Tensor:
    """``[G]`` bool: groups whose rewards are all equal (no learning signal; DAPO filters them). Uses the
    spread, not the mean, so it is right for non-binary rewards too (OpenRLHF #1270)."""
    return (rewards.max(dim=1).values - rewards.min(dim=1).values) <= tol
