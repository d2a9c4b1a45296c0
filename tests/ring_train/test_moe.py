"""Mixture-of-Experts policies end to end on tiny models built from transformers' own MoE classes:
building, router capture, KV-cache sampling with the rollout's routing recorded, the training forward's
router tensors, routing drift, router loss terms, RL steps with router metrics and exact resume, SFT."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ring_train.rollout as rollout
from ring_data.errors import UserError
from ring_data.rows import write_jsonl
from ring_train.backends import get_backend
from ring_train.config import from_dict
from ring_train.forward import run_responses
from ring_train.metrics import read_metrics
from ring_train.models.load import load_policy
from ring_train.models.tiny import MOE_ARCHS, create_tiny_policy
from ring_train.moe import (
    RouterCapture,
    RouterInfo,
    RouterTally,
    rollout_topk_for,
    router_info,
    router_terms,
)
from ring_train.recipes.arithmetic import problem_row, solution_text

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["What is 12 + 34? The answer is 46.", "Compute 7 * 8. It is 56.", "abc def ghi"] * 5
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}


def _tiny(root: Path, arch: str, texts=TEXTS, seed: int = 1) -> Path:
    extra = {"head_dim": 8} if arch == "qwen3_moe" else {}
    return create_tiny_policy(root / arch, texts, vocab_size=300, seed=seed, arch=arch, **SMALL, **extra)


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    root = tmp_path_factory.mktemp("moe")
    return {arch: load_policy(_tiny(root, arch)) for arch in MOE_ARCHS}


def test_tiny_moe_policies_have_the_dense_models_active_size(tmp_path):
    from ring_train.models.tiny import ARCHS, build_tiny_model, train_tokenizer

    tok = train_tokenizer(TEXTS, 300)
    dense = build_tiny_model(tok)
    dense_mlp = sum(p.numel() for p in dense.model.layers[0].mlp.parameters())
    for arch in MOE_ARCHS:
        model = build_tiny_model(tok, arch=arch)
        info = router_info(model)
        assert (info.layers, info.num_experts, info.top_k) == (4, 8, 2), arch
        block = model.model.layers[0].mlp
        per_expert = block.experts.gate_up_proj[0].numel() + block.experts.down_proj[0].numel()
        shared = sum(p.numel() for n, p in block.named_parameters() if n.startswith("shared_expert."))
        assert 2 * per_expert + shared == dense_mlp, arch  # a token's active MLP = the dense one's
        total = sum(p.numel() for p in model.parameters())
        assert total > 2 * sum(p.numel() for p in dense.parameters()), arch
    assert router_info(dense) is None and set(MOE_ARCHS) < set(ARCHS)
    with pytest.raises(UserError, match="arch must be one of"):
        build_tiny_model(tok, arch="llama_moe")


def test_router_capture_keeps_each_layers_logits_and_choice(policies):
    model, tok = policies["qwen3_moe"]
    ids = torch.tensor([tok.encode("What is 12 + 34?")])
    with RouterCapture(model) as cap:
        model(input_ids=ids)
        records = cap.take()
        assert cap.take() == []
    assert len(records) == 2  # one per MoE layer, in order
    for logits, topk in records:
        assert logits.shape == (ids.shape[1], 8) and topk.shape == (ids.shape[1], 2)
        assert torch.equal(topk.sort(-1).values, torch.softmax(logits, -1).topk(2).indices.sort(-1).values)
    with torch.no_grad():
        model(input_ids=ids)  # the hooks are gone after the block
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("arch", MOE_ARCHS)
def test_lean_sampling_of_moe_policies_matches_the_models_forward_and_records_routing(
    policies, arch, monkeypatch
):
    model, tok = policies[arch]
    model.eval()
    assert rollout.lean_decoder(model) is not None  # the fast KV-cache path, MoE block as the layer's mlp
    prompts = [tok.encode("What is 12 + 34?"), tok.encode("abc"), tok.encode("Compute 7 * 8. It")]
    kw = dict(max_new_tokens=12, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, temperature=0.0)
    lean = rollout.sample(model, prompts, 2, record_routing=True, **kw)
    monkeypatch.setattr(rollout, "lean_decoder", lambda m: None)
    generic = rollout.sample(model, prompts, 2, record_routing=True, **kw)
    monkeypatch.undo()
    assert lean.responses == generic.responses and lean.finished == generic.finished
    assert all(torch.equal(a, b) for a, b in zip(lean.routing, generic.routing))
    # each response token fed back in (all but the last) has the top-k of the full forward at its place
    for i, resp in enumerate(lean.responses):
        routes = lean.routing[i]
        assert routes.shape == (len(resp) - 1, 2, 2) and int(routes.min()) >= 0
        seq = prompts[i // 2] + resp
        with RouterCapture(model) as cap, torch.no_grad():
            model(input_ids=torch.tensor([seq]))
            full = torch.stack([idx for _, idx in cap.take()], dim=1)  # [len, L, k]
        start = len(prompts[i // 2])
        expected = full[start : start + len(resp) - 1]
        assert torch.equal(routes.sort(-1).values, expected.sort(-1).values.to(routes.dtype))
    assert rollout.sample(model, prompts, 1, **kw).routing is None  # not asked: not recorded


def test_training_forward_routes_the_kept_tokens_like_the_rollout(policies):
    """The training pass hands each micro-batch its router tensors; on the same weights it chooses
    the rollout's experts (drift 0); a changed router shows up as drift."""
    model, tok = policies["mixtral"]
    model.eval()
    info = router_info(model)
    prompts = [tok.encode("What is 12 + 34?"), tok.encode("abc def")]
    ro = rollout.sample(
        model,
        prompts,
        3,
        max_new_tokens=10,
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
        generator=torch.Generator().manual_seed(0),
        record_routing=True,
    )
    keep = [max(1, len(r) - 2) for r in ro.responses]  # a C3PO-style cut: only kept tokens are routed

    def drift() -> RouterTally:
        tally = RouterTally()
        with torch.no_grad():
            for mb in run_responses(
                model, ro.prompt_ids, ro.responses, ro.group, keep, pad_id=tok.pad_token_id, routing=True
            ):
                width = mb.router_topk.shape[1]
                assert width == max(keep[i] for i in mb.rows) - 1
                assert mb.router_logits.shape == (len(mb.rows), width, info.layers, info.num_experts)
                router_terms(
                    mb.router_logits,
                    mb.router_topk,
                    mb.mask[:, 1:],
                    info,
                    step_tokens=sum(k - 1 for k in keep),
                    aux_coef=0.0,
                    z_coef=0.0,
                    rollout_topk=rollout_topk_for(ro.routing, mb.rows, width, info),
                    tally=tally,
                )
        return tally

    same = drift()
    assert same.tokens == sum(k - 1 for k in keep) and same.drift_tokens == same.tokens
    assert same.drift_changed == 0
    gate = model.model.layers[1].mlp.gate.weight
    saved = gate.detach().clone()
    with torch.no_grad():
        gate.add_(torch.randn(gate.shape, generator=torch.Generator().manual_seed(1)) * 5)
    try:
        moved = drift()
    finally:
        with torch.no_grad():
            gate.copy_(saved)
    metrics = moved.metrics(info.layers)
    assert 0 < metrics["router/drift"] <= 0.5  # only layer 1 (of 2) changed
    assert metrics["router/drift_tokens"] == pytest.approx(2 * metrics["router/drift"])
    assert metrics["router/drift_tokens"] > 0 and 0 <= metrics["router/load_cv"] <= (8 / 2 - 1) ** 0.5


def test_router_loss_terms_train_the_router_and_split_over_micro_batches_exactly():
    info = RouterInfo(layers=2, num_experts=4, top_k=2)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 2, 4, generator=gen, requires_grad=True)
    topk = logits.detach().topk(2, dim=-1).indices
    mask = torch.ones(3, 5)
    mask[1, 3:] = 0
    step = int(mask.sum())
    # z-loss: a mean over the step's tokens, whatever the split into micro-batches
    whole = router_terms(logits, topk, mask, info, step_tokens=step, aux_coef=0.0, z_coef=0.1)
    (g_whole,) = torch.autograd.grad(whole, logits)
    parts = sum(
        router_terms(logits[s], topk[s], mask[s], info, step_tokens=step, aux_coef=0.0, z_coef=0.1)
        for s in (slice(0, 1), slice(1, 3))
    )
    (g_parts,) = torch.autograd.grad(parts, logits)
    assert torch.allclose(whole, parts) and torch.allclose(g_whole, g_parts)
    # balancing loss: trains the router; coefficient 0 adds nothing but is still measured
    tally = RouterTally()
    assert router_terms(logits, topk, mask, info, step_tokens=step, aux_coef=0, z_coef=0, tally=tally) is None
    aux = router_terms(logits, topk, mask, info, step_tokens=step, aux_coef=0.5, z_coef=0.0)
    (g_aux,) = torch.autograd.grad(aux, logits)
    assert g_aux.abs().sum() > 0 and float(aux.detach()) == pytest.approx(0.5 * tally.aux)
    assert tally.metrics(2)["router/aux_loss"] >= 2 - 1e-6  # >= top_k; top_k only when balanced


@pytest.fixture(scope="module")
def rl_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("moe_rl")
    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    write_jsonl(root / "math.jsonl", rows)
    texts = [r["prompt"] for r in rows] + [solution_text(a, b) for a, b in [(12, 34), (56, 7)]]
    return root, _tiny(root, "qwen3_moe", texts=texts, seed=0)


def _rl_raw(root: Path, model: Path, run: str, **extra) -> dict:
    raw = {
        "model": str(model),
        "run_dir": str(root / run),
        "seed": 3,
        "stages": [{"name": "reasoning", "datasets": {str(root / "math.jsonl"): 1.0}, "steps": 3}],
        "rollout": {"prompts_per_step": 2, "group_size": 3, "max_new_tokens": 12},
        "c3po": {"budget": 30},
        "advantage": {"filter_zero_variance": False},  # random weights earn no reward: train anyway
        "loss": {"entropy_coef": 0.05},
        "optim": {"lr": 0.01, "ppo_epochs": 2},
        "moe": {"aux_loss_coef": 0.01, "z_loss_coef": 0.001},
        "checkpoint_every": 1,
        "lanes": 2,
    }
    raw.update(extra)
    return raw


def _comparable(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(path)]


def test_rl_steps_on_an_moe_policy_log_router_metrics_and_resume_exactly(rl_setup):
    root, model = rl_setup
    backend = get_backend("embedded")
    cfg = from_dict(_rl_raw(root, model, "straight"))
    backend.train(cfg, cfg.stages)
    recs = read_metrics(Path(cfg.run_dir) / "metrics.jsonl")
    assert [r["global_step"] for r in recs] == [1, 2, 3]
    for r in recs:
        assert r["c3po/kept_tokens"] == min(30, r["c3po/total_tokens"]) and r["policy/grad_norm"] > 0
        assert r["router/aux_loss"] >= 2 - 1e-6 and r["router/z_loss"] > 0
        assert 0 < r["router/entropy"] <= torch.log(torch.tensor(8.0)) + 1e-6
        assert 0 <= r["router/load_cv"] <= 3**0.5 and 0 <= r["router/drift"] <= 1
        assert 0 <= r["router/drift_tokens"] <= 1 and 0 <= r["router/drift_last_epoch"] <= 1
    # the policy saved with the run is still an MoE of transformers' own class
    final, _ = load_policy(Path(cfg.run_dir) / "stages" / "reasoning" / "final")
    assert type(final).__name__ == "Qwen3MoeForCausalLM"
    # an interrupted run: its step-3 checkpoint lost, resumed from step 2, logs what the straight run did
    cfg2 = from_dict(_rl_raw(root, model, "interrupted"))
    backend.train(cfg2, cfg2.stages)
    ckpts = Path(cfg2.run_dir) / "checkpoints"
    shutil.rmtree(ckpts / "reasoning-step000003")
    (ckpts / "LATEST").write_text("reasoning-step000002\n")
    backend.train(cfg2, cfg2.stages, resume=True)
    assert _comparable(Path(cfg2.run_dir) / "metrics.jsonl") == _comparable(
        Path(cfg.run_dir) / "metrics.jsonl"
    )


def test_router_coefficients_need_an_moe_policy(rl_setup, tmp_path):
    root, _ = rl_setup
    dense = create_tiny_policy(tmp_path / "dense", TEXTS, vocab_size=300, **SMALL, intermediate_size=64)
    raw = _rl_raw(root, dense, "dense_aux")
    cfg = from_dict(raw)
    with pytest.raises(UserError, match="moe.aux_loss_coef / moe.z_loss_coef need a Mixture-of-Experts"):
        get_backend("embedded").train(cfg, cfg.stages)
    with pytest.raises(UserError, match="moe.aux_loss_coef': must be >= 0"):
        from_dict({**raw, "moe": {"aux_loss_coef": -1}})


def test_sft_trains_a_tiny_moe_with_its_balancing_loss(tmp_path):
    from ring_train.sft import SFTConfig, run_sft

    rows = [{**problem_row(10 + i, 20 + i), "response": solution_text(10 + i, 20 + i)} for i in range(12)]
    write_jsonl(tmp_path / "sft.jsonl", rows)
    paths = run_sft(
        tmp_path / "sft.jsonl",
        tmp_path / "out",
        tiny=True,
        tiny_vocab=300,
        tiny_arch="qwen2_moe",
        cfg=SFTConfig(epochs=1, lr=1e-2, batch_size=4, logger="none"),
    )
    model, _ = load_policy(paths[-1])
    assert type(model).__name__ == "Qwen2MoeForCausalLM" and router_info(model).num_experts == 8
    hist = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert all(h["sft/aux_loss"] >= 2 - 1e-6 for h in hist)  # the balancing loss is at least top_k


@pytest.mark.skipif(not (ROOT / "cli" / "train_eval.py").exists(), reason="ring-train eval not in this tree")
def test_ring_train_eval_samples_an_moe_checkpoint(policies, tmp_path):
    model, tok = policies["mixtral"]
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    write_jsonl(tmp_path / "bench.jsonl", [problem_row(12, 34), problem_row(56, 7)])
    out = subprocess.run(
        [sys.executable, "-m", "cli.ring_train", "eval", "--model", str(tmp_path / "m")]
        + ["--benchmarks", str(tmp_path / "bench.jsonl"), "-o", str(tmp_path / "eval"), "--n", "2"]
        + ["--max-tokens", "6", "--device", "cpu", "--logger", "none", "--chat-template", "none"],
        cwd=ROOT,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])["bench"]
    assert (result["problems"], result["samples"]) == (2, 4)
