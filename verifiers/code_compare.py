"""Pure comparison of a program's output with the expected one (ARCHITECTURE.md §4).

stdin/stdout: whole outputs, line by line, whitespace-tolerant (tokens), trailing blank lines
ignored, never a prefix. Integer tokens compare exactly; a token with a decimal point or an
exponent compares within ``float_tol``: ``|got - want| <= float_tol * max(1, |want|)``.
Function-call results compare as JSON values with the same float rule.
"""

from __future__ import annotations

import math
from typing import Any

DEFAULT_FLOAT_TOL = 1e-9


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _is_float_token(tok: str) -> bool:
    return any(c in tok for c in ".eE") and _as_float(tok) is not None


def _as_float(tok: str) -> float | None:
    try:
        x = float(tok)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _close(got: float, want: float, tol: float) -> bool:
    return abs(got - want) <= tol * max(1.0, abs(want))


def _token_equal(got: str, want: str, tol: float) -> bool:
    if got == want:
        return True
    if not _is_float_token(want):
        return False
    g = _as_float(got)
    return g is not None and _close(g, float(want), tol)


def compare_output(got: str, want: str, float_tol: float = DEFAULT_FLOAT_TOL) -> tuple[bool, str]:
    """(equal?, why not) for two whole stdout texts."""
    g, w = _lines(got), _lines(want)
    if len(g) != len(w):
        return False, f"printed {len(g)} lines, expected {len(w)}"
    for i, (a, b) in enumerate(zip(g, w), 1):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb) or not all(_token_equal(x, y, float_tol) for x, y in zip(ta, tb)):
            return False, f"line {i}: got {a[:80]!r}, expected {b[:80]!r}"
    return True, ""


def values_equal(got: Any, want: Any, float_tol: float = DEFAULT_FLOAT_TOL) -> bool:
    """JSON-value equality (tuples already became lists); floats within ``float_tol``."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if isinstance(want, int) and isinstance(got, int):
            return got == want
        return math.isfinite(got) and math.isfinite(want) and _close(float(got), float(want), float_tol)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(values_equal(a, b, float_tol) for a, b in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(values_equal(got[k], want[k], float_tol) for k in want)
    return type(got) is type(want) and got == want
