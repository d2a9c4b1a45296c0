"""Mixture-of-Experts router losses and metrics, as pure torch functions of router logits and top-k
expert indices.

Shapes: ``logits`` ``[N, L, E]`` (N routed tokens, L MoE layers, E experts), ``topk`` ``[N, L, k]``
(the experts each layer chose for each token), ``mask`` ``[N]`` (1 = the token counts, 0 = padding).
Every function returns sums over the masked tokens where the quantity adds up over micro-batches
(the caller divides at the end), or the value itself where it does not.

- :func:`load_balancing_loss`: the Switch-Transformer balancing loss exactly as transformers'
  ``load_balancing_loss_func`` computes it for Qwen2/3-MoE and Mixtral (counts and router
  probabilities pooled over layers; a perfectly balanced router scores ``k``); Ring-lite's α_balance
  term (Eq. 5).
- :func:`z_loss_sum`: the router z-loss (ST-MoE; Ring-lite's α_zloss term): Σ over tokens and layers of
  ``logsumexp(logits)²``.
- :func:`expert_counts` and :func:`load_cv`: how many routing slots each expert of each layer took, and
  the coefficient of variation of those counts (0 = perfectly even load; ``sqrt(E/k - 1)`` = every
  token of a layer on the same k experts), averaged over layers.
- :func:`router_entropy_sum`: entropy (nats) of each token's router distribution, averaged over layers
  (``ln E`` = uniform, 0 = one expert takes all the probability).
- :func:`routing_drift`: which tokens a second forward routed to a different top-k expert *set* than the
  first (the rollout pass vs the training pass: the mismatch that destabilises MoE RL).
"""

from __future__ import annotations

import torch


def _mask(mask: torch.Tensor | None, n: int, device) -> torch.Tensor:
    if mask is None:
        return torch.ones(n, device=device)
    return mask.reshape(n).to(device=device, dtype=torch.float32)


def load_balancing_loss(
    logits: torch.Tensor, topk: torch.Tensor, num_experts: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``num_experts · Σ_e f_e · P_e`` with ``f_e`` = top-k slots routed to expert e per token and
    ``P_e`` = mean router probability of e, both over the masked tokens of all layers pooled (the
    formula of transformers' ``load_balancing_loss_func`` with an ``attention_mask``). Gradient flows
    through ``P`` only. 0 when no token is masked in."""
    n, layers, e = logits.shape
    w = _mask(mask, n, logits.device)
    rows = w.sum() * layers
    if float(rows) == 0:
        return logits.sum() * 0.0
    probs = torch.softmax(logits.float(), dim=-1)  # [N, L, E]
    prob_per_expert = (probs * w[:, None, None]).sum(dim=(0, 1)) / rows
    slots = torch.zeros(e, dtype=torch.float32, device=logits.device)
    weights = w[:, None, None].expand(n, layers, topk.shape[-1]).reshape(-1)
    slots = slots.scatter_add_(0, topk.reshape(-1).long(), weights)
    tokens_per_expert = slots / rows
    return num_experts * torch.sum(tokens_per_expert * prob_per_expert)


def z_loss_sum(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Σ over masked tokens and layers of ``logsumexp(router logits)²`` (divide by tokens x layers for
    the z-loss mean)."""
    n = logits.shape[0]
    w = _mask(mask, n, logits.device)
    z = torch.logsumexp(logits.float(), dim=-1).pow(2)  # [N, L]
    return (z * w[:, None]).sum()


def expert_counts(topk: torch.Tensor, num_experts: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``[L, E]``: routing slots each expert of each layer received from the masked tokens (adds up over
    micro-batches)."""
    n, layers, k = topk.shape
    w = _mask(mask, n, topk.device)
    counts = torch.zeros(layers, num_experts, dtype=torch.float32, device=topk.device)
    index = topk.long().permute(1, 0, 2).reshape(layers, n * k)
    return counts.scatter_add_(1, index, w.repeat_interleave(k)[None].expand(layers, n * k).contiguous())


def load_cv(counts: torch.Tensor) -> float:
    """Coefficient of variation (population std / mean) of each layer's expert counts ``[L, E]``,
    averaged over the layers that routed anything; NaN when none did."""
    mean = counts.mean(dim=-1)
    used = mean > 0
    if not bool(used.any()):
        return float("nan")
    cv = counts.std(dim=-1, unbiased=False)[used] / mean[used]
    return float(cv.mean())


def router_entropy_sum(logits: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Σ over masked tokens of the router distribution's entropy (nats), averaged over layers."""
    n = logits.shape[0]
    w = _mask(mask, n, logits.device)
    logp = torch.log_softmax(logits.detach().float(), dim=-1)
    ent = -(logp.exp() * logp).sum(-1).mean(-1)  # [N]
    return float((ent * w).sum())


def routing_drift(
    first: torch.Tensor, second: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[float, float, float, float]:
    """``first`` and ``second`` ``[N, L, k]``: the top-k experts two forwards chose for the same tokens
    (order within k ignored). Returns sums over the masked tokens: ``(routing decisions (token, layer)
    whose expert set differs, routing decisions, tokens with a different set in at least one layer,
    tokens)``."""
    n, layers = first.shape[:2]
    w = _mask(mask, n, first.device)
    same = (first.sort(dim=-1).values == second.to(first.device).sort(dim=-1).values).all(dim=-1)  # [N, L]
    changed = (~same).float()
    tokens = float(w.sum())
    any_layer = float((changed.amax(-1) * w).sum()) if layers else 0.0
    return float((changed.sum(-1) * w).sum()), tokens * layers, any_layer, tokens
