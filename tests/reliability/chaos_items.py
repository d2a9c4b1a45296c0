"""Seeded verifier items for the worker-chaos soak: a mix of every domain, 1% of them hostile.

Item ``k`` of a seed is always the same item (its own ``random.Random``), so a quiet pass and a chaos
pass over the same index range check the same thing. Ordinary items carry numbers drawn per item, so
most results name their item (``extracted``) and a result landing in another item's slot shows up.

Ordinary mix (fractions of the non-hostile items): :data:`MIX`. Hostile kinds (together
:data:`HOSTILE_RATE` of all items, weights in :data:`HOSTILE_KINDS`): math answers that would take a
naive evaluator forever (power towers, huge factorials, LaTeX nested thousands deep), megabyte
strings, arbitrary unicode (lone surrogates, NUL, right-to-left marks), malformed references of
every domain, code that fork-bombs, loops forever or allocates without bound inside the sandbox, and
a check that never returns (a registered domain standing for a pathological case no screen catches:
only the pool's deadline ends it).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from verifiers import register
from verifiers.registry import get_generator

HOSTILE_RATE = 0.01
# code runs in the sandbox (a fork per test, tens of ms) while the other domains take about a
# millisecond, so code is a small share that still reaches every worker many times per minute
MIX = {"math": 0.22, "science": 0.22, "games": 0.33, "ifeval": 0.22, "code": 0.01}
HOSTILE_KINDS = {
    "power_tower": 3,
    "huge_factorial": 3,
    "nested_latex": 3,
    "megabyte_string": 1,
    "unicode": 3,
    "malformed_reference": 4,
    "fork_bomb": 0.5,  # each holds a worker up to HOSTILE_CODE_TIME_LIMIT
    "infinite_loop": 0.5,
    "memory_hog": 0.5,
    "hung_check": 0.25,  # each holds a worker for the whole per-item timeout
}
GAMES = ("countdown", "sudoku", "maze", "arc", "knights_knaves")
GAME_BANK = 24  # generated rows per game (sudoku generation costs ~10 ms); responses vary per item
# seconds per test. The sandbox's limits are wall clock, so an ordinary a+b program gets the default
# (on a loaded machine 0.5 s is not always enough for it); the hostile programs get 0.5 s, which bounds
# what an infinite loop or a fork bomb costs
CODE_TIME_LIMIT, HOSTILE_CODE_TIME_LIMIT = 5.0, 0.5


@dataclass(frozen=True)
class Item:
    index: int
    kind: str  # "math", ..., or the hostile kind
    hostile: bool
    task: tuple[str, Any, str]  # (response, reference, domain): what verify_batch takes


def make_items(seed: int, start: int, count: int) -> list[Item]:
    """Items ``start .. start+count-1`` of ``seed``."""
    bank = _game_bank(seed)
    return [_item(seed, k, bank) for k in range(start, start + count)]


def _item(seed: int, k: int, bank: dict[str, list[dict]]) -> Item:
    rng = random.Random(seed * 1_000_003 + k)
    if rng.random() < HOSTILE_RATE:
        kind = rng.choices(list(HOSTILE_KINDS), weights=list(HOSTILE_KINDS.values()))[0]
        return Item(k, kind, True, _HOSTILE[kind](rng))
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    if kind == "games":
        return Item(k, kind, False, _game(rng, bank))
    return Item(k, kind, False, _ORDINARY[kind](rng))


def _think(rng: random.Random) -> str:
    return f"<think>Let me work it out: step {rng.randint(1, 99)}, then check.</think> "


# ---- ordinary items ------------------------------------------------------------------------------


def _math(rng: random.Random) -> tuple[str, Any, str]:
    a, b, c = rng.randint(10, 10**6), rng.randint(2, 999), rng.randint(0, 10**5)
    shape = rng.random()
    if shape < 0.6:
        gold = str(a * b + c)
        said = gold if rng.random() < 0.6 else str(a * b + c + rng.choice((-1, 1)))
    elif shape < 0.9:
        gold = f"\\frac{{{a}}}{{{b}}}"
        said = f"{a}/{b}" if rng.random() < 0.6 else f"\\frac{{{a + 1}}}{{{b}}}"
    else:  # no final answer at all
        return _think(rng) + f"I think it is about {a} but I am not sure.", {"answer": str(a)}, "math"
    return _think(rng) + f"So the answer is \\boxed{{{said}}}.", {"answer": gold}, "math"


def _science(rng: random.Random) -> tuple[str, Any, str]:
    if rng.random() < 0.5:
        letters = "ABCDE"
        gold = rng.choice(letters)
        said = gold if rng.random() < 0.6 else rng.choice(letters)
        return _think(rng) + f"The answer is \\boxed{{{said}}}.", {"answer": gold}, "science"
    joules = rng.randint(1000, 10**7)
    said = joules if rng.random() < 0.6 else joules * 3
    return (
        _think(rng) + f"\\boxed{{{said / 1000:g} kJ}}",
        {"answer": f"{joules:.6e}", "unit": "J"},
        "science",
    )


_WORDS = ("river", "stone", "lamp", "orbit", "cloud", "maple", "signal", "harbor", "copper", "violet")


def _ifeval(rng: random.Random) -> tuple[str, Any, str]:
    keyword = rng.choice(_WORDS)
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 40))] + [str(rng.randint(0, 10**9))]
    if rng.random() < 0.6:
        words.append(keyword)
    sep = ", " if rng.random() < 0.3 else " "
    reference = {
        "instructions": [
            {"id": "keywords:existence", "kwargs": {"keywords": [keyword]}},
            {"id": "punctuation:no_comma", "kwargs": {}},
            {"id": "length_constraints:number_words", "kwargs": {"num_words": 12, "relation": "at least"}},
        ]
    }
    return sep.join(words) + ".", reference, "ifeval"


def _code(rng: random.Random) -> tuple[str, Any, str]:
    pairs = [(rng.randint(-999, 999), rng.randint(-999, 999)) for _ in range(rng.randint(1, 3))]
    tests = [{"input": f"{a} {b}\n", "output": f"{a + b}\n"} for a, b in pairs]
    op = "+" if rng.random() < 0.7 else "-"
    program = f"# attempt {rng.randint(0, 10**9)}\na, b = map(int, input().split())\nprint(a {op} b)\n"
    reference = {"language": "python", "tests": tests, "time_limit": CODE_TIME_LIMIT}
    return _think(rng) + f"```python\n{program}```", reference, "code"


def _game(rng: random.Random, bank: dict[str, list[dict]]) -> tuple[str, Any, str]:
    game = rng.choice(GAMES)
    row = rng.choice(bank[game])
    right = rng.random() < 0.6
    answer = _GAME_ANSWERS[game](row, right, rng)
    return _think(rng) + f"<answer>{answer}</answer>", row["reference"], game


def _countdown_answer(row: dict, right: bool, rng: random.Random) -> str:
    expr = row["meta"]["example_solution"]
    return expr if right else f"{expr} + 1"


def _grid_text(grid: list[list[int]]) -> str:
    return "\n".join(" ".join(str(v) for v in r) for r in grid)


def _sudoku_answer(row: dict, right: bool, rng: random.Random) -> str:
    grid = [r[:] for r in row["meta"]["solution"]]
    if not right:
        grid[0][0], grid[0][1] = grid[0][1], grid[0][0]
    return _grid_text(grid)


def _arc_answer(row: dict, right: bool, rng: random.Random) -> str:
    grid = [r[:] for r in row["reference"]["output"]]
    if not right:
        grid[0][0] = (grid[0][0] + 1) % 10
    return _grid_text(grid)


def _maze_answer(row: dict, right: bool, rng: random.Random) -> str:
    ref = row["reference"]
    moves = _maze_path(ref["grid"], tuple(ref["start"]), tuple(ref["goal"]))
    return " ".join(moves if right else moves[:-1])


def _maze_path(grid: list[str], start: tuple[int, int], goal: tuple[int, int]) -> list[str]:
    steps = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}
    came: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    todo = deque([start])
    while todo:
        cell = todo.popleft()
        if cell == goal:
            break
        for move, (dr, dc) in steps.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if nxt not in came and grid[nxt[0]][nxt[1]] != "#":
                came[nxt] = (cell, move)
                todo.append(nxt)
    path, cell = [], goal
    while came[cell] is not None:
        cell, move = came[cell]
        path.append(move)
    return path[::-1]


def _knights_answer(row: dict, right: bool, rng: random.Random) -> str:
    sol = dict(row["reference"]["solution"])
    if not right:
        name = rng.choice(sorted(sol))
        sol[name] = "knave" if sol[name] == "knight" else "knight"
    return ", ".join(f"{name} is a {role}" for name, role in sol.items())


_GAME_ANSWERS = {
    "countdown": _countdown_answer,
    "sudoku": _sudoku_answer,
    "maze": _maze_answer,
    "arc": _arc_answer,
    "knights_knaves": _knights_answer,
}
_ORDINARY = {"math": _math, "science": _science, "ifeval": _ifeval, "code": _code}

_BANKS: dict[int, dict[str, list[dict]]] = {}


def _game_bank(seed: int) -> dict[str, list[dict]]:
    if seed not in _BANKS:
        rng = random.Random(seed)
        _BANKS[seed] = {g: [get_generator(g)(rng) for _ in range(GAME_BANK)] for g in GAMES}
    return _BANKS[seed]


# ---- hostile items -------------------------------------------------------------------------------


def _power_tower(rng: random.Random) -> tuple[str, Any, str]:
    levels = rng.randint(3, 6)
    tower = "{" + "^{".join(str(rng.randint(2, 99)) for _ in range(levels)) + "}" * levels
    return f"\\boxed{{{tower[1:-1]}}}", {"answer": str(rng.randint(1, 99))}, rng.choice(("math", "science"))


def _huge_factorial(rng: random.Random) -> tuple[str, Any, str]:
    n = rng.choice((10**8, 10**12, 99999999999))
    body = rng.choice((f"{n}!", f"({n}!)!", f"{n}!^{{{n}}}", f"\\frac{{1}}{{{n}!}}"))
    return f"The answer is \\boxed{{{body}}}", {"answer": str(rng.randint(1, 99))}, "math"


def _nested_latex(rng: random.Random) -> tuple[str, Any, str]:
    depth = rng.randint(2000, 20000)
    opener = rng.choice(("\\frac{", "\\sqrt{", "{", "(", "\\left(", "\\boxed{"))
    body = opener * depth + "1" + rng.choice(("}" * depth, ")" * depth, ""))
    return f"\\boxed{{{body}}}", {"answer": "1"}, rng.choice(("math", "science", "countdown"))


def _megabyte_string(rng: random.Random) -> tuple[str, Any, str]:
    size = rng.randint(1 << 20, 5 << 18)  # 1 to 1.25 MiB
    body = rng.choice(("9", "x ", "\\,", "{}", "a" * 7 + "!"))
    text = (body * (size // len(body) + 1))[:size]
    domain = rng.choice(("math", "science", "ifeval", "sudoku", "maze", "knights_knaves", "code"))
    reference = {
        "math": {"answer": "9"},
        "science": {"answer": "B"},
        "ifeval": {"instructions": [{"id": "punctuation:no_comma", "kwargs": {}}]},
        "sudoku": {"puzzle": [[0] * 4 for _ in range(4)]},
        "maze": {"grid": ["###", "#.#", "###"], "start": [1, 1], "goal": [1, 1]},
        "knights_knaves": {"solution": {"A": "knight"}},
        "code": {"language": "python", "tests": [{"input": "", "output": "1\n"}], "time_limit": 1},
    }[domain]
    wrap = rng.choice(("\\boxed{%s}", "<answer>%s</answer>", "%s", "```python\n%s\n```"))
    return wrap % text, reference, domain


def _unicode(rng: random.Random) -> tuple[str, Any, str]:
    def junk(n: int) -> str:
        out = []
        for _ in range(n):
            r = rng.random()
            if r < 0.1:
                out.append(chr(rng.randint(0xD800, 0xDFFF)))  # lone surrogate
            elif r < 0.2:
                out.append(rng.choice(("\x00", "\u202e", "\u200b", "\ufeff", "\U0001f600", "\u0301")))
            else:
                out.append(chr(rng.randint(1, 0x10FFFF)))
        return "".join(out)

    domain = rng.choice(("math", "science", "ifeval", "countdown", "arc", "knights_knaves", "code"))
    response = junk(rng.randint(1, 3000))
    if rng.random() < 0.5:
        response = f"\\boxed{{{response}}}"
    reference = {
        "math": {"answer": junk(5)},
        "science": {"answer": junk(3), "unit": junk(2)},
        "ifeval": {"instructions": [{"id": "keywords:existence", "kwargs": {"keywords": [junk(3)]}}]},
        "countdown": {"numbers": [1, 2, 3], "target": 6},
        "arc": {"output": [[1, 2], [3, 4]]},
        "knights_knaves": {"solution": {junk(4): "knight"}},
        "code": {"language": "python", "tests": [{"input": junk(4), "output": junk(4)}], "time_limit": 1},
    }[domain]
    return response, reference, domain


_MALFORMED = (
    ("\\boxed{1}", {"answer": None}, "math"),
    ("\\boxed{1}", {"answer": ""}, "math"),
    ("\\boxed{1}", ["not", "a", "dict"], "math"),
    ("\\boxed{1}", 10**400, "math"),
    ("\\boxed{B}", {"answer": "B", "choices": "ABCD"}, "science"),
    ("\\boxed{B}", {"answer": "Z", "choices": ["x", "y"]}, "science"),
    ("\\boxed{1 J}", {"answer": "1", "unit": "blorbs"}, "science"),
    ("x", {"instructions": [{"id": "no:such_check", "kwargs": {}}]}, "ifeval"),
    ("x", {"instructions": [{"id": "keywords:existence", "kwargs": {"keywords": 5}}]}, "ifeval"),
    ("x", {"instructions": "keywords:existence"}, "ifeval"),
    ("\\boxed{1+2}", {"numbers": "abc", "target": 3}, "countdown"),
    ("<answer>1</answer>", {"puzzle": [[1, 2], [3]]}, "sudoku"),
    ("<answer>R</answer>", {"grid": ["#"], "start": [5, 5], "goal": [0, 0]}, "maze"),
    ("<answer>1</answer>", {"output": "grid"}, "arc"),
    ("<answer>A is a knight</answer>", {"solution": {"A": "wizard"}}, "knights_knaves"),
    ("```python\nprint(1)\n```", {"language": "cobol", "tests": []}, "code"),
    ("```python\nprint(1)\n```", {"language": "python", "tests": 5}, "code"),
    ("```python\nprint(1)\n```", {"language": "python", "test_code": "def ("}, "code"),
    ("```python\nprint(1)\n```", {"tests": [{"input": "", "output": "1"}], "time_limit": -1}, "code"),
    ("```python\nprint(1)\n```", None, "code"),
)


def _malformed_reference(rng: random.Random) -> tuple[str, Any, str]:
    return rng.choice(_MALFORMED)


def _hostile_code(body: str) -> Any:
    def make(rng: random.Random) -> tuple[str, Any, str]:
        reference = {
            "language": "python",
            "tests": [{"input": "1 2\n", "output": "3\n"}],
            "time_limit": HOSTILE_CODE_TIME_LIMIT,
        }
        return f"```python\n# {rng.randint(0, 10**9)}\n{body}```", reference, "code"

    return make


HANG_DOMAIN = "chaos_hang"


@register(HANG_DOMAIN, override=True)
def _never_returns(response: str, reference: Any, **options: Any) -> Any:
    """Spins until the pool kills its worker at the item's deadline."""
    spins = 0
    while True:
        spins += 1


def _hung_check(rng: random.Random) -> tuple[str, Any, str]:
    return f"<answer>{rng.randint(0, 10**9)}</answer>", {"answer": "1"}, HANG_DOMAIN


_HOSTILE = {
    "power_tower": _power_tower,
    "huge_factorial": _huge_factorial,
    "nested_latex": _nested_latex,
    "megabyte_string": _megabyte_string,
    "unicode": _unicode,
    "malformed_reference": _malformed_reference,
    "fork_bomb": _hostile_code("import os\nwhile True:\n    os.fork()\n"),
    "infinite_loop": _hostile_code("while True:\n    pass\n"),
    "memory_hog": _hostile_code("hog = []\nwhile True:\n    hog.append(bytearray(1 << 26))\n"),
    "hung_check": _hung_check,
}
