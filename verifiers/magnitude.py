"""Size estimates for a LaTeX answer, computed before anything evaluates it.

sympy evaluates ``10^{10^{10}}`` or ``100000000!`` exactly and never returns; expanding
``(x+1)^{100000}`` takes minutes. A policy that learns to emit such text would stall every reward batch
it lands in, each item costing the full worker timeout and a worker restart. ``too_big(answer)`` reads
the answer with a small recursive-descent reader (numbers, groups, ``^``, ``!``, ``\\frac``, ``\\sqrt``,
the arithmetic operators; linear in the answer's length) and bounds the number of decimal digits every
power and factorial would produce. Notation it does not know (a symbol, a function, a matrix) counts as
a value of about 1, so it never makes a normal answer look big; the worker timeout stays the backstop.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

# exact results beyond this many digits are not computed (sympy: milliseconds at 10^5 digits, minutes
# past 10^8); 2^{100000} (30,103 digits) is still evaluated
MAX_DIGITS = 100_000
# a power of a symbolic sum is expanded when compared: (x+1)^{1000} against (x+2)^{1000} takes 5 s,
# (x+1)^{100} 0.2 s; a power of one symbol is cheap, up to a point
MAX_SUM_EXPONENT = 200
MAX_SYMBOL_EXPONENT = 1_000_000
# groups nested deeper than this are not an answer: sympy's cost doubles with every level of nested
# unevaluated operations (\frac{\frac{..+1}{3}+1}{3} 14 deep takes seconds, 20 deep minutes; x^{x^{..}}
# and ((..)) are slower than linear too); real answers nest at most 6 deep (Math-Verify's test suite)
MAX_DEPTH = 10
# bare braces are sets to math-verify, and comparing sets nested d deep costs about 1.7^d (sympy
# re-evaluates every inner set while sorting): 16 deep takes seconds, 20 deep minutes. No answer nests
# sets this deep; escaped \{ \} and command arguments (\frac{..}, ^{..}) do not count.
MAX_SET_DEPTH = 8

# a number may carry a scientific exponent: 9.99E677739 has 677,740 digits (math reads "1e6" as 10^6)
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TOKEN_RE = re.compile(rf"\s*(?:({_NUMBER})|(\\[A-Za-z]+)|([A-Za-z])|(\S))")
_NUMBER_RE = re.compile(_NUMBER)
_SKIPPED = {"\\left", "\\right", "\\displaystyle", "\\big", "\\Big"}
_TIMES = {"\\cdot", "\\times", "*"}
_CLOSERS = {"}", ")", "]", ",", "=", "&", "<", ">", ";"}
_PAIRS = {"{": "}", "(": ")", "[": "]"}


class _TooDeep(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Size(NamedTuple):
    """What the reader knows of a subexpression: log10 of an upper bound on the size of its exact value
    (the bigger of numerator and denominator), whether it holds a symbol, whether it is a sum, and an
    upper bound on its degree as a polynomial in its symbols."""

    mag: float = 0.0
    symbolic: bool = False
    is_sum: bool = False
    degree: float = 0.0


def _literal_size(number: str) -> float:
    """log10 of the size of a decimal literal as an exact fraction: ``0.125`` is 125/1000, so 3;
    ``2.5e-7`` is 25/10^8, so 8."""
    number, _, exponent = number.lower().partition("e")
    if exponent:
        digits = exponent.lstrip("+-").lstrip("0")
        scale = math.inf if len(digits) > 300 else float(int(digits or "0"))
        return _literal_size(number) + scale
    whole, _, frac = number.partition(".")
    digits = (whole + frac).lstrip("0")
    if len(digits) > 300:
        return float(len(digits))
    value = math.log10(int(digits)) if digits else 0.0
    return max(value, float(len(frac)))


def _pow10(mag: float) -> float:
    return 10.0**mag if mag < 300 else math.inf


class _Reader:
    """Recursive descent over the tokens; the biggest power or factorial seen is kept in ``digits``,
    the biggest degree a power of a symbol reaches in ``symbol_exponent`` and a power of a symbolic sum
    in ``sum_exponent`` (the exponent times the base's degree: nested powers multiply)."""

    def __init__(self, text: str):
        toks = (m.group(m.lastindex) for m in _TOKEN_RE.finditer(text))
        self.toks = ["\\frac" if t in ("\\dfrac", "\\tfrac") else t for t in toks if t not in _SKIPPED]
        self.i = 0
        self.depth = 0
        self.set_depth = 0
        self.digits = 0.0
        self.symbol_exponent = 0.0
        self.sum_exponent = 0.0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.i += 1
        return tok

    def expr(self) -> _Size:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep(f"groups nested more than {MAX_DEPTH} deep")
        out = self.term()
        while self.peek() in ("+", "-", "\\pm", "\\mp"):
            self.take()
            more = self.term()
            mag = max(out.mag, more.mag) + math.log10(2)
            out = _Size(mag, out.symbolic or more.symbolic, True, max(out.degree, more.degree))
        self.depth -= 1
        return out

    def term(self) -> _Size:
        factors: list[_Size] = []
        while True:
            tok = self.peek()
            if tok is None or tok in _CLOSERS or (tok in ("+", "-", "\\pm", "\\mp") and factors):
                break
            if tok in _TIMES or tok == "/":
                self.take()  # an exact quotient's size is at most the sum of both sizes, like a product
                continue
            factors.append(self.factor())
        if len(factors) == 1:
            return factors[0]  # "((x+1))" is still a sum
        return _Size(
            sum(f.mag for f in factors),
            any(f.symbolic for f in factors),
            False,
            sum(f.degree for f in factors),
        )

    def factor(self) -> _Size:
        if self.peek() in ("+", "-"):
            self.take()
        out = self.primary()
        while True:
            tok = self.peek()
            if tok == "!":
                self.take()
                n = _pow10(out.mag)
                digits = n * math.log10(n) if n > 1 else 0.0  # log10(n!) <= n log10 n
                self.digits = max(self.digits, digits)
                out = _Size(digits, out.symbolic, False, out.degree)
            elif tok == "^":
                self.take()
                exp = self.argument()
                exponent = _pow10(exp.mag)
                degree = max(out.degree, 1.0) * exponent if out.symbolic else 0.0
                if out.symbolic:  # the degree counts: ((x+1)^2+x)^2... nested 9 deep expands to 2^9
                    if out.is_sum:
                        self.sum_exponent = max(self.sum_exponent, degree)
                    else:
                        self.symbol_exponent = max(self.symbol_exponent, degree)
                digits = exponent * out.mag  # a base of size 1 (0, 1, x) does not grow
                self.digits = max(self.digits, digits)
                out = _Size(digits, out.symbolic or exp.symbolic, False, degree)
            elif tok == "_":  # a subscript names a symbol: x_{10^{10}} is not a big value
                self.take()
                self.argument()
                out = _Size(out.mag, True, False, max(out.degree, 1.0))
            else:
                return out

    def argument(self) -> _Size:
        """A ``{group}`` or one token (``2^10`` is read as 2^{10}: an upper bound either way)."""
        if self.peek() == "{":
            return self.group()
        return self.atom(self.take())

    def atom(self, tok: str | None) -> _Size:
        if tok is None:
            return _Size()
        if _NUMBER_RE.fullmatch(tok):
            mag = _literal_size(tok)
            if "e" in tok or "E" in tok:  # the only literal whose size the answer's length does not bound
                self.digits = max(self.digits, mag)
            return _Size(mag)
        symbolic = tok[:1].isalpha() or tok.startswith("\\")
        return _Size(0.0, symbolic, False, 1.0 if symbolic else 0.0)

    def group(self) -> _Size:
        closer = _PAIRS[self.take()]
        out = self.expr()
        while self.peek() is not None and self.peek() != closer:  # "(1, 10^{10^{10}})": read every part
            self.take()
            more = self.expr()
            out = _Size(
                max(out.mag, more.mag),
                out.symbolic or more.symbolic,
                out.is_sum,
                max(out.degree, more.degree),
            )
        self.take()
        return out

    def primary(self) -> _Size:
        tok = self.peek()
        if tok == "{" and (self.i == 0 or self.toks[self.i - 1] != "\\"):  # a bare brace: a set
            self.set_depth += 1
            if self.set_depth > MAX_SET_DEPTH:
                raise _TooDeep(f"braces nested more than {MAX_SET_DEPTH} deep")
            out = self.group()
            self.set_depth -= 1
            return out
        if tok in _PAIRS:
            return self.group()
        self.take()
        if tok == "\\frac":
            num, den = self.argument(), self.argument()
            return _Size(
                num.mag + den.mag,
                num.symbolic or den.symbolic,
                num.is_sum or den.is_sum,
                num.degree + den.degree,
            )
        if tok == "\\sqrt":
            if self.peek() == "[":
                self.group()
            return self.argument()
        return self.atom(tok)


def size_estimate(answer: str) -> tuple[float, float, float]:
    """(digits of the biggest power or factorial in ``answer``, biggest exponent of a symbol, biggest
    exponent of a symbolic sum). Raises ``ValueError`` when groups nest deeper than ``MAX_DEPTH`` or
    bare braces deeper than ``MAX_SET_DEPTH``."""
    reader = _Reader(answer)
    try:
        while reader.peek() is not None:
            before = reader.i
            reader.expr()
            if reader.i == before:
                reader.take()  # a separator or stray closer at the top level: read on
    except _TooDeep as e:
        raise ValueError(e.why) from None
    return reader.digits, reader.symbol_exponent, reader.sum_exponent


def too_big(answer: str) -> str | None:
    """Why ``answer`` must not be evaluated, in words, or None when it is safe to hand to sympy."""
    try:
        digits, symbol_exponent, sum_exponent = size_estimate(answer)
    except ValueError as e:
        return str(e)
    if digits > MAX_DIGITS:
        size = "more than 10^300" if digits > 1e300 else f"about {digits:.3g}"
        return f"its exact value would have {size} digits (limit {MAX_DIGITS:,})"
    if sum_exponent > MAX_SUM_EXPONENT:
        return f"it raises a symbolic sum to degree about {sum_exponent:.3g} (limit {MAX_SUM_EXPONENT:,})"
    if symbol_exponent > MAX_SYMBOL_EXPONENT:
        return f"it raises a symbol to degree about {symbol_exponent:.3g} (limit {MAX_SYMBOL_EXPONENT:,})"
    return None
