"""Per-token log-probs (and entropies) of responses, with each group's prompt computed once.

The prompts of a step are run once (left-padded, one row per prompt) and their KV cache is handed, detached,
to the response micro-batches; the gradient that flows into that cache is accumulated and pushed
through the prompt forward in one backward at the end. Response micro-batches are length-sorted and
token-bounded, so padding stays small, and only the tokens a step trains (C3PO's kept prefix) are run.

``routing=True`` (Mixture-of-Experts policies) also hands each micro-batch the router logits (with
their graph: a loss on them trains the router) and top-k experts of its response tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .core.losses import token_entropy, token_logprobs
from .hf_compat import cache_kwargs, output_cache
from .moe import RouterCapture, router_info, stack_layers
from .rollout import left_pad, model_device, positions, right_padded


@dataclass
class MicroBatch:
    rows: list[int]  # indices into the step's responses
    logp: torch.Tensor  # [B, T] log π(token), grad-tracked when training
    entropy: torch.Tensor  # [B, T]
    mask: torch.Tensor  # [B, T] 1 on real (kept) tokens
    # MoE policies with routing=True: router logits [B, T-1, L, E] and top-k experts [B, T-1, L, k] of
    # response tokens 0..T-2 (the inputs that predict tokens 1..T-1); real where mask[:, 1:] is 1
    router_logits: torch.Tensor | None = None
    router_topk: torch.Tensor | None = None


def micro_batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Rows with length > 0, sorted by length (longest first) and split so that rows x max_len stays
    within ``max_tokens`` per micro-batch."""
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: -lengths[i])
    batches, cur = [], []
    for i in order:
        width = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) + 1) * width > max_tokens:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def run_responses(
    model,
    prompt_ids: list[list[int]],
    responses: list[list[int]],
    group: list[int],
    keep: list[int],
    *,
    pad_id: int,
    max_tokens_per_micro: int = 4096,
    with_entropy: bool = True,
    consume: Callable[[MicroBatch], torch.Tensor | None] | None = None,
    routing: bool = False,
) -> list[MicroBatch]:
    """Forward the first ``keep[i]`` tokens of each response under its prompt.

    Training (grad enabled): pass ``consume``, which returns the micro-batch's loss share; it is
    back-propagated at once (freeing activations), and the prompt part is back-propagated once at the
    end. Micro-batches are returned with detached tensors (and without router tensors). Without grad,
    the tensors are returned as is. ``routing``: fill the micro-batches' router fields (MoE models).
    """
    info = router_info(model) if routing else None
    capture = RouterCapture(model) if info is not None else None
    training = torch.is_grad_enabled()
    dev = model_device(model)
    ids, mask = left_pad(prompt_ids, pad_id, dev)
    pos = positions(mask)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    layers = [(layer.keys, layer.values) for layer in output_cache(out).layers]
    last_logits = out.logits[:, -1]
    if training:
        leaves = [(k.detach().requires_grad_(), v.detach().requires_grad_()) for k, v in layers]
        last_leaf = last_logits.detach().requires_grad_()
    else:
        leaves, last_leaf = layers, last_logits
    results = []
    for rows in micro_batches(keep, max_tokens_per_micro):
        g = torch.tensor([group[i] for i in rows], device=dev)
        width = keep[rows[0]]
        tgt = right_padded([responses[i][: keep[i]] for i in rows], width, pad_id, torch.long, dev)
        tmask = right_padded([[1.0] * keep[i] for i in rows], width, 0.0, torch.float32, dev)
        first = last_leaf[g].unsqueeze(1)  # predicts response token 0
        router_logits = router_topk = None
        if info is not None and width == 1:
            router_topk = torch.zeros((len(rows), 0, info.layers, info.top_k), dtype=torch.long, device=dev)
            router_logits = torch.zeros((len(rows), 0, info.layers, info.num_experts), device=dev)
        if width > 1:
            cache = DynamicCache(ddp_cache_data=[(k[g], v[g]) for k, v in leaves])
            pmask = mask[g]
            amask = torch.cat(
                [pmask, torch.ones((len(rows), width - 1), dtype=pmask.dtype, device=dev)], dim=1
            )
            rpos = pos[g, -1:] + 1 + torch.arange(width - 1, device=dev)
            with capture or contextlib.nullcontext():
                rest = model(
                    input_ids=tgt[:, :-1],
                    attention_mask=amask,
                    position_ids=rpos,
                    use_cache=True,
                    **cache_kwargs(model, cache),
                ).logits
                if capture is not None:
                    router_logits, router_topk = stack_layers(capture.take(), len(rows), width - 1)
            logits = torch.cat([first, rest], dim=1)
        else:
            logits = first
        logits = logits.float()  # no-op in fp32; under bf16 autocast the log-softmax runs in fp32
        logp = token_logprobs(logits, tgt)
        ent = token_entropy(logits) if with_entropy else torch.zeros_like(logp)
        mb = MicroBatch(rows, logp, ent, tmask, router_logits, router_topk)
        if training and consume is not None:
            loss = consume(mb)
            if loss is not None and loss.requires_grad:
                loss.backward()
            mb = MicroBatch(rows, logp.detach(), ent.detach(), tmask)
        results.append(mb)
    if training and consume is not None:
        pairs = [(t, leaf.grad) for (k, v), (lk, lv) in zip(layers, leaves) for t, leaf in ((k, lk), (v, lv))]
        pairs.append((last_logits, last_leaf.grad))
        pairs = [(t, gr) for t, gr in pairs if gr is not None]
        if pairs:
            torch.autograd.backward([t for t, _ in pairs], grad_tensors=[gr for _, gr in pairs])
    return results
