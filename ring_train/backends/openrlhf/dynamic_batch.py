"""C3PO replacement for ``NaiveReplayBuffer.setup_dynamic_batch``: one optimizer step per rollout,
token-bounded micro-batches, and the constant normaliser Φ.

OpenRLHF's token-mean loss is ``Σ(loss·mask) / batch_num_tokens · dp_size`` and DeepSpeed averages
gradients over data-parallel ranks, so setting ``batch_num_tokens = Φ`` on every micro-batch gives
exactly C3PO's ``(1/Φ) Σ_selected`` — also for the KL and entropy terms, which use the same aggregation.
Upstream sets it to the step's actual token count, which varies with response length.
"""

from __future__ import annotations

import json
import os

import torch
from torch import distributed as dist

from ring_train.core.c3po import plan_step

from .selection import apply_plan, response_lengths
from .settings import C3POSettings

RECORD_ENV = "RING_C3PO_RECORD"  # a JSONL file: each step's trained tokens are appended (the live GPU test)


def _device() -> torch.device:
    return (
        torch.device("cuda", torch.cuda.current_device())
        if torch.cuda.is_available()
        else torch.device("cpu")
    )


def c3po_setup_dynamic_batch(self, strategy) -> None:
    from openrlhf.utils.seqlen_balancing import (
        get_minimum_num_micro_batch_size,
        get_seqlen_balanced_partitions,
    )

    settings = C3POSettings.from_env()
    args = strategy.args
    dp_group = strategy.ds_device_mesh["dp"].get_group()
    dp_size = dist.get_world_size(group=dp_group)
    device = _device()

    if settings.scope == "rank":  # each rank fills its own Φ; the loss divides by Φ·dp_size
        plan = plan_step(
            response_lengths(self.items), settings.budget, order=settings.order, seed=settings.seed
        )
        self.items = apply_plan(self.items, plan, packing_samples=getattr(args.ds, "packing_samples", False))
        normalizer = settings.budget * dp_size
    else:  # global selection already happened on the driver (see patch.wrap_make_experience_batch)
        normalizer = settings.budget

    lengths = [int(item.total_length.item()) for item in self.items]
    counts = torch.tensor([len(lengths)], dtype=torch.int, device=device)
    dist.all_reduce(counts, op=dist.ReduceOp.MIN, group=dp_group)
    if counts.item() == 0:
        raise RuntimeError(
            "C3PO left a data-parallel rank with no samples this step; raise RING_C3PO_BUDGET or use scope 'rank'"
        )
    needed = get_minimum_num_micro_batch_size(
        lengths, args.train.max_tokens_per_gpu, args.ds.ring_attn_size, args.ds.tensor_parallel_size
    )
    n_mbs = torch.tensor([needed], dtype=torch.int, device=device)
    dist.all_reduce(
        n_mbs, op=dist.ReduceOp.MAX, group=dp_group
    )  # same number of backward calls on every rank
    n_mbs = min(int(n_mbs.item()), int(counts.item()))
    partitions = get_seqlen_balanced_partitions(lengths, n_mbs, equal_size=False)

    valid = torch.tensor(
        [sum(int(item.action_mask.sum().item() > 0) for item in self.items)], dtype=torch.float, device=device
    )
    dist.all_reduce(valid, op=dist.ReduceOp.SUM, group=dp_group)

    self.dynamic_indices = partitions
    self.sample_batch_size = 1
    self.dynamic_sample_loss_scale = [len(p) / len(lengths) for p in partitions]
    self.dynamic_batch_num_tokens = [float(normalizer)] * n_mbs
    self.dynamic_global_batch_size = [float(valid.item())] * n_mbs
    self.dynamic_optimizer_step = [0] * (n_mbs - 1) + [1]
    if os.environ.get(RECORD_ENV):
        trained = sum(int(item.action_mask.sum().item()) for item in self.items)
        rec = {"trained_tokens": trained, "normalizer": normalizer, "dp_size": dp_size}
        with open(os.environ[RECORD_ENV], "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
