"""Data-parallel lanes: work split, shared parameters, gradients equal to one pass, deterministic sampling."""

import pytest
import torch

from ring_data.errors import UserError
from ring_train.config import from_dict
from ring_train.forward import run_responses
from ring_train.lanes import (
    Lanes,
    balance,
    resolve_lanes,
    run_responses_in_lanes,
    sample_in_lanes,
    split_even,
)
from ring_train.rollout import sample


def _prompts(tok):
    return [tok.encode(t) for t in ("What is 12 + 34?", "abc", "Compute 7 * 8. It", "def ghi", "12 +")]


def test_split_even_and_balance_cover_every_item_once():
    assert [list(r) for r in split_even(7, 3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [list(r) for r in split_even(2, 4)] == [[0], [1]]
    bins = balance([5, 0, 9, 4, 4, 1], 2)
    assert sorted(i for b in bins for i in b) == [0, 2, 3, 4, 5]  # zero-weight item left out
    assert bins == [[2, 4], [0, 3, 5]]  # heaviest first, each to the lighter bin: loads 13 and 10
    assert balance([7] * 6, 3) == [[0, 3], [1, 4], [2, 5]]
    assert balance([3], 4) == [[0]]
    assert resolve_lanes(0, threads=2, prompts_per_step=16) == 2
    assert resolve_lanes(0, threads=16, prompts_per_step=4) == 4
    assert resolve_lanes(3, threads=1, prompts_per_step=1) == 3


def test_replicas_share_parameters_but_not_gradients(policy):
    model, _ = policy
    lanes = Lanes(model, 2)
    try:
        rep = lanes.models[1]
        p, q = next(model.parameters()), next(rep.parameters())
        assert p is not q and p.data_ptr() == q.data_ptr()
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        (sum(x.sum() for x in model.parameters())).backward()
        assert q.grad is None
        opt.step()  # in place on the primary: the replica sees it
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), rep.parameters()))
        opt.zero_grad(set_to_none=True)
    finally:
        lanes.close()


def test_gradients_from_lanes_equal_one_pass(policy):
    model, tok = policy
    model.train()
    prompts = _prompts(tok)
    torch.manual_seed(0)
    responses = [torch.randint(3, 200, (n,)).tolist() for n in (5, 9, 3, 7, 1, 8, 6, 4, 2, 9)]
    group = [i // 2 for i in range(10)]
    keep = [n - (i % 3 == 0) for i, n in enumerate(map(len, responses))]  # some rows cut, one row empty
    weights = torch.linspace(-1, 1, 10)

    def loss_of(mb):
        return (mb.logp * mb.mask).sum(-1).mul(weights[mb.rows]).sum() / 40

    model.zero_grad(set_to_none=True)
    run_responses(model, prompts, responses, group, keep, pad_id=tok.pad_token_id, consume=loss_of)
    single = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    lanes = Lanes(model, 2)
    seen: list[list[int]] = [[], []]

    def for_lane(lane):
        def consume(mb):
            seen[lane].extend(mb.rows)
            return loss_of(mb)

        return consume

    try:
        mbs = run_responses_in_lanes(
            lanes, prompts, responses, group, keep, pad_id=tok.pad_token_id, consume_for_lane=for_lane
        )
    finally:
        lanes.close()
    assert seen[0] and seen[1] and not set(seen[0]) & set(seen[1])  # both lanes worked, on disjoint rows
    assert sorted(seen[0] + seen[1]) == [i for i, n in enumerate(keep) if n > 0]
    assert sorted(i for mb in mbs for i in mb.rows) == sorted(seen[0] + seen[1])
    assert all(q.grad is None for q in lanes.models[1].parameters())  # moved to the primary
    for a, b in zip(single, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, atol=1e-6)
    model.zero_grad(set_to_none=True)


def test_sampling_in_lanes_is_deterministic_and_keeps_the_layout(policy):
    model, tok = policy
    model.eval()
    prompts = _prompts(tok)
    kw = dict(max_new_tokens=10, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, temperature=1.0)
    lanes = Lanes(model, 2)
    parts = []
    try:
        a = sample_in_lanes(
            lanes,
            prompts,
            3,
            generator=torch.Generator().manual_seed(5),
            on_part=lambda chunk, part: parts.append((chunk, part)),
            **kw,
        )
        b = sample_in_lanes(lanes, prompts, 3, generator=torch.Generator().manual_seed(5), **kw)
        greedy = sample_in_lanes(lanes, prompts, 2, generator=torch.Generator(), **{**kw, "temperature": 0.0})
    finally:
        lanes.close()
    assert a.responses == b.responses and a.group == [i // 3 for i in range(15)]
    # each lane's share was handed over on its own, as soon as it was sampled: together, the rollout
    assert sorted(c.start for c, _ in parts) == [0, 3] and sum(len(c) for c, _ in parts) == 5
    for chunk, part in parts:
        assert part.responses == a.responses[3 * chunk.start : 3 * chunk.stop]
    assert a.prompt_ids == prompts and len(a.finished) == 15
    one = sample(model, prompts, 2, generator=torch.Generator(), **{**kw, "temperature": 0.0})
    assert greedy.responses == one.responses  # lanes change the RNG streams, not the model's outputs
    single = Lanes(model, 1)
    c = sample_in_lanes(single, prompts, 3, generator=torch.Generator().manual_seed(5), **kw)
    d = sample(model, prompts, 3, generator=torch.Generator().manual_seed(5), **kw)
    assert c.responses == d.responses  # one lane = the plain sampler, same draws


def test_lanes_config_is_checked():
    raw = {"model": "m", "run_dir": "r", "stages": [{"name": "s", "datasets": {"d.jsonl": 1.0}, "steps": 1}]}
    with pytest.raises(UserError, match="'lanes': must be >= 0"):
        from_dict({**raw, "lanes": -1, "c3po": {"budget": 10}})
