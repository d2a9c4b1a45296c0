"""``ring-train select-checkpoint CKPT... --prompts RL.jsonl``: pick the SFT checkpoint to start RL from."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", help="model dirs, or an SFT output dir (its epoch_<n> children)")
    p.add_argument("--prompts", required=True, help="RL problem rows to sample on")
    p.add_argument("-o", "--report", default=None, help="report dir (default: next to the first checkpoint)")
    p.add_argument("--window", nargs=2, type=float, default=[0.3, 0.5], metavar=("LOW", "HIGH"))
    p.add_argument("--max-rows", type=int, default=64, help="prompts to sample on")
    p.add_argument("--samples", type=int, default=4, help="samples per prompt")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda | cuda:N")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from ring_train.runtime import set_threads
    from ring_train.select import select_checkpoint

    set_threads(args.threads)
    report = args.report or str(Path(args.checkpoints[0]).resolve().parent / "selection")
    chosen, measured = select_checkpoint(
        args.checkpoints,
        args.prompts,
        report,
        window=tuple(args.window),
        max_rows=args.max_rows,
        samples=args.samples,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        device=args.device,
    )
    for m in measured:
        flag = "*" if m.chosen else " "
        print(f"{flag} {m.path}  entropy={m.entropy:.3f}  pass_rate={m.pass_rate:.3f}", file=sys.stderr)
    print(f"report: {report}/selection.md", file=sys.stderr)
    print(chosen)
    return 0
