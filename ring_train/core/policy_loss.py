"""One micro-batch's policy loss, as a pure function: tensors in, ``(loss, metrics)`` out.

The loss is the clipped surrogate (token-level ratios, or GSPO's one ratio per sequence with
``ratio_level="sequence"``; importance-weighted when another engine sampled the tokens), plus
the KL penalty to the reference and minus the entropy bonus, aggregated as this micro-batch's share of
the step loss. ``metrics`` are sums over the micro-batch's trained tokens (divide by ``tokens`` for
means), so the caller adds them up over micro-batches, lanes and ranks without weighting. What the
caller keeps (e.g. only the first PPO epoch's metrics) is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .losses import (
    aggregate,
    clipped_surrogate,
    kl_penalty,
    sequence_clipped_surrogate,
    truncated_is_weights,
)

RATIO_LEVELS = ("token", "sequence")


@dataclass(frozen=True)
class LossSettings:
    eps_low: float = 0.2
    eps_high: float = 0.2
    dual_clip: float | None = None
    kl_beta: float = 0.0
    kl_estimator: str = "k3"
    entropy_coef: float = 0.0
    tis_cap: float | None = 2.0  # None: no importance weights even when sampler log-probs are given
    ratio_level: str = "token"  # token: PPO/GRPO/C3PO per-token ratios; sequence: GSPO's per-sequence ratio

    @classmethod
    def of(cls, loss_config) -> LossSettings:
        """The settings in a config section with these field names (``RLConfig.loss``)."""
        return cls(**{f.name: getattr(loss_config, f.name) for f in fields(cls)})


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    entropy: torch.Tensor,
    *,
    settings: LossSettings,
    aggregation: str,
    normalizer: float,
    ref_logp: torch.Tensor | None = None,
    sampler_logp: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``logp`` (grad-tracked), ``old_logp`` (π_old), ``entropy`` and ``mask`` are ``[B, T]``;
    ``advantages`` broadcasts (``[B, 1]``). With ``settings.ratio_level == "sequence"`` the ratio and its
    clip are per sequence (GSPO; ``clipped`` then counts the tokens of clipped sequences). ``ref_logp`` adds the KL term (weighted by ``kl_beta``);
    ``sampler_logp`` (NaN = unknown) weights each token by ``min(π_old / π_sampler, tis_cap)``.

    Returns the micro-batch's loss share (sum these over the step's micro-batches) and metric sums:
    ``tokens``, ``loss``, ``clipped``, ``entropy``; ``kl`` with a reference; ``is_weight``,
    ``is_capped`` and ``sampler_gap`` (Σ log π_sampler - log π_old) with importance weights."""
    clip = {"eps_low": settings.eps_low, "eps_high": settings.eps_high, "dual_clip": settings.dual_clip}
    if settings.ratio_level == "sequence":
        per_token, clipped = sequence_clipped_surrogate(logp, old_logp, advantages, mask, **clip)
    elif settings.ratio_level == "token":
        per_token, clipped = clipped_surrogate(logp, old_logp, advantages, **clip)
    else:
        raise ValueError(
            f"ratio_level must be one of {', '.join(RATIO_LEVELS)}, got {settings.ratio_level!r}"
        )
    metrics: dict[str, float] = {}
    if sampler_logp is not None and settings.tis_cap is not None:
        weights = truncated_is_weights(old_logp, sampler_logp, settings.tis_cap)
        per_token = per_token * weights
        metrics["is_weight"] = float((weights * mask).sum())
        metrics["is_capped"] = float(((weights >= settings.tis_cap).float() * mask).sum())
        metrics["sampler_gap"] = float(((sampler_logp - old_logp).nan_to_num(0.0) * mask).sum())
    if ref_logp is not None:
        kl = kl_penalty(logp, ref_logp, settings.kl_estimator)
        per_token = per_token + settings.kl_beta * kl
        metrics["kl"] = float((kl.detach() * mask).sum())
    if settings.entropy_coef:
        per_token = per_token - settings.entropy_coef * entropy
    loss = aggregate(per_token, mask, aggregation, normalizer)
    metrics["clipped"] = float((clipped.float() * mask).sum())
    metrics["entropy"] = float((entropy.detach() * mask).sum())
    metrics["tokens"] = float(mask.sum())
    metrics["loss"] = float(loss.detach())
    return loss, metrics
