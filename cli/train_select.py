"""``ring-train select-checkpoint``: thin CLI over :func:`ring_train.select.select_checkpoint`."""

from __future__ import annotations

import argparse
import itertools
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CKPT",
        help="SFT checkpoint dirs, or an SFT run dir whose subdirs are checkpoints (taken in natural order)",
    )
    p.add_argument("--prompts", required=True, metavar="FILE", help="RL prompt rows (JSONL/Parquet)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="where selection.md/.jsonl/.png go")
    p.add_argument("--n-prompts", type=int, default=64, help="prompts measured per checkpoint (first N rows)")
    p.add_argument("--k", type=int, default=4, help="samples per prompt")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument(
        "--window",
        type=float,
        nargs=2,
        default=(0.3, 0.5),
        metavar=("LOW", "HIGH"),
        help="entropy window, nats",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-verify", action="store_true", help="skip the pass-rate column (entropy only)")


def run(args: argparse.Namespace) -> int:
    from ring_data.io import read_rows
    from ring_train.select import select_checkpoint

    rows = list(itertools.islice(read_rows(args.prompts), args.n_prompts))
    sel = select_checkpoint(
        args.checkpoints,
        rows,
        args.out,
        window=tuple(args.window),
        k=args.k,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        seed=args.seed,
        verify=not args.no_verify,
    )
    for s in sel.scores:
        pr = "n/a" if s.pass_rate is None else f"{s.pass_rate:.3f}"
        print(f"{s.path}\tentropy={s.entropy:.3f}\tpass_rate={pr}", file=sys.stderr)
    if not sel.in_window:
        print(f"note: no checkpoint in the window {sel.window}; chose the nearest", file=sys.stderr)
    print(sel.chosen)
    return 0
