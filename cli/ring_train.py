"""``ring-train``: SFT, entropy-based checkpoint choice and C3PO RL with two-stage domain scheduling."""

from __future__ import annotations

import sys

from cli._app import Verb
from cli._app import main as _main

VERBS = [
    Verb(
        "sft", "cli.train_sft", "distillation stage on (prompt, reasoning+answer) rows; checkpoint per epoch"
    ),
    Verb(
        "select-checkpoint",
        "cli.train_select",
        "measure token entropy of SFT checkpoints on RL prompts and pick the RL start",
    ),
    Verb("rl", "cli.train_rl", "C3PO RL: --stage reasoning|general, --backend embedded|openrlhf"),
    Verb(
        "eval",
        "cli.train_eval",
        "benchmark protocol: n samples per problem, avg@n, pass@k, maj@k, IFEval strict/loose",
    ),
]


def main(argv: list[str] | None = None) -> int:
    return _main("ring-train", __doc__.splitlines()[0].split(": ", 1)[1], VERBS, argv)


if __name__ == "__main__":
    sys.exit(main())
