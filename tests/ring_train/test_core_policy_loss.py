"""The per-micro-batch policy loss is a pure function: tensors in, ``(loss, metric sums)`` out."""

import pytest
import torch

from ring_train.core.losses import aggregate, clipped_surrogate, kl_penalty
from ring_train.core.policy_loss import LossSettings, policy_loss


def _batch():
    torch.manual_seed(0)
    logp = (torch.randn(3, 4) - 2).requires_grad_()
    old = logp.detach() + 0.1 * torch.randn(3, 4)
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    return logp, old, torch.tensor([[1.0], [-0.5], [0.25]]), mask, torch.rand(3, 4)


def test_the_loss_is_surrogate_plus_kl_minus_entropy_aggregated():
    logp, old, adv, mask, ent = _batch()
    ref = logp.detach() - 0.3
    settings = LossSettings(eps_high=0.28, kl_beta=0.1, kl_estimator="k3", entropy_coef=0.01)
    loss, metrics = policy_loss(
        logp, old, adv, mask, ent, settings=settings, aggregation="token-mean", normalizer=9.0, ref_logp=ref
    )
    surrogate, clipped = clipped_surrogate(logp, old, adv, eps_low=0.2, eps_high=0.28)
    kl = kl_penalty(logp, ref, "k3")
    expected = aggregate(surrogate + 0.1 * kl - 0.01 * ent, mask, "token-mean", 9.0)
    assert torch.equal(loss, expected) and loss.requires_grad
    assert metrics == pytest.approx(
        {
            "tokens": 9.0,
            "loss": float(expected.detach()),
            "clipped": float((clipped.float() * mask).sum()),
            "entropy": float((ent * mask).sum()),
            "kl": float((kl.detach() * mask).sum()),
        }
    )
    loss.backward()
    assert logp.grad is not None and (logp.grad[mask == 0] == 0).all()  # only trained tokens move


def test_importance_weights_apply_only_with_sampler_logprobs_and_a_cap():
    logp, old, adv, mask, ent = _batch()
    kw = {"aggregation": "constant", "normalizer": 64.0}
    plain, plain_metrics = policy_loss(logp, old, adv, mask, ent, settings=LossSettings(), **kw)
    far = old - 100.0  # the sampler found every token far less likely: every weight hits the cap
    capped, metrics = policy_loss(logp, old, adv, mask, ent, settings=LossSettings(), sampler_logp=far, **kw)
    assert torch.allclose(capped, 2 * plain) and "kl" not in metrics and "is_weight" not in plain_metrics
    assert metrics["is_weight"] == pytest.approx(2 * 9) and metrics["is_capped"] == 9
    assert metrics["sampler_gap"] == pytest.approx(-100 * 9, rel=1e-5)
    off, off_metrics = policy_loss(
        logp, old, adv, mask, ent, settings=LossSettings(tis_cap=None), sampler_logp=far, **kw
    )
    assert torch.equal(off, plain) and "is_weight" not in off_metrics


def test_settings_read_from_the_config_section():
    from ring_train.config import LossConfig

    assert LossSettings.of(LossConfig(eps_high=0.28, tis_cap=None)) == LossSettings(
        eps_high=0.28, tis_cap=None
    )
