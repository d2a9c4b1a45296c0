"""Logic games with real checkers (countdown, sudoku, maze, arc, knights_knaves) and their generators.

Each module registers its verifier and reference checker and offers ``generate(rng, **params) -> row``
(docs/architecture.md §2 row schema), declared as the domain's ``DomainInfo.generator`` in
``verifiers/registry.py``; ``python -m verifiers.games.generate`` writes JSONL for any domain that has one.
"""
