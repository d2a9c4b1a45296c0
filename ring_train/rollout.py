"""Rollouts by batched sampling with a KV cache: each prompt is prefilled once and its cache shared by
its K samples; finished samples leave the batch, so no compute is spent after EOS or on padding rows.

Decoder-only HF models of the Llama family (``model.model.{embed_tokens, layers, norm, rotary_emb}`` +
``lm_head``: Llama, Qwen2/3, Mistral ...) are stepped layer by layer with the model's own modules and a
preallocated K/V cache (:class:`StaticKV`): a decode step then costs the layers' math, not the
model-level plumbing (4-D mask building, cache objects, output classes) that dominates a small
model's step on CPU. Other models go through their ``forward``. Mixture-of-Experts models of these
families (Qwen2/3-MoE, Mixtral) take the lean path too: their MoE block is the layer's ``mlp``.

``record_routing=True`` (MoE models) also records, for every response token fed back into the model,
the top-k experts each MoE layer chose (:attr:`Rollout.routing`), for the trainer's routing-drift
metric; hooks on the routers keep the indices they computed anyway, so it costs next to nothing.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import torch

from .hf_compat import cache_kwargs, output_cache
from .moe import RouterCapture, RouteTable, router_info


@dataclass
class Rollout:
    prompt_ids: list[list[int]]  # one per prompt
    responses: list[list[int]]  # P*K, group-major (prompt 0's K samples first); EOS included when emitted
    group: list[int]  # prompt index of each response
    finished: list[bool]  # stopped at EOS (False: hit max_new_tokens)
    # log-prob of each response token under the engine that sampled it, when that engine is not the
    # policy's own forward (vLLM); NaN where unknown. None: sampled by the policy itself.
    sampler_logps: list[list[float]] | None = None
    # MoE policies sampled with record_routing: per response, the top-k experts of every MoE layer for
    # each response token the sampler fed back in (all but the last), int16 [len - 1, layers, k]
    routing: list[torch.Tensor] | None = None

    @classmethod
    def of_groups(
        cls,
        prompt_ids,
        responses: list[list[int]],
        finished: list[bool],
        k: int,
        sampler_logps=None,
        routing=None,
    ) -> Rollout:
        """``k`` consecutive responses per prompt (group-major)."""
        group = [i // k for i in range(len(responses))]
        return cls([list(p) for p in prompt_ids], responses, group, finished, sampler_logps, routing)

    @classmethod
    def concat(cls, parts: list[Rollout]) -> Rollout:
        """Rollouts of disjoint prompt lists -> one, in order (group indices shifted)."""
        every = bool(parts)
        out = cls(
            [],
            [],
            [],
            [],
            [] if every and all(r.sampler_logps is not None for r in parts) else None,
            [] if every and all(r.routing is not None for r in parts) else None,
        )
        for r in parts:
            out.group += [g + len(out.prompt_ids) for g in r.group]
            out.prompt_ids += r.prompt_ids
            out.responses += r.responses
            out.finished += r.finished
            if out.sampler_logps is not None:
                out.sampler_logps += r.sampler_logps
            if out.routing is not None:
                out.routing += r.routing
        return out


def left_pad(seqs: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask on ``device``, left-padded to the longest sequence (built from
    Python lists in one copy each)."""
    width = max(len(s) for s in seqs)
    ids = [[pad_id] * (width - len(s)) + list(s) for s in seqs]
    mask = [[0] * (width - len(s)) + [1] * len(s) for s in seqs]
    device = device or "cpu"
    return torch.tensor(ids, dtype=torch.long, device=device), torch.tensor(
        mask, dtype=torch.long, device=device
    )


def right_padded(rows: list[list], width: int, fill, dtype, device) -> torch.Tensor:
    """``rows`` cut or padded with ``fill`` on the right to ``width``, as one ``[len(rows), width]`` tensor."""
    return torch.tensor(
        [r[:width] + [fill] * (width - len(r[:width])) for r in rows], dtype=dtype, device=device
    )


def model_device(model) -> torch.device:
    return next(model.parameters()).device


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
    record_routing: bool = False,
) -> Rollout:
    """Sample ``k`` responses per prompt. ``temperature=0`` is greedy. ``record_routing``: fill
    :attr:`Rollout.routing` (MoE models; ignored for dense ones)."""
    info = router_info(model) if record_routing else None
    if lean_decoder(model) is not None:
        return _sample_lean(
            model, prompt_ids, k, max_new_tokens, eos_id, pad_id, temperature, top_p, generator, info
        )
    capture = RouterCapture(model, logits=False) if info is not None else None
    with capture or contextlib.nullcontext():
        return _sample_generic(
            model, prompt_ids, k, max_new_tokens, eos_id, pad_id, temperature, top_p, generator, info, capture
        )


def _sample_generic(
    model, prompt_ids, k, max_new_tokens, eos_id, pad_id, temperature, top_p, generator, info, capture
) -> Rollout:
    """Through the model's ``forward`` (any causal LM with a cache that can select batch rows)."""
    dev = model_device(model)
    ids, mask = left_pad(prompt_ids, pad_id, dev)
    pos = positions(mask)
    if capture is not None:
        capture.recording = False  # the prompt's routing is not compared
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    cache = output_cache(out)
    cache.batch_repeat_interleave(k)
    logits = out.logits[:, -1].repeat_interleave(k, 0)
    mask = mask.repeat_interleave(k, 0)
    next_pos = pos[:, -1].repeat_interleave(k, 0) + 1
    n = len(prompt_ids) * k
    responses: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    active = torch.arange(n, device=dev)
    routes = RouteTable(n, max_new_tokens, info, dev) if info is not None else None
    if capture is not None:
        capture.recording = True
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
        mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=dev)], dim=1)
        out = model(
            input_ids=tok[:, None],
            attention_mask=mask,
            position_ids=next_pos[:, None],
            use_cache=True,
            **cache_kwargs(model, cache),
        )
        if routes is not None:  # the forward fed response token ``step`` of every active row
            routes.commit(active, step, capture.take())
        logits = out.logits[:, -1]
        next_pos = next_pos + 1
    routing = routes.per_response([len(r) for r in responses]) if routes is not None else None
    return Rollout.of_groups(prompt_ids, responses, finished, k, routing=routing)


class StaticKV:
    """K/V of every layer for a batch, preallocated to the longest sequence the rollout can reach. HF
    attention modules write into it through ``update`` (the Cache method they call); ``advance``
    commits the positions written by one forward pass of all layers."""

    def __init__(
        self, n_layers: int, batch: int, kv_heads: int, max_len: int, head_dim: int, dtype, device=None
    ):
        shape = (batch, kv_heads, max_len, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.length = 0

    def update(self, key, value, layer_idx, *args, **kwargs):
        end = self.length + key.shape[2]
        self.k[layer_idx][:, :, self.length : end] = key
        self.v[layer_idx][:, :, self.length : end] = value
        return self.k[layer_idx][:, :, :end], self.v[layer_idx][:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def select(self, rows: torch.Tensor) -> None:
        """Keep these batch rows (finished samples leave)."""
        self.k = [t.index_select(0, rows) for t in self.k]
        self.v = [t.index_select(0, rows) for t in self.v]

    def repeat_interleave(self, k: int) -> None:
        self.k = [t.repeat_interleave(k, 0) for t in self.k]
        self.v = [t.repeat_interleave(k, 0) for t in self.v]


def lean_decoder(model):
    """The backbone when the model has the Llama-family layout the lean path steps through, else None."""
    inner = getattr(model, "model", None)
    needed = ("embed_tokens", "layers", "norm", "rotary_emb")
    if inner is None or not all(hasattr(inner, n) for n in needed) or not hasattr(model, "lm_head"):
        return None
    cfg = model.config
    windowed = getattr(cfg, "use_sliding_window", False) or getattr(cfg, "sliding_window", None)
    if windowed or getattr(cfg, "final_logit_softcapping", None):  # Mixtral/Qwen3-MoE: window when set
        return None
    attn = getattr(inner.layers[0], "self_attn", None) if len(inner.layers) else None
    parts = ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling")
    if attn is None or not all(hasattr(attn, a) for a in parts):
        return None
    if not hasattr(sys.modules.get(type(attn).__module__), "apply_rotary_pos_emb"):
        return None
    return inner


def _decode_step(model, inner, ids, positions, keys: torch.Tensor, cache: StaticKV) -> torch.Tensor:
    """One new token per row: each layer's projections, norms and MLP are the model's own modules;
    attention over the cache is three small matmul-sized ops (torch's SDPA kernel costs ~4x that for a
    single query). ``keys`` (B, cached + 1) marks the positions each row attends to."""
    h = inner.embed_tokens(ids)
    cos, sin = inner.rotary_emb(h, positions)
    batch = h.shape[0]
    blocked = torch.zeros(keys.shape, dtype=h.dtype, device=h.device).masked_fill_(~keys, float("-inf"))[
        :, None, None, :
    ]
    for li, layer in enumerate(inner.layers):
        attn = layer.self_attn
        x = layer.input_layernorm(h)
        q = attn.q_proj(x).view(batch, 1, -1, attn.head_dim)
        k = attn.k_proj(x).view(batch, 1, -1, attn.head_dim)
        v = attn.v_proj(x).view(batch, 1, -1, attn.head_dim).transpose(1, 2)
        if hasattr(attn, "q_norm"):  # Qwen3: per-head norms before the rotation
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k = _rotary(attn)(q.transpose(1, 2), k.transpose(1, 2), cos, sin)
        keys_l, values_l = cache.update(k, v, li)
        kv_heads = keys_l.shape[1]
        qg = q.reshape(batch, kv_heads, -1, attn.head_dim)  # query head i reads kv head i // group
        scores = torch.matmul(qg, keys_l.transpose(-1, -2)) * attn.scaling + blocked
        out = torch.matmul(torch.softmax(scores, dim=-1), values_l)
        h = h + attn.o_proj(out.reshape(batch, 1, -1))
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    cache.advance(1)
    return model.lm_head(inner.norm(h[:, -1]))


def _rotary(attn):
    """The rotary function of the attention module's own modeling file."""
    return sys.modules[type(attn).__module__].apply_rotary_pos_emb


def _forward_lean(model, inner, ids, positions, mask, cache: StaticKV) -> torch.Tensor:
    """Last-position logits of ``ids`` (B, n) at ``positions``; ``mask`` (B, 1, n, keys) says which
    cached + new positions each query attends to. Writes the new K/V into ``cache``."""
    h = inner.embed_tokens(ids)
    rope = inner.rotary_emb(h, positions)
    for layer in inner.layers:
        out = layer(
            h,
            attention_mask=mask,
            position_ids=positions,
            position_embeddings=rope,
            **cache_kwargs(layer, cache),
        )
        h = out[0] if isinstance(out, tuple) else out
    cache.advance(ids.shape[1])
    return model.lm_head(inner.norm(h[:, -1]))


def _sample_lean(
    model, prompt_ids, k, max_new_tokens, eos_id, pad_id, temperature, top_p, generator, info=None
):
    capture = RouterCapture(model, logits=False) if info is not None else None
    with capture or contextlib.nullcontext():
        return _sample_lean_steps(
            model, prompt_ids, k, max_new_tokens, eos_id, pad_id, temperature, top_p, generator, info, capture
        )


def _sample_lean_steps(
    model, prompt_ids, k, max_new_tokens, eos_id, pad_id, temperature, top_p, generator, info, capture
):
    inner = lean_decoder(model)
    cfg = model.config
    dev = model_device(model)
    ids, pad_mask = left_pad(prompt_ids, pad_id, dev)
    pos = positions(pad_mask)
    width = ids.shape[1]
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    dtype = inner.embed_tokens.weight.dtype
    cache = StaticKV(
        len(inner.layers), len(prompt_ids), kv_heads, width + max_new_tokens, head_dim, dtype, dev
    )
    valid = pad_mask.bool()
    # prefill: causal over real tokens; a padding query attends to itself only (its output is unused)
    causal = torch.ones(width, width, dtype=torch.bool, device=dev).tril()
    prefill_mask = (causal[None] & valid[:, None, :]) | torch.eye(width, dtype=torch.bool, device=dev)[None]
    if capture is not None:
        capture.recording = False  # the prompt's routing is not compared
    logits = _forward_lean(model, inner, ids, pos, prefill_mask[:, None], cache)
    if capture is not None:
        capture.recording = True
    cache.repeat_interleave(k)
    logits = logits.repeat_interleave(k, 0)
    keys = torch.zeros(len(prompt_ids) * k, width + max_new_tokens, dtype=torch.bool, device=dev)
    keys[:, :width] = valid.repeat_interleave(k, 0)
    next_pos = pos[:, -1].repeat_interleave(k, 0) + 1
    n = len(prompt_ids) * k
    responses: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    active = torch.arange(n, device=dev)  # response index of each batch row
    alive = torch.ones(
        n, dtype=torch.bool, device=dev
    )  # rows still generating (finished ones leave in batches)
    routes = RouteTable(n, max_new_tokens, info, dev) if info is not None else None
    for step in range(max_new_tokens):
        tok = _pick(logits, temperature, top_p, generator)
        for row, t in zip(active[alive].tolist(), tok[alive].tolist()):
            responses[row].append(t)
        done = alive & (tok == eos_id)
        for row in active[done].tolist():
            finished[row] = True
        alive &= ~done
        if step == max_new_tokens - 1 or not alive.any():
            break
        if (~alive).sum() >= max(8, len(alive) // 4):  # compact: copying the cache costs about a step
            idx = alive.nonzero().squeeze(-1)
            cache.select(idx)
            active, tok, keys, next_pos, alive = active[idx], tok[idx], keys[idx], next_pos[idx], alive[idx]
        keys[:, cache.length] = True
        logits = _decode_step(
            model, inner, tok[:, None], next_pos[:, None], keys[:, : cache.length + 1], cache
        )
        if routes is not None:  # response token ``step`` of the rows still alive was fed in
            records = [(None, idx[alive]) for _, idx in capture.take()]
            routes.commit(active[alive], step, records)
        next_pos = next_pos + 1
    routing = routes.per_response([len(r) for r in responses]) if routes is not None else None
    return Rollout.of_groups(prompt_ids, responses, finished, k, routing=routing)


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        cut = sorted_p.cumsum(-1) - sorted_p > top_p
        sorted_p = sorted_p.masked_fill(cut, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    # inverse CDF: one uniform per row (multinomial draws one exponential per vocabulary entry); drawn
    # from the host generator whatever the device, so a seed gives the same draws on CPU and GPU
    cdf = probs.cumsum(-1)
    host = generator.device if generator is not None else "cpu"
    u = torch.rand((probs.shape[0], 1), generator=generator, dtype=cdf.dtype, device=host)
    u = u.to(cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(-1).clamp_(max=probs.shape[-1] - 1)
