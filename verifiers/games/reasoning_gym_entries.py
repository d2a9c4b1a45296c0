"""Our game reference for a reasoning-gym entry (``{"question", "answer", "metadata"}``), read from its
metadata alone: reasoning-gym is not imported.

``from_reasoning_gym(entry) -> (domain, reference, options)``; pass the options to ``verify``:
``verify(response, reference, domain, **options)``. Datasets: ``countdown`` (``use_all``: its scorer
wants every number), ``sudoku`` and ``mini_sudoku``, ``knights_knaves`` (with the puzzle's ``terms``),
``arc_1d``, ``rearc``, ``arc_agi`` and ``maze``. reasoning-gym's maze asks for the number of steps, ours
for a path: the reference maps (walls to ``#``, the start and goal letters to cells), so a row re-prompted
for the moves is checked with ``shortest`` (its answer is then a shortest path, not a count).
"""

from __future__ import annotations

from typing import Any


def _grid(rows: Any) -> list[list[int]]:
    return [[int(v) for v in row] for row in rows]


def _countdown(md: dict) -> tuple[dict, dict]:
    return {"numbers": [int(n) for n in md["numbers"]], "target": int(md["target"])}, {"use_all": True}


def _sudoku(md: dict) -> tuple[dict, dict]:
    return {"puzzle": _grid(md["puzzle"])}, {}


def _knights_knaves(md: dict) -> tuple[dict, dict]:
    names = [str(n) for n in md["names"]]
    solution = {n: "knight" if is_knight else "knave" for n, is_knight in zip(names, md["solution"])}
    words = md.get("knight_knave_terms") or {}
    terms = {"knight": str(words.get("knight", "knight")), "knave": str(words.get("knave", "knave"))}
    return {"solution": solution, "terms": terms}, {}


def _arc_1d(md: dict) -> tuple[dict, dict]:
    return {"output": [[int(v) for v in md["test_example"]["output"]]]}, {}


def _arc(md: dict) -> tuple[dict, dict]:
    return {"output": _grid(md["output"])}, {}


def _maze(md: dict) -> tuple[dict, dict]:
    rows = [str(r) for r in md["grid"]]
    start = goal = None
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if ch == md["start"]:
                start = [r, c]
            elif ch == md["goal"]:
                goal = [r, c]
    grid = ["".join("#" if ch == md["wall"] else "." for ch in row) for row in rows]
    return {"grid": grid, "start": start, "goal": goal}, {"shortest": True}


_CONVERTERS = {
    "countdown": ("countdown", _countdown),
    "sudoku": ("sudoku", _sudoku),
    "mini_sudoku": ("sudoku", _sudoku),
    "knights_knaves": ("knights_knaves", _knights_knaves),
    "arc_1d": ("arc", _arc_1d),
    "rearc": ("arc", _arc),
    "arc_agi": ("arc", _arc),
    "maze": ("maze", _maze),
}


def from_reasoning_gym(entry: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(domain, reference, verify options) for a reasoning-gym entry; ValueError for other datasets or a
    metadata field that is missing."""
    md = entry.get("metadata") if isinstance(entry, dict) else None
    name = md.get("source_dataset") if isinstance(md, dict) else None
    if name not in _CONVERTERS:
        raise ValueError(f"reasoning-gym dataset {name!r} has no game domain here ({', '.join(_CONVERTERS)})")
    domain, convert = _CONVERTERS[name]
    try:
        reference, options = convert(md)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"reasoning-gym {name} entry: metadata field missing or malformed: {e!r}") from e
    return domain, reference, options
