"""Mixture-of-Experts policies: find a model's routers, capture what they compute, and turn it into the
router terms of an RL step (balancing loss, z-loss, load and entropy metrics, routing drift).

transformers' MoE models (Qwen2-MoE, Qwen3-MoE, Mixtral, ...) declare their router class in
``_can_record_outputs["router_logits"]``: the module that returns ``(router_logits, top-k weights,
top-k expert indices)``. :class:`RouterCapture` puts forward hooks on those modules for as long as it
is open and keeps each call's logits (with their graph, so a loss on them trains the router) and top-k
indices. The hooks live on one model object: each lane's replica gets its own, so lanes never share a
buffer. The math is in :mod:`ring_train.core.router` (pure functions, tested on their own).

Routing drift: the sampler records, for every response token it feeds back into the model, the top-k
experts of every MoE layer (:attr:`ring_train.rollout.Rollout.routing`); the training forward of the
same tokens is compared with it on the tokens the step trains (C3PO's kept prefix), so measuring it
costs no extra forward.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .core.router import (
    expert_counts,
    load_balancing_loss,
    load_cv,
    router_entropy_sum,
    routing_drift,
    z_loss_sum,
)


@dataclass(frozen=True)
class RouterInfo:
    layers: int  # MoE layers (routers)
    num_experts: int
    top_k: int


def _router_class(model):
    recorders = getattr(type(model), "_can_record_outputs", None) or {}
    entry = recorders.get("router_logits")
    if entry is None:
        return None, 0
    if isinstance(entry, type):
        return entry, 0
    return getattr(entry, "target_class", None), getattr(entry, "index", 0) or 0


def router_modules(model) -> list[torch.nn.Module]:
    """The router modules of ``model`` in layer order; empty for a dense model."""
    cls, _ = _router_class(model)
    if cls is None:
        return []
    return [m for m in model.modules() if isinstance(m, cls)]


def router_info(model) -> RouterInfo | None:
    """Layers, experts and top-k of an MoE ``model``; None when it has no router."""
    routers = router_modules(model)
    if not routers:
        return None
    cfg = model.config
    experts = getattr(cfg, "num_experts", None) or getattr(cfg, "num_local_experts", None)
    return RouterInfo(len(routers), int(experts), int(cfg.num_experts_per_tok))


def is_moe(model) -> bool:
    return bool(router_modules(model))


class RouterCapture:
    """Forward hooks on ``model``'s routers while the ``with`` block is open. ``take()`` returns what the
    routers computed since the last ``take()`` (or since recording was switched on), one entry per layer
    call in call order: ``(logits [N, E] or None, top-k indices [N, k])``. ``logits=False`` keeps only
    the indices (rollouts). ``recording`` can be toggled inside the block to skip some forwards."""

    def __init__(self, model, *, logits: bool = True):
        self.model = model
        self.keep_logits = logits
        self.recording = True
        self._handles: list = []
        self._records: list[tuple[torch.Tensor | None, torch.Tensor]] = []
        _, self._index = _router_class(model)
        self._top_k = int(getattr(model.config, "num_experts_per_tok", 1) or 1)

    def _hook(self, module, args, output) -> None:
        if not self.recording:
            return
        if isinstance(output, tuple | list):
            logits = output[self._index]
            last = output[-1]
            indices = last if len(output) >= 3 and not torch.is_floating_point(last) else None
        else:
            logits, indices = output, None
        if indices is None:  # a router that returns only logits: top-k of them, as the block does
            indices = torch.topk(logits.detach(), self._top_k, dim=-1).indices
        self._records.append((logits if self.keep_logits else None, indices.detach()))

    def __enter__(self) -> RouterCapture:
        self._handles = [m.register_forward_hook(self._hook) for m in router_modules(self.model)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._records = []

    def take(self) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
        out, self._records = self._records, []
        return out


def stack_layers(records, batch: int, width: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """One forward's router records (one per layer) over ``batch`` rows of ``width`` positions ->
    ``(logits [batch, width, L, E] or None, top-k [batch, width, L, k])``."""
    topk = torch.stack([idx.reshape(batch, width, -1) for _, idx in records], dim=2)
    if any(lg is None for lg, _ in records):
        return None, topk
    logits = torch.stack([lg.reshape(batch, width, -1) for lg, _ in records], dim=2)
    return logits, topk


class RouteTable:
    """The rollout's routing record: for each response, the top-k experts of every MoE layer for each of
    its tokens that the sampler fed back into the model (all but the last). Filled one decode step at a
    time by the sampler; ``per_response`` cuts out each response's rows."""

    def __init__(self, n_responses: int, max_new_tokens: int, info: RouterInfo, device=None):
        self.table = torch.full(
            (n_responses, max(1, max_new_tokens), info.layers, info.top_k),
            -1,
            dtype=torch.int16,
            device=device,
        )

    def commit(self, responses: torch.Tensor, position: int, records) -> None:
        """``records``: one decode step's router records (batch rows = ``responses`` plus rows to ignore,
        already selected by the caller through ``responses``' positions)."""
        topk = torch.stack([idx for _, idx in records], dim=1)  # [B, L, k]
        self.table[responses, position] = topk.to(self.table.dtype)

    def per_response(self, lengths: list[int]) -> list[torch.Tensor]:
        return [self.table[i, : max(0, n - 1)].cpu() for i, n in enumerate(lengths)]


@dataclass
class RouterTally:
    """One lane's router sums over a step's micro-batches (added in lane order: deterministic)."""

    aux: float = 0.0  # Σ (micro-batch's share of the step's routed tokens) x its balancing loss
    z: float = 0.0  # Σ logsumexp² over routed tokens and layers
    entropy: float = 0.0  # Σ router entropy (mean over layers) over routed tokens
    tokens: float = 0.0  # routed tokens
    drift_changed: float = 0.0  # routing decisions (token, layer) differing from the rollout's
    drift_decisions: float = 0.0
    drift_tokens_changed: float = 0.0  # tokens with a different expert set in at least one layer
    drift_tokens: float = 0.0
    counts: torch.Tensor | None = None  # [L, E] routing slots per expert

    def add(self, other: RouterTally) -> None:
        for f in fields(self):
            if f.name != "counts":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        if other.counts is not None:
            self.counts = other.counts.clone() if self.counts is None else self.counts + other.counts

    def metrics(self, layers: int) -> dict[str, float]:
        out = {}
        if self.tokens:
            out = {
                "router/aux_loss": self.aux,
                "router/z_loss": self.z / (self.tokens * layers),
                "router/entropy": self.entropy / self.tokens,
                "router/load_cv": load_cv(self.counts) if self.counts is not None else float("nan"),
            }
        if self.drift_decisions:
            out["router/drift"] = self.drift_changed / self.drift_decisions
            out["router/drift_tokens"] = self.drift_tokens_changed / self.drift_tokens
        return out


def routed_tokens(keep: list[int]) -> int:
    """Response tokens the training forward routes: every kept token but the last of each response (the
    first kept token is predicted from the prompt; the last is never an input)."""
    return sum(max(0, n - 1) for n in keep)


def router_terms(
    logits: torch.Tensor,
    topk: torch.Tensor,
    mask: torch.Tensor,
    info: RouterInfo,
    *,
    step_tokens: int,
    aux_coef: float,
    z_coef: float,
    rollout_topk: torch.Tensor | None = None,
    tally: RouterTally | None = None,
) -> torch.Tensor | None:
    """A micro-batch's router loss share and metric sums. ``logits`` ``[B, W, L, E]`` (grad-tracked when
    training), ``topk`` ``[B, W, L, k]``, ``mask`` ``[B, W]`` (routed tokens), ``step_tokens`` the routed
    tokens of the whole step (all micro-batches and lanes). The balancing loss is computed per
    micro-batch (as transformers, OpenRLHF and Megatron compute it per forward) and weighted by the
    micro-batch's share of the step's tokens, so the step's term is the token-weighted mean; the z-loss
    is a mean over the step's tokens and layers, exact whatever the split. ``rollout_topk``: the
    sampler's choices for the same positions (-1 where unknown) for the drift metrics. Returns the loss
    to add (None when both coefficients are 0)."""
    n = logits.shape[0] * logits.shape[1]
    flat_logits = logits.reshape(n, info.layers, -1)
    flat_topk = topk.reshape(n, info.layers, -1)
    flat_mask = mask.reshape(n).float()
    tokens = float(flat_mask.sum())
    if tokens == 0 or step_tokens <= 0:
        return None
    share = tokens / step_tokens
    with torch.set_grad_enabled(torch.is_grad_enabled() and aux_coef > 0):
        aux = load_balancing_loss(flat_logits, flat_topk, info.num_experts, flat_mask)
    with torch.set_grad_enabled(torch.is_grad_enabled() and z_coef > 0):
        z = z_loss_sum(flat_logits, flat_mask)
    loss = None
    if aux_coef > 0:
        loss = aux_coef * share * aux
    if z_coef > 0:
        term = z_coef * z / (step_tokens * info.layers)
        loss = term if loss is None else loss + term
    if tally is not None:
        tally.aux += share * float(aux.detach())
        tally.z += float(z.detach())
        tally.entropy += router_entropy_sum(flat_logits, flat_mask)
        tally.tokens += tokens
        counts = expert_counts(flat_topk, info.num_experts, flat_mask)
        tally.counts = counts if tally.counts is None else tally.counts + counts
        if rollout_topk is not None:
            flat_rollout = rollout_topk.reshape(n, info.layers, -1).to(flat_topk.device)
            known = flat_mask * (flat_rollout[:, :, 0] >= 0).all(-1).float()
            changed, decisions, tok_changed, toks = routing_drift(flat_rollout, flat_topk, known)
            tally.drift_changed += changed
            tally.drift_decisions += decisions
            tally.drift_tokens_changed += tok_changed
            tally.drift_tokens += toks
    return loss


def rollout_topk_for(
    routing: list[torch.Tensor], rows: list[int], width: int, info: RouterInfo, device=None
) -> torch.Tensor:
    """``[B, width, L, k]``: the sampler's routing of the responses ``rows`` at positions ``< width``
    (-1 past a response's recorded tokens)."""
    out = torch.full((len(rows), width, info.layers, info.top_k), -1, dtype=torch.int16)
    for j, i in enumerate(rows):
        r = routing[i][:width]
        out[j, : r.shape[0]] = r
    return out.to(device) if device is not None else out
