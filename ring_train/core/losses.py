"""GRPO-family token losses and their aggregation.

Every function works on per-token tensors ``[B, T]`` with a 0/1 ``mask`` of the tokens that train.
Aggregation is split in two so gradient accumulation stays exact (verl #5625): the *normalizer* is
computed once for the whole optimizer step (:func:`step_normalizer`), and each micro-batch contributes
``sum(loss over its tokens) / normalizer`` (:func:`aggregate`). Summing micro-batch losses therefore
equals the loss of the whole step computed at once, whatever the micro-batch split.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

AGGREGATIONS = ("token-mean", "seq-mean", "constant")
KL_ESTIMATORS = ("k1", "k2", "k3")


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log π(target) per position; logits ``[B, T, V]``, targets ``[B, T]``."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the next-token distribution at each position, ``[B, T]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(π || π_ref) from samples of π (Schulman's k1/k2/k3)."""
    log_ratio = logp - ref_logp
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio.pow(2)
    if estimator == "k3":
        # exp(ref - logp) - (ref - logp) - 1 >= 0, unbiased and low variance
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kl estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


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
    adv = advantages.expand_as(logp)
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


def truncated_is_weights(old_logp: torch.Tensor, sampler_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """Per-token truncated importance weights ``min(π_old / π_sampler, cap)`` for rollouts drawn by
    another engine (vLLM's kernels and dtype give slightly different probabilities than the trainer's
    forward), so the policy gradient stays on-policy in expectation; the cap bounds the variance.
    A NaN sampler log-prob (unknown) gets weight 1. No gradient flows through the weights."""
    log_ratio = (old_logp.detach() - sampler_logp).nan_to_num(nan=0.0)
    return log_ratio.exp().clamp(max=cap)


def step_normalizer(mode: str, kept_lengths: Sequence[int], budget: int | None = None) -> float:
    """The denominator of one optimizer step's loss, computed over ALL its micro-batches.

    token-mean: number of trained tokens (DAPO); seq-mean: number of trained sequences (each sequence
    is first averaged over its own tokens, GRPO); constant: the fixed budget Φ (C3PO; with Φ = max
    response length x sequences this is Dr. GRPO's constant normaliser)."""
    if mode == "token-mean":
        return float(max(1, sum(kept_lengths)))
    if mode == "seq-mean":
        return float(max(1, sum(1 for n in kept_lengths if n > 0)))
    if mode == "constant":
        if not budget or budget <= 0:
            raise ValueError("aggregation 'constant' needs a positive budget Φ")
        return float(budget)
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {mode!r}")


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str, normalizer: float) -> torch.Tensor:
    """This micro-batch's share of the step loss: ``Σ loss·mask / normalizer`` (seq-mean: each row is
    averaged over its own tokens first). Sum the results over micro-batches; never average them."""
    mask = mask.to(per_token.dtype)
    if mode == "seq-mean":
        per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        return per_seq[mask.sum(-1) > 0].sum() / normalizer
    if mode in ("token-mean", "constant"):
        return (per_token * mask).sum() / normalizer
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {mode!r}")
