"""math: answer formats that real model outputs and datasets use (each was misread before) and hostile
answers that must be screened, not timed out."""

import json
import time
from pathlib import Path

import pytest

from verifiers import Status, check_reference, verify
from verifiers.extract import extract_answer
from verifiers.magnitude import too_big
from verifiers.math import verify_math

COLUMN = "\\begin{pmatrix}2\\\\3\\end{pmatrix}"


@pytest.mark.parametrize(
    "response, expected",
    [
        ("\\boxed{\\begin{pmatrix} 2 \\\\ 3 \\end{pmatrix}}", True),
        ("\\boxed{\\begin{pmatrix} 3 \\\\ 2 \\end{pmatrix}}", False),  # was accepted: rows multiplied
        ("\\boxed{\\begin{bmatrix} 2 \\\\\n 3 \\end{bmatrix}}", True),
        ("\\boxed{\\begin{pmatrix}2 \\\\ 3\\\\ \\end{pmatrix}}", True),
        ("\\boxed{\\begin{pmatrix} 2 \\\\ 4 \\end{pmatrix}}", False),
        ("\\boxed{\\begin{pmatrix} 6 \\end{pmatrix}}", False),  # the product of the entries
    ],
)
def test_matrix_rows_survive_a_space_after_the_row_break(response, expected):
    assert verify_math(response, COLUMN).correct is expected


def test_two_by_two_matrix_order_matters():
    gold = "\\begin{pmatrix}1 & 2\\\\3 & 4\\end{pmatrix}"
    assert verify_math("\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}", gold).correct
    assert not verify_math("\\boxed{\\begin{pmatrix} 3 & 4 \\\\ 1 & 2 \\end{pmatrix}}", gold).correct
    assert not verify_math("\\boxed{\\begin{array}{cc} 1 & 2 \\\\ 4 & 3 \\end{array}}", gold).correct


MINERVA = (
    "The cost is $\\frac{70}{9} \\approx 7.78$ dollars. Final Answer: The final answer is 7.78. "
    "I hope it is correct."
)


@pytest.mark.parametrize(
    "response, gold, expected",
    [
        (MINERVA, "7.78", True),
        (MINERVA, "7.79", False),
        ("Final Answer: The largest $n$ is 34.", "34", True),
        ("Final Answer: The largest $n$ is 34.", "35", False),
        ("Final Answer: The final answer is $14{, }916$. I hope it is correct.", "14916", True),
        ("work\nFinal Answer: Jane started growing it 3 hours ago. I hope it is correct.", "3", True),
        ("Final Answer: it took 3 hours and 5 minutes.", "5", False),  # two numbers: no guessing
        ("Answer \\[ \n 9 \n \\]", "9", True),
        (
            "so \\boxed{255} is the interest. Final Answer: The final answer is $10,455$. I hope it is correct.",
            "10455",
            True,
        ),
        ("\\boxed{255}. Final Answer: the final answer is boxed above.", "255", True),
    ],
)
def test_minerva_final_answer_format(response, gold, expected):
    assert verify_math(response, gold).correct is expected


def test_final_answer_without_a_newline_is_cut_to_the_answer():
    rambling = " Note: the solution assumes nonzero digits, and it is always good to double-check." * 30
    response = "We compute the sum. The final answer is $12$. I hope it is correct." + rambling
    ext = extract_answer(response)
    assert ext.answer == "$12$"
    assert verify_math(response, "12").correct


@pytest.mark.parametrize(
    "response, gold, expected",
    [
        ("\\boxed{11,\\! 111,\\! 111,\\! 100}", "11111111100", True),
        ("\\boxed{32,\\! 349}", "32349", True),
        ("\\boxed{32,\\!349}", "32349", True),
        ("\\boxed{32,\\! 348}", "32349", False),
        ("\\boxed{+11 5/6}", "\\frac{71}{6}", True),
        ("\\boxed{1 000 4/9}", "\\frac{9004}{9}", True),
        ("\\boxed{-3 1/2}", "-3.5", True),
        ("\\boxed{+11 5/6}", "\\frac{61}{6}", False),
    ],
)
def test_thousands_and_mixed_numbers(response, gold, expected):
    assert verify_math(response, gold).correct is expected


@pytest.mark.parametrize(
    "response, gold, expected",
    [
        ("\\boxed{111}", "0,111", False),  # a thousands group never starts with 0
        ("\\boxed{0.111}", "0,111", True),
        ("\\boxed{1000.99}", "1000,99", True),
        ("\\boxed{1000,99}", "1000.99", True),
        ("\\boxed{1.22}", "1,22", True),
        ("\\boxed{122}", "1,22", False),
        ("\\boxed{1,234}", "1234", True),  # a valid thousands number stays one
        ("\\boxed{1.234}", "1,234", False),
    ],
)
def test_decimal_comma_references(response, gold, expected):
    assert verify_math(response, gold).correct is expected


def test_bare_text_answers_have_a_three_word_cap():
    assert verify_math("Evelyn", "\\text{Evelyn}").correct
    assert verify_math("the red car", "red car").status == Status.WRONG
    assert (
        verify_math("The midpoints form a hexagon", "\\text{The midpoints form a hexagon}").status
        == Status.NO_ANSWER
    )
    assert verify_math(
        "\\boxed{\\text{The midpoints form a hexagon}}", "The midpoints form a hexagon"
    ).correct


@pytest.mark.parametrize(
    "response, gold",
    [
        ("\\boxed{-2} and \\boxed{1}", "1, -2"),
        ("$\\boxed{(2,2)} \\quad\\text{and}\\quad \\boxed{(6,2)}$", "(2, 2), (6, 2)"),
        ("\\boxed{1},\\boxed{2},\\boxed{3}", "\\{1,2,3\\}"),
    ],
)
def test_several_boxes_last_by_default_all_as_a_set_on_request(response, gold):
    assert not verify_math(response, gold).correct
    assert verify_math(response, gold, boxes="all").correct
    assert verify(response, {"answer": gold}, "math", boxes="all").correct


def test_boxes_all_rejects_a_wrong_or_incomplete_set():
    assert not verify_math("\\boxed{-2} and \\boxed{3}", "1, -2", boxes="all").correct
    assert not verify_math("\\boxed{-2} and \\boxed{1} and \\boxed{5}", "1, -2", boxes="all").correct
    assert verify_math("\\boxed{5} so again \\boxed{5}", "5", boxes="all").correct  # a repeated box
    assert verify_math("\\boxed{7}", "7", boxes="all").correct
    assert verify("\\boxed{7}", "7", "math", boxes="nope").status == Status.ERROR


def test_a_reference_written_as_a_worked_solution_uses_its_boxes():
    solution = "Then $(n - 1)(n + 2) = 0,$ so the solutions are $n = \\boxed{1,-2}.$"
    assert verify_math("\\boxed{-2, 1}", solution).correct
    assert not verify_math("\\boxed{1}", solution).correct
    steps = "First \\boxed{12} is the area, and after more work the total is \\boxed{30}."
    assert verify_math("\\boxed{30}", steps).correct  # boxes far apart: the last one is the answer
    assert verify_math("\\boxed{1,2}", "\\boxed{1} papers and \\boxed{2} bins").correct


# shared with benchmarks/verifiers.py (the hostile-input table)
HOSTILE = [json.loads(line) for line in (Path(__file__).parent / "data" / "hostile_math.jsonl").open()]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c["name"])
def test_hostile_answers_are_screened_in_milliseconds(case):
    verify("\\boxed{1}", "1", "math")  # a warm worker
    start = time.perf_counter()
    res = verify(case["response"], {"answer": "5"}, "math", timeout=10)
    elapsed = time.perf_counter() - start
    assert res.status == Status.WRONG, res.reason
    assert elapsed < 0.1, f"{elapsed:.3f} s"


def test_a_huge_answer_still_matches_the_same_text():
    assert verify_math("\\boxed{2^{2^{64}}}", "2^{2^{64}}").correct
    assert verify_math("\\boxed{2^{ 2^{64} }}", "2^{2^{64}}").correct
    assert not verify_math("\\boxed{2^{2^{65}}}", "2^{2^{64}}").correct
    assert check_reference({"answer": "2^{2^{64}}"}, "math").ok


@pytest.mark.parametrize(
    "response, gold",
    [("\\boxed{2^{10}}", "1024"), ("\\boxed{10!}", "3628800"), ("\\boxed{2^{100}}", str(2**100))],
)
def test_normal_powers_and_factorials_are_still_evaluated(response, gold):
    assert too_big(response) is None
    assert verify_math(response, gold).correct
