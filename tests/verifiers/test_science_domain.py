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


ENERGY = {"answer": "3.2e5", "unit": "J"}


@pytest.mark.parametrize(
    "answer",
    [
        "\\boxed{__import__('os').system('touch x') or 320000 J}",  # program text around the number
        "\\boxed{__import__('os').system('touch x') or 320000}",
        "\\boxed{eval('1') and 320 kJ}",
        "\\boxed{os.system('x'); 320 kJ}",
        "\\boxed{__import__ = 320000 J}",  # a "name =" prefix must not hide program text
        "\\boxed{about 320000 J or maybe 5}",  # other words around the number
        "\\boxed{about 320000 J}",
        "\\boxed{320000 \\text{ J (approximately)}}",
        "\\boxed{\\text{the answer is } 320000}",
        "Answer: 320000 J or 5",
        "\\boxed{320000 J 5 J}",  # several numbers
        "\\boxed{320000 5}",
        "\\boxed{5 or 320000 J}",
        "\\boxed{320 000 J 5}",
    ],
)
def test_anything_around_the_number_is_wrong(answer):
    r = verify_science(answer, ENERGY)
    assert r.status == Status.WRONG, r


@pytest.mark.parametrize(
    "answer",
    [
        "\\boxed{320 kJ}",
        "\\boxed{3.2 \\times 10^{5} J}",
        "\\boxed{3.2 \\cdot 10^{5} J}",
        "\\boxed{3.2e5}",
        "\\boxed{320000}",
        "\\boxed{\\text{320 kJ}}",
        "\\boxed{320\\text{ kJ}}",
        "\\boxed{320 \\mathrm{kJ}}",
        "\\boxed{320000\\,\\text{J}}",
        "\\boxed{3.2\\times10^{5}\\,\\mathrm{J}}",
        "\\boxed{320,000 J}",
        "\\boxed{320{,}000 J}",
        "\\boxed{320\\,000 J}",
        "\\boxed{E = 320 kJ}",
        "\\boxed{E \\approx 320 kJ}",
        "\\boxed{\\frac{640000}{2}}",
        "Answer: $320\\ \\text{kJ}$",
        "The answer is 320 kJ",
    ],
)
def test_a_number_with_an_optional_unit_is_still_read(answer):
    r = verify_science(answer, ENERGY)
    assert r.correct, r


def test_expressions_keep_their_value_and_words_do_not_slip_through():
    assert verify_science("\\boxed{2\\sqrt{3}}", "3.4641").correct
    assert verify_science("\\boxed{\\pi/2}", "1.5708").correct
    assert not verify_science(
        "\\boxed{\\approx 320 kJ}", {"answer": "320", "unit": "J"}
    ).correct  # kJ is not J


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("\\boxed{0.5 m/s}", True),
        ("\\boxed{50 cm/s}", True),  # converted
        ("The answer is 1/2 m/s", True),  # an expression with a plain unit
        ("\\boxed{\\frac{1}{2}\\,\\mathrm{m/s}}", True),
        ("\\boxed{(1/2) m/s}", True),
        ("\\boxed{0.6 m/s}", False),
        ("\\boxed{1/2 kg}", False),  # another dimension
        ("\\boxed{1/2 5}", False),  # two numbers
        ("\\boxed{1/2 m/s or so}", False),  # words around it
    ],
)
def test_a_reference_written_as_an_expression_is_a_number_with_its_unit(answer, ok):
    """Was: a reference answer ``1/2`` went to exact math equivalence, where no unit is converted, so
    ``0.5 m/s`` and ``50 cm/s`` were wrong for a reference of 1/2 m/s; and ``1/2 m/s`` (a plain unit
    after an expression) was wrong for any reference."""
    for reference in ({"answer": "1/2", "unit": "m/s"}, {"answer": "0.5", "unit": "m/s"}):
        assert verify_science(answer, reference).correct is ok, (answer, reference)
    assert not verify_science("\\boxed{0.505 m/s}", {"answer": "1/2", "unit": "m/s", "rel_tol": 0}).correct


@pytest.mark.parametrize(
    "answer,reference",
    [
        ("\\boxed{__import__('os').system('touch x') or x+1}", "x+1"),  # math fallback, non-numeric reference
        ("\\boxed{B: __import__('os').system('touch x')}", CHOICES),  # multiple choice
    ],
)
def test_program_text_never_passes_the_fallbacks(answer, reference):
    assert verify_science(answer, reference).status == Status.WRONG


@pytest.mark.parametrize(
    "reference,evidence",
    [
        ({"answer": "Q", "choices": ["a", "b", "c", "d"]}, {"answer": "Q", "choices": 4}),  # not a letter A-J
        ({"answer": "E", "choices": ["a", "b", "c", "d"]}, {"answer": "E", "choices": 4}),  # no 5th choice
        ({"answer": "wind", "choices": ["fire", "water", "air", "earth"]}, {"answer": "wind", "choices": 4}),
        ({"answer": "(F)", "choices": ["1 J", "2 J"]}, {"answer": "(F)", "choices": 2}),
    ],
)
def test_a_reference_with_choices_must_name_one_of_them(reference, evidence):
    check = check_reference(reference, "science")
    assert not check.ok and check.reason == "invalid_reference"
    assert {k: check.evidence[k] for k in evidence} == evidence and check.evidence["error"]
    for response in ("\\boxed{A}", "\\boxed{E}", "\\boxed{Q}", f"\\boxed{{{reference['answer']}}}"):
        r = verify_science(response, reference)
        assert r.status == Status.INVALID_REFERENCE and r.score == 0.0, r


def test_a_choice_text_as_reference_names_that_choice():
    reference = {"answer": "water", "choices": ["fire", "water", "air", "earth"]}
    assert check_reference(reference, "science").ok
    assert verify_science("\\boxed{B}", reference).correct
    assert verify_science("\\boxed{water}", reference).correct
    assert not verify_science("\\boxed{A}", reference).correct
