"""Pure comparison of a program's output with the expected one (docs/architecture.md §4).

stdin/stdout: whole outputs, line by line; leading and trailing blank lines and the whitespace around
and between tokens are ignored; the line count must match (never a prefix). A token equals the
expected one when the text is the same, or when both lines are all numbers and the values are exactly
equal (``5.0``, ``05``, ``+5``, ``1e+18`` for an integer; what LiveCodeBench's grader accepts).
A token with a decimal point or an exponent in the expected output also matches within ``float_tol``
(relative, see ``_close``). Function-call results compare as JSON values: an integer expected value
exactly (``True`` counts as ``1``, as in Python), a float one with the same float rule.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_FLOAT_TOL = 1e-9
MAX_NUMBER_CHARS = 10_000  # longer tokens compare as text only: bounded parse time
MAX_EXPONENT = 10_000  # |adjusted exponent|: far beyond any answer; abs(Decimal("1e999999999")) overflows
EXACT_FLOAT_INTS = 2.0**53  # below this a double holds every integer, so whole numbers mean something


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    start = next((i for i, line in enumerate(lines) if line), len(lines))
    while len(lines) > start and not lines[-1]:
        lines.pop()
    return lines[start:]


def _number(tok: str) -> Decimal | None:
    """The exact value of a numeric token, or None (not a number, NaN, or implausibly large)."""
    if len(tok) > MAX_NUMBER_CHARS:
        return None
    try:
        d = Decimal(tok)
    except (InvalidOperation, ValueError):
        return None
    if d.is_nan() or (d.is_finite() and abs(d.adjusted()) > MAX_EXPONENT):
        return None
    return d


def _is_float_literal(tok: str) -> bool:
    return any(c in tok for c in ".eE")


def _close(got: float, want: float, tol: float) -> bool:
    """Relative float tolerance. An expected whole number that a double holds exactly (``2e9``,
    ``2000000000.0``) is an integer answer printed as a float: noise is forgiven, but the printed
    value must still round to it, so the tolerance (2 at 2e9) never accepts an off-by-one."""
    if not (math.isfinite(got) and math.isfinite(want)):
        return False
    err = abs(got - want)
    if err > tol * max(1.0, abs(want)):
        return False
    return err < 0.5 or not (want.is_integer() and abs(want) < EXACT_FLOAT_INTS)


def _token_equal(
    got: str, want: str, g: Decimal | None, w: Decimal | None, numeric: bool, tol: float
) -> bool:
    if got == want:
        return True
    if g is None or w is None:
        return False
    if numeric and g == w:  # exact value, only on all-number lines (as LiveCodeBench)
        return True
    return _is_float_literal(want) and _close(float(g), float(w), tol)


def _line_equal(got: str, want: str, tol: float) -> bool:
    tg, tw = got.split(), want.split()
    if len(tg) != len(tw):
        return False
    ng, nw = [_number(t) for t in tg], [_number(t) for t in tw]
    numeric = None not in ng and None not in nw
    return all(_token_equal(*z, numeric, tol) for z in zip(tg, tw, ng, nw))


def compare_output(got: str, want: str, float_tol: float = DEFAULT_FLOAT_TOL) -> tuple[bool, str]:
    """(equal?, why not) for two whole stdout texts."""
    g, w = _lines(got), _lines(want)
    if len(g) != len(w):
        return False, f"printed {len(g)} lines, expected {len(w)}"
    for i, (a, b) in enumerate(zip(g, w), 1):
        if a != b and not _line_equal(a, b, float_tol):
            return False, f"line {i}: got {a.strip()[:80]!r}, expected {b.strip()[:80]!r}"
    return True, ""


def _numbers_equal(got: int | float, want: int | float, tol: float) -> bool:
    if got == want:  # exact across int/float/bool, as Python (and LiveCodeBench) compare
        return True
    if not isinstance(want, float):  # an integer answer: no tolerance
        return False
    try:
        return _close(float(got), want, tol)
    except OverflowError:  # an int beyond float range is no near miss
        return False


def values_equal(got: Any, want: Any, float_tol: float = DEFAULT_FLOAT_TOL) -> bool:
    """JSON-value equality (tuples already became lists). ``bool`` is an ``int`` here as in Python:
    ``True`` equals ``1`` (LiveCodeBench's ``==`` accepts it, and so do assert-style tests)."""
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return _numbers_equal(got, want, float_tol)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(values_equal(a, b, float_tol) for a, b in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(values_equal(got[k], want[k], float_tol) for k in want)
    return type(got) is type(want) and got == want
