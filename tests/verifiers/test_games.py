"""Logic games: real checkers (not string equality), reference checkers, and deterministic generators."""

import json
import subprocess
import sys
import time

import pytest

from verifiers import Status, check_reference, game_domains, verify
from verifiers.games.arc import verify_arc
from verifiers.games.countdown import evaluate, solve, verify_countdown
from verifiers.games.generate import generate_rows
from verifiers.games.knights_knaves import verify_knights_knaves
from verifiers.games.maze import verify_maze
from verifiers.games.sudoku import count_solutions, verify_sudoku

CD = {"numbers": [25, 4, 3, 7], "target": 97}


@pytest.mark.parametrize(
    "response,status",
    [
        ("\\boxed{25*4-3}", "correct"),
        ("<answer>25 \\times 4 - 3 = 97</answer>", "correct"),
        ("Answer: (25 × 4) − 3", "correct"),
        ("\\boxed{4*25-3}", "correct"),
        ("\\boxed{25*4-7}", "wrong"),  # 93
        ("\\boxed{25*4-3+3-3}", "wrong"),  # 3 used three times
        ("\\boxed{100-3}", "wrong"),  # 100 is not given
        ("\\boxed{25*4-3.0}", "wrong"),
        ("\\boxed{-3+25*4}", "correct"),  # a unary minus reaches nothing b - a does not (target >= 0)
        ("\\boxed{25**1*4-3}", "wrong"),
        ("\\boxed{(25*4-3}", "wrong"),
        ("\\boxed{7/(3-3)}", "wrong"),
        ("<think>25*4-3</think>", "no_answer"),
        ("<think>try</think>25 * 4 - 3", "correct"),
    ],
)
def test_countdown_cases(response, status):
    assert verify_countdown(response, CD).status == status


def test_countdown_exact_rationals_and_use_all():
    ref = {"numbers": [1, 3, 4, 6], "target": 24}
    assert verify_countdown("\\boxed{6/(1-3/4)}", ref).correct  # needs exact fractions
    assert verify_countdown("\\boxed{4*6}", ref).correct
    assert not verify_countdown("\\boxed{4*6}", ref, use_all=True).correct
    value, used = evaluate("6/(1-3/4)")
    assert value == 24 and sorted(used) == [1, 3, 4, 6]


def test_countdown_eval_payloads_leave_no_file(tmp_path):
    target = tmp_path / "pwned"
    for payload in [
        f"\\boxed{{__import__('pathlib').Path('{target}').touch() or 97}}",
        f"<answer>exec(\"open('{target}','w')\") or 25*4-3</answer>",
        "\\boxed{9**9**9**9}",
    ]:
        r = verify(payload, CD, "countdown", timeout=3)
        assert r.status == Status.WRONG
    assert not target.exists()


def test_countdown_deep_nesting_and_long_input_are_fast():
    t = time.monotonic()
    assert verify_countdown("\\boxed{" + "(" * 10000 + "25" + ")" * 10000 + "}", CD).status == Status.WRONG
    assert verify_countdown("\\boxed{" + "1+" * 500_000 + "1}", CD).status == Status.WRONG
    assert time.monotonic() - t < 2


def test_countdown_reference_check_uses_a_solver():
    assert check_reference(CD, "countdown").ok
    bad = check_reference({"numbers": [1, 1], "target": 1000}, "countdown")
    assert not bad.ok and bad.reason == "reference_failed"
    assert check_reference({"numbers": [2], "target": "x"}, "countdown").reason == "invalid_reference"
    assert solve([3, 3, 8, 8], 24) is not None  # 8/(3-8/3)


SOLVED = [
    [5, 3, 4, 6, 7, 8, 9, 1, 2], [6, 7, 2, 1, 9, 5, 3, 4, 8], [1, 9, 8, 3, 4, 2, 5, 6, 7],
    [8, 5, 9, 7, 6, 1, 4, 2, 3], [4, 2, 6, 8, 5, 3, 7, 9, 1], [7, 1, 3, 9, 2, 4, 8, 5, 6],
    [9, 6, 1, 5, 3, 7, 2, 8, 4], [2, 8, 7, 4, 1, 9, 6, 3, 5], [3, 4, 5, 2, 8, 6, 1, 7, 9],
]  # fmt: skip
PUZZLE = [[v if (r * 9 + c) % 4 else 0 for c, v in enumerate(row)] for r, row in enumerate(SOLVED)]


def _grid(g):
    return "\n".join(" ".join(map(str, r)) for r in g)


def test_sudoku_accepts_valid_completions_in_several_formats():
    ref = {"puzzle": PUZZLE}
    assert verify_sudoku("Here is the solved grid:\n" + _grid(SOLVED), ref).correct
    assert verify_sudoku(json.dumps(SOLVED), ref).correct
    assert verify_sudoku("\n".join("".join(map(str, r)) for r in SOLVED), ref).correct
    assert verify_sudoku("<think>x</think>\n```\n" + _grid(SOLVED) + "\n```", ref).correct


def test_sudoku_rejects_invalid_grids_and_changed_givens():
    ref = {"puzzle": PUZZLE}
    broken = [r[:] for r in SOLVED]
    broken[0][0], broken[0][1] = broken[0][1], broken[0][0]  # swaps a given: row ok, columns broken
    r = verify_sudoku(_grid(broken), ref)
    assert r.status == Status.WRONG
    other_valid = [[(v % 9) + 1 for v in row] for row in SOLVED]  # valid sudoku, ignores the givens
    assert "given" in verify_sudoku(_grid(other_valid), ref).reason
    assert verify_sudoku(_grid(SOLVED[:8]), ref).status == Status.WRONG
    assert verify_sudoku("I could not solve it", ref).status == Status.NO_ANSWER


def test_sudoku_reference_check_counts_solutions():
    assert check_reference({"puzzle": PUZZLE}, "sudoku").ok
    empty = [[0] * 9 for _ in range(9)]
    res = check_reference({"puzzle": empty}, "sudoku")
    assert not res.ok and res.reason == "reference_failed" and res.evidence["solutions_found"] == 2
    clash = [r[:] for r in PUZZLE]
    clash[0][0] = clash[0][1] = 9
    assert count_solutions(clash) == 0
    assert check_reference({"puzzle": [[1, 2]]}, "sudoku").reason == "invalid_reference"


MAZE = {"grid": ["#####", "#..##", "##..#", "###.#", "#####"], "start": [1, 1], "goal": [3, 3]}


@pytest.mark.parametrize(
    "answer,status",
    [
        ("\\boxed{R D R D}", "correct"),
        ("\\boxed{RDRD}", "correct"),
        ("right, down, right, down", "correct"),
        ("Moves: East South East South", "correct"),
        ("\\boxed{[[1,1],[1,2],[2,2],[2,3],[3,3]]}", "correct"),
        ("\\boxed{R D R D U D}", "correct"),  # any legal path
        ("\\boxed{D R R D}", "wrong"),  # wall
        ("\\boxed{R D R}", "wrong"),  # stops short
        ("\\boxed{[[1,1],[2,2],[3,3]]}", "wrong"),  # jumps
        ("\\boxed{R R R R R R}", "wrong"),
        ("I am lost", "no_answer"),
    ],
)
def test_maze_paths(answer, status):
    assert verify_maze(answer, MAZE).status == status


def test_maze_shortest_option_and_reference_check():
    assert not verify_maze("\\boxed{R D R D U D}", MAZE, shortest=True).correct
    assert verify_maze("\\boxed{R D R D}", MAZE, shortest=True).correct
    assert check_reference(MAZE, "maze").evidence["shortest"] == 4
    blocked = {**MAZE, "grid": ["#####", "#..##", "#####", "###.#", "#####"]}
    assert check_reference(blocked, "maze").reason == "reference_failed"
    assert check_reference({**MAZE, "start": [0, 0]}, "maze").reason == "invalid_reference"


def test_arc_exact_grid():
    ref = {"output": [[1, 0], [0, 2]]}
    assert verify_arc("The output is:\n1 0\n0 2", ref).correct
    assert verify_arc("\\boxed{[[1,0],[0,2]]}", ref).correct
    assert verify_arc("1 0\n0 3", ref).reason == "1 cells differ"
    assert verify_arc("1 0 0\n0 2 0", ref).status == Status.WRONG
    assert not check_reference({"output": [[1, 2], [3]]}, "arc").ok
    assert not check_reference({"output": [[10]]}, "arc").ok


KK = {"solution": {"Zoey": "knight", "Oliver": "knave"}}


@pytest.mark.parametrize(
    "answer,ok",
    [
        ("Zoey is a knight and Oliver is a knave.", True),
        ("<answer>(1) zoey is a knight\n(2) oliver is a knave</answer>", True),
        ("Therefore: Zoey: Knight, Oliver: Knave", True),
        ("Oliver is a knave, Zoey is a knight", True),
        ("Zoey is a knave and Oliver is a knight.", False),
        ("Zoey is a knight.", False),  # Oliver missing
        ("Zoey and Oliver are knights", False),
    ],
)
def test_knights_knaves_phrasings(answer, ok):
    assert verify_knights_knaves(answer, KK).correct is ok


def test_knights_knaves_reference_check():
    assert check_reference(KK, "knights_knaves").ok
    assert not check_reference({"solution": {"A": "wizard"}}, "knights_knaves").ok


@pytest.mark.parametrize("game", game_domains())
def test_generators_are_deterministic_and_produce_checkable_rows(game):
    rows = generate_rows(game, 3, seed=7)
    assert rows == generate_rows(game, 3, seed=7)
    assert rows != generate_rows(game, 3, seed=8)
    for row in rows:
        assert set(row) == {"id", "domain", "prompt", "reference", "source", "meta"}
        assert row["domain"] == game
        assert check_reference(row["reference"], game).ok


def test_generated_rows_are_solvable_by_their_own_solution():
    cd = generate_rows("countdown", 5, seed=1)
    for row in cd:
        assert verify_countdown(f"\\boxed{{{row['meta']['example_solution']}}}", row["reference"]).correct
    for row in generate_rows("sudoku", 2, seed=1):
        assert verify_sudoku(_grid(row["meta"]["solution"]), row["reference"]).correct
    for row in generate_rows("arc", 3, seed=1):
        assert verify_arc(_grid(row["reference"]["output"]), row["reference"]).correct
    for row in generate_rows("knights_knaves", 3, seed=1):
        text = ", ".join(f"{n} is a {r}" for n, r in row["reference"]["solution"].items())
        assert verify_knights_knaves(text, row["reference"]).correct


def test_generate_cli_writes_jsonl(tmp_path):
    out = tmp_path / "cd.jsonl"
    subprocess.run(
        [sys.executable, "-m", "verifiers.games.generate", "--game", "countdown", "--n", "4", "--seed", "0",
         "-o", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and rows == generate_rows("countdown", 4, seed=0)


def test_knights_knaves_negation_and_last_statement_wins():
    assert verify_knights_knaves("Zoey is not a knave; Oliver is not a knight.", KK).correct
    assert verify_knights_knaves("Zoey and Oliver are knaves. No wait: Zoey is a knight.", KK).correct
    assert not verify_knights_knaves(
        "Zoey is a knight, Oliver is a knave. Hmm, Oliver is a knight.", KK
    ).correct
