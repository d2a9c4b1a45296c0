"""Sequence-level importance ratios (GSPO, ``loss.ratio_level: sequence``) against hand-computed
values, next to the token-level (PPO / GRPO / C3PO) loss."""

import math

import pytest
import torch

from ring_train.core.losses import clipped_surrogate, sequence_clipped_surrogate, sequence_log_ratio
from ring_train.core.policy_loss import LossSettings, policy_loss

# two responses: log π - log π_old per token; the second one's third token is not trained (C3PO's cut)
LOG_RATIO = torch.tensor([[0.1, 0.3, 0.0], [-0.1, 0.0, 0.4]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
ADV = torch.tensor([[1.0], [-1.0]])


def _logps(requires_grad=False):
    old = torch.tensor([[-1.0, -2.0, -0.5], [-0.7, -1.2, -3.0]])
    logp = (old + LOG_RATIO).clone().requires_grad_(requires_grad)
    return logp, old


def test_sequence_log_ratio_is_the_mean_over_trained_tokens():
    logp, old = _logps()
    assert sequence_log_ratio(logp, old, MASK).squeeze(-1).tolist() == pytest.approx([0.2, -0.05])
    assert sequence_log_ratio(logp, old, torch.zeros(2, 3)).abs().sum() == 0  # no tokens: ratio 1


def test_gspo_surrogate_by_hand():
    logp, old = _logps(requires_grad=True)
    loss, clipped = sequence_clipped_surrogate(logp, old, ADV, MASK, eps_low=0.2, eps_high=0.2)
    s0, s1 = math.exp(0.2), math.exp(-0.05)  # 1.2214 and 0.9512
    # response 0: A = +1, s0 > 1.2 -> the clip holds it at -1.2 (no gradient); response 1: A = -1,
    # s1 inside [0.8, 1.2] -> loss s1
    assert loss[0].tolist() == pytest.approx([-1.2] * 3)
    assert loss[1].tolist() == pytest.approx([s1] * 3)
    assert clipped.tolist() == [[True] * 3, [False] * 3]
    assert s0 > 1.2
    # seq-mean (GSPO's mean over responses): d/dlogp of s1 is s1 x 1/2 per trained token, / 2 responses
    total = ((loss * MASK).sum(-1) / MASK.sum(-1)).mean()
    assert float(total.detach()) == pytest.approx((-1.2 + s1) / 2)
    total.backward()
    assert logp.grad[0].tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert logp.grad[1].tolist() == pytest.approx([s1 / 4, s1 / 4, 0.0])


def test_token_level_clips_per_token_on_the_same_numbers():
    logp, old = _logps()
    loss, clipped = clipped_surrogate(logp, old, ADV, eps_low=0.2, eps_high=0.2)
    # response 0: ratios e^0.1 = 1.105 (inside) and e^0.3 = 1.350 (clipped at 1.2)
    assert loss[0, :2].tolist() == pytest.approx([-math.exp(0.1), -1.2])
    assert clipped[0, :2].tolist() == [False, True]


def test_policy_loss_switches_on_ratio_level():
    logp, old = _logps()
    ent = torch.zeros(2, 3)
    kw = {"aggregation": "seq-mean", "normalizer": 2.0}
    seq, seq_metrics = policy_loss(
        logp, old, ADV, MASK, ent, settings=LossSettings(ratio_level="sequence"), **kw
    )
    tok, tok_metrics = policy_loss(logp, old, ADV, MASK, ent, settings=LossSettings(), **kw)
    assert float(seq) == pytest.approx((-1.2 + math.exp(-0.05)) / 2)
    assert seq_metrics["clipped"] == 2.0  # both trained tokens of the clipped response
    assert tok_metrics["clipped"] == 1.0  # the one token past 1.2
    assert float(seq) != pytest.approx(float(tok))
    with pytest.raises(ValueError, match="ratio_level"):
        policy_loss(logp, old, ADV, MASK, ent, settings=LossSettings(ratio_level="group"), **kw)


@pytest.mark.parametrize("aggregation", ["constant", "seq-mean", "token-mean"])
def test_on_policy_both_levels_give_the_same_gradient(aggregation):
    """With π_old = π (one epoch on the policy's own rollouts) both ratios are 1 and no clip bites:
    the sequence ratio's gradient, spread over its tokens, is the token ratios' gradient."""
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=gen)
    mask = (torch.arange(6) < torch.tensor([[6], [3], [5], [1]])).float()
    adv = torch.randn(4, 1, generator=gen)
    grads = []
    for level in ("token", "sequence"):
        logp = base.clone().requires_grad_(True)
        loss, _ = policy_loss(
            logp,
            base,
            adv,
            mask,
            torch.zeros(4, 6),
            settings=LossSettings(ratio_level=level),
            aggregation=aggregation,
            normalizer=15.0 if aggregation != "seq-mean" else 4.0,
        )
        loss.backward()
        grads.append(logp.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-7)
