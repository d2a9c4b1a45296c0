"""science: multiple choice (letters, option text, never free letters) and numbers with units."""

import pytest

from verifiers import Status, check_reference
from verifiers.science import verify_science

CHOICES = {"answer": "B", "choices": ["fire", "water", "air", "earth"]}


@pytest.mark.parametrize(
    "response,ok",
    [
        ("\\boxed{B}", True),
        ("The answer is (B).", True),
        ("Answer: B", True),
        ("\\boxed{\\text{(B)}}", True),
        ("\\boxed{B: water}", True),
        ("\\boxed{Option B}", True),
        ("\\boxed{water}", True),
        ("\\boxed{Water.}", True),
        ("**Answer:** $\\boxed{\\textbf{B}}$", True),
        ("\\boxed{C}", False),
        ("\\boxed{air}", False),
        ("I considered B but \\boxed{A}", False),
        ("Answer: E", False),  # not among the choices
    ],
)
def test_multiple_choice(response, ok):
    assert verify_science(response, CHOICES).correct is ok


def test_free_letters_are_never_scanned():
    r = verify_science("Because of Bernoulli, A and B differ; I pick the larger one.", "B")
    assert not r.correct
    r = verify_science("\\boxed{\\langle H\\rangle \\ll \\Delta E} so Answer: D", "D")
    assert r.status == Status.WRONG  # the box is the answer, and it names no option


@pytest.mark.parametrize(
    "answer,reference,ok",
    [
        ("\\boxed{320 kJ}", {"answer": "3.2e5", "unit": "J"}, True),
        ("\\boxed{3.2 \\times 10^{5}\\text{ J}}", {"answer": "3.2e5", "unit": "J"}, True),
        ("\\boxed{3.21e5}", {"answer": "3.2e5", "unit": "J"}, True),  # within 1 %, read in J
        ("\\boxed{3.3e5 J}", {"answer": "3.2e5", "unit": "J"}, False),
        ("\\boxed{320 kg}", {"answer": "3.2e5", "unit": "J"}, False),  # incompatible unit
        ("\\boxed{1.5 \\mathrm{km}}", {"answer": "1500 m"}, True),
        ("\\boxed{25^{\\circ}\\text{C}}", {"answer": "298.15", "unit": "K"}, True),
        ("\\boxed{9.8 m/s^2}", {"answer": "9.81", "unit": "m/s^2"}, True),
        ("\\boxed{9.2 m/s^2}", {"answer": "9.81", "unit": "m/s^2"}, False),
        ("\\boxed{9.2 m/s^2}", {"answer": "9.81", "unit": "m/s^2", "rel_tol": 0.1}, True),
        ("\\boxed{\\frac{1}{2}}", "0.5", True),
        ("\\boxed{x+1}", "0.5", False),
        ("\\boxed{x+1}", "x+1", True),  # non-numeric reference: math equivalence
    ],
)
def test_numeric_with_units(answer, reference, ok):
    assert verify_science(answer, reference).correct is ok


def test_reference_checks():
    assert check_reference(CHOICES, "science").ok
    assert check_reference("C", "science").ok
    assert check_reference({"answer": "E", "choices": ["a", "b"]}, "science").reason == "invalid_reference"
    assert not check_reference({"answer": "A", "choices": ["x", "x"]}, "science").ok
    assert not check_reference({"answer": "5", "unit": "blorps"}, "science").ok
    assert not check_reference({"answer": "5", "rel_tol": 3}, "science").ok
    assert check_reference({"answer": "5", "unit": "N*m"}, "science").ok
    assert verify_science("\\boxed{A}", {"answer": None}).status == Status.INVALID_REFERENCE
