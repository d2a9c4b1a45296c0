"""``ring-train sft DATA -o OUT (--model PATH | --tiny)``: distillation with a checkpoint per epoch."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ring_train.models.tiny import ARCHS  # names only: no torch import

    p.add_argument("data", help="rows with prompt + response (JSONL/Parquet/datasets dir)")
    p.add_argument("-o", "--output", required=True, help="output dir; checkpoints go to OUT/epoch_<n>")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="local HF causal-LM directory to start from")
    src.add_argument("--tiny", action="store_true", help="build a tiny Qwen2 + tokenizer trained on the data")
    p.add_argument("--tiny-vocab", type=int, default=384)
    p.add_argument(
        "--tiny-arch",
        default="qwen2",
        choices=list(ARCHS),
        help="--tiny architecture: dense qwen2 (default) or a Mixture-of-Experts one (8 experts, top-2)",
    )
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup-ratio", type=float, default=0.01)
    p.add_argument("--max-len", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda | cuda:N")
    p.add_argument(
        "--logger",
        default="tensorboard",
        choices=["tensorboard", "wandb", "none"],
        help="tensorboard (OUT/tensorboard), wandb (also a W&B run; WANDB_MODE=offline works offline), none",
    )


def run(args: argparse.Namespace) -> int:
    from ring_train.runtime import set_threads
    from ring_train.sft import SFTConfig, run_sft

    set_threads(args.threads)
    cfg = SFTConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        max_len=args.max_len,
        seed=args.seed,
        device=args.device,
        logger=args.logger,
    )
    paths = run_sft(
        args.data,
        args.output,
        model=args.model,
        tiny=args.tiny,
        tiny_vocab=args.tiny_vocab,
        cfg=cfg,
        tiny_arch=args.tiny_arch,
    )
    print(f"sft: {len(paths)} checkpoint(s): " + ", ".join(str(p) for p in paths))
    return 0
