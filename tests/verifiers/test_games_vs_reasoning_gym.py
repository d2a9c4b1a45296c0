"""Our game verifiers against reasoning-gym's own scorers, answer by answer (differential conformance).

Seeded reasoning-gym entries are converted with ``from_reasoning_gym``; each gets answers of several
kinds: reasoning-gym's gold answer, our own solution where we have a solver, the gold answer in other
layouts or wrappers, and wrong variants (a changed number/cell/role, a swapped operator, a cut grid...).
Every (entry, answer) gets our verdict and ``score_answer(answer, entry) == 1.0``. Asserted: every gold
answer is right for us; every disagreement falls in a documented category whose condition holds (e.g.
"layout": reasoning-gym gives 1.0 to the same answer in its own layout); nothing reasoning-gym scores
wrong is right for us outside those categories. docs/verifiers.md "Logic games" has the table.

maze: reasoning-gym asks for a step count, ours for a path, so its answers are not ours; the reference
is mapped and our shortest path length must equal its ``shortest_path_length``, and each path answer is
compared as its number of moves.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections import Counter, deque
from dataclasses import dataclass

import pytest

from verifiers import check_reference
from verifiers.games.arc import verify_arc
from verifiers.games.common import parse_grid
from verifiers.games.countdown import solve, verify_countdown
from verifiers.games.knights_knaves import verify_knights_knaves
from verifiers.games.maze import verify_maze
from verifiers.games.reasoning_gym_entries import from_reasoning_gym
from verifiers.games.sudoku import verify_sudoku

rg = pytest.importorskip("reasoning_gym")

SEED = 1  # reasoning-gym seeds entry i with seed + i
VERIFY = {
    "countdown": verify_countdown,
    "sudoku": verify_sudoku,
    "knights_knaves": verify_knights_knaves,
    "arc": verify_arc,
    "maze": verify_maze,
}
# (reasoning-gym dataset, config) per game; sizes keep the module well under 30 s on 2 cores
DATASETS = {
    "countdown": [("countdown", {"size": 150})],
    "sudoku": [("sudoku", {"size": 60}), ("mini_sudoku", {"size": 100})],
    "knights_knaves": [("knights_knaves", {"size": 70, "n_people": n}) for n in (2, 3, 4)],
    "arc": [("arc_1d", {"size": 100}), ("rearc", {"size": 50}), ("arc_agi", {"size": 50})],
    "maze": [("maze", {"size": 150})],
}


@dataclass
class Case:
    dataset: str
    config: int  # which DATASETS config of the game
    index: int
    kind: str  # "gold", "solver", "layout:json", "wrong:cell", ...
    answer: str
    ours: bool
    theirs: bool
    same_as: str | None = None  # for a reformatted answer: the same answer in reasoning-gym's own layout
    same_as_theirs: bool = False  # reasoning-gym's verdict on same_as
    metadata: dict | None = None  # of the entry reasoning-gym scored


# ---------------------------------------------------------------- answers per game


def _countdown_answers(e: dict, ref: dict, rng: random.Random):
    gold, target = e["answer"], ref["target"]
    yield "gold", gold, None
    try:
        mine = solve(ref["numbers"], target, use_all=True, budget=20_000)
    except TimeoutError:
        mine = None
    if mine:
        yield "solver", mine, None  # usually another way to the target than the gold one
    yield "wrapper:boxed", f"\\boxed{{{gold}}}", gold
    yield "wrapper:answer_line", f"Answer: {gold}", gold
    yield "wrapper:equals_target", f"{gold} = {target}", gold
    yield "wrong:prose", f"The expression is {gold}", None  # neither digs it out of a sentence
    nums = list(re.finditer(r"\d+", gold))
    m = rng.choice(nums)
    yield "wrong:number", gold[: m.start()] + str(int(m.group()) + 1) + gold[m.end() :], None
    # may still reach the target ("x/1" -> "x*1"): compared, not assumed wrong
    ops = [m for m in re.finditer(r"(?<=[\d)])\s*([-+*/])", gold)]
    if ops:
        m = rng.choice(ops)
        new = {"+": "-", "-": "+", "*": "+", "/": "*"}[m.group(1)]
        yield "changed:operator", gold[: m.start(1)] + new + gold[m.end(1) :], None
    if len(nums) > 1:  # the last number and the operator before it dropped: a number unused
        yield "wrong:unused_number", re.sub(r"\s*[-+*/]\s*\(?\s*\d+\s*\)?\s*$", "", gold), None
    power = re.sub(r"([*/])\s*1(?![\d(])", "**1", gold, count=1)
    if power != gold:  # x*1 -> x**1: same value, an operator countdown does not have
        yield "power", power, None


def _sudoku_answers(e: dict, ref: dict, rng: random.Random):
    gold, sol, puzzle = e["answer"], e["metadata"]["solution"], ref["puzzle"]
    n = len(sol)
    yield "gold", gold, None
    yield "layout:trailing_spaces", "\n".join(line + "  " for line in gold.split("\n")), gold
    yield "layout:json", json.dumps(sol), gold
    yield "layout:commas", "\n".join(",".join(map(str, r)) for r in sol), gold
    yield "layout:digit_runs", "\n".join("".join(map(str, r)) for r in sol), gold
    yield "wrapper:text", f"Here is the completed grid:\n\n{gold}\n", gold
    blanks = [(r, c) for r in range(n) for c in range(n) if puzzle[r][c] == 0]
    givens = [(r, c) for r in range(n) for c in range(n) if puzzle[r][c]]
    for kind, cells in (("wrong:blank_cell", blanks), ("wrong:given_cell", givens)):
        if cells:
            r, c = rng.choice(cells)
            g = [row[:] for row in sol]
            g[r][c] = g[r][c] % n + 1
            yield kind, _grid_text(g), None
    row_blanks = [(r, [c for rr, c in blanks if rr == r]) for r in range(n)]
    row_blanks = [(r, cs) for r, cs in row_blanks if len(cs) >= 2]
    if row_blanks:  # two blank cells of a row swapped: the row stays a permutation, columns break
        r, cs = rng.choice(row_blanks)
        c1, c2 = rng.sample(cs, 2)
        g = [row[:] for row in sol]
        g[r][c1], g[r][c2] = g[r][c2], g[r][c1]
        yield "wrong:swapped_cells", _grid_text(g), None
    yield "wrong:truncated", _grid_text(sol[:-1]), None


def _grid_text(g) -> str:
    return "\n".join(" ".join(map(str, r)) for r in g)


def _swappable_rectangle(sol: list[list[int]]):
    """Cells (r1,c1),(r1,c2),(r2,c1),(r2,c2) holding a b / b a within one band or stack: swapping them
    gives another valid grid, so a puzzle with those four cells blank has two solutions."""
    n, b = len(sol), {4: 2, 9: 3}[len(sol)]
    for r1 in range(n):
        for r2 in range(r1 + 1, n):
            for c1 in range(n):
                for c2 in range(c1 + 1, n):
                    if r1 // b != r2 // b and c1 // b != c2 // b:
                        continue
                    if sol[r1][c1] == sol[r2][c2] and sol[r1][c2] == sol[r2][c1]:
                        return r1, r2, c1, c2
    return None


def _other_solution(e: dict):
    """(entry with a puzzle of two solutions, our reference, the solution that is not stored) or None."""
    sol = e["metadata"]["solution"]
    rect = _swappable_rectangle(sol)
    if rect is None:
        return None
    r1, r2, c1, c2 = rect
    puzzle = [row[:] for row in e["metadata"]["puzzle"]]
    other = [row[:] for row in sol]
    for r, c in ((r1, c1), (r1, c2), (r2, c1), (r2, c2)):
        puzzle[r][c] = 0
    other[r1][c1], other[r1][c2] = sol[r1][c2], sol[r1][c1]
    other[r2][c1], other[r2][c2] = sol[r2][c2], sol[r2][c1]
    entry = {**e, "metadata": {**e["metadata"], "puzzle": puzzle}}
    return entry, {"puzzle": puzzle}, other


def _is_valid_completion(puzzle: list[list[int]], grid: list[list[int]]) -> bool:
    """Independent of verifiers.games.sudoku: every unit a permutation, every given kept."""
    n = len(puzzle)
    b = {4: 2, 9: 3}[n]
    if len(grid) != n or any(len(r) != n for r in grid):
        return False
    units = [[(r, c) for c in range(n)] for r in range(n)] + [[(r, c) for r in range(n)] for c in range(n)]
    units += [
        [(br + i, bc + j) for i in range(b) for j in range(b)]
        for br in range(0, n, b)
        for bc in range(0, n, b)
    ]
    full = set(range(1, n + 1))
    return all({grid[r][c] for r, c in u} == full for u in units) and all(
        p in (0, g) for pr, gr in zip(puzzle, grid) for p, g in zip(pr, gr)
    )


def _knights_answers(e: dict, ref: dict, rng: random.Random):
    gold, sol, terms = e["answer"], ref["solution"], ref["terms"]
    word = {"knight": terms["knight"], "knave": terms["knave"]}
    other = {"knight": "knave", "knave": "knight"}
    art = {w: ("an " if w[0] in "aeiou" else "a ") + w for w in word.values()}
    names = list(sol)

    def sentence(assign: dict) -> str:
        parts = [f"{n} is {art[word[r]]}" for n, r in assign.items()]
        return ", ".join(parts[:-1]) + ", and " + parts[-1] + "." if len(parts) > 1 else parts[0] + "."

    yield "gold", gold, None
    yield "gold:reordered", sentence(dict(reversed(list(sol.items())))), None
    yield "phrasing:colon_list", "; ".join(f"{n}: {word[r]}" for n, r in sol.items()), gold
    yield "phrasing:negated", " and ".join(f"{n} is not {art[word[other[r]]]}" for n, r in sol.items()), gold
    groups = {r: [n for n in names if sol[n] == r] for r in ("knight", "knave")}
    if any(len(g) > 1 for g in groups.values()):
        parts = [
            (" and ".join(g) + f" are {word[r]}s") if len(g) > 1 else f"{g[0]} is {art[word[r]]}"
            for r, g in groups.items()
            if g
        ]
        yield "phrasing:group", ", and ".join(parts) + ".", gold
    yield "phrasing:reasoning_text", f"Since {art[word['knight']]} always tells the truth: {gold}", gold
    first = names[0]
    yield (
        "phrasing:self_correction",
        f"{first} is {art[word[other[sol[first]]]]}. No, wait, that fails. {gold}",
        gold,
    )
    flipped = dict(sol, **{first: other[sol[first]]})
    yield "wrong:one_role", sentence(flipped), None
    yield "wrong:all_roles", sentence({n: other[r] for n, r in sol.items()}), None
    yield "wrong:missing_person", sentence(dict(list(sol.items())[:-1])), None
    if word["knight"] != "knight":  # the plain words for a puzzle told in other ones
        yield "wrong:plain_words", ", and ".join(f"{n} is a {r}" for n, r in sol.items()), None


def _arc_answers(e: dict, ref: dict, rng: random.Random):
    gold, out = e["answer"], ref["output"]
    yield "gold", gold, None
    yield "layout:trailing_newline", gold + "\n", gold
    yield "layout:json", json.dumps(out), gold
    yield "wrapper:text", f"Output:\n{gold}", gold
    g = [row[:] for row in out]
    r, c = rng.randrange(len(g)), rng.randrange(len(g[0]))
    g[r][c] = (g[r][c] + 1) % 10
    yield "wrong:cell", _grid_text(g), None
    if len(out) > 1:
        yield "wrong:truncated", _grid_text(out[:-1]), None
    if len(out[0]) > 1:
        yield "wrong:dropped_column", _grid_text([row[:-1] for row in out]), None
    t = [list(col) for col in zip(*out)]
    if t != out:
        yield "wrong:transposed", _grid_text(t), None


_MOVES = {(-1, 0): "U", (1, 0): "D", (0, -1): "L", (0, 1): "R"}


def _shortest_moves(ref: dict) -> list[str]:
    grid, start, goal = ref["grid"], tuple(ref["start"]), tuple(ref["goal"])
    prev = {start: None}
    q = deque([start])
    while q:
        cell = q.popleft()
        for (dr, dc), m in _MOVES.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            inside = 0 <= nxt[0] < len(grid) and 0 <= nxt[1] < len(grid[0])
            if inside and grid[nxt[0]][nxt[1]] != "#" and nxt not in prev:
                prev[nxt] = (cell, m)
                q.append(nxt)
    moves, cell = [], goal
    while prev[cell]:
        cell, m = prev[cell]
        moves.append(m)
    return moves[::-1]


def _maze_answers(e: dict, ref: dict, rng: random.Random):
    """Legal paths only: reasoning-gym sees a path as its number of moves (see the module docstring)."""
    moves = _shortest_moves(ref)
    yield "solver", " ".join(moves), str(len(moves))
    back = {"U": "D", "D": "U", "L": "R", "R": "L"}
    detour = [moves[0], back[moves[0]], *moves]  # one step out and back: legal, two moves longer
    yield "wrong:detour", " ".join(detour), str(len(detour))


ANSWERS = {
    "countdown": _countdown_answers,
    "sudoku": _sudoku_answers,
    "knights_knaves": _knights_answers,
    "arc": _arc_answers,
    "maze": _maze_answers,
}


# ---------------------------------------------------------------- running both scorers


@functools.cache
def cases(game: str) -> tuple[Case, ...]:
    out: list[Case] = []
    rng = random.Random(SEED)
    for k, (name, config) in enumerate(DATASETS[game]):
        ds = rg.create_dataset(name, seed=SEED + k, **config)
        for i in range(len(ds)):
            e = ds[i]
            domain, ref, opts = from_reasoning_gym(e)
            assert domain == game
            for kind, answer, same_as in ANSWERS[game](e, ref, rng):
                if game == "maze":  # a path for us, its step count for reasoning-gym
                    theirs = ds.score_answer(same_as, e) == 1.0
                    same_as = None
                else:
                    theirs = ds.score_answer(answer, e) == 1.0
                ours = VERIFY[game](answer, ref, **opts).correct
                same_ok = same_as is not None and ds.score_answer(same_as, e) == 1.0
                out.append(Case(name, k, i, kind, answer, ours, theirs, same_as, same_ok, e["metadata"]))
            if game == "sudoku" and (alt := _other_solution(e)):
                entry, ref2, other = alt
                answer = _grid_text(other)
                out.append(
                    Case(
                        name,
                        k,
                        i,
                        "other_solution",
                        answer,
                        verify_sudoku(answer, ref2).correct,
                        ds.score_answer(answer, entry) == 1.0,
                        metadata=entry["metadata"],
                    )
                )
    return tuple(out)


def _rg_accepts_own_layout(c: Case) -> bool:
    return c.same_as is not None and c.same_as_theirs


def _other_valid_solution(c: Case) -> bool:
    grid = parse_grid(c.answer)
    md = c.metadata
    return grid is not None and grid != md["solution"] and _is_valid_completion(md["puzzle"], grid)


# Documented disagreements (docs/verifiers.md, "Checked against reasoning-gym's scorers"):
# name -> (answer kinds it may explain, who accepts it, the condition that must hold)
CATEGORIES = {
    "layout": ("layout:", "ours", _rg_accepts_own_layout),
    "text around the answer": ("wrapper:", "ours", _rg_accepts_own_layout),
    "phrasing": ("phrasing:", "ours", _rg_accepts_own_layout),
    "any valid completion": ("other_solution", "ours", _other_valid_solution),
    "power operator": ("power", "theirs", lambda c: "**" in c.answer),
}


def classify(c: Case) -> str | None:
    """The documented category of a disagreement, None when none explains it."""
    for name, (kinds, accepter, holds) in CATEGORIES.items():
        accepted_by_us = accepter == "ours"
        if c.kind.startswith(kinds) and c.ours == accepted_by_us and c.theirs != accepted_by_us and holds(c):
            return name
    return None


def summary(game: str) -> dict:
    cs = cases(game)
    dis = [c for c in cs if c.ours != c.theirs]
    return {
        "items": len({(c.dataset, c.config, c.index) for c in cs}),
        "answers": len(cs),
        "agree": len(cs) - len(dis),
        "disagree": dict(Counter(classify(c) or "UNCLASSIFIED" for c in dis)),
    }


GAMES = list(DATASETS)


@pytest.mark.parametrize("game", GAMES)
def test_every_gold_answer_is_right_for_us(game):
    golds = [c for c in cases(game) if c.kind == "gold" or c.kind.startswith("gold:")]
    assert golds or game == "maze"
    rejected = [(c.dataset, c.index, c.answer) for c in golds if not c.ours]
    assert not rejected, f"{len(rejected)} gold answers rejected, e.g. {rejected[:3]}"
    assert all(c.theirs for c in golds)  # and reasoning-gym's own scorer takes them
    if game == "countdown":  # sympy prints some gold answers with a unary minus ("-1 + 72*(89 - 77)")
        assert any(re.search(r"(^|\()\s*-", c.answer) for c in golds)


@pytest.mark.parametrize("game", GAMES)
def test_every_disagreement_is_a_documented_one(game):
    cs = cases(game)
    unclassified = [c for c in cs if c.ours != c.theirs and classify(c) is None]
    assert not unclassified, "\n".join(
        f"{c.dataset}[{c.index}] {c.kind}: ours={c.ours} theirs={c.theirs} {c.answer!r:.200}"
        for c in unclassified[:5]
    )
    # (b) nothing reasoning-gym scores wrong is right for us outside a deliberate difference
    lenient = [c for c in cs if c.ours and not c.theirs and CATEGORIES[classify(c)][1] != "ours"]
    assert not lenient
    # every wrong variant is wrong for both
    assert not [c for c in cs if c.kind.startswith("wrong:") and (c.ours or c.theirs)]
    print(f"\n{game}: {summary(game)}")


@pytest.mark.parametrize(
    "game,expected",
    [
        ("countdown", {"text around the answer", "power operator"}),
        ("sudoku", {"layout", "text around the answer", "any valid completion"}),
        ("knights_knaves", {"phrasing"}),
        ("arc", {"layout", "text around the answer"}),
        ("maze", set()),
    ],
)
def test_each_documented_category_is_exercised(game, expected):
    s = summary(game)
    assert s["items"] >= 100 and s["answers"] >= 2 * s["items"]
    assert set(s["disagree"]) == expected


def test_maze_reference_maps_to_the_same_shortest_path_length():
    ds = rg.create_dataset("maze", seed=SEED, **DATASETS["maze"][0][1])
    for e in ds:
        domain, ref, opts = from_reasoning_gym(e)
        check = check_reference(ref, domain)
        assert check.ok and check.evidence["shortest"] == e["metadata"]["shortest_path_length"]
    assert opts == {"shortest": True}


# ---------------------------------------------------------------- regressions found by this comparison


def test_countdown_reads_a_leading_or_nested_unary_minus_for_a_target_that_is_not_negative():
    # reasoning-gym's gold answers are sympy's printing: "-1 + 72*(89 - 77)/1", "27*(-2 + (5 - 55 + 62)/2)"
    assert verify_countdown("-1 + 72*(89 - 77)/1", {"numbers": [1, 72, 1, 77, 89], "target": 863}).correct
    ref = {"numbers": [27, 2, 62, 55, 2, 5], "target": 108}
    assert verify_countdown("27*(-2 + (5 - 55 + 62)/2)", ref, use_all=True).correct
    # for a negative target it would reach what + - * / cannot: "-5" from [5]
    assert not verify_countdown("-5", {"numbers": [5], "target": -5}).correct
    assert verify_countdown("2 - 7", {"numbers": [2, 7], "target": -5}).correct
    assert not verify_countdown("-" * 500 + "5", {"numbers": [5], "target": 5}).correct  # depth capped


def test_knights_knaves_reads_the_puzzles_own_words_for_the_two_kinds():
    ref = {"solution": {"Amelia": "knight", "Ben": "knave"}, "terms": {"knight": "hero", "knave": "villain"}}
    assert verify_knights_knaves("Amelia is a hero, and Ben is a villain.", ref).correct
    assert verify_knights_knaves("Amelia and Ben are heroes", ref).status == "wrong"
    assert not verify_knights_knaves("Amelia is a knight, and Ben is a knave.", ref).correct
    assert verify_knights_knaves("Amelia: hero", ref).reason == "no role given for Ben"
    same = {"solution": {"Amelia": "hero", "Ben": "villain"}, "terms": ref["terms"]}
    assert verify_knights_knaves("Amelia is a hero, Ben is a villain", same).correct
    bad = {"solution": {"A": "knight"}, "terms": {"knight": "sage", "knave": "Sage"}}
    assert verify_knights_knaves("A is a sage", bad).status == "invalid_reference"
    assert not check_reference(bad, "knights_knaves").ok


def test_from_reasoning_gym_refuses_other_datasets_in_one_line():
    e = rg.create_dataset("chain_sum", seed=SEED, size=1)[0]
    with pytest.raises(ValueError, match="'chain_sum' has no game domain"):
        from_reasoning_gym(e)
    with pytest.raises(ValueError, match="metadata field missing"):
        from_reasoning_gym({"metadata": {"source_dataset": "countdown", "numbers": [1]}})
