"""The TRL adapter inside a real ``trl.GRPOTrainer`` run on CPU (tiny Qwen2 built and trained in code):
the rewards TRL logs for every completion equal ``verify`` on the same completion, for plain-text and
conversational datasets; plus the adapter's column handling, weights and format reward on their own."""

import json
import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from verifiers import verify  # noqa: E402
from verifiers.adapters.trl import RingReward, format_reward, format_score, ring_reward  # noqa: E402

pytest.importorskip("trl")

MATH_PROMPT = "What is 2+2?"
IFEVAL_PROMPT = "Write a short note without commas."
IFEVAL_REF = {
    "instruction_id_list": ["punctuation:no_comma", "detectable_format:title"],
    "kwargs": [{}, {}],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny chat model trained for a few seconds: boxed 4 or 5 for the sum, plain words for the note."""
    from ring_data.annotate.tiny_model import build_tiny_model

    pairs = [
        (MATH_PROMPT, "\\boxed{4}"),
        (MATH_PROMPT, "so \\boxed{5}"),
        (MATH_PROMPT, "<think>2+2</think> \\boxed{4}"),
    ]
    pairs += [(IFEVAL_PROMPT, "a short note"), (IFEVAL_PROMPT, "<<Note>> hello there")]
    return str(
        build_tiny_model(tmp_path_factory.mktemp("trl") / "m", train_pairs=pairs * 4, steps=60, seed=3)
    )


# TRL runs in a subprocess: the test session puts vLLM's API-only wheel on sys.path (tests/conftest.py),
# and TRL switches to its vLLM code paths when vllm is importable
TRAIN_SCRIPT = r"""
import json, sys
from datasets import Dataset
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
from trl import GRPOConfig, GRPOTrainer
from verifiers.adapters.trl import RingReward

spec = json.loads(open(sys.argv[1]).read())
reward = RingReward(**spec["reward"])
tok = PreTrainedTokenizerFast.from_pretrained(spec["model"])
model = AutoModelForCausalLM.from_pretrained(spec["model"])
seen = []

class Snapshot(TrainerCallback):  # what TRL logged for the step that just ended
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "reward" in logs:
            seen.append({
                "prompts": list(trainer._logs["prompt"]),
                "completions": list(trainer._logs["completion"]),
                "rewards": list(trainer._logs["rewards"][reward.__name__]),
                "mean": logs[f"rewards/{reward.__name__}/mean"],
            })

cfg = GRPOConfig(
    output_dir=spec["out"], per_device_train_batch_size=8, num_generations=4, max_completion_length=10,
    learning_rate=1e-4, beta=0.0, temperature=1.0, bf16=False, use_cpu=True, gradient_checkpointing=False,
    logging_steps=1, max_steps=spec["steps"], save_strategy="no", report_to="none", seed=0,
)
trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=Dataset.from_list(spec["rows"]),
                      processing_class=tok, callbacks=[Snapshot()])
trainer.train()
open(spec["result"], "w").write(json.dumps(seen))
"""


def _train(model_dir, rows, reward_kwargs, out, steps=2):
    import subprocess
    import sys

    out.mkdir(parents=True, exist_ok=True)
    spec = {
        "model": model_dir,
        "rows": rows,
        "reward": reward_kwargs,
        "out": str(out / "trl"),
        "steps": steps,
        "result": str(out / "seen.json"),
    }
    (out / "spec.json").write_text(json.dumps(spec))
    (out / "train.py").write_text(TRAIN_SCRIPT)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(out / "train.py"), str(out / "spec.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "seen.json").read_text())


def _reference_by_prompt(rows):
    return {json.dumps(r["prompt"]): (r["domain"], r["reference"]) for r in rows}


def _check(seen, rows, text_of):
    by_prompt = _reference_by_prompt(rows)
    scored = 0
    all_rewards = []
    for step in seen:
        assert len(step["completions"]) == len(step["rewards"]) == 8
        expected = []
        for prompt, completion in zip(step["prompts"], step["completions"]):
            domain, ref = by_prompt[json.dumps(prompt)]
            ref = json.loads(ref) if isinstance(ref, str) and ref.startswith("{") else ref
            ref = {"answer": ref} if isinstance(ref, str) else ref
            expected.append(verify(text_of(completion), ref, domain).score)
        assert step["rewards"] == pytest.approx(expected, abs=1e-6)
        assert step["mean"] == pytest.approx(sum(expected) / len(expected), abs=1e-5)
        scored += len(expected)
        all_rewards += expected
    assert scored == 16
    return all_rewards


def test_grpo_trainer_logs_the_rewards_verify_gives_plain_text(tiny, tmp_path):
    rows = [
        # the reference as the project's JSON string, and as a bare answer
        {"prompt": MATH_PROMPT, "domain": "math", "reference": json.dumps({"answer": "4"})},
        {"prompt": IFEVAL_PROMPT, "domain": "ifeval", "reference": json.dumps(IFEVAL_REF)},
    ]
    seen = _train(tiny, rows, {}, tmp_path)
    rewards = _check(seen, rows, lambda c: c)
    assert len(set(rewards)) > 1, rewards  # real, varied rewards (not all 0)


def test_grpo_trainer_conversational_and_named_columns(tiny, tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": MATH_PROMPT}], "task": "math", "gold": "4"},
        {
            "prompt": [{"role": "user", "content": IFEVAL_PROMPT}],
            "task": "ifeval",
            "gold": json.dumps(IFEVAL_REF),
        },
    ]
    reward = {"domain_column": "task", "reference_column": "gold", "name": "verifier"}
    seen = _train(tiny, rows, reward, tmp_path, steps=2)
    assert isinstance(seen[0]["completions"][0], list)  # TRL handed over message lists
    renamed = [{"prompt": r["prompt"], "domain": r["task"], "reference": r["gold"]} for r in rows]
    _check(seen, renamed, lambda c: c[-1]["content"])


def test_weights_format_reward_and_errors():
    completions = ["<think>x</think> \\boxed{4}", "4", "<think>unclosed \\boxed{4}"]
    kw = {"domain": ["math"] * 3, "reference": ["4", {"answer": "4"}, '{"answer": "4"}']}
    assert ring_reward(prompts=["p"] * 3, completions=completions, **kw) == [1.0, 1.0, 0.0]
    assert format_reward(completions) == [1.0, 0.0, 0.0]
    weighted = RingReward(domain_weights={"math": 0.5}, format_weight=0.25)
    assert weighted(completions=completions, **kw) == [0.75, 0.5, 0.0]
    logged = {}
    ring_reward(completions=completions, log_metric=logged.__setitem__, **kw)
    assert logged["ring/math/correct"] == pytest.approx(2 / 3) and logged["ring/timeout_frac"] == 0
    math_only = RingReward(default_domain="math")
    assert math_only(completions=["\\boxed{7}"], reference=[7]) == [1.0]
    with pytest.raises(ValueError, match="no 'domain' column"):
        RingReward()(completions=["x"], reference=["1"])
    with pytest.raises(ValueError, match="no 'answer' column"):
        RingReward(reference_column="answer")(completions=["x"], domain=["math"], reference=["1"])
    assert format_score("a" * 300_000 + "\\boxed{1}") == 0.0
