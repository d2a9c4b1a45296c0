"""``arc``: the answer grid must equal the reference ``output`` grid exactly (ARC Prize scoring).

Grids in the answer: rows of space-separated integers, or a JSON list of rows (a text line before the
grid is tolerated; the last grid in the answer is the one checked).
"""

from __future__ import annotations

import random
from typing import Any

from ..common import invalid_reference, no_answer
from ..registry import ReferenceCheck, register, register_reference_check
from ..result import Status, VerifyResult
from .common import game_answer, grid_text, parse_grid

MAX_SIDE = 30


def _output(reference: Any) -> list[list[int]] | None:
    g = reference.get("output") if isinstance(reference, dict) else None
    if not isinstance(g, list) or not 1 <= len(g) <= MAX_SIDE:
        return None
    if not all(isinstance(r, list) and 1 <= len(r) <= MAX_SIDE for r in g) or len({len(r) for r in g}) != 1:
        return None
    if not all(type(v) is int and 0 <= v <= 9 for r in g for v in r):
        return None
    return g


@register("arc")
def verify_arc(response: str, reference: Any, *, box: str = "last", **_ignored: Any) -> VerifyResult:
    want = _output(reference)
    if want is None:
        return invalid_reference(
            "arc reference needs 'output': a rectangular grid of ints 0-9, at most 30x30"
        )
    answer, source = game_answer(response, box)
    if not answer:
        return no_answer(source)
    grid = parse_grid(answer)
    if grid is None:
        return VerifyResult.make(Status.NO_ANSWER, reason="no grid found in the answer", source=source)
    if grid == want:
        return VerifyResult.make(Status.CORRECT, extracted=grid_text(grid), reason="grid matches exactly")
    if len(grid) != len(want) or any(len(a) != len(b) for a, b in zip(grid, want)):
        why = f"grid shape {len(grid)}x{len(grid[0])} != {len(want)}x{len(want[0])}"
    else:
        diff = sum(a != b for ra, rb in zip(grid, want) for a, b in zip(ra, rb))
        why = f"{diff} cells differ"
    return VerifyResult.make(Status.WRONG, extracted=grid_text(grid)[:2000], reason=why)


@register_reference_check("arc")
def check_arc_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    if _output(reference) is None:
        return ReferenceCheck(
            False, "invalid_reference", {"error": "'output' is not a rectangular 0-9 grid <= 30x30"}
        )
    return ReferenceCheck(True)


_TRANSFORMS = {
    "flip_horizontal": lambda g: [row[::-1] for row in g],
    "flip_vertical": lambda g: g[::-1],
    "rotate_90": lambda g: [list(r) for r in zip(*g[::-1])],
    "transpose": lambda g: [list(r) for r in zip(*g)],
}


def generate(
    rng: random.Random, *, min_side: int = 3, max_side: int = 6, train_pairs: int = 3
) -> dict[str, Any]:
    """An ARC-style task: a hidden rule (a flip/rotation/transpose, then a colour swap) shown by examples."""
    name = rng.choice(sorted(_TRANSFORMS))
    a, b = rng.sample(range(1, 10), 2)

    def rule(g: list[list[int]]) -> list[list[int]]:
        return [[b if v == a else a if v == b else v for v in row] for row in _TRANSFORMS[name](g)]

    def grid() -> list[list[int]]:
        h, w = rng.randint(min_side, max_side), rng.randint(min_side, max_side)
        return [[rng.choice([0, 0, a, b, rng.randint(1, 9)]) for _ in range(w)] for _ in range(h)]

    pairs = [(g, rule(g)) for g in (grid() for _ in range(train_pairs + 1))]
    shown = "\n\n".join(f"Input:\n{grid_text(i)}\nOutput:\n{grid_text(o)}" for i, o in pairs[:-1])
    prompt = (
        "Find the rule that maps each input grid to its output grid, then apply it to the test input.\n\n"
        f"{shown}\n\nTest input:\n{grid_text(pairs[-1][0])}\n\n"
        "Answer with the output grid, one row per line, numbers separated by spaces."
    )
    return {
        "prompt": prompt,
        "reference": {"output": pairs[-1][1]},
        "meta": {
            "rule": f"{name}+swap({a},{b})",
            "train": [{"input": i, "output": o} for i, o in pairs[:-1]],
        },
    }
