import pytest

from ring_train.core.c3po import plan_step, rank_shards


def test_greedy_fill_truncates_the_straddling_response_and_drops_the_rest():
    plan = plan_step([5, 7, 4, 9], budget=14)
    assert plan.keep == (5, 7, 2, 0)
    assert plan.kept_tokens == 14 and plan.dropped_tokens == 11
    assert plan.fill_ratio == 1.0
    assert plan.n_truncated == 1 and plan.n_dropped == 1
    assert plan.normalizer == 14


def test_exact_fit_keeps_whole_responses_without_truncation():
    plan = plan_step([4, 6, 3], budget=10)
    assert plan.keep == (4, 6, 0) and plan.n_truncated == 0


def test_rollout_below_budget_keeps_everything_but_normaliser_stays_phi():
    plan = plan_step([3, 2], budget=100)
    assert plan.keep == (3, 2)
    assert plan.fill_ratio == pytest.approx(0.05)
    assert plan.normalizer == 100


def test_off_mode_is_plain_grpo():
    plan = plan_step([3, 8, 1], budget=None)
    assert plan.keep == (3, 8, 1) and plan.normalizer is None and plan.dropped_tokens == 0


def test_kept_tokens_are_constant_across_steps_with_varying_lengths():
    import random

    rng = random.Random(0)
    kept = {plan_step([rng.randint(1, 40) for _ in range(32)], budget=300).kept_tokens for _ in range(50)}
    assert kept == {300}


def test_shuffled_order_is_seeded_and_still_fills_exactly():
    lengths = [5, 5, 5, 5, 5, 5]
    a = plan_step(lengths, budget=12, order="shuffle", seed=3)
    b = plan_step(lengths, budget=12, order="shuffle", seed=3)
    assert a.keep == b.keep and a.kept_tokens == 12
    assert (
        a.keep != plan_step(lengths, budget=12).keep
        or a.keep != plan_step(lengths, 12, order="shuffle", seed=4).keep
    )


def test_rank_scope_gives_each_shard_its_own_budget():
    plan = plan_step([4, 4, 4, 1, 1, 1], budget=6, scope="rank", dp_size=2)
    # shard 0 = [4,4,4] -> 4,2,0 ; shard 1 = [1,1,1] -> all kept
    assert plan.keep == (4, 2, 0, 1, 1, 1)
    assert plan.normalizer == 12
    assert rank_shards(7, 3) == [[0, 1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize(
    "kwargs", [{"budget": 0}, {"budget": 5, "scope": "node"}, {"budget": 5, "order": "longest"}]
)
def test_bad_settings_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        plan_step([1, 2], **kwargs)
