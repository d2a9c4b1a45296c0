"""Rollouts by batched sampling with a KV cache: each prompt is prefilled once and its cache shared by
its K samples; finished samples leave the batch, so no compute is spent after EOS or on padding rows."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Rollout:
    prompt_ids: list[list[int]]  # one per prompt
    responses: list[list[int]]  # P*K, group-major (prompt 0's K samples first); EOS included when emitted
    group: list[int]  # prompt index of each response
    finished: list[bool]  # stopped at EOS (False: hit max_new_tokens)


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def sample(
    model,
    prompt_ids: list[list[int]],
    k: int,
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Rollout:
    """Sample ``k`` responses per prompt. ``temperature=0`` is greedy."""
    ids, mask = left_pad(prompt_ids, pad_id)
    pos = positions(mask)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(k)
    logits = out.logits[:, -1].repeat_interleave(k, 0)
    mask = mask.repeat_interleave(k, 0)
    next_pos = pos[:, -1].repeat_interleave(k, 0) + 1
    n = len(prompt_ids) * k
    responses: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    active = torch.arange(n)
    for step in range(max_new_tokens):
        tok = _pick(logits, temperature, top_p, generator)
        done = tok == eos_id
        for row, t in zip(active.tolist(), tok.tolist()):
            responses[row].append(t)
        for row in active[done].tolist():
            finished[row] = True
        if step == max_new_tokens - 1:
            break
        keep = ~done
        if not keep.any():
            break
        if done.any():
            idx = keep.nonzero().squeeze(-1)
            cache.batch_select_indices(idx)
            active, tok, mask, next_pos = active[idx], tok[idx], mask[idx], next_pos[idx]
        mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype)], dim=1)
        out = model(
            input_ids=tok[:, None],
            attention_mask=mask,
            position_ids=next_pos[:, None],
            past_key_values=cache,
            use_cache=True,
        )
        logits = out.logits[:, -1]
        next_pos = next_pos + 1
    return Rollout(
        prompt_ids=[list(p) for p in prompt_ids],
        responses=responses,
        group=[i // k for i in range(n)],
        finished=finished,
    )


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        cut = sorted_p.cumsum(-1) - sorted_p > top_p
        sorted_p = sorted_p.masked_fill(cut, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
