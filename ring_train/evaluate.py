"""Sampled pass rate and mean token entropy of a policy on problem rows (used by RL eval and by
checkpoint selection)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

from .engine import RolloutEngine, SamplingSettings
from .forward import run_responses
from .hf_rollouts import HFRollouts
from .text import decode_response, encode_prompt


@torch.no_grad()
def evaluate(
    model,
    tokenizer,
    rows: list[dict[str, Any]],
    rewarder,
    *,
    samples: int = 1,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    batch_prompts: int = 64,
    generator: torch.Generator | None = None,
    engine: RolloutEngine | None = None,
) -> dict[str, float]:
    """Sample ``samples`` responses per row; returns pass rate (overall and per domain), mean token
    entropy (nats, over the sampled tokens) and mean response length. ``engine`` samples (default: the
    ``hf`` engine on ``model`` itself; the trainer passes its rollout engine, e.g. vLLM); entropies are
    always the model's own."""
    engine = engine if engine is not None else HFRollouts.of_model(model)
    settings = SamplingSettings(
        max_new_tokens=max_new_tokens,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        temperature=temperature,
    )
    was_training = model.training
    model.eval()
    passed: dict[str, list[float]] = defaultdict(list)
    ent_sum, tok_count, lengths = 0.0, 0, []
    for start in range(0, len(rows), batch_prompts):
        chunk = rows[start : start + batch_prompts]
        prompts = [encode_prompt(tokenizer, r["prompt"]) for r in chunk]
        ro = engine.sample(prompts, samples, settings, generator=generator)
        keep = [len(r) for r in ro.responses]
        for mb in run_responses(model, prompts, ro.responses, ro.group, keep, pad_id=tokenizer.pad_token_id):
            ent_sum += float((mb.entropy * mb.mask).sum())
            tok_count += int(mb.mask.sum())
        items = [
            (decode_response(tokenizer, resp), chunk[g]["reference"], chunk[g]["domain"])
            for resp, g in zip(ro.responses, ro.group)
        ]
        if rewarder is not None:  # None: entropy only (checkpoint selection without a verifier)
            scored = rewarder.submit(items).result()
            for (_, _, domain), correct in zip(items, scored.statuses):
                passed[domain].append(1.0 if correct == "correct" else 0.0)
        lengths += keep
    model.train(was_training)
    allp = [x for v in passed.values() for x in v]
    out = {
        "pass_rate": sum(allp) / len(allp) if allp else float("nan"),
        "entropy": ent_sum / max(1, tok_count),
        "response_len": sum(lengths) / max(1, len(lengths)),
    }
    out.update({f"pass_rate/{d}": sum(v) / len(v) for d, v in sorted(passed.items())})
    return out
