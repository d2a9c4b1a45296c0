"""``ring-data score``: score a JSONL of model responses with the verifiers; per-domain table."""

from __future__ import annotations

import argparse

from ring_data.errors import BadInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from verifiers.__main__ import add_arguments as add

    add(p)


def run(args: argparse.Namespace) -> int:
    from verifiers.__main__ import score_command
    from verifiers.score import ScoreInputError

    try:
        return score_command(args)
    except ScoreInputError as e:
        raise BadInputError(e.path, e.message, line=e.line, field=e.field) from None
    except FileNotFoundError as e:
        raise BadInputError(args.input, f"cannot read: {e.strerror}") from None
