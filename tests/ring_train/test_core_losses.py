import pytest
import torch

from ring_train.core.losses import (
    aggregate,
    clipped_surrogate,
    kl_penalty,
    step_normalizer,
    token_entropy,
    token_logprobs,
    truncated_is_weights,
)


def test_clip_higher_uses_separate_bounds():
    logp = torch.log(torch.tensor([[1.5, 0.5]]))
    old = torch.zeros(1, 2)
    loss, clipped = clipped_surrogate(logp, old, torch.tensor([[1.0]]), eps_low=0.2, eps_high=0.28)
    # positive advantage: ratio 1.5 clipped at 1.28; ratio 0.5 not clipped (min picks the unclipped)
    assert loss.tolist()[0] == pytest.approx([-1.28, -0.5])
    assert clipped.tolist() == [[True, False]]
    loss, clipped = clipped_surrogate(logp, old, torch.tensor([[-1.0]]), eps_low=0.2, eps_high=0.28)
    assert loss.tolist()[0] == pytest.approx([1.5, 0.8])
    assert clipped.tolist() == [[False, True]]


def test_dual_clip_bounds_negative_advantage_loss():
    logp = torch.log(torch.tensor([[10.0]]))
    loss, clipped = clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([[-2.0]]), dual_clip=3.0)
    assert loss.item() == pytest.approx(6.0) and clipped.item()
    with pytest.raises(ValueError):
        clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([[-2.0]]), dual_clip=0.5)


def test_kl_estimators_match_their_definitions_and_k3_is_nonnegative():
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.5, -1.0, -0.5])
    d = logp - ref
    assert torch.allclose(kl_penalty(logp, ref, "k1"), d)
    assert torch.allclose(kl_penalty(logp, ref, "k2"), 0.5 * d * d)
    assert torch.allclose(kl_penalty(logp, ref, "k3"), torch.exp(-d) + d - 1)
    assert (kl_penalty(logp, ref, "k3") >= 0).all() and kl_penalty(logp, ref, "k3")[2] == 0
    with pytest.raises(ValueError):
        kl_penalty(logp, ref, "k4")


def test_entropy_and_logprobs_of_uniform_distribution():
    logits = torch.zeros(1, 2, 4)
    assert torch.allclose(token_entropy(logits), torch.full((1, 2), torch.log(torch.tensor(4.0)).item()))
    assert torch.allclose(token_logprobs(logits, torch.tensor([[0, 3]])), torch.full((1, 2), -1.3862944))


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean", "constant"])
def test_gradient_accumulation_equals_the_full_batch(mode):
    torch.manual_seed(0)
    per_token = torch.randn(6, 5)
    mask = (torch.rand(6, 5) > 0.3).float()
    mask[2] = 0  # a fully dropped response
    kept = mask.sum(-1).int().tolist()
    norm = step_normalizer(mode, kept, budget=40)
    full = aggregate(per_token, mask, mode, norm)
    parts = sum(aggregate(per_token[i : i + 2], mask[i : i + 2], mode, norm) for i in range(0, 6, 2))
    assert torch.allclose(full, parts)
    # the per-micro-batch mean (the verl #5625 trap) differs from the true step loss
    if mode == "token-mean":
        naive = sum(
            aggregate(per_token[i : i + 2], mask[i : i + 2], mode, step_normalizer(mode, kept[i : i + 2])) / 3
            for i in range(0, 6, 2)
        )
        assert not torch.allclose(full, naive)


def test_normalizers():
    assert step_normalizer("token-mean", [3, 0, 5]) == 8
    assert step_normalizer("seq-mean", [3, 0, 5]) == 2
    assert step_normalizer("constant", [3, 0, 5], budget=64) == 64
    with pytest.raises(ValueError):
        step_normalizer("constant", [1], budget=None)
    with pytest.raises(ValueError):
        step_normalizer("sum", [1])


def test_truncated_importance_weights():
    """min(π_old / π_sampler, cap) per token; unknown sampler log-probs weigh 1; no gradient."""
    old = torch.tensor([[-1.0, -1.0, -2.0, -0.5]], requires_grad=True)
    sampler = torch.tensor([[-1.0, -1.5, -0.5, float("nan")]])
    w = truncated_is_weights(old, sampler, cap=1.5)
    expected = torch.tensor(
        [[1.0, min(1.5, float(torch.exp(torch.tensor(0.5)))), float(torch.exp(torch.tensor(-1.5))), 1.0]]
    )
    assert torch.allclose(w, expected)
    assert not w.requires_grad
