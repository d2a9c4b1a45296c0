"""``countdown``: reach ``target`` with ``+ - * /`` and parentheses, each given number at most once.

The expression is read by a small recursive-descent parser over exact ``Fraction`` values (no eval, no
sympy): integers, ``+ - * /``, parentheses; ``**``, decimals and names are rejected; nesting depth and
length are capped. ``12 * 8 = 96`` is read as its left side. Option ``use_all=True`` requires every number
to be used exactly once. A unary minus (``-5 + 3*4``, as sympy prints expressions) is read when the target
is not negative: any value v it reaches, the four operations reach |v| with the same numbers, so it
reaches no such target they can't; for a negative target it would (``-5`` from ``[5]``), so it is refused.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from fractions import Fraction
from itertools import combinations
from typing import Any

from ..common import clip, invalid_reference, no_answer
from ..registry import ReferenceCheck, register, register_reference_check
from ..result import Status, VerifyResult
from .common import game_answer

MAX_EXPR_CHARS = 1000
MAX_DEPTH = 100
_TOKEN_RE = re.compile(r"\s*(?:(\d+)|(.))")


class ExprError(ValueError):
    """The answer is not a valid countdown expression."""


def _normalize(expr: str) -> str:
    s = expr.replace("\\times", "*").replace("\\cdot", "*").replace("×", "*").replace("·", "*")
    s = (
        s.replace("\\div", "/")
        .replace("÷", "/")
        .replace("−", "-")
        .replace("\\left", "")
        .replace("\\right", "")
    )
    s = s.replace("\\(", "(").replace("\\)", ")").replace("{", "(").replace("}", ")").replace("$", "")
    s = re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", s)
    if "=" in s:  # "25*4-3 = 97": the expression is the left side
        s = s.split("=", 1)[0]
    return s.strip().rstrip(".")


class _Parser:
    def __init__(self, text: str, allow_unary: bool = False) -> None:
        self.allow_unary = allow_unary
        self.tokens: list[tuple[str, str]] = []
        for m in _TOKEN_RE.finditer(text):
            if m.group(1):
                self.tokens.append(("num", m.group(1)))
            elif m.group(2) and not m.group(2).isspace():
                ch = m.group(2)
                if ch not in "+-*/()":
                    raise ExprError(f"character {ch!r} is not allowed")
                self.tokens.append(("op", ch))
        self.pos = 0
        self.numbers: list[int] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def parse(self) -> Fraction:
        if not self.tokens:
            raise ExprError("empty expression")
        value = self.expr(0)
        if self.pos != len(self.tokens):
            raise ExprError(f"unexpected {self.peek()!r}")
        return value

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.atom(depth)
        while self.peek() in ("*", "/"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            if self.peek() in ("*", "/"):
                raise ExprError("'**' and '//' are not allowed")
            rhs = self.atom(depth)
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ExprError("division by zero")
            else:
                value /= rhs
        return value

    def atom(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise ExprError("parentheses or signs nested too deeply")
        if self.pos >= len(self.tokens):
            raise ExprError("expression ends early")
        kind, tok = self.tokens[self.pos]
        self.pos += 1
        if kind == "num":
            if len(tok) > 12:
                raise ExprError("number too long")
            self.numbers.append(int(tok))
            return Fraction(int(tok))
        if tok == "(":
            value = self.expr(depth + 1)
            if self.peek() != ")":
                raise ExprError("unbalanced parentheses")
            self.pos += 1
            return value
        if tok == "-" and self.allow_unary:
            return -self.atom(depth + 1)
        raise ExprError(f"unexpected {tok!r} (unary operators are not allowed)")


def evaluate(expr: str, *, allow_unary: bool = False) -> tuple[Fraction, list[int]]:
    """Exact value of a countdown expression and the numbers it uses; ExprError when invalid."""
    if len(expr) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    p = _Parser(_normalize(expr), allow_unary)
    return p.parse(), p.numbers


def _reference(reference: Any) -> tuple[list[int], int] | None:
    if not isinstance(reference, dict):
        return None
    nums, target = reference.get("numbers"), reference.get("target")
    if not isinstance(nums, list) or not nums or not all(type(n) is int and n >= 0 for n in nums):
        return None
    if type(target) is not int:
        return None
    return nums, target


@register("countdown")
def verify_countdown(
    response: str, reference: Any, *, use_all: bool = False, box: str = "last", **_ignored: Any
) -> VerifyResult:
    ref = _reference(reference)
    if ref is None:
        return invalid_reference(
            "countdown reference needs 'numbers' (non-negative ints) and an int 'target'"
        )
    nums, target = ref
    answer, source = game_answer(response, box)
    if not answer:
        return no_answer(source)
    line = answer.strip().splitlines()[-1] if source == "text" else answer
    try:
        value, used = evaluate(line, allow_unary=target >= 0)
    except ExprError as e:
        return VerifyResult.make(Status.WRONG, extracted=clip(line), reason=f"invalid expression: {e}")
    extra = Counter(used) - Counter(nums)
    if extra:
        return VerifyResult.make(
            Status.WRONG,
            extracted=clip(line),
            reason=f"uses numbers not given (or more often than given): {sorted(extra.elements())}",
        )
    if use_all and Counter(used) != Counter(nums):
        return VerifyResult.make(Status.WRONG, extracted=clip(line), reason="does not use every number")
    ok = value == target
    return VerifyResult.make(
        Status.CORRECT if ok else Status.WRONG,
        extracted=clip(line),
        reason=f"expression = {value}, target {target}",
        value=str(value),
    )


# search steps the reference checker may spend: an exhaustive search over 5 numbers takes about 83,000
# (0.3 s), over 6 numbers 2.75 million (13 s); with more numbers the reference is left unchecked
SOLVE_BUDGET = 100_000


def solve(
    numbers: list[int], target: int, *, use_all: bool = False, budget: int = SOLVE_BUDGET
) -> str | None:
    """An expression reaching ``target`` (None if there is none); raises TimeoutError past ``budget``
    search steps. Combines pairs of values until one value is left (memoised on the multiset)."""
    seen: set[tuple] = set()
    steps = 0

    def rec(items: list[tuple[Fraction, str]]) -> str | None:
        nonlocal steps
        steps += 1
        if steps > budget:
            raise TimeoutError("search budget exhausted")
        if not use_all or len(items) == 1:
            for v, e in items:
                if v == target:
                    return e
        if len(items) == 1:
            return None
        key = tuple(sorted(v for v, _ in items))
        if key in seen:
            return None
        seen.add(key)
        for i, j in combinations(range(len(items)), 2):
            (a, ea), (b, eb) = items[i], items[j]
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            cands = [(a + b, f"({ea} + {eb})"), (a * b, f"{ea} * {eb}")]
            cands += [(a - b, f"({ea} - {eb})"), (b - a, f"({eb} - {ea})")]
            if b:
                cands.append((a / b, f"{ea} / ({eb})"))
            if a:
                cands.append((b / a, f"{eb} / ({ea})"))
            for v, e in cands:
                found = rec([*rest, (v, e)])
                if found:
                    return found
        return None

    return rec([(Fraction(n), str(n)) for n in numbers])


@register_reference_check("countdown")
def check_countdown_reference(reference: Any, *, use_all: bool = False, **_ignored: Any) -> ReferenceCheck:
    ref = _reference(reference)
    if ref is None:
        return ReferenceCheck(
            False, "invalid_reference", {"error": "needs int list 'numbers' and int 'target'"}
        )
    nums, target = ref
    try:
        expr = solve(nums, target, use_all=use_all)
    except TimeoutError:
        return ReferenceCheck(True, "", {"checked": False, "why": "too many numbers to search exhaustively"})
    if expr is None:
        return ReferenceCheck(
            False, "reference_failed", {"error": "target is not reachable", "target": target}
        )
    return ReferenceCheck(True, "", {"solution": expr})


def generate(
    rng: random.Random,
    *,
    n_numbers: int = 4,
    max_number: int = 100,
    min_target: int = 10,
    max_target: int = 1000,
) -> dict[str, Any]:
    """A solvable puzzle: random numbers combined by random operations into an integer target."""
    while True:
        nums = [rng.randint(1, max_number) for _ in range(n_numbers)]
        values = [(Fraction(n), str(n)) for n in nums]
        rng.shuffle(values)
        value, expr = values[0]
        for v, e in values[1 : rng.randint(2, n_numbers)]:
            op = rng.choice("+-*/")
            if op == "/" and (v == 0 or (value / v).denominator != 1):
                op = "+"
            if op == "-" and value - v < 0:
                value, expr, v, e = v, e, value, expr
            value = {"+": value + v, "-": value - v, "*": value * v, "/": value / v if v else value}[op]
            expr = f"({expr} {op} {e})"
        if value.denominator == 1 and min_target <= value <= max_target:
            break
    target = int(value)
    prompt = (
        f"Using the numbers {nums}, create an expression that equals {target}. You may use + - * / and "
        "parentheses, and each number at most once. Put the final expression in \\boxed{}."
    )
    return {
        "prompt": prompt,
        "reference": {"numbers": nums, "target": target},
        "meta": {"example_solution": expr, "n_numbers": n_numbers},
    }
