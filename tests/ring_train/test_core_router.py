"""Router losses and metrics (ring_train.core.router) against hand-computed values, and the balancing
loss against transformers' own ``load_balancing_loss_func``."""

import math

import pytest
import torch

from ring_train.core.router import (
    expert_counts,
    load_balancing_loss,
    load_cv,
    router_entropy_sum,
    routing_drift,
    z_loss_sum,
)

LN3 = math.log(3.0)


def _layer(*rows):
    """[N, 1, E] logits of one layer."""
    return torch.tensor(rows, dtype=torch.float32)[:, None, :]


def _top1(logits):
    return logits.topk(1, dim=-1).indices


def test_balancing_loss_by_hand():
    # token 0: probs (0.25, 0.75) -> expert 1; token 1: probs (0.75, 0.25) -> expert 0
    balanced = _layer([0.0, LN3], [LN3, 0.0])
    # f = (1/2, 1/2), P = (1/2, 1/2): 2 x (1/4 + 1/4) = 1 = top_k, the minimum
    assert float(load_balancing_loss(balanced, _top1(balanced), 2)) == pytest.approx(1.0)
    # both tokens on expert 1 with p = 0.75: f = (0, 1), P = (0.25, 0.75): 2 x 0.75
    skewed = _layer([0.0, LN3], [0.0, LN3])
    assert float(load_balancing_loss(skewed, _top1(skewed), 2)) == pytest.approx(1.5)
    # the mask leaves token 0 only: f = (0, 1), P = (0.25, 0.75)
    mask = torch.tensor([1.0, 0.0])
    assert float(load_balancing_loss(balanced, _top1(balanced), 2, mask)) == pytest.approx(1.5)
    # two layers pool their counts and probabilities: f = (1, 3) / 4, P = (1.5, 2.5) / 4
    both = torch.cat([balanced, skewed], dim=1)
    expected = 2 * (0.25 * 0.375 + 0.75 * 0.625)
    assert float(load_balancing_loss(both, _top1(both), 2)) == pytest.approx(expected)


@pytest.mark.parametrize("family", ["qwen3_moe", "qwen2_moe", "mixtral"])
def test_balancing_loss_equals_transformers_own(family):
    import importlib

    hf = importlib.import_module(f"transformers.models.{family}.modeling_{family}").load_balancing_loss_func
    gen = torch.Generator().manual_seed(0)
    batch, seq, layers, experts, k = 3, 5, 4, 8, 2
    per_layer = [torch.randn(batch * seq, experts, generator=gen) * 2 for _ in range(layers)]
    attention = torch.ones(batch, seq)
    attention[0, :2] = 0  # left padding
    attention[2, 3:] = 0
    reference = hf(tuple(per_layer), experts, k, attention)
    logits = torch.stack(per_layer, dim=1)  # [N, L, E]
    topk = torch.softmax(logits, -1).topk(k, dim=-1).indices
    ours = load_balancing_loss(logits, topk, experts, attention.reshape(-1))
    assert float(ours) == pytest.approx(float(reference), rel=1e-6)
    no_mask = hf(tuple(per_layer), experts, k, None)
    assert float(load_balancing_loss(logits, topk, experts)) == pytest.approx(float(no_mask), rel=1e-6)


def test_balancing_loss_trains_the_router_probabilities_only():
    logits = torch.randn(6, 2, 4, requires_grad=True)
    loss = load_balancing_loss(logits, logits.detach().topk(2, dim=-1).indices, 4)
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_z_loss_by_hand():
    logits = _layer([0.0, LN3], [0.0, 0.0])  # logsumexp: ln 4 and ln 2
    assert float(z_loss_sum(logits)) == pytest.approx(math.log(4) ** 2 + math.log(2) ** 2)
    assert float(z_loss_sum(logits, torch.tensor([0.0, 1.0]))) == pytest.approx(math.log(2) ** 2)


def test_expert_counts_and_load_cv_by_hand():
    # layer 0: experts (0, 0, 0, 1) -> counts (3, 1): mean 2, std 1, CV 0.5; layer 1: (2, 2): CV 0
    topk = torch.tensor([[[0], [0]], [[0], [1]], [[0], [0]], [[1], [1]]])
    counts = expert_counts(topk, 2)
    assert counts.tolist() == [[3.0, 1.0], [2.0, 2.0]]
    assert load_cv(counts) == pytest.approx(0.25)
    masked = expert_counts(topk, 2, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert masked.tolist() == [[2.0, 0.0], [1.0, 1.0]]
    # every token of a layer on one of 4 experts (top-1): CV = sqrt(E/k - 1) = sqrt(3)
    assert load_cv(torch.tensor([[8.0, 0, 0, 0]])) == pytest.approx(math.sqrt(3))
    assert math.isnan(load_cv(torch.zeros(2, 4)))


def test_router_entropy_by_hand():
    logits = _layer([0.0, LN3], [0.0, 0.0])
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert router_entropy_sum(logits) == pytest.approx(h + math.log(2))
    assert router_entropy_sum(logits, torch.tensor([1.0, 0.0])) == pytest.approx(h)


def test_routing_drift_compares_expert_sets():
    # 3 tokens x 2 layers x top-2; order inside the top-k does not matter
    first = torch.tensor([[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[0, 2], [1, 3]]])
    second = torch.tensor([[[1, 0], [3, 2]], [[4, 6], [6, 7]], [[0, 2], [1, 4]]])
    changed, decisions, tokens_changed, tokens = routing_drift(first, second)
    assert (changed, decisions, tokens_changed, tokens) == (2.0, 6.0, 2.0, 3.0)
    changed, decisions, tokens_changed, tokens = routing_drift(first, second, torch.tensor([1.0, 0.0, 1.0]))
    assert (changed, decisions, tokens_changed, tokens) == (1.0, 4.0, 1.0, 2.0)
