"""The embedded backend on a CUDA GPU in bf16 with its own (hf) rollouts: a live test that
``make gpu-check`` runs (check ``embedded-cuda``); skipped on a machine without CUDA."""

import math
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.live,
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

BUDGET = 256


def test_embedded_rl_on_cuda_in_bf16_live(tmp_path):
    """Three steps of a random tiny policy: forwards under bf16 autocast on the GPU, weights kept in
    fp32 and moved by the optimizer, and C3PO training exactly Φ tokens per step (random weights
    rarely stop early, so every step samples more than Φ)."""
    from ring_data.rows import write_jsonl
    from ring_train.backends import get_backend
    from ring_train.backends.embedded import StageRunner
    from ring_train.config import from_dict
    from ring_train.metrics import read_metrics
    from ring_train.models.load import load_policy
    from ring_train.models.tiny import create_tiny_policy
    from ring_train.recipes.arithmetic import problem_row, solution_text
    from ring_train.rewards import Rewarder

    pairs = [(12, 34), (56, 7), (81, 19), (40, 44), (23, 23), (70, 15), (11, 90), (35, 35)]
    rows = [problem_row(a, b) for a, b in pairs]
    write_jsonl(tmp_path / "math.jsonl", rows)
    texts = [r["prompt"] for r in rows] + [solution_text(a, b) for a, b in pairs]
    init = create_tiny_policy(tmp_path / "init", texts, vocab_size=300, seed=0)
    cfg = from_dict(
        {
            "model": str(init),
            "run_dir": str(tmp_path / "run"),
            "device": "cuda",
            "precision": "bf16",
            "stages": [{"name": "reasoning", "datasets": {str(tmp_path / "math.jsonl"): 1.0}, "steps": 3}],
            "rollout": {"prompts_per_step": 8, "group_size": 4, "max_new_tokens": 32, "engine": "hf"},
            "c3po": {"budget": BUDGET},
            "advantage": {"filter_zero_variance": False},  # random weights earn no reward to keep a group
            "loss": {"entropy_coef": 0.05},  # the policy moves even with zero advantages
            "optim": {"lr": 1e-3},
        }
    )
    runner = StageRunner(cfg, cfg.stages[0], str(init), Rewarder(workers=1), 0)
    try:
        ids = torch.tensor([[1, 2, 3, 4]], device="cuda")
        with runner._autocast():
            logits = runner.model(ids).logits
        assert runner.model.device.type == "cuda" and logits.dtype == torch.bfloat16
        assert all(p.dtype == torch.float32 for p in runner.model.parameters())
    finally:
        runner.close()
        runner.rewarder.close()

    summary = get_backend("embedded").train(cfg, cfg.stages)
    steps = [r for r in read_metrics(Path(cfg.run_dir) / "metrics.jsonl") if "c3po/kept_tokens" in r]
    assert len(steps) == 3
    assert all(r["c3po/total_tokens"] > BUDGET and r["c3po/kept_tokens"] == BUDGET for r in steps), steps
    assert all(math.isfinite(r["policy/grad_norm"]) and r["policy/grad_norm"] > 0 for r in steps)
    before, _ = load_policy(init)
    after, _ = load_policy(summary["stages"]["reasoning"]["final"])
    assert all(p.dtype == torch.float32 for p in after.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after.parameters(), before.parameters()))
