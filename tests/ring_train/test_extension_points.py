"""The trainer's extension points (advantage estimator, loss aggregation, KL estimator, rollout engine):
a part registered from user code is selectable by config and used by the embedded backend without
editing the package; the config's choices are the registries; what a part declares (minimum group
size, needing a CUDA device or a budget) is refused at config load, in one line."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ring_data.errors import UserError
from ring_data.rows import write_jsonl
from ring_train.config import CHOICES, from_dict
from ring_train.core.advantages import ADVANTAGES, get_advantage, group_advantages, register_advantage
from ring_train.core.losses import AGGREGATIONS, KL_ESTIMATORS, register_aggregation, register_kl
from ring_train.engine import ENGINES, register_rollout_engine
from ring_train.hf_rollouts import HFRollouts

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "model": "m",
    "run_dir": "r",
    "stages": [{"name": "reasoning", "datasets": {"a.jsonl": 1}, "steps": 3}],
    "c3po": {"budget": 100},
}


@pytest.fixture
def unregister():
    """Names registered by a test, removed afterwards so tests do not leak parts into each other."""
    added: list[tuple] = []
    yield added
    for registry, name in added:
        registry.remove(name)


def _raw(**over) -> dict:
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in over.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def test_config_choices_are_the_registries():
    assert CHOICES["advantage.method"] == ADVANTAGES.names() == ("grpo", "grpo-nostd", "dr-grpo", "rloo")
    assert CHOICES["loss.aggregation"] == ("auto", *AGGREGATIONS.names())
    assert CHOICES["loss.kl_estimator"] == KL_ESTIMATORS.names() == ("k1", "k2", "k3")
    assert CHOICES["rollout.engine"] == ("auto", *ENGINES.names()) == ("auto", "hf", "vllm")
    with pytest.raises(
        UserError, match="key 'advantage.method': must be one of grpo, grpo-nostd, dr-grpo, rloo"
    ):
        from_dict(_raw(advantage={"method": "toy"}), "cfg.yaml")


def test_a_taken_name_cannot_be_registered_twice_by_accident(unregister):
    with pytest.raises(ValueError, match="'grpo' is already registered"):
        register_advantage("grpo")(lambda r: r)
    register_kl("toy-kl")(lambda logp, ref: logp - ref)
    unregister.append((KL_ESTIMATORS, "toy-kl"))
    register_kl("toy-kl", replace=True)(lambda logp, ref: ref - logp)  # deliberate override
    assert KL_ESTIMATORS.get("toy-kl").compute(torch.ones(1), torch.zeros(1)).item() == -1


def test_an_all_equal_group_gets_exactly_zero_advantage_with_every_estimator(unregister):
    """Six equal float32 rewards of 0.4702: their mean is not exactly 0.4702 in float32, so R - mean is
    float noise, and GRPO divides it by std + eps with std ~ 0 (-0.029 per response). Every estimator,
    a user's too, must give exactly 0 there: with zero-variance filtering off that noise would train."""
    register_advantage("toy-scaled")(lambda r: 1000 * (r - r.mean(dim=1, keepdim=True)))
    unregister.append((ADVANTAGES, "toy-scaled"))
    equal = torch.full((1, 6), 0.4702, dtype=torch.float32)
    assert get_advantage("grpo").compute(equal).abs().min() > 0.02  # the noise the rule removes
    rewards = torch.cat([equal, torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.5, 0.5]])])
    for name in ADVANTAGES.names():
        adv = group_advantages(rewards, name)
        assert adv[0].tolist() == [0.0] * 6, name
        assert adv[1].abs().sum() > 0, name  # a group with a spread keeps its signal


def test_a_minimum_group_size_is_refused_when_the_config_loads(unregister):
    with pytest.raises(UserError) as err:
        from_dict(_raw(advantage={"method": "rloo"}, rollout={"group_size": 1}), "cfg.yaml")
    assert str(err.value) == "cfg.yaml: key 'advantage.method': 'rloo' needs rollout.group_size >= 2, got 1"
    # a stage that overrides the group size is checked at load too, not when the stage starts
    stages = [
        {"name": "late", "datasets": {"a.jsonl": 1}, "steps": 1, "overrides": {"rollout.group_size": 1}}
    ]
    with pytest.raises(UserError, match=r"stages\.late\.overrides: key 'advantage.method': 'rloo' needs"):
        from_dict(_raw(advantage={"method": "rloo"}, stages=stages), "cfg.yaml")
    register_advantage("toy-triples", min_group_size=3)(lambda r: r - r.mean(dim=1, keepdim=True))
    unregister.append((ADVANTAGES, "toy-triples"))
    with pytest.raises(UserError, match="'toy-triples' needs rollout.group_size >= 3, got 2"):
        from_dict(_raw(advantage={"method": "toy-triples"}, rollout={"group_size": 2}))
    assert from_dict(_raw(advantage={"method": "toy-triples"}, rollout={"group_size": 3}))


def test_the_cli_refuses_rloo_with_one_response_per_group_in_one_line_exit_2(tmp_path):
    argv = ["rl", "--config", "configs/cpu_recipe.yaml", "--model", "m", "--run-dir", str(tmp_path / "run")]
    argv += ["--set", "advantage.method=rloo", "--set", "rollout.group_size=1"]
    out = subprocess.run(
        [sys.executable, "-m", "cli.ring_train", *argv], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "key 'advantage.method': 'rloo' needs rollout.group_size >= 2, got 1" in lines[0]
    )
    assert not (tmp_path / "run").exists()


def test_declared_needs_of_aggregations_and_engines_are_checked_at_load(unregister):
    register_aggregation("toy-per-budget", needs_budget=True)(lambda kept, budget: float(budget))
    unregister.append((AGGREGATIONS, "toy-per-budget"))
    with pytest.raises(UserError, match="'toy-per-budget' divides by Φ and needs c3po.enabled: true"):
        from_dict(_raw(c3po={"enabled": False}, loss={"aggregation": "toy-per-budget"}))
    register_rollout_engine("toy-gpu", needs_cuda=True)(lambda spec: HFRollouts())
    unregister.append((ENGINES, "toy-gpu"))
    with pytest.raises(UserError, match="toy-gpu rollouts need a CUDA device"):
        from_dict(_raw(device="cpu", rollout={"engine": "toy-gpu"}))


class _CountingHF(HFRollouts):
    """A user's engine: the hf engine, greedy, counting its calls."""

    calls = 0

    def sample_groups(self, prompt_ids, k, settings, **kw):
        type(self).calls += 1
        return super().sample_groups(prompt_ids, k, settings, **kw)


def test_parts_registered_from_user_code_are_selected_by_config_and_trained_with(tmp_path, unregister):
    """A toy estimator, aggregation, KL estimator and rollout engine, registered here (not in the
    package), chosen by config keys, each called by a real embedded run."""
    from ring_train.backends import get_backend
    from ring_train.metrics import read_metrics
    from ring_train.models.tiny import create_tiny_policy
    from ring_train.recipes.arithmetic import problem_row, solution_text

    used = {"advantage": 0, "normalizer": 0, "kl": 0}

    def sign_advantage(rewards):
        used["advantage"] += 1
        return torch.sign(rewards - rewards.mean(dim=1, keepdim=True))

    def per_response(kept, budget):
        used["normalizer"] += 1
        return float(max(1, len(kept)))

    def abs_kl(logp, ref):
        used["kl"] += 1
        return (logp - ref).abs()

    register_advantage("toy-sign", min_group_size=2)(sign_advantage)
    register_aggregation("toy-per-response")(per_response)
    register_kl("toy-abs")(abs_kl)
    register_rollout_engine("toy-engine")(lambda spec: _CountingHF())
    unregister += [
        (ADVANTAGES, "toy-sign"),
        (AGGREGATIONS, "toy-per-response"),
        (KL_ESTIMATORS, "toy-abs"),
        (ENGINES, "toy-engine"),
    ]
    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    write_jsonl(tmp_path / "math.jsonl", rows)
    texts = [r["prompt"] for r in rows] + [solution_text(12, 34)]
    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}
    model = create_tiny_policy(
        tmp_path / "init", texts, vocab_size=300, seed=0, intermediate_size=64, **small
    )
    cfg = from_dict(
        {
            "model": str(model),
            "run_dir": str(tmp_path / "run"),
            "stages": [{"name": "r", "datasets": {str(tmp_path / "math.jsonl"): 1.0}, "steps": 2}],
            "rollout": {"prompts_per_step": 2, "group_size": 3, "max_new_tokens": 8, "engine": "toy-engine"},
            "c3po": {"enabled": False},
            "advantage": {"method": "toy-sign", "filter_zero_variance": False},
            # random weights earn no reward: the entropy bonus makes every step move the policy
            "loss": {
                "aggregation": "toy-per-response",
                "kl_estimator": "toy-abs",
                "kl_beta": 0.1,
                "entropy_coef": 0.05,
            },
            "lanes": 1,
        }
    )
    _CountingHF.calls = 0
    get_backend("embedded").train(cfg, cfg.stages)
    steps = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "policy/grad_norm" in r]
    assert len(steps) == 2 and all(r["policy/grad_norm"] > 0 and r["policy/kl"] >= 0 for r in steps)
    assert _CountingHF.calls == 2 and used["advantage"] == 2 and used["normalizer"] == 2 and used["kl"] > 0
