"""GRPO-family token losses, KL estimators and loss aggregations.

Every function works on per-token tensors ``[B, T]`` with a 0/1 ``mask`` of the tokens that train.
Aggregation is split in two so gradient accumulation stays exact (verl #5625): the *normalizer* is
computed once for the whole optimizer step (:func:`step_normalizer`), and each micro-batch contributes
``numerator(its tokens) / normalizer`` (:func:`aggregate`). Summing micro-batch losses therefore
equals the loss of the whole step computed at once, whatever the micro-batch split.

Aggregations and KL estimators register themselves by name (``@register_aggregation``,
``@register_kl``); ``loss.aggregation`` and ``loss.kl_estimator`` accept exactly the registered names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .registry import Registry

# ---- per-token quantities ------------------------------------------------------------------------


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log π(target) per position; logits ``[B, T, V]``, targets ``[B, T]``."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the next-token distribution at each position, ``[B, T]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def _clip(
    ratio: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float, dual_clip: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``max(-A·r, -A·clip(r, 1-ε_low, 1+ε_high))`` (optionally dual-clipped) and where the clip bit."""
    unclipped = -adv * ratio
    clipped_loss = -adv * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    loss = torch.maximum(unclipped, clipped_loss)
    clipped = clipped_loss > unclipped
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
        bound = -adv * dual_clip
        dual = (adv < 0) & (loss > bound)
        loss = torch.where(adv < 0, torch.minimum(loss, bound), loss)
        clipped = clipped | dual
    return loss, clipped


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped surrogate as a per-token loss to minimise, with separate low/high ε (DAPO clip-higher)
    and optional dual clip (bounds the loss of negative-advantage tokens at ``dual_clip * |A|``).
    ``advantages`` broadcasts against ``logp`` (``[B, 1]`` for sequence-level advantages).
    Returns ``(loss, clipped)`` where ``clipped`` marks tokens whose gradient the clip removed."""
    ratio = torch.exp(logp - old_logp)
    return _clip(ratio, advantages.expand_as(logp), eps_low, eps_high, dual_clip)


def sequence_log_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B, 1]``: GSPO's ``log s_i = (1/|y_i|) Σ_t log(π_θ(y_i,t) / π_old(y_i,t))`` over each row's
    masked (trained) tokens; 0 for a row without any."""
    m = mask.to(logp.dtype)
    return ((logp - old_logp) * m).sum(-1, keepdim=True) / m.sum(-1, keepdim=True).clamp(min=1.0)


def sequence_clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GSPO (arXiv 2507.18071): one importance ratio per sequence, ``s_i = exp(sequence_log_ratio)``,
    clipped as a whole (``min(s_i·A_i, clip(s_i, 1-ε_low, 1+ε_high)·A_i)``, dual clip as in
    :func:`clipped_surrogate`). Returns ``[B, T]`` tensors like :func:`clipped_surrogate`: each token
    carries its sequence's loss and clip flag, so the aggregation decides how sequences weigh (``seq-mean``:
    GSPO's mean over sequences, exactly; token sums weigh each sequence by its trained tokens). The
    gradient of ``s_i`` is ``s_i`` times the mean of the sequence's token score functions."""
    ratio = torch.exp(sequence_log_ratio(logp, old_logp, mask)).expand_as(logp)
    return _clip(ratio, advantages.expand_as(logp), eps_low, eps_high, dual_clip)


def truncated_is_weights(old_logp: torch.Tensor, sampler_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """Per-token truncated importance weights ``min(π_old / π_sampler, cap)`` for rollouts drawn by
    another engine (vLLM's kernels and dtype give slightly different probabilities than the trainer's
    forward), so the policy gradient stays on-policy in expectation; the cap bounds the variance.
    A NaN sampler log-prob (unknown) gets weight 1. No gradient flows through the weights."""
    log_ratio = (old_logp.detach() - sampler_logp).nan_to_num(nan=0.0)
    return log_ratio.exp().clamp(max=cap)


# ---- KL estimators -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KLEstimator:
    name: str
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logp, ref_logp) -> per-token KL
    openrlhf: str | None = None  # OpenRLHF's --algo.kl.estimator with the same formula, if any


KL_ESTIMATORS: Registry[KLEstimator] = Registry("KL estimator")


def register_kl(name: str, *, openrlhf: str | None = None, replace: bool = False):
    """Decorator: register ``fn(logp, ref_logp) -> per-token KL(π || π_ref)`` as ``loss.kl_estimator``."""
    return KL_ESTIMATORS.decorator(name, lambda fn: KLEstimator(name, fn, openrlhf), replace=replace)


# Schulman's estimators of KL(π || π_ref) from samples of π
@register_kl("k1", openrlhf="k1")
def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    return logp - ref_logp


@register_kl("k2", openrlhf="k2")
def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    return 0.5 * (logp - ref_logp).pow(2)


@register_kl("k3", openrlhf="k3")
def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    log_ratio = logp - ref_logp
    # exp(ref - logp) - (ref - logp) - 1 >= 0, unbiased and low variance
    return torch.expm1(-log_ratio) + log_ratio


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(π || π_ref) by the registered ``estimator``."""
    return KL_ESTIMATORS.get(estimator).compute(logp, ref_logp)


# ---- aggregations --------------------------------------------------------------------------------


def token_sum(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ loss over the micro-batch's trained tokens."""
    return (per_token * mask).sum()


def sequence_mean_sum(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ over the micro-batch's trained sequences of each one's mean token loss."""
    per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return per_seq[mask.sum(-1) > 0].sum()


@dataclass(frozen=True)
class Aggregation:
    name: str
    # the step's denominator from the kept tokens per response (and the budget Φ), over ALL micro-batches
    normalizer: Callable[[Sequence[int], int | None], float]
    numerator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = token_sum  # one micro-batch's share
    needs_budget: bool = False  # divides by Φ: only valid with c3po.enabled (checked at config load)
    openrlhf: str | None = None  # OpenRLHF's --actor.loss_agg_mode computing the same, if any


AGGREGATIONS: Registry[Aggregation] = Registry("loss aggregation")


def register_aggregation(
    name: str,
    *,
    numerator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = token_sum,
    needs_budget: bool = False,
    openrlhf: str | None = None,
    replace: bool = False,
):
    """Decorator: register ``normalizer(kept_lengths, budget) -> float`` (with its micro-batch
    ``numerator(per_token, mask)``) as ``loss.aggregation: name``."""
    return AGGREGATIONS.decorator(
        name, lambda fn: Aggregation(name, fn, numerator, needs_budget, openrlhf), replace=replace
    )


@register_aggregation("token-mean", openrlhf="token-mean")
def token_mean(kept_lengths: Sequence[int], budget: int | None = None) -> float:
    """Number of trained tokens (DAPO)."""
    return float(max(1, sum(kept_lengths)))


@register_aggregation("seq-mean", numerator=sequence_mean_sum, openrlhf="seq-mean-token-mean")
def seq_mean(kept_lengths: Sequence[int], budget: int | None = None) -> float:
    """Number of trained sequences, each first averaged over its own tokens (GRPO)."""
    return float(max(1, sum(1 for n in kept_lengths if n > 0)))


# OpenRLHF: token-mean whose token count the C3PO patch pins to Φ
@register_aggregation("constant", needs_budget=True, openrlhf="token-mean")
def constant(kept_lengths: Sequence[int], budget: int | None = None) -> float:
    """The fixed budget Φ (C3PO; with Φ = max response length x sequences this is Dr. GRPO's
    constant normaliser)."""
    if not budget or budget <= 0:
        raise ValueError("aggregation 'constant' needs a positive budget Φ")
    return float(budget)


def step_normalizer(mode: str, kept_lengths: Sequence[int], budget: int | None = None) -> float:
    """The denominator of one optimizer step's loss under aggregation ``mode``."""
    return AGGREGATIONS.get(mode).normalizer(kept_lengths, budget)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str, normalizer: float) -> torch.Tensor:
    """This micro-batch's share of the step loss: ``numerator / normalizer``. Sum the results over
    micro-batches; never average them."""
    return AGGREGATIONS.get(mode).numerator(per_token, mask.to(per_token.dtype)) / normalizer
