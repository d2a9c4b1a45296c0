"""``maze``: the answer must be a legal path from ``start`` to ``goal`` (``#`` cells are walls).

Answers: moves (``U D L R``, ``up/down/left/right``, ``N S E W``/``north``..., also compact ``RRDDL``)
or a JSON list of ``[r, c]`` cells from start to goal. Any legal path is correct; option
``shortest=True`` also requires the path to be as short as the BFS shortest path.
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from typing import Any

from ..common import clip, invalid_reference, no_answer
from ..registry import ReferenceCheck, register, register_reference_check
from ..result import Status, VerifyResult
from .common import game_answer

WALL = "#"
MAX_MOVES = 100_000
_DIRS = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}
_WORDS = {
    "up": "U", "down": "D", "left": "L", "right": "R", "north": "U", "south": "D", "west": "L", "east": "R",
    "u": "U", "d": "D", "l": "L", "r": "R", "n": "U", "s": "D", "w": "L", "e": "R",
}  # fmt: skip
_MOVE_RE = re.compile(r"\b(up|down|left|right|north|south|east|west|[udlrnsew])\b", re.IGNORECASE)
_COMPACT_RE = re.compile(r"^[UDLRNSEW]+$", re.IGNORECASE)


def _reference(reference: Any) -> tuple[list[str], tuple[int, int], tuple[int, int]] | None:
    if not isinstance(reference, dict):
        return None
    grid, start, goal = reference.get("grid"), reference.get("start"), reference.get("goal")
    if not isinstance(grid, list) or not grid or not all(isinstance(r, str) and r for r in grid):
        return None
    if len({len(r) for r in grid}) != 1:
        return None
    cells = []
    for p in (start, goal):
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(type(v) is int for v in p)):
            return None
        r, c = p
        if not (0 <= r < len(grid) and 0 <= c < len(grid[0])) or grid[r][c] == WALL:
            return None
        cells.append((r, c))
    return grid, cells[0], cells[1]


def _coordinate(digits: str) -> int:
    """A cell coordinate; one of 19 digits or more is outside every maze (and int() of 4,300 digits
    or more raises), so it is read as a far-away cell."""
    if len(digits.lstrip("-")) <= 18:
        return int(digits)
    return -(10**18) if digits.startswith("-") else 10**18


def parse_path(answer: str, start: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Cells visited by the answer (moves or a coordinate list), beginning at ``start``; None if unreadable."""
    if "[" in answer and re.search(r"\[\s*-?\d+\s*,\s*-?\d+\s*\]", answer):
        i, j = answer.find("["), answer.rfind("]")
        try:
            cells = json.loads(answer[i : j + 1])
        except (ValueError, RecursionError):
            pairs = re.findall(r"\[\s*(-?\d+)\s*,\s*(-?\d+)\s*\]", answer)
            cells = [[_coordinate(a), _coordinate(b)] for a, b in pairs]
        if not isinstance(cells, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(type(v) is int for v in p) for p in cells
        ):
            return None
        return [(p[0], p[1]) for p in cells]
    words = answer.split()
    if len(words) == 1 and _COMPACT_RE.match(words[0].strip(".,")):
        moves = [_WORDS[ch.lower()] for ch in words[0].strip(".,")]
    else:
        tokens = _MOVE_RE.findall(answer)
        long_words = [t for t in tokens if len(t) > 1]
        # "go up, then right": only the words count (the "s" of "it's" is not South)
        moves = [_WORDS[t.lower()] for t in (long_words or tokens)]
    if not moves or len(moves) > MAX_MOVES:
        return None
    path = [start]
    r, c = start
    for m in moves:
        dr, dc = _DIRS[m]
        r, c = r + dr, c + dc
        path.append((r, c))
    return path


def path_problem(grid: list[str], path: list[tuple[int, int]], start, goal) -> str | None:
    """Why ``path`` is not a legal start-to-goal path (None: it is one)."""
    if not path or path[0] != start:
        return f"path does not begin at the start {list(start)}"
    for k, (r, c) in enumerate(path):
        if not (0 <= r < len(grid) and 0 <= c < len(grid[0])):
            return f"step {k} leaves the maze at {[r, c]}"
        if grid[r][c] == WALL:
            return f"step {k} walks into a wall at {[r, c]}"
        if k and abs(r - path[k - 1][0]) + abs(c - path[k - 1][1]) != 1:
            return f"step {k} jumps from {list(path[k - 1])} to {[r, c]}"
    if path[-1] != goal:
        return f"path ends at {list(path[-1])}, not at the goal {list(goal)}"
    return None


def shortest_length(grid: list[str], start, goal) -> int | None:
    """Moves on a shortest path (BFS), None when the goal cannot be reached."""
    dist = {start: 0}
    q = deque([start])
    while q:
        cell = q.popleft()
        if cell == goal:
            return dist[cell]
        for dr, dc in _DIRS.values():
            r, c = cell[0] + dr, cell[1] + dc
            if 0 <= r < len(grid) and 0 <= c < len(grid[0]) and grid[r][c] != WALL and (r, c) not in dist:
                dist[(r, c)] = dist[cell] + 1
                q.append((r, c))
    return None


@register("maze")
def verify_maze(
    response: str, reference: Any, *, shortest: bool = False, box: str = "last", **_ignored: Any
) -> VerifyResult:
    ref = _reference(reference)
    if ref is None:
        return invalid_reference(
            "maze reference needs 'grid' (equal-length strings), open 'start' and 'goal'"
        )
    grid, start, goal = ref
    answer, source = game_answer(response, box)
    if not answer:
        return no_answer(source)
    path = parse_path(answer, start)
    if path is None:
        return VerifyResult.make(Status.NO_ANSWER, extracted=clip(answer), reason="no moves or path found")
    problem = path_problem(grid, path, start, goal)
    if problem:
        return VerifyResult.make(Status.WRONG, extracted=clip(answer), reason=problem, moves=len(path) - 1)
    if shortest:
        best = shortest_length(grid, start, goal)
        if best is not None and len(path) - 1 > best:
            return VerifyResult.make(
                Status.WRONG, extracted=clip(answer), reason=f"{len(path) - 1} moves; shortest is {best}"
            )
    return VerifyResult.make(
        Status.CORRECT, extracted=clip(answer), reason="a legal path to the goal", moves=len(path) - 1
    )


@register_reference_check("maze")
def check_maze_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    ref = _reference(reference)
    if ref is None:
        return ReferenceCheck(
            False,
            "invalid_reference",
            {"error": "needs rectangular 'grid', open in-bounds 'start' and 'goal'"},
        )
    best = shortest_length(*ref)
    if best is None:
        return ReferenceCheck(False, "reference_failed", {"error": "goal is not reachable from start"})
    return ReferenceCheck(True, "", {"shortest": best})


def generate(rng: random.Random, *, size: int = 7) -> dict[str, Any]:
    """A perfect maze (randomised depth-first carving) on a ``(2k+1)``-cell grid; start top-left, goal bottom-right."""
    k = max(2, size // 2)
    n = 2 * k + 1
    cells = [[WALL] * n for _ in range(n)]
    stack = [(1, 1)]
    cells[1][1] = "."
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc, dr, dc) for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))]
        nbrs = [(a, b, dr, dc) for a, b, dr, dc in nbrs if 0 < a < n and 0 < b < n and cells[a][b] == WALL]
        if not nbrs:
            stack.pop()
            continue
        a, b, dr, dc = rng.choice(nbrs)
        cells[r + dr // 2][c + dc // 2] = "."
        cells[a][b] = "."
        stack.append((a, b))
    grid = ["".join(row) for row in cells]
    start, goal = [1, 1], [n - 2, n - 2]
    prompt = (
        "Find a path through the maze from S to G. '#' is a wall, '.' is open. Rows are numbered from 0 at the "
        f"top, columns from 0 at the left; S is at {start} and G at {goal}.\n\n"
        + "\n".join(
            "".join("S" if [r, c] == start else "G" if [r, c] == goal else ch for c, ch in enumerate(row))
            for r, row in enumerate(grid)
        )
        + "\n\nAnswer with the moves (U, D, L, R) separated by spaces in \\boxed{}."
    )
    return {
        "prompt": prompt,
        "reference": {"grid": grid, "start": start, "goal": goal},
        "meta": {"shortest": shortest_length(grid, tuple(start), tuple(goal))},
    }
