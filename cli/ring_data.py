"""``ring-data``: turn raw problem sets into a clean, verified, difficulty-labelled RL dataset."""

from __future__ import annotations

import sys

from cli._app import Verb
from cli._app import main as _main

VERBS = [
    Verb("clean", "cli.data_clean", "filters, exact + near dedup and benchmark decontamination"),
    Verb(
        "verify",
        "cli.data_verify",
        "keep only problems whose reference checks out (code runs in the sandbox)",
    ),
    Verb("annotate", "cli.data_annotate", "label difficulty from n model samples per problem"),
    Verb("score", "cli.data_score", "score a JSONL of model responses with the verifiers; per-domain table"),
    Verb("index", "cli.data_index", "build a decontamination index (hashed n-grams) from a benchmark file"),
    Verb(
        "serve",
        "cli.data_serve",
        "serve the verifiers over HTTP (OpenRLHF remote reward protocol, batch endpoint)",
    ),
]


def main(argv: list[str] | None = None) -> int:
    from ring_data.runtime import tune_allocator_for_batch_work

    tune_allocator_for_batch_work()  # before polars loads (see there)
    return _main("ring-data", __doc__.splitlines()[0].split(": ", 1)[1], VERBS, argv)


if __name__ == "__main__":
    sys.exit(main())
