"""vLLM rollouts of the embedded backend, up to the engine: the arguments, sampling parameters and
output reading are checked against vLLM's real classes (the wheel is installed without its GPU stack
in the dev environment); the engine itself, which needs a GPU, has live tests at the end."""

import dataclasses
import math
import sys
from pathlib import Path

import pytest
import torch

from ring_data.errors import UserError
from ring_train.config import VLLMConfig
from ring_train.rollout import Rollout
from ring_train.vllm_rollouts import (
    VLLMRollouts,
    engine_kwargs,
    import_vllm,
    policy_weights,
    rollout_from_outputs,
    sampling_params,
)

vllm = pytest.importorskip("vllm", reason="the dev install (make install-dev) puts vllm's wheel here")
from vllm.engine.arg_utils import EngineArgs  # noqa: E402
from vllm.logprobs import FlatLogprobs, Logprob  # noqa: E402
from vllm.outputs import CompletionOutput, RequestOutput  # noqa: E402

EOS = 2


def _completion(index: int, ids: list[int], reason: str | None, logps=None, flat=False) -> CompletionOutput:
    """A completion as vLLM builds it; ``logps``: the sampled tokens' log-probs (``logprobs=0``), as
    a list of {token: Logprob} or, ``flat``, vLLM's FlatLogprobs."""
    logprobs = None
    if logps is not None:
        logprobs = FlatLogprobs() if flat else []
        for tok, lp in zip(ids, logps):
            logprobs.append({tok: Logprob(logprob=lp, rank=1)})
    return CompletionOutput(
        index=index, text="", token_ids=ids, cumulative_logprob=None, logprobs=logprobs, finish_reason=reason
    )


def _request(prompt: list[int], completions: list[CompletionOutput]) -> RequestOutput:
    return RequestOutput(
        request_id="0",
        prompt=None,
        prompt_token_ids=prompt,
        prompt_logprobs=None,
        outputs=completions,
        finished=True,
    )


def test_engine_kwargs_are_vllm_engine_arguments(tmp_path):
    cfg = VLLMConfig(gpu_memory_utilization=0.25, dtype="float32", sleep=True, max_model_len=512)
    kwargs = engine_kwargs(str(tmp_path), cfg, seed=7)
    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    assert set(kwargs) <= fields, set(kwargs) - fields
    args = EngineArgs(**kwargs)
    assert (args.model, args.seed, args.max_model_len) == (str(tmp_path), 7, 512)
    assert args.enable_sleep_mode and args.skip_tokenizer_init and args.gpu_memory_utilization == 0.25
    assert "max_model_len" not in engine_kwargs(str(tmp_path), VLLMConfig(), seed=0)  # the model's own


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_sampling_params_are_valid_for_vllm(temperature):
    params = sampling_params(vllm, 4, max_new_tokens=32, eos_id=EOS, temperature=temperature, top_p=0.9)
    assert isinstance(params, vllm.SamplingParams)  # vLLM validated it on construction
    # vLLM runs greedy once per prompt (it rejects n > 1) and ignores top_p there
    expected = (4, 0.9) if temperature > 0 else (1, 1.0)
    assert (params.n, params.top_p) == expected
    assert (params.max_tokens, params.temperature) == (32, temperature)
    assert params.stop_token_ids == [EOS] and not params.detokenize  # token ids in and out
    assert params.logprobs == 0  # the sampled token's log-prob, for the importance weights


def test_outputs_become_a_group_major_rollout_with_eos_and_sampler_logprobs():
    prompts = [[5, 6], [7]]
    outputs = [
        # vLLM may return a request's samples in any order: ``index`` says which is which
        _request(
            prompts[0],
            [
                _completion(1, [9, 10], "length", [-0.5, -0.25], flat=True),
                _completion(0, [8, EOS], "stop", [-1.0, -2.0]),
            ],
        ),
        # a stop without the stop token in the ids (vLLM leaves it out in some paths): put back, with
        # an unknown (NaN) log-prob; a completion without log-probs gets NaN throughout
        _request(prompts[1], [_completion(0, [11], "stop", [-3.0]), _completion(1, [4], "length")]),
    ]
    ro = rollout_from_outputs(prompts, outputs, 2, EOS)
    assert (ro.prompt_ids, ro.group) == (prompts, [0, 0, 1, 1])
    assert ro.responses == [[8, EOS], [9, 10], [11, EOS], [4]]
    assert ro.finished == [True, False, True, False]
    nan = float("nan")
    expected = [[-1.0, -2.0], [-0.5, -0.25], [-3.0, nan], [nan]]
    assert [[round(x, 6) if x == x else "nan" for x in r] for r in ro.sampler_logps] == [
        [x if x == x else "nan" for x in r] for r in expected
    ]
    both = Rollout.concat([ro, ro])
    assert len(both.sampler_logps) == 8 and both.group[4:] == [2, 2, 3, 3]


def test_one_greedy_completion_stands_for_the_whole_group():
    ro = rollout_from_outputs([[5]], [_request([5], [_completion(0, [8, EOS], "stop")])], 3, EOS)
    assert ro.responses == [[8, EOS]] * 3 and ro.group == [0, 0, 0] and ro.finished == [True] * 3


def test_outputs_that_do_not_match_the_request_are_an_error():
    with pytest.raises(RuntimeError, match="1 outputs for 2 prompts"):
        rollout_from_outputs([[1], [2]], [_request([1], [_completion(0, [3], "length")])], 1, EOS)
    two = [_completion(0, [3], "length"), _completion(1, [4], "length")]
    with pytest.raises(RuntimeError, match="2 samples for a prompt, expected 3"):
        rollout_from_outputs([[1]], [_request([1], two)], 3, EOS)


def test_pushed_weights_carry_the_checkpoint_names_vllm_loads(policy, tmp_path):
    """The engine is built from the checkpoint on disk and later fed ``policy_weights``: both must
    use the same tensor names (vLLM maps those onto its fused layers)."""
    from safetensors.torch import load_file

    model, tok = policy
    model.save_pretrained(tmp_path)
    on_disk = load_file(tmp_path / "model.safetensors")
    pushed = dict(policy_weights(model))
    assert set(on_disk) <= set(pushed)
    assert all(torch.equal(pushed[k], on_disk[k]) for k in on_disk)
    assert not any(t.requires_grad for t in pushed.values())


def test_without_vllm_the_engine_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # what an environment without the package sees
    with pytest.raises(UserError, match="rollout.engine vllm needs the vllm package") as err:
        import_vllm()
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_vllm_engine_without_a_gpu_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="needs a CUDA GPU") as err:
        VLLMRollouts(str(tmp_path), VLLMConfig(), seed=0)
    assert "\n" not in str(err.value)


# ---- live: a CUDA GPU with vllm's full install -----------------------------------------------------
@pytest.fixture(scope="module")
def trained_policy(tmp_path_factory, vllm_on_gpu):
    """A tiny Qwen2 SFT'd on 2-digit addition on the GPU (greedy answers are confident)."""
    from ring_train.recipes.arithmetic import write_splits
    from ring_train.sft import SFTConfig, run_sft

    root = tmp_path_factory.mktemp("vllm_live")
    data = write_splits(root / "data", n_sft=2000, n_rl=500, n_eval=64, digits=(2, 2))
    ckpt = run_sft(data["sft"], root / "sft", tiny=True, cfg=SFTConfig(epochs=3, lr=2e-3, device="cuda"))[-1]
    return root, ckpt, data


@pytest.mark.live
@pytest.mark.gpu
@pytest.mark.usefixtures("vllm_on_gpu")
def test_engine_follows_the_policy_weights_live(trained_policy):
    """Greedy vLLM samples equal the policy's own greedy samples, before and after the policy's
    weights change and across a sleep: what the trainer pushes is what the engine samples from."""
    from ring_train.data import read_problem_rows
    from ring_train.engine import SamplingSettings
    from ring_train.lanes import Lanes
    from ring_train.models.load import load_policy
    from ring_train.rollout import sample
    from ring_train.text import encode_prompt

    root, ckpt, data = trained_policy
    model, tok = load_policy(ckpt, device="cuda")
    prompts = [encode_prompt(tok, r["prompt"]) for r in read_problem_rows(data["heldout"])[:32]]
    settings = SamplingSettings(24, tok.eos_token_id, tok.pad_token_id, temperature=0.0)
    cfg = VLLMConfig(dtype="float32", gpu_memory_utilization=0.3, sleep=True)
    engine = VLLMRollouts(str(ckpt), cfg, seed=0)
    policy = Lanes(model, 1)

    def agreement(theirs) -> float:
        ours = sample(model, prompts, 1, **settings.as_kwargs()).responses
        return sum(a == b for a, b in zip(ours, theirs.responses)) / len(prompts)

    try:
        engine.sync_weights(policy)
        assert agreement(engine.sample(prompts, 1, settings)) >= 0.9
        with torch.no_grad():  # another policy: the engine must follow it once synced
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        stale = agreement(engine.generate(prompts, 1, settings, None))  # no push yet
        engine.sync_weights(policy)
        assert agreement(engine.sample(prompts, 1, settings)) >= 0.9 > stale  # pushed lazily
        engine.sleep()
        assert engine.asleep
        woken = engine.sample(prompts, 1, settings)  # wakes it, with the weights
        assert not engine.asleep and agreement(woken) >= 0.9
    finally:
        engine.close()


@pytest.mark.live
@pytest.mark.gpu
@pytest.mark.usefixtures("vllm_on_gpu")
def test_rl_with_vllm_rollouts_on_gpu_live(trained_policy):
    """The embedded backend on one GPU: bf16 autocast training, vLLM rollouts that sleep while the
    policy trains, eval through the engine; every step keeps the budget and its gradient is finite."""
    from ring_train.backends import get_backend
    from ring_train.config import from_dict
    from ring_train.metrics import read_metrics

    root, ckpt, data = trained_policy
    cfg = from_dict(
        {
            "model": str(ckpt),
            "run_dir": str(root / "rl_vllm"),
            "device": "cuda",
            "precision": "bf16",
            "stages": [{"name": "reasoning", "datasets": {str(data["rl"]): 1.0}, "steps": 4}],
            "rollout": {
                "prompts_per_step": 16,
                "group_size": 8,
                "max_new_tokens": 24,
                "engine": "vllm",
                "vllm": {"gpu_memory_utilization": 0.3, "sleep": True},
            },
            "c3po": {"budget": 1024},
            "optim": {"lr": 1e-4},
            "eval": {"data": str(data["heldout"]), "every": 2, "max_rows": 64},
        }
    )
    get_backend("embedded").train(cfg, cfg.stages)
    recs = read_metrics(Path(cfg.run_dir) / "metrics.jsonl")
    steps = [r for r in recs if "policy/grad_norm" in r]
    assert len(steps) == 4 and all(math.isfinite(r["policy/grad_norm"]) for r in steps)
    assert all(r["c3po/kept_tokens"] <= 1024 and r["rollout/response_len"] > 0 for r in steps)
    assert [r["eval/pass_rate"] for r in recs if "eval/pass_rate" in r]
