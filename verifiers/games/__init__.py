"""Logic games with real checkers (countdown, sudoku, maze, arc, knights_knaves) and their generators.

Each module registers its verifier and reference checker and offers ``generate(rng, **params) -> row``
(docs/architecture.md §2 row schema); ``python -m verifiers.games.generate`` writes JSONL.
"""
