"""``sudoku``: the answer must be a valid full grid that keeps every given of the puzzle.

Any valid completion is correct (puzzles meant for training have exactly one; the reference checker
counts solutions up to 2 to prove it). Grids of size 4, 9 or 16 (boxes of side 2, 3, 4).
"""

from __future__ import annotations

import random
from typing import Any

from ..common import invalid_reference, no_answer
from ..registry import ReferenceCheck, register, register_reference_check
from ..result import Status, VerifyResult
from .common import game_answer, grid_text, parse_grid

_SIZES = {4: 2, 9: 3, 16: 4}


def _puzzle(reference: Any) -> list[list[int]] | None:
    p = reference.get("puzzle") if isinstance(reference, dict) else None
    if not isinstance(p, list) or len(p) not in _SIZES:
        return None
    n = len(p)
    if not all(
        isinstance(r, list) and len(r) == n and all(type(v) is int and 0 <= v <= n for v in r) for r in p
    ):
        return None
    return p


def _units(n: int) -> list[list[tuple[int, int]]]:
    b = _SIZES[n]
    rows = [[(r, c) for c in range(n)] for r in range(n)]
    cols = [[(r, c) for r in range(n)] for c in range(n)]
    boxes = [
        [(br + i, bc + j) for i in range(b) for j in range(b)]
        for br in range(0, n, b)
        for bc in range(0, n, b)
    ]
    return rows + cols + boxes


def grid_problems(puzzle: list[list[int]], grid: list[list[int]]) -> list[str]:
    """Why ``grid`` is not a solution of ``puzzle`` (empty list: it is one)."""
    n = len(puzzle)
    if len(grid) != n or any(len(r) != n for r in grid):
        return [f"grid is {len(grid)}x{len(grid[0]) if grid else 0}, expected {n}x{n}"]
    problems = []
    for r in range(n):
        for c in range(n):
            if not 1 <= grid[r][c] <= n:
                return [f"cell ({r}, {c}) is {grid[r][c]}, not 1..{n}"]
            if puzzle[r][c] and puzzle[r][c] != grid[r][c]:
                problems.append(f"given at ({r}, {c}) changed from {puzzle[r][c]} to {grid[r][c]}")
    for unit in _units(n):
        if len({grid[r][c] for r, c in unit}) != n:
            problems.append(f"repeated digit in the unit containing {unit[0]} and {unit[-1]}")
            break
    return problems


@register("sudoku")
def verify_sudoku(response: str, reference: Any, *, box: str = "last", **_ignored: Any) -> VerifyResult:
    puzzle = _puzzle(reference)
    if puzzle is None:
        return invalid_reference(
            "sudoku reference needs 'puzzle': a 4x4, 9x9 or 16x16 grid of ints, 0 for blanks"
        )
    answer, source = game_answer(response, box)
    if not answer:
        return no_answer(source)
    n = len(puzzle)
    grid = parse_grid(answer, split_digits=n if n <= 9 else None)
    if grid is None:
        return VerifyResult.make(Status.NO_ANSWER, reason="no grid found in the answer", source=source)
    problems = grid_problems(puzzle, grid)
    extracted = grid_text(grid)
    if problems:
        return VerifyResult.make(Status.WRONG, extracted=extracted, reason=problems[0], problems=problems[:5])
    return VerifyResult.make(Status.CORRECT, extracted=extracted, reason="a valid completion of the puzzle")


def count_solutions(puzzle: list[list[int]], limit: int = 2) -> int:
    """Number of solutions, counting no further than ``limit`` (bitmask backtracking, fewest options first)."""
    n = len(puzzle)
    b = _SIZES[n]
    full = (1 << (n + 1)) - 2
    rows, cols, boxes = [0] * n, [0] * n, [0] * n
    empty = []
    for r in range(n):
        for c in range(n):
            v = puzzle[r][c]
            if v:
                bit, k = 1 << v, (r // b) * b + c // b
                if rows[r] & bit or cols[c] & bit or boxes[k] & bit:
                    return 0
                rows[r] |= bit
                cols[c] |= bit
                boxes[k] |= bit
            else:
                empty.append((r, c, (r // b) * b + c // b))
    count = 0

    def rec() -> None:
        nonlocal count
        if not empty:
            count += 1
            return
        best_i, best_opts, best_n = -1, 0, n + 1
        for i, (r, c, k) in enumerate(empty):
            opts = full & ~(rows[r] | cols[c] | boxes[k])
            cnt = opts.bit_count()
            if cnt < best_n:
                best_i, best_opts, best_n = i, opts, cnt
                if cnt <= 1:
                    break
        if best_n == 0:
            return
        r, c, k = empty.pop(best_i)
        opts = best_opts
        while opts and count < limit:
            bit = opts & -opts
            opts ^= bit
            rows[r] |= bit
            cols[c] |= bit
            boxes[k] |= bit
            rec()
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[k] ^= bit
        empty.insert(best_i, (r, c, k))

    rec()
    return count


@register_reference_check("sudoku")
def check_sudoku_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    puzzle = _puzzle(reference)
    if puzzle is None:
        return ReferenceCheck(
            False, "invalid_reference", {"error": "'puzzle' must be a 4x4/9x9/16x16 int grid"}
        )
    found = count_solutions(puzzle, limit=2)
    if found != 1:
        why = "no solution" if found == 0 else "more than one solution"
        return ReferenceCheck(False, "reference_failed", {"error": why, "solutions_found": found})
    return ReferenceCheck(True, "", {"solutions": 1})


def _full_grid(rng: random.Random, n: int) -> list[list[int]]:
    b = _SIZES[n]
    base = [[(b * (r % b) + r // b + c) % n + 1 for c in range(n)] for r in range(n)]
    digits = list(range(1, n + 1))
    rng.shuffle(digits)
    bands = rng.sample(range(b), b)
    row_order = [band * b + i for band in bands for i in rng.sample(range(b), b)]
    stacks = rng.sample(range(b), b)
    col_order = [s * b + i for s in stacks for i in rng.sample(range(b), b)]
    return [[digits[base[r][c] - 1] for c in col_order] for r in row_order]


def generate(rng: random.Random, *, size: int = 9, blanks: int = 45) -> dict[str, Any]:
    """A puzzle with a unique solution: shuffle a valid grid, then blank cells while the solution stays unique."""
    solution = _full_grid(rng, size)
    puzzle = [row[:] for row in solution]
    cells = [(r, c) for r in range(size) for c in range(size)]
    rng.shuffle(cells)
    removed = 0
    for r, c in cells:
        if removed >= blanks:
            break
        keep = puzzle[r][c]
        puzzle[r][c] = 0
        if count_solutions(puzzle, 2) != 1:
            puzzle[r][c] = keep
        else:
            removed += 1
    prompt = (
        f"Solve this {size}x{size} Sudoku (0 marks an empty cell). Give the completed grid, one row per line, "
        f"numbers separated by spaces.\n\n{grid_text(puzzle)}"
    )
    return {
        "prompt": prompt,
        "reference": {"puzzle": puzzle},
        "meta": {"blanks": removed, "solution": solution},
    }
