"""The code verifier's output comparison against LiveCodeBench's grader on formatting variants.

Each row holds what LiveCodeBench's grader (its testing utilities) decides, derived by
reading it: stdout is ``.strip()``-ed whole, split on ``\\n``, each line ``.strip()``-ed; the line
counts must match; a line passes when its text is equal, or when both lines convert token by token
(``line.split()``) to ``decimal.Decimal`` and the two lists are equal (exact values, no tolerance; a
line with any non-number token must match as text). Function-call results pass when
``prediction == expected`` in Python (a top-level tuple first becomes a list).

We must accept every pair LiveCodeBench accepts, and may accept a pair it rejects only through a
documented leniency: ``WS`` (whitespace inside lines that are not all numbers), ``FLOAT`` (float
noise within ``float_tol``), ``JSON`` (function results travel as JSON).
"""

from __future__ import annotations

import json

import pytest

from verifiers.code_compare import compare_output, values_equal

WS, FLOAT, JSON = "whitespace", "float", "json"

# (expected, printed, LiveCodeBench accepts?, our leniency when it does not)
STDIO = [
    # integers printed another way: equal Decimal values on an all-number line
    ("5", "5.0", True, None),  # print(a / b)
    ("5", "5.000", True, None),
    ("5", "5.", True, None),
    ("5", "05", True, None),
    ("5", "+5", True, None),
    ("0", "-0", True, None),
    ("0", "-0.0", True, None),
    ("1000000000000000000", "1e+18", True, None),
    ("1000000000000000000", "1E18", True, None),
    ("1000000000000000000", "1000000000000000000.0", True, None),
    ("10000000000000000000000", "1e22", True, None),  # beyond float precision, still exact
    ("2000000000", "2e9", True, None),
    ("1000", "1_000", True, None),  # Decimal reads underscores
    ("1 2 3", "1.0 2 3.00", True, None),
    ("-7 8", "-7.0 +8", True, None),
    # floats with the same exact value
    ("0.5", "0.50", True, None),
    ("0.5", ".5", True, None),
    ("0.00001", "1e-5", True, None),
    ("5.0", "5", True, None),
    ("inf", "Infinity", True, None),  # Decimal('inf') == Decimal('Infinity')
    # blank lines and whitespace
    ("5", "\n\n5", True, None),  # leading blank lines are stripped
    ("1\n2", "\n \t\n1\n2\n\n", True, None),
    ("\n5\n", "5", True, None),
    ("5", "   5   ", True, None),
    ("1 2", "1   2", True, None),  # inner whitespace: fine on an all-number line
    ("1 2", "1\t2", True, None),
    ("a\nb", "a\r\nb\r\n", True, None),
    ("Yes", "Yes", True, None),
    ("", "", True, None),
    ("", "\n\n", True, None),
    # rejected by both
    ("5", "5.1", False, None),
    ("5", "4.9999999999", False, None),  # an integer answer gets no tolerance
    ("5", "5.0000000001", False, None),
    ("1000000000000000001", "1e+18", False, None),  # equal as floats, not as values
    ("2000000000.0", "2000000001.0", False, None),  # the relative tolerance (2 here) is no excuse
    ("2000000000.0", "2000000001", False, None),
    ("2e9", "2000000001.0", False, None),
    ("2000000000.0", "2000000000.7", False, None),  # does not round to the integer answer
    ("2000000000.0", "2000000001.0000001", False, None),
    ("Yes 5", "Yes 5.0", False, None),  # a line with words: numbers must match as text
    ("Case #1: 0", "Case #1: -0", False, None),
    ("nan", "NaN", False, None),  # NaN != NaN
    ("5", "0x5", False, None),
    ("5", "1e999999999", False, None),
    ("1", "True", False, None),
    ("yes", "YES", False, None),
    ("12", "1 2", False, None),
    ("0", "", False, None),
    ("1\n2", "1\n2\n3", False, None),
    ("1\n2\n3", "1\n2", False, None),  # a prefix is not the output
    ("1\n2\n3", "\n1\n2", False, None),  # nor is it with leading blank lines
    ("1\n2", "1\n\n2", False, None),  # blank lines inside count
    ("5", "5\n5", False, None),
    # our documented leniency
    ("a b", "a  b", False, WS),  # LiveCodeBench: text lines must match exactly
    ("Yes 1 2", "Yes\t1 2", False, WS),
    ("0.333333333", "0.3333333333333333", False, FLOAT),
    ("0.3", "0.30000000000000004", False, FLOAT),
    ("x 0.5", "x 0.5000000000001", False, FLOAT),
    ("x 5.0", "x 5", False, FLOAT),  # a float-expected token matches by value on any line
    ("2000000000.0", "2000000000.0000002", False, FLOAT),  # noise, rounds to the answer
    ("1e20", "100000000000000016384", False, FLOAT),  # beyond 2**53 whole numbers are noise too
]


def _id(value):
    return repr(value)[:24]


@pytest.mark.parametrize("want,got,lcb,leniency", STDIO, ids=_id)
def test_stdout_never_stricter_and_only_documented_looser_than_livecodebench(want, got, lcb, leniency):
    ours = compare_output(got, want)[0]
    assert lcb or leniency or not ours, "accepted a pair LiveCodeBench rejects"
    assert ours == (lcb or leniency is not None)


def _returned(value):
    """What the verifier sees of a return value: the call driver sends it as JSON."""
    return json.loads(json.dumps(value, default=repr))


# (expected JSON value, returned Python value, LiveCodeBench accepts?, our leniency)
CALLS = [
    (1, True, True, None),  # bool is int: True == 1 (decision: accept, as LiveCodeBench and asserts)
    (0, False, True, None),
    (True, 1, True, None),
    ([1, 0], [True, False], True, None),
    (5, 5.0, True, None),
    (5.0, 5, True, None),
    ([1, 2], (1, 2), True, None),  # a top-level tuple is a list
    (10**18, 1e18, True, None),
    (10**18 + 1, 1e18, False, None),  # Python compares int and float exactly
    (5, 5.0000000001, False, None),  # an integer answer gets no tolerance
    (2e9, 2000000001.0, False, None),
    (2e9, 2000000001, False, None),
    (1, "1", False, None),
    (0, None, False, None),
    (1.5, 10**400, False, None),
    (0.3, 0.1 + 0.2, False, FLOAT),
    ([0.1, 2.0], [0.1, 2.0000000001], False, FLOAT),
    ([[1, 2]], [(1, 2)], False, JSON),  # LiveCodeBench converts only a top-level tuple
    ({"1": 2}, {1: 2}, False, JSON),  # JSON keys are strings
]


@pytest.mark.parametrize("want,got,lcb,leniency", CALLS, ids=_id)
def test_function_results_never_stricter_and_only_documented_looser(want, got, lcb, leniency):
    ours = values_equal(_returned(got), want)
    assert lcb or leniency or not ours, "accepted a result LiveCodeBench rejects"
    assert ours == (lcb or leniency is not None)


def test_hostile_numbers_stay_cheap_and_unequal():
    assert not compare_output("1e999999999 1e-999999999", "1 0")[0]
    assert not compare_output("9" * 20_000, "1")[0]
    assert compare_output("9" * 20_000, "9" * 20_000)[0]  # still equal as text
    assert not compare_output("sNaN", "1")[0] and not compare_output("1", "sNaN")[0]
