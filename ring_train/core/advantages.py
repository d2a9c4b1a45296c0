"""Group advantages for K responses per prompt (rewards ``[G, K]``) and dynamic filtering (DAPO).

Estimators register themselves by name (``@register_advantage("grpo")``); ``advantage.method`` in the
config accepts exactly the registered names. An estimator is a pure function ``rewards [G, K] float32 ->
advantages [G, K]`` and declares the smallest group it is defined for (RLOO needs two responses), which
the config loader checks against ``rollout.group_size``. :func:`group_advantages` applies the rule every
estimator shares: a group whose rewards are all equal carries no signal and gets advantages of exactly 0
(float noise in ``R - mean`` divided by a ~0 std would otherwise train noise).

A new estimator, from user code::

    from ring_train.core.advantages import register_advantage

    @register_advantage("mean-baseline", min_group_size=2)
    def mean_baseline(rewards):
        return rewards - rewards.mean(dim=1, keepdim=True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .registry import Registry


@dataclass(frozen=True)
class AdvantageEstimator:
    name: str
    compute: Callable[[torch.Tensor], torch.Tensor]  # rewards [G, K] float32 -> advantages [G, K]
    min_group_size: int = 1  # responses per prompt the estimator needs (checked at config load)
    openrlhf: str | None = None  # OpenRLHF's --algo.advantage.estimator with the same math, if any


ADVANTAGES: Registry[AdvantageEstimator] = Registry("advantage estimator")


def register_advantage(name: str, *, min_group_size: int = 1, openrlhf: str | None = None, replace=False):
    """Decorator: register ``fn(rewards [G, K]) -> advantages [G, K]`` as ``advantage.method: name``."""
    if min_group_size < 1:
        raise ValueError(f"min_group_size must be >= 1, got {min_group_size}")
    return ADVANTAGES.decorator(
        name, lambda fn: AdvantageEstimator(name, fn, min_group_size, openrlhf), replace=replace
    )


def get_advantage(name: str) -> AdvantageEstimator:
    return ADVANTAGES.get(name)


GRPO_EPS = 1e-6


@register_advantage("grpo", openrlhf="group_norm")
def grpo(rewards: torch.Tensor) -> torch.Tensor:
    """(R - mean) / (std + eps), sample std as in DeepSeekMath."""
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True) if rewards.shape[1] > 1 else torch.zeros_like(mean)
    return (rewards - mean) / (std + GRPO_EPS)


def _centered(rewards: torch.Tensor) -> torch.Tensor:
    return rewards - rewards.mean(dim=1, keepdim=True)


# Dr. GRPO drops the std (pair it with a constant loss normaliser); both names are kept for configs
register_advantage("grpo-nostd", openrlhf="dr_grpo")(_centered)
register_advantage("dr-grpo", openrlhf="dr_grpo")(_centered)


@register_advantage("rloo", min_group_size=2, openrlhf="rloo")
def rloo(rewards: torch.Tensor) -> torch.Tensor:
    """R minus the mean of the other K-1 responses (leave-one-out baseline)."""
    k = rewards.shape[1]
    return (rewards - rewards.mean(dim=1, keepdim=True)) * (k / (k - 1))


def group_advantages(rewards: torch.Tensor, method: str = "grpo") -> torch.Tensor:
    """Per-response advantages of the registered estimator ``method``, computed on the full groups;
    all-equal groups get exactly 0."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be [groups, K], got shape {tuple(rewards.shape)}")
    estimator = get_advantage(method)
    if rewards.shape[1] < estimator.min_group_size:
        raise ValueError(f"{method} needs a group size of at least {estimator.min_group_size}")
    rewards = rewards.float()
    advantages = estimator.compute(rewards)
    if advantages.shape != rewards.shape:
        raise ValueError(
            f"{method} returned shape {tuple(advantages.shape)} for rewards {tuple(rewards.shape)}"
        )
    return torch.where(zero_variance_groups(rewards)[:, None], torch.zeros_like(advantages), advantages)


def zero_variance_groups(rewards: torch.Tensor, tol: float = 1e-8) -> torch.Tensor:
    """``[G]`` bool: groups whose rewards are all equal (no learning signal; DAPO filters them). Uses the
    spread, not the mean, so it is right for non-binary rewards too (OpenRLHF #1270)."""
    return (rewards.max(dim=1).values - rewards.min(dim=1).values) <= tol
