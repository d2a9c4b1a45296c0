"""OpenRLHF backend, tested on CPU up to its boundary against the real ``openrlhf`` classes (installed
``--no-deps`` by ``make test``); the end-to-end run is a ``live`` test that needs CUDA GPUs."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
openrlhf = pytest.importorskip("openrlhf.trainer.ppo_utils.replay_buffer", reason="openrlhf not installed")

from ring_train.backends.openrlhf import argv as argv_mod  # noqa: E402
from ring_train.backends.openrlhf.data import export_prompts  # noqa: E402
from ring_train.backends.openrlhf.reward_func import response_text, reward_func  # noqa: E402
from ring_train.backends.openrlhf.selection import select_experiences, truncate_action_mask  # noqa: E402
from ring_train.backends.openrlhf.settings import C3POSettings  # noqa: E402
from ring_train.config import from_dict  # noqa: E402


def _experience(lengths, adv_values, prompt_len=3):
    """A real batched ``Experience``: right-padded responses of the given lengths."""
    from openrlhf.trainer.ppo_utils.experience import Experience

    b, a = len(lengths), max(lengths)
    mask = torch.zeros(b, a, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    adv = torch.tensor(adv_values, dtype=torch.float).unsqueeze(1).expand(b, a).clone() * mask
    return Experience(
        sequences=torch.arange(b * (prompt_len + a)).reshape(b, prompt_len + a),
        attention_mask=torch.ones(b, prompt_len + a, dtype=torch.long),
        action_mask=mask,
        advantages=adv,
        action_log_probs=torch.zeros(b, a),
        total_length=torch.tensor([prompt_len + n for n in lengths]),
        response_length=torch.tensor(lengths, dtype=torch.float),
        prompts=[f"p{i}" for i in range(b)],
        labels=["{}"] * b,
    )


def _openrlhf_flags() -> set[str]:
    """Every flag ``openrlhf.cli.train_ppo_ray`` declares (f-string flags per actor/critic prefix)."""
    import importlib.util

    src = Path(importlib.util.find_spec("openrlhf").submodule_search_locations[0], "cli", "train_ppo_ray.py")
    flags = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("--"):
                flags.add(first.value)
            elif isinstance(first, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in first.values]
                for prefix in ("actor", "critic"):
                    flags.add("".join(parts).replace("{}", prefix))
    return flags


def _openrlhf_choices(flag: str) -> tuple:
    """The literal ``choices`` OpenRLHF's parser gives ``flag``."""
    import importlib.util

    src = Path(importlib.util.find_spec("openrlhf").submodule_search_locations[0], "cli", "train_ppo_ray.py")
    for node in ast.walk(ast.parse(src.read_text())):
        is_call = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
        if is_call and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == flag:
            for kw in node.keywords:
                if kw.arg == "choices":
                    return tuple(ast.literal_eval(kw.value))
    raise AssertionError(f"OpenRLHF declares no choices for {flag}")


def _cfg(tmp_path, **over):
    data = tmp_path / "math.jsonl"
    data.write_text(
        json.dumps({"id": "a", "domain": "math", "prompt": "1+1?", "reference": {"answer": "2"}}) + "\n"
    )
    raw = {
        "model": "some/model",
        "run_dir": str(tmp_path / "run"),
        "stages": [{"name": "reasoning", "datasets": {str(data): 1.0}, "steps": 3}],
        "c3po": {"enabled": True, "budget": 4096},
        "loss": {"kl_beta": 0.001, "entropy_coef": 0.0005, "eps_high": 0.28},
    }
    raw.update(over)
    return from_dict(raw), data


def test_argv_uses_only_flags_openrlhf_declares(tmp_path):
    cfg, data = _cfg(tmp_path)
    argv = argv_mod.build_argv(
        cfg,
        cfg.stages[0],
        model="m",
        prompt_files=[str(data)],
        stage_dir=tmp_path / "s",
        reward_func="r.py",
        n_gpus=2,
        extra="--vllm.gpu_memory_utilization 0.5",
    )
    used = {a for a in argv if a.startswith("--")}
    unknown = used - _openrlhf_flags()
    assert not unknown, f"flags OpenRLHF does not declare: {sorted(unknown)}"
    joined = " ".join(argv)
    assert "--train.batch_size 128" in joined  # one optimizer step per rollout: 16 prompts x 8
    assert "--algo.kl.use_loss --algo.kl.estimator k3 --algo.kl.init_coef 0.001" in joined
    assert "--actor.eps_clip_low_high 0.2 0.28" in joined and "--data.max_samples 48" in joined


def test_every_optional_flag_exists_and_the_mapping_follows_the_config(tmp_path):
    """With every optional mapping on (eval set, vLLM settings, importance weights, dual clip, warm-up,
    PPO epochs, GSPO ratios, the MoE balancing loss), each emitted flag is one OpenRLHF declares,
    carrying the configured value."""
    cfg, data = _cfg(
        tmp_path,
        rollout={
            "vllm": {
                "enforce_eager": True,
                "sleep": True,
                "max_model_len": 4096,
                "gpu_memory_utilization": 0.6,
            }
        },
        optim={"weight_decay": 0.1, "warmup_steps": 1, "grad_clip": 0.5, "ppo_epochs": 2},
        loss={"tis_cap": 3.0, "dual_clip": 3.0, "kl_beta": 0.0, "ratio_level": "sequence"},
        eval={"data": str(tmp_path / "math.jsonl"), "every": 5, "samples": 2, "temperature": 0.6},
        c3po={"enabled": False},
        moe={"aux_loss_coef": 1e-5},
    )
    argv = argv_mod.build_argv(
        cfg,
        cfg.stages[0],
        model="m",
        prompt_files=[str(data)],
        stage_dir=tmp_path / "s",
        reward_func="r.py",
        eval_file="e.jsonl",
    )
    assert not {a for a in argv if a.startswith("--")} - _openrlhf_flags()
    joined = " ".join(argv)
    for expected in (
        "--actor.adam.weight_decay 0.1",
        "--actor.max_norm 0.5",
        "--train.max_epochs 2",
        "--actor.lr_scheduler constant_with_warmup --actor.lr_warmup_ratio 0.0833333333333",  # 0.5 / 6
        "--algo.advantage.is_correction_level token --algo.advantage.is_correction_mode clip "
        "--algo.advantage.is_correction_threshold 0 3.0",
        "--actor.dual_clip 3.0",
        "--actor.policy_loss_type gspo",
        "--actor.aux_loss_coef 1e-05",
        "--vllm.gpu_memory_utilization 0.6",
        "--vllm.enforce_eager --vllm.enable_sleep --data.max_len 4096",
        "--actor.loss_agg_mode seq-mean-token-mean",  # auto without C3PO: seq-mean
        "--algo.kl.init_coef 0",
        "--eval.dataset e.jsonl --eval.steps 5 --eval.n_samples_per_prompt 2 --eval.temperature 0.6",
    ):
        assert expected in joined, expected
    assert "gspo" in _openrlhf_choices("--actor.policy_loss_type")


def test_registered_parts_map_to_names_openrlhf_accepts():
    from ring_train.core.advantages import ADVANTAGES
    from ring_train.core.losses import AGGREGATIONS, KL_ESTIMATORS

    for registry, flag in (
        (ADVANTAGES, "--algo.advantage.estimator"),
        (AGGREGATIONS, "--actor.loss_agg_mode"),
        (KL_ESTIMATORS, "--algo.kl.estimator"),
    ):
        names = {registry.get(n).openrlhf for n in registry.names()}
        assert None not in names and names <= set(_openrlhf_choices(flag)), (flag, names)


def test_rows_export_to_prompt_and_json_label_and_reward_through_verifiers(tmp_path):
    pytest.importorskip("verifiers").verify  # noqa: B018
    cfg, data = _cfg(tmp_path)
    out = tmp_path / "prompts.jsonl"
    assert export_prompts(data, out) == 1
    row = json.loads(out.read_text())
    assert row["prompt"] == "1+1?" and json.loads(row["label"]) == {
        "domain": "math",
        "reference": {"answer": "2"},
    }
    prompt = "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"
    good = prompt + "<think>easy</think> The answer is \\boxed{2}<|im_end|><|endoftext|>"
    bad = prompt + "\\boxed{3}<|im_end|>"
    assert response_text(good, prompt) == "<think>easy</think> The answer is \\boxed{2}"
    out = reward_func([good, bad, good], [prompt] * 3, [row["label"], row["label"], "not json"])
    assert out["rewards"].tolist() == [1.0, 0.0, 0.0]
    assert out["extra_logs"]["reward_label_error"].tolist() == [1.0]


def test_global_selection_keeps_exactly_phi_tokens_in_batch_order():
    exps = [_experience([5, 3, 4], [1.0, -1.0, 0.5]), _experience([6, 2], [2.0, -2.0])]
    kept, plan = select_experiences(exps, budget=10)
    assert plan.keep == (5, 3, 2, 0, 0) and plan.dropped_tokens == 10
    assert len(kept) == 1 and kept[0].action_mask.sum().item() == 10
    assert kept[0].action_mask.sum(dim=-1).tolist() == [5, 3, 2]  # the straddler keeps its first 2 tokens
    assert kept[0].advantages[:, 0].tolist() == [1.0, -1.0, 0.5]  # advantages from the full groups, untouched


def test_truncate_action_mask_counts_only_response_positions():
    mask = torch.tensor([False, True, True, True, False])
    assert truncate_action_mask(mask, 2).tolist() == [False, True, True, False, False]


SETUP_SCRIPT = """
import os, json, types, torch, torch.distributed as dist
os.environ.update({ENV})
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:{PORT}", rank=0, world_size=1)
from ring_train.backends.openrlhf.patch import install
assert install()
from openrlhf.trainer.ppo_utils.replay_buffer import NaiveReplayBuffer
from openrlhf.trainer.ppo_utils.experience import split_experience_batch
sys_path_exp = __import__("importlib").import_module("test_openrlhf_backend_helpers")
buf = object.__new__(NaiveReplayBuffer)
buf.items = split_experience_batch(sys_path_exp.batch())
ns = types.SimpleNamespace
strategy = ns(args=ns(train=ns(max_tokens_per_gpu=16), ds=ns(ring_attn_size=1, tensor_parallel_size=1, packing_samples=False)),
              ds_device_mesh={{"dp": ns(get_group=lambda: dist.group.WORLD)}})
buf.setup_dynamic_batch(strategy)
print(json.dumps({{"patched": NaiveReplayBuffer.setup_dynamic_batch.__name__, "indices": buf.dynamic_indices,
    "num_tokens": buf.dynamic_batch_num_tokens, "steps": buf.dynamic_optimizer_step,
    "kept": [int(i.action_mask.sum()) for i in buf.items]}}))
"""


@pytest.mark.parametrize(
    ("scope", "normalizer", "kept"), [("global", 12.0, [5, 3, 4, 6, 2]), ("rank", 12.0, [5, 3, 4])]
)
def test_patched_setup_dynamic_batch_runs_one_step_with_constant_phi(tmp_path, scope, normalizer, kept):
    helpers = tmp_path / "test_openrlhf_backend_helpers.py"
    helpers.write_text(
        textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_openrlhf_backend import _experience
        def batch():
            return _experience([5, 3, 4, 6, 2], [1.0, -1.0, 0.5, 2.0, -2.0])
    """)
    )
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**C3POSettings(12, scope).to_env(), "RING_C3PO_RECORD": str(tmp_path / "steps.jsonl")}
    script = SETUP_SCRIPT.format(ENV=repr(env), PORT=port)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["patched"] == "c3po_setup_dynamic_batch"
    assert res["kept"] == kept  # rank scope cut this rank's items to Φ=12 itself
    assert res["steps"][-1] == 1 and sum(res["steps"]) == 1  # one optimizer step per rollout
    assert set(res["num_tokens"]) == {normalizer} and len(res["indices"]) >= 2  # 16-token micro-batches
    assert sorted(i for mb in res["indices"] for i in mb) == list(range(len(kept)))
    record = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert record == [{"trained_tokens": sum(kept), "normalizer": normalizer, "dp_size": 1}]


def test_install_is_a_no_op_when_c3po_is_off():
    code = (
        "import os; os.environ.update({'RING_C3PO_BUDGET': 'off'})\n"
        "from ring_train.backends.openrlhf.patch import install\n"
        "assert install() is False\n"
        "from openrlhf.trainer.ppo_utils.replay_buffer import NaiveReplayBuffer\n"
        "print(NaiveReplayBuffer.setup_dynamic_batch.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "setup_dynamic_batch"


def test_cli_without_gpu_stack_is_one_line_exit_2(tmp_path):
    cfg, data = _cfg(tmp_path)
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(cfg.to_dict()))
    out = subprocess.run(
        [sys.executable, "-m", "cli.ring_train", "rl", "--config", str(config), "--backend", "openrlhf"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(r"needs (the \[openrlhf\] extra|CUDA GPUs)", lines[0]), out.stderr


@pytest.mark.live
@pytest.mark.gpu
def test_live_openrlhf_two_step_stage_on_gpu(tmp_path, monkeypatch):
    """Runs only where the [openrlhf] extra and CUDA GPUs are present: a tiny Qwen2 (head_dim 64 for the
    attention kernels), two C3PO steps of arithmetic, each training exactly Φ tokens in OpenRLHF's actor,
    and the stage's HF output checked."""
    from ring_train.backends.openrlhf import check_stack, train
    from ring_train.models.tiny import create_tiny_policy
    from ring_train.recipes.arithmetic import corpus, write_splits

    try:
        check_stack()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"needs the GPU stack: {e}")
    paths = write_splits(tmp_path / "data", n_sft=64, n_rl=64, n_eval=8)
    model = create_tiny_policy(
        tmp_path / "model",
        corpus(paths),
        hidden_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=256,
    )
    cfg = from_dict(
        {
            "model": str(model),
            "run_dir": str(tmp_path / "run"),
            "stages": [{"name": "reasoning", "datasets": {str(paths["rl"]): 1.0}, "steps": 2}],
            "rollout": {"prompts_per_step": 8, "group_size": 4, "max_new_tokens": 32},
            "c3po": {"enabled": True, "budget": 256},
            "advantage": {"filter_zero_variance": False},  # random weights earn no reward to keep a group
        }
    )
    record = tmp_path / "c3po_steps.jsonl"  # the patched actor appends each step's trained tokens here
    monkeypatch.setenv("RING_C3PO_RECORD", str(record))
    summary = train(cfg, cfg.stages)
    assert Path(summary["stages"][0]["output"], "config.json").exists()
    steps = [json.loads(x) for x in record.read_text().splitlines()]
    assert len(steps) == 2 and all(s["trained_tokens"] == s["normalizer"] == 256 for s in steps), steps
