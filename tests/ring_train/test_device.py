"""Device and precision plumbing of the embedded backend, checked on CPU.

The GPU path differs from the CPU one only in where tensors live. With torch's default device set to
``meta`` any tensor the code creates without naming the model's device lands on ``meta`` and breaks the
computation, so running the rollout and the training forward/backward that way proves every tensor
follows the model: what would be a CUDA/CPU mix-up on a GPU box fails here.
"""

import pytest
import torch

from ring_data.errors import UserError
from ring_train import rollout
from ring_train.config import from_dict
from ring_train.device import autocast, resolve_device
from ring_train.forward import run_responses
from ring_train.lanes import Lanes


def _rollout_and_grads(model, tok, prompts):
    model.zero_grad(set_to_none=True)
    ro = rollout.sample(
        model,
        prompts,
        3,
        max_new_tokens=6,
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
        temperature=1.0,
        top_p=0.9,
        generator=torch.Generator().manual_seed(0),
    )
    keep = [len(r) for r in ro.responses]
    with torch.enable_grad():
        mbs = run_responses(
            model,
            ro.prompt_ids,
            ro.responses,
            ro.group,
            keep,
            pad_id=tok.pad_token_id,
            consume=lambda mb: (mb.logp * mb.mask).sum(),
        )
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    return ro, [mb.logp for mb in mbs], grads


@pytest.mark.parametrize("lean", [True, False])
def test_every_tensor_follows_the_models_device(policy, monkeypatch, lean):
    model, tok = policy
    if not lean:
        monkeypatch.setattr(rollout, "lean_decoder", lambda m: None)
    prompts = [tok("What is 12 + 34?").input_ids, tok("abc").input_ids]
    expected = _rollout_and_grads(model, tok, prompts)
    torch.set_default_device("meta")
    try:
        got = _rollout_and_grads(model, tok, prompts)
    finally:
        torch.set_default_device(None)
    assert got[0].responses == expected[0].responses and got[0].finished == expected[0].finished
    assert all(torch.equal(a, b) for a, b in zip(got[1], expected[1]))
    assert len(got[2]) == len(expected[2]) > 0
    assert all(torch.allclose(a, b) for a, b in zip(got[2], expected[2]))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_cuda_without_a_gpu_is_a_one_line_error():
    with pytest.raises(UserError, match="device cuda: torch sees no CUDA device") as err:
        resolve_device("cuda")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"device": "gpu"}, "key 'device': must be auto, cpu, cuda or cuda:N"),
        ({"precision": "fp16"}, "key 'precision': must be one of auto, fp32, bf16"),
        ({"device": "cpu", "rollout": {"engine": "vllm"}}, "vllm rollouts need a CUDA device"),
        ({"rollout": {"engine": "sglang"}}, "key 'rollout.engine': must be one of auto, hf, vllm"),
        ({"rollout": {"vllm": {"gpu_memory_utilization": 1.5}}}, "gpu_memory_utilization': must be in"),
        ({"rollout": {"vllm": {"sleep_mode": True}}}, "unknown key 'rollout.vllm.sleep_mode'"),
        ({"rollout": {"vllm": {"dtype": "fp8"}}}, "key 'rollout.vllm.dtype': must be one of auto, bfloat16"),
    ],
)
def test_bad_device_settings_are_one_line_errors(extra, message):
    raw = {"model": "m", "run_dir": "r", "stages": [{"name": "s", "datasets": {"d.jsonl": 1}, "steps": 1}]}
    raw["c3po"] = {"budget": 10}
    raw.update(extra)
    with pytest.raises(UserError, match=message) as err:
        from_dict(raw, "run.yaml")
    assert str(err.value).startswith("run.yaml: ") and "\n" not in str(err.value)


def test_lanes_carry_autocast_to_their_threads(policy):
    """Autocast is thread-local: each lane enters the context itself, so bf16 reaches every lane."""
    model, _ = policy
    lanes = Lanes(model, 2, context=lambda: autocast(torch.device("cpu"), "bf16"))
    x = torch.randn(3, model.config.hidden_size)
    try:
        dtypes = lanes.map(lambda lane, m, shard: m.lm_head(x).dtype, [0, 1])
    finally:
        lanes.close()
    assert dtypes == [torch.bfloat16, torch.bfloat16]
    assert model.lm_head(x).dtype == torch.float32  # nothing leaks to the caller's thread


def test_a_whole_rl_step_and_eval_keep_to_the_models_device(tmp_path):
    """The embedded backend's step (sampling, rewards, advantages, reference, loss, optimizer) and its
    eval under a ``meta`` default device: host-side bookkeeping names the CPU, model-side tensors
    follow the model. One lane, so everything runs on this thread (the default device is per thread)."""
    from ring_data.rows import write_jsonl
    from ring_train.backends.embedded import StageRunner
    from ring_train.models.tiny import create_tiny_policy
    from ring_train.recipes.arithmetic import problem_row, solution_text
    from ring_train.rewards import Rewarder

    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    write_jsonl(tmp_path / "math.jsonl", rows)
    texts = [r["prompt"] for r in rows] + [solution_text(12, 34)]
    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}
    model = create_tiny_policy(
        tmp_path / "init", texts, vocab_size=300, seed=0, intermediate_size=64, **small
    )
    data = str(tmp_path / "math.jsonl")
    cfg = from_dict(
        {
            "model": str(model),
            "run_dir": str(tmp_path / "run"),
            "stages": [{"name": "r", "datasets": {data: 1.0}, "steps": 2}],
            "rollout": {"prompts_per_step": 2, "group_size": 3, "max_new_tokens": 8},
            "c3po": {"budget": 20},
            "advantage": {"filter_zero_variance": False},  # random weights: no group would train
            "loss": {"kl_beta": 0.1, "entropy_coef": 0.01},
            "lanes": 1,
            "eval": {"data": data, "samples": 2},
        }
    )
    rewarder = Rewarder(workers=1)
    runner = StageRunner(cfg, cfg.stages[0], str(model), rewarder, 0)
    torch.set_default_device("meta")
    try:
        step = runner.train_step()
        ev = runner.evaluate()
    finally:
        torch.set_default_device(None)
        runner.close()
        rewarder.close()
    assert step["c3po/kept_tokens"] == 20 and step["policy/grad_norm"] > 0
    assert ev["eval/response_len"] > 0 and ev["eval/entropy"] > 0


@pytest.mark.live
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_rollout_and_gradients_match_between_cpu_and_gpu_live(policy):
    """Same weights, same seed: the GPU rollout draws the same tokens (uniforms come from the host
    generator) and the gradients agree with the CPU's to float tolerance."""
    import copy

    model, tok = policy
    prompts = [tok("What is 12 + 34?").input_ids, tok("abc").input_ids]
    cpu = _rollout_and_grads(model, tok, prompts)
    gpu_model = copy.deepcopy(model).to("cuda")
    gpu = _rollout_and_grads(gpu_model, tok, prompts)
    assert gpu[0].responses == cpu[0].responses
    assert all(torch.allclose(a.cpu(), b, atol=1e-4, rtol=1e-3) for a, b in zip(gpu[2], cpu[2]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_ring_train_rl_with_vllm_rollouts_on_a_cpu_machine_exits_2_in_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    (tmp_path / "d.jsonl").write_text('{"id": "1", "domain": "math", "prompt": "1+1?", "reference": "2"}\n')
    config = {
        "model": str(tmp_path / "m"),
        "run_dir": str(tmp_path / "run"),
        "stages": [{"name": "reasoning", "datasets": {str(tmp_path / "d.jsonl"): 1}, "steps": 1}],
        "c3po": {"budget": 10},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    argv = ["rl", "--config", str(tmp_path / "c.yaml"), "--set", "rollout.engine=vllm"]
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-m", "cli.ring_train", *argv], cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 2, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "vllm" in lines[0].lower(), out.stderr
    assert not (tmp_path / "run").exists()  # refused before the run dir is written
