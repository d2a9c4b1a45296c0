import pytest
import torch

from ring_train.core.advantages import group_advantages, zero_variance_groups
from ring_train.core.schedule import MixtureSampler, parse_stages, select_stages


def test_group_advantages_variants():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    grpo = group_advantages(r, "grpo")
    assert torch.allclose(grpo[0], torch.tensor([1.0, -1.0, -1.0, 1.0]) * (0.5 / r[0].std()), atol=1e-5)
    assert torch.allclose(grpo.mean(1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(group_advantages(r, "dr-grpo")[1], torch.tensor([0.25, 0.25, 0.25, -0.75]))
    rloo = group_advantages(r, "rloo")
    # leave-one-out: 1 - mean(1,1,0) = 1/3 ; 0 - mean(1,1,1) = -1
    assert torch.allclose(rloo[1], torch.tensor([1 / 3, 1 / 3, 1 / 3, -1.0]))
    with pytest.raises(ValueError):
        group_advantages(r, "ppo")


def test_zero_variance_filter_uses_spread_not_mean():
    r = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    assert zero_variance_groups(r).tolist() == [True, True, True, False]
    assert torch.allclose(group_advantages(r[:3], "grpo"), torch.zeros(3, 2))


def test_parse_stages_and_errors():
    stages = parse_stages(
        [
            {"name": "reasoning", "datasets": {"a.jsonl": 3, "b.jsonl": 1}, "steps": 10},
            {"name": "general", "datasets": "c.jsonl", "epochs": 0.5},
        ]
    )
    assert stages[1].num_steps(total_rows=100, prompts_per_step=8) == 7
    assert [s.name for s in select_stages(stages, "all")] == ["reasoning", "general"]
    assert select_stages(stages, "general")[0].datasets == {"c.jsonl": 1.0}
    with pytest.raises(ValueError, match="not in the plan"):
        select_stages(stages, "code")
    for bad, match in [
        ([{"name": "x", "datasets": "a", "steps": 1, "epochs": 1}], "exactly one"),
        ([{"name": "x", "datasets": {"a": -1}, "steps": 1}], "weight"),
        ([{"name": "x", "datasets": "a", "steps": 1, "lr": 1}], "unknown"),
        (
            [{"name": "x", "datasets": "a", "steps": 1}, {"name": "x", "datasets": "b", "steps": 1}],
            "duplicate",
        ),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_stages(bad)


def test_mixture_sampler_respects_weights_and_resumes_exactly():
    s = MixtureSampler([10, 10], [3.0, 1.0], seed=1)
    first = s.draw(400)
    share = sum(1 for d, _ in first if d == 0) / 400
    assert 0.68 < share < 0.82
    # each epoch of dataset 0 visits every row once
    rows0 = [r for d, r in first if d == 0][:10]
    assert sorted(rows0) == list(range(10))
    state = s.state_dict()
    ahead = s.draw(50)
    t = MixtureSampler([10, 10], [3.0, 1.0], seed=1)
    t.load_state_dict(state)
    assert t.draw(50) == ahead
