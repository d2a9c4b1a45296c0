"""``ring-train sft``: distillation on (prompt, reasoning+answer) rows, a checkpoint per epoch.

Loss: next-token cross entropy on response tokens only (prompt masked), mean over the batch's response
tokens. AdamW with linear warm-up then cosine decay (Ring-lite used lr 3e-4, weight decay 0.1, 1%
warm-up). Each epoch is saved as a full HF directory ``OUT/epoch_<n>`` so ``select-checkpoint`` can
compare them. ``--tiny`` starts from a freshly built tiny model whose tokenizer is trained on the data
(``tiny_arch``: dense ``qwen2`` or a Mixture-of-Experts one, :data:`ring_train.models.tiny.ARCHS`).
A Mixture-of-Experts policy adds its router's load-balancing loss, weighted by the model config's
``router_aux_loss_coef``, as transformers' own training does (logged as ``sft/aux_loss``).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ring_data.errors import UserError
from ring_data.runtime import progress, write_stats

from .data import read_sft_rows
from .device import resolve_device
from .models.load import save_policy
from .moe import is_moe
from .text import encode_prompt

log = logging.getLogger(__name__)


@dataclass
class SFTConfig:
    epochs: int = 3
    lr: float = 3e-4
    batch_size: int = 32
    weight_decay: float = 0.1
    warmup_ratio: float = 0.01
    max_len: int = 2048
    seed: int = 0
    grad_clip: float = 1.0
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    logger: str = "tensorboard"  # also log sft/loss to OUT/tensorboard; wandb: and to W&B; none: neither


def init_policy(
    out_dir: Path,
    rows: list[dict],
    model: str | None,
    tiny: bool,
    tiny_vocab: int,
    seed: int,
    device="cpu",
    tiny_arch: str = "qwen2",
):
    """The SFT start: a local HF model, or a tiny model of architecture ``tiny_arch`` built in code
    (tokenizer trained on ``rows``)."""
    from .models.load import load_policy

    if tiny:
        from .models.tiny import create_tiny_policy

        texts = [t for r in rows for t in (r["prompt"], r["response"])]
        model = str(
            create_tiny_policy(out_dir / "init", texts, vocab_size=tiny_vocab, seed=seed, arch=tiny_arch)
        )
    if not model:
        raise UserError("sft: give --model PATH (a local HF model directory) or --tiny")
    return load_policy(model, device=device)


def encode_rows(tokenizer, rows: list[dict], max_len: int) -> list[tuple[list[int], int]]:
    """(prompt + response + eos ids, prompt length), truncated to ``max_len``; rows whose prompt alone
    fills ``max_len`` are skipped (counted by the caller)."""
    out = []
    for r in rows:
        p = encode_prompt(tokenizer, r["prompt"])
        ids = (p + tokenizer(r["response"], add_special_tokens=False).input_ids + [tokenizer.eos_token_id])[
            :max_len
        ]
        if len(p) < len(ids):
            out.append((ids, len(p)))
    return out


def _batch(examples: list[tuple[list[int], int]], pad_id: int):
    width = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    attn = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (ids, plen) in enumerate(examples):
        x[i, : len(ids)] = torch.tensor(ids)
        attn[i, : len(ids)] = 1
        labels[i, plen : len(ids)] = torch.tensor(ids[plen:])
    return x, attn, labels


def run_sft(
    data: str | Path,
    out_dir: str | Path,
    *,
    model: str | None = None,
    tiny: bool = False,
    tiny_vocab: int = 384,
    cfg: SFTConfig | None = None,
    tiny_arch: str = "qwen2",
) -> list[Path]:
    """Train and save ``out_dir/epoch_<n>`` after each epoch; returns the checkpoint paths."""
    from .metrics import Tracker, check_logger

    cfg = cfg or SFTConfig()
    check_logger(cfg.logger)  # a missing wandb package stops here, before any output
    out = Path(out_dir)
    rows = read_sft_rows(data)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    policy, tok = init_policy(out, rows, model, tiny, tiny_vocab, cfg.seed, device, tiny_arch)
    moe = is_moe(policy)  # the router's balancing loss joins the loss (router_aux_loss_coef)
    examples = encode_rows(tok, rows, cfg.max_len)
    if not examples:
        raise UserError(f"{data}: no row has response tokens within max_len={cfg.max_len}")
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup_ratio * total))
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
        ),
    )
    tracker = Tracker(out, logger=cfg.logger, config=dict(cfg.__dict__), job_type="sft")
    policy.train()
    rng = random.Random(cfg.seed)
    saved, history, step, t0 = [], [], 0, time.time()
    for epoch in range(1, cfg.epochs + 1):
        order = list(range(len(examples)))
        rng.shuffle(order)
        batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        losses = []
        for idx in progress(batches, desc=f"sft epoch {epoch}/{cfg.epochs}", unit="batch"):
            x, attn, labels = (t.to(device) for t in _batch([examples[i] for i in idx], tok.pad_token_id))
            extra = {"output_router_logits": True} if moe else {}
            out_ = policy(input_ids=x, attention_mask=attn, labels=labels, **extra)
            loss = out_.loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
            history.append({"global_step": step, "sft/loss": losses[-1], "epoch": epoch})
            if moe:
                history[-1]["sft/aux_loss"] = float(out_.aux_loss.detach())
                tracker.log({"sft/aux_loss": history[-1]["sft/aux_loss"]}, step)
            tracker.log({"sft/loss": losses[-1], "sft/lr": sched.get_last_lr()[0], "epoch": epoch}, step)
        ckpt = out / f"epoch_{epoch}"
        save_policy(policy, tok, ckpt)
        saved.append(ckpt)
        log.info("epoch %d: mean loss %.4f -> %s", epoch, sum(losses) / len(losses), ckpt)
    tracker.close()
    (out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    _plot_loss(history, out / "sft_loss.png")
    write_stats(
        out / "sft.stats.json",
        {
            "rows": len(rows),
            "trained_rows": len(examples),
            "skipped_rows": len(rows) - len(examples),
            "epochs": cfg.epochs,
            "steps": step,
            "final_loss": history[-1]["sft/loss"],
            "seconds": round(time.time() - t0, 1),
            "checkpoints": [str(p) for p in saved],
            "config": cfg.__dict__,
        },
    )
    return saved


def _plot_loss(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([h["global_step"] for h in history], [h["sft/loss"] for h in history])
    ax.set_xlabel("step")
    ax.set_ylabel("SFT loss")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
