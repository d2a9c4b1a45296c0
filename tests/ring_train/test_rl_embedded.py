"""The embedded backend end to end on a tiny model: steps, C3PO invariants, stages, checkpoints, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from ring_data.errors import UserError
from ring_data.rows import write_jsonl
from ring_train.backends import get_backend
from ring_train.config import from_dict
from ring_train.engine import SeparateEngine
from ring_train.metrics import read_metrics
from ring_train.models.tiny import create_tiny_policy
from ring_train.recipes.arithmetic import problem_row, solution_text

ROOT = Path(__file__).resolve().parents[2]
SMALL = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44), (23, 23), (70, 15)]]
    write_jsonl(root / "math.jsonl", rows[:4])
    write_jsonl(root / "other.jsonl", rows[4:])
    texts = [r["prompt"] for r in rows] + [solution_text(a, b) for a, b in [(12, 34), (56, 7)]]
    model = create_tiny_policy(root / "init", texts, vocab_size=300, seed=0, **SMALL)
    return root, model


def _raw(root: Path, model: Path, run: str, **extra) -> dict:
    raw = {
        "model": str(model),
        "run_dir": str(root / run),
        "seed": 3,
        "stages": [
            {"name": "reasoning", "datasets": {str(root / "math.jsonl"): 1.0}, "steps": 3},
            {
                "name": "general",
                "datasets": {str(root / "other.jsonl"): 1.0, str(root / "math.jsonl"): 1.0},
                "steps": 2,
            },
        ],
        "rollout": {"prompts_per_step": 2, "group_size": 3, "max_new_tokens": 12},
        "c3po": {"budget": 30},
        # random weights earn no reward: without the filter and with an entropy bonus and KL the policy
        # still moves every step, so equal metrics after resume mean the state really was restored
        "advantage": {"filter_zero_variance": False},
        "loss": {"entropy_coef": 0.05, "kl_beta": 0.1},
        "optim": {"lr": 0.01},
        "checkpoint_every": 1,
        "lanes": 2,  # two data-parallel lanes whatever the thread count: resume must be exact with them
        "eval": {"data": str(root / "math.jsonl"), "every": 2, "samples": 2},
    }
    for k, v in extra.items():
        raw[k] = {**raw[k], **v} if isinstance(v, dict) else v
    return raw


def test_two_stage_run_logs_metrics_and_keeps_the_budget(setup):
    root, model = setup
    cfg = from_dict(_raw(root, model, "run_c3po"))
    summary = get_backend("embedded").train(cfg, cfg.stages)
    run = Path(cfg.run_dir)
    recs = [r for r in read_metrics(run / "metrics.jsonl") if "c3po/kept_tokens" in r]
    assert [r["global_step"] for r in recs] == [1, 2, 3, 4, 5]
    assert [r["stage"] for r in recs] == ["reasoning"] * 3 + ["general"] * 2
    for r in recs:  # 6 responses of up to 12 tokens: whenever the rollout has >= 30 tokens, exactly 30 train
        assert r["c3po/kept_tokens"] == min(30, r["c3po/total_tokens"])
        assert r["c3po/kept_tokens"] + r["c3po/dropped_tokens"] == r["c3po/total_tokens"]
        assert r["policy/grad_norm"] > 0
        for key in (
            "reward/mean",
            "policy/entropy",
            "policy/kl",
            "policy/clip_frac",
            "perf/trained_tokens_per_s",
        ):
            assert key in r
    assert any("eval/pass_rate" in r for r in read_metrics(run / "metrics.jsonl"))
    # the general stage starts from (and is regularised towards) the reasoning stage's final policy
    assert summary["stages"]["general"]["steps"] == 2
    assert (run / "stages" / "reasoning" / "final" / "config.json").exists()
    assert (run / "curves.png").stat().st_size > 1000
    assert (run / "config.resolved.yaml").exists() and (run / "tensorboard").is_dir()


def test_c3po_off_trains_every_token(setup):
    root, model = setup
    raw = _raw(root, model, "run_grpo", c3po={"enabled": False}, stages=_raw(root, model, "x")["stages"][:1])
    cfg = from_dict(raw)
    get_backend("embedded").train(cfg, cfg.stages)
    recs = [r for r in read_metrics(Path(cfg.run_dir) / "metrics.jsonl") if "c3po/kept_tokens" in r]
    assert all(r["c3po/dropped_tokens"] == 0 for r in recs)
    assert len({r["c3po/kept_tokens"] for r in recs}) >= 1


def test_existing_run_dir_needs_resume_and_unknown_backend_is_clear(setup, tmp_path):
    root, model = setup
    cfg = from_dict(_raw(root, model, "run_c3po"))
    with pytest.raises(UserError, match="pass --resume"):
        get_backend("embedded").train(cfg, cfg.stages)
    with pytest.raises(UserError, match="no checkpoint"):
        get_backend("embedded").train(from_dict(_raw(root, model, "fresh")), cfg.stages[:1], resume=True)


def _cli(args, **kw):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    # own process group: the kill below takes the reward worker processes down with the trainer
    return subprocess.Popen(
        [sys.executable, "-m", "cli.ring_train", *args], cwd=ROOT, env=env, start_new_session=True, **kw
    )


def _comparable(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(path)]


def test_kill_mid_run_then_resume_matches_an_uninterrupted_run(setup, tmp_path):
    root, model = setup
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(_raw(root, model, f"resume_{name}")))
    straight = _cli(
        ["rl", "--config", str(tmp_path / "straight.yaml"), "--threads", "1"], stdout=subprocess.DEVNULL
    )
    killed = _cli(
        ["rl", "--config", str(tmp_path / "killed.yaml"), "--threads", "1"], stdout=subprocess.DEVNULL
    )
    latest = root / "resume_killed" / "checkpoints" / "LATEST"
    deadline = time.time() + 120
    while time.time() < deadline and not (latest.exists() and "reasoning-step000002" in latest.read_text()):
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert latest.exists(), "the run never reached its second checkpoint"
    assert straight.wait(timeout=180) == 0
    resumed = _cli(
        ["rl", "--config", str(tmp_path / "killed.yaml"), "--threads", "1", "--resume"],
        stdout=subprocess.PIPE,
    )
    out, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0
    assert json.loads(out)["stages"]["general"]["steps"] == 2
    a = _comparable(root / "resume_straight" / "metrics.jsonl")
    b = _comparable(root / "resume_killed" / "metrics.jsonl")
    assert [r["global_step"] for r in b] == [r["global_step"] for r in a]
    assert a == b


def test_stages_run_one_at_a_time_chain_in_the_same_run_dir(setup):
    root, model = setup
    raw = _raw(root, model, "run_split")
    raw["eval"] = {"data": None}
    cfg = from_dict(raw)
    backend = get_backend("embedded")
    backend.train(cfg, cfg.stages[:1])  # --stage reasoning
    summary = backend.train(cfg, cfg.stages[1:])  # --stage general: starts from reasoning's final policy
    recs = read_metrics(Path(cfg.run_dir) / "metrics.jsonl")
    assert [(r["stage"], r["global_step"]) for r in recs] == [("reasoning", i) for i in (1, 2, 3)] + [
        ("general", 4),
        ("general", 5),
    ]
    state = torch.load(
        Path(cfg.run_dir) / "checkpoints" / "general-step000002" / "trainer_state.pt", weights_only=False
    )
    assert state["start"] == str(Path(cfg.run_dir) / "stages" / "reasoning" / "final")
    assert summary["stages"]["general"]["steps"] == 2


@pytest.mark.parametrize("refill_rounds", [3, 0])
def test_token_budgeted_dynamic_sampling_fills_every_step_to_the_budget(setup, refill_rounds):
    """Φ = 100 > the 6 x 12 tokens one round of 2 prompts x K=3 can hold: refills sample more prompts
    until Φ usable tokens exist, so every step trains exactly Φ; without refills it cannot."""
    root, model = setup
    stages = _raw(root, model, "x")["stages"][:1]
    run = f"run_refill{refill_rounds}"
    c3po = {"budget": 100, "refill_rounds": refill_rounds, "adaptive_prompts": False}
    raw = _raw(root, model, run, stages=stages, c3po=c3po)
    cfg = from_dict(raw)
    get_backend("embedded").train(cfg, cfg.stages)
    recs = [r for r in read_metrics(Path(cfg.run_dir) / "metrics.jsonl") if "c3po/kept_tokens" in r]
    kept = [r["c3po/kept_tokens"] for r in recs]
    if refill_rounds:
        assert kept == [100] * len(recs)
        assert all(r["c3po/refill_rounds"] >= 1 and r["rollout/prompts"] > 2 for r in recs)
    else:
        assert max(kept) <= 72 and all(r["c3po/refill_rounds"] == 0 for r in recs)


def test_adaptive_prompts_size_the_first_round_from_measured_usable_tokens(setup):
    """Φ = 100 needs more than the 2 configured prompts hold: after the first step has measured the
    usable tokens per prompt, the first round itself is larger (capped at 2 x prompts_per_step)."""
    root, model = setup
    stages = _raw(root, model, "x")["stages"][:1]
    raw = _raw(root, model, "run_adaptive", stages=stages, c3po={"budget": 100})
    cfg = from_dict(raw)
    get_backend("embedded").train(cfg, cfg.stages)
    recs = [r for r in read_metrics(Path(cfg.run_dir) / "metrics.jsonl") if "c3po/kept_tokens" in r]
    first = [r["rollout/first_round_prompts"] for r in recs]
    assert first[0] == 2 and all(n == 4 for n in first[1:])


def test_ppo_epochs_take_several_optimizer_steps_per_rollout(setup):
    """With ``optim.ppo_epochs: 2`` each rollout is trained twice (π_old from the first pass): the
    scheduler, which counts optimizer steps, is two steps further per train step."""
    root, model = setup
    stages = _raw(root, model, "x")["stages"][:1]
    raw = _raw(root, model, "run_ppo2", stages=stages, optim={"ppo_epochs": 2, "warmup_steps": 8})
    raw["eval"] = {"data": None}
    cfg = from_dict(raw)
    get_backend("embedded").train(cfg, cfg.stages)
    lrs = [r["policy/lr"] for r in read_metrics(Path(cfg.run_dir) / "metrics.jsonl")]
    assert lrs == pytest.approx([0.01 * (2 * s + 1) / 8 for s in (1, 2, 3)])


def test_bf16_precision_trains_under_autocast_with_fp32_weights(setup):
    """``precision: bf16`` (the GPU setting, runnable on CPU too): rollouts, reference and training
    forwards run under autocast on both lanes; the weights that train and are saved stay fp32, and
    the step moves them."""
    root, model = setup
    stages = _raw(root, model, "x")["stages"][:1]
    raw = _raw(root, model, "run_bf16", stages=stages, precision="bf16", device="cpu")
    raw["eval"] = {"data": None}
    cfg = from_dict(raw)
    summary = get_backend("embedded").train(cfg, cfg.stages)
    recs = [r for r in read_metrics(Path(cfg.run_dir) / "metrics.jsonl") if "policy/grad_norm" in r]
    assert len(recs) == 3
    assert all(r["policy/grad_norm"] > 0 and r["c3po/kept_tokens"] == 30 for r in recs)
    assert all(abs(r["policy/kl"]) < 1 for r in recs)  # bf16 rounding, not a different policy
    from safetensors.torch import load_file

    final = load_file(Path(summary["stages"]["reasoning"]["final"]) / "model.safetensors")
    start = load_file(Path(model) / "model.safetensors")
    assert {t.dtype for t in final.values()} == {torch.float32}
    assert any(not torch.equal(final[k], start[k]) for k in start)


def test_rollouts_from_another_engine_are_importance_weighted(setup):
    """A rollout that carries the sampling engine's log-probs (as vLLM's do) has its surrogate
    weighted per token by min(π_old / π_sampler, loss.tis_cap): a sampler far less likely than the
    policy caps every weight, doubling the loss at cap 2; the step reports the weights and the gap."""
    import math

    from ring_train.backends.embedded import StageRunner
    from ring_train.core.losses import step_normalizer
    from ring_train.rewards import Rewarder

    root, model = setup
    raw = _raw(root, model, "run_tis", optim={"lr": 0.0}, loss={"kl_beta": 0.0, "entropy_coef": 0.0})
    cfg = from_dict(raw)
    rewarder = Rewarder(workers=1)
    runner = StageRunner(cfg, cfg.stages[0], str(model), rewarder, 0)
    try:
        ro = runner._round(2).ro
        keep = [len(r) for r in ro.responses]
        adv = torch.ones(len(keep))  # the loss is then -(weighted tokens) / Φ
        normalizer = step_normalizer("constant", keep, 30)

        def step(sampler_logps):
            ro.sampler_logps = sampler_logps
            stats, _ = runner._optimize(ro, adv, keep, "constant", normalizer, {})
            return stats, runner._sampler_metrics(ro, stats)

        plain, plain_metrics = step(None)
        capped, capped_metrics = step([[-100.0] * len(r) for r in ro.responses])
        unknown, _ = step([[math.nan] * len(r) for r in ro.responses])
    finally:
        runner.close()
        rewarder.close()
    assert plain_metrics == {}
    assert capped["loss"] == pytest.approx(2 * plain["loss"], rel=1e-5) and plain["loss"] != 0
    assert capped_metrics["rollout/is_weight_mean"] == pytest.approx(2.0)
    assert capped_metrics["rollout/is_capped_frac"] == pytest.approx(1.0)
    assert capped_metrics["rollout/sampler_logp_gap"] < -90  # log π_sampler far below log π_policy
    assert unknown["loss"] == pytest.approx(plain["loss"], rel=1e-6)


class _CopyEngine(SeparateEngine):
    """A second inference copy of the policy with the vLLM engine's shape (a :class:`SeparateEngine`:
    weights pushed lazily after ``sync_weights``): real weights, real sampling, and the sampled tokens'
    log-probs from its own forward. It checks what the runner owes any such engine: a sync after every
    change of the policy's weights, so each rollout samples the current policy."""

    def __init__(self, start: str, sleeps: bool):
        from ring_train.models.load import load_policy

        super().__init__()
        self.model, _ = load_policy(start)
        self.model.eval()
        self.pushes = 0
        self.stale_samples = 0
        self.policy = None
        self.sleeps = sleeps

    def push_weights(self, model) -> None:
        self.model.load_state_dict(model.state_dict())
        self.policy, self.asleep = model, False
        self.pushes += 1

    def generate(self, prompt_ids, k, settings, generator):
        from ring_train.forward import run_responses
        from ring_train.rollout import sample

        current = all(torch.equal(a, b) for a, b in zip(self.model.parameters(), self.policy.parameters()))
        self.stale_samples += not current
        gen = torch.Generator().manual_seed(self.pushes)
        ro = sample(self.model, prompt_ids, k, generator=gen, **settings.as_kwargs())
        keep = [len(r) for r in ro.responses]
        logps = [[] for _ in keep]
        with torch.no_grad():
            for mb in run_responses(
                self.model, ro.prompt_ids, ro.responses, ro.group, keep, pad_id=settings.pad_id
            ):
                for j, i in enumerate(mb.rows):
                    logps[i] = mb.logp[j, : keep[i]].tolist()
        ro.sampler_logps = logps
        return ro

    def sleep(self) -> None:
        self.asleep = self.sleeps  # like rollout.vllm.sleep

    def close(self) -> None:
        pass


@pytest.mark.parametrize("sleeps", [False, True])
def test_a_separate_rollout_engine_gets_the_weights_before_every_rollout(setup, sleeps):
    """With a separate rollout engine (as with vLLM) the runner syncs the policy's weights after every
    optimizer step, so the engine pushes them before the next rollout or eval and a sleeping engine is
    woken; the engine's own log-probs reach the loss, where an engine computing what the policy
    computes gives importance weights of 1."""
    from ring_train.backends.embedded import StageRunner
    from ring_train.rewards import Rewarder

    root, model = setup
    cfg = from_dict(_raw(root, model, "run_engine", lanes=1))
    engine = _CopyEngine(str(model), sleeps)
    rewarder = Rewarder(workers=1)
    runner = StageRunner(cfg, cfg.stages[0], str(model), rewarder, 0, engine)
    try:
        steps = [runner.train_step() for _ in range(3)]
        runner.evaluate()
        runner.evaluate()  # no optimizer step in between: a push only to wake a sleeping engine
    finally:
        runner.close()
        rewarder.close()
    assert engine.stale_samples == 0
    # the start, then one per optimizer step (the third at the first eval); a sleeping engine is also
    # woken, with the weights, for the second eval
    assert engine.pushes == (5 if sleeps else 4)
    assert engine.asleep == sleeps  # put back to sleep after the eval's rollouts
    for s in steps:
        assert s["rollout/is_weight_mean"] == pytest.approx(1.0, abs=1e-4)
        assert s["rollout/is_capped_frac"] == 0 and abs(s["rollout/sampler_logp_gap"]) < 1e-4
