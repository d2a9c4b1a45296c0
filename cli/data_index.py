"""``ring-data index``: build a reusable decontamination index (hashed n-grams, no text) from a benchmark file."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input", metavar="IN", help="benchmark rows: JSONL/Parquet/datasets dir with prompt/problem/question"
    )
    p.add_argument(
        "-o", "--output", required=True, help="index file to write (NAME.npz; NAME.json manifest beside it)"
    )
    p.add_argument("--ngram", type=int, default=8, help="n-gram length in words (default 8)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ring_data.clean.decontam import index_from_rows
    from ring_data.errors import UserError

    out = Path(args.output)
    if out.suffix != ".npz":
        raise UserError(f"{out}: the index file must end in .npz")
    index = index_from_rows(args.input, n=args.ngram)
    index.name = out.stem
    index.manifest["name"] = out.stem
    path = index.save(out.parent)
    print(
        f"ring-data index: {len(index.item_ids)} items, {len(index.ngram_hash)} {index.n}-grams -> {path} "
        f"(use: ring-data clean ... --benchmarks {path})",
        file=sys.stderr,
    )
    return 0
