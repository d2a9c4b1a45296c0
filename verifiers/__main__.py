"""``python -m verifiers responses.jsonl``: score model responses and print a per-domain table."""

from __future__ import annotations

import argparse
import json
import sys

from .api import DEFAULT_TIMEOUT_S
from .score import ScoreInputError, score_file, write_scored


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="JSONL: one {domain, reference, response | responses, options?} per line")
    p.add_argument("-o", "--output", help="write one scored line per response here (JSONL)")
    p.add_argument("--workers", type=int, default=None, help="verifier processes (default: all cores)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per response")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")


def score_command(args: argparse.Namespace) -> int:
    """Shared by ``python -m verifiers`` and ``ring-data score``; raises ScoreInputError on bad input."""
    scored, summary = score_file(args.input, workers=args.workers, timeout=args.timeout)
    if args.output:
        write_scored(scored, args.output)
    print(json.dumps(summary.as_dict(), indent=2) if args.json else summary.table())
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m verifiers", description=__doc__.splitlines()[0].split(": ", 1)[1]
    )
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return score_command(args)
    except (ScoreInputError, OSError) as e:
        print(f"python -m verifiers: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
