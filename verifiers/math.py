"""``math``: exact equivalence of the final answer with the reference, built on math-verify + sympy.

Policy (docs/verifiers.md lists every case with examples):
- the answer is the last ``\\boxed{}`` (option ``box="first"``), then ``<answer>``, then an "Answer:" line,
  then a bare one-line response; only that answer is parsed, so several boxes are never merged;
- ``1e6`` / ``2.5E-3`` are numbers (math-verify reads ``e`` as Euler's number);
- ``1,000``, ``1{,}000``, ``1\\,000`` are one number; ``1,2`` / ``1, 000`` are lists;
- percent signs are dropped on both sides: ``10\\%`` == ``10``; ``0.1`` and ``1000`` are not ``10\\%``;
- a mixed number ``2\\frac{1}{2}`` / ``2 1/2`` is 5/2;
- words (``\\text{Evelyn}``, ``Monday``) compare as case-insensitive text, never as symbol products;
- exact values are compared exactly: ``1/2004!`` is not ``1/2006!`` (math-verify rounds them to 0);
- everything else (sets, intervals, tuples, matrices, equations ``x=3`` ~ ``3``, degrees, units in
  ``\\text{}``, symbolic equivalence) is math-verify's grader with its own timeouts off (the worker
  process enforces the deadline).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from math_verify import parse as mv_parse
from math_verify import verify as mv_verify

from .common import answer_field, clip, invalid_reference, no_answer
from .extract import extract_answer, strip_noise, unwrap_text
from .registry import ReferenceCheck, register, register_reference_check
from .result import Status, VerifyResult

# math-verify logs a warning on every call with timeouts disabled; the worker process is our timeout
logging.getLogger("math_verify").setLevel(logging.ERROR)

MAX_ANSWER_CHARS = 1000  # longer "answers" are rambling, not a final answer (and slow to parse)
MAX_BARE_ANSWER_CHARS = 120  # a response with no marker is taken whole only when it is this short

_SCI_RE = re.compile(r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)\s*[eE]\s*([+-]?\d{1,4})(?![\w.])")
_THOUSANDS_RE = re.compile(r"(?<![\d.,(\[{])(\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+)(\.\d+)?(?![\d,])")
_SPACE_THOUSANDS_RE = re.compile(r"^(\d{1,3}(?: \d{3})+)(\.\d+)?$")
_PERCENT_RE = re.compile(r"\\%|%|\\text\{\s*percent\s*\}|\s*percent\b", re.IGNORECASE)
_MIXED_RE = re.compile(r"^(-?)(\d+)\s*(?:\\frac\{(\d+)\}\{(\d+)\}|\s(\d+)/(\d+))$")
# program text that math-verify would partially parse (``__import__(..) or 2`` -> 2); never a math answer
_CODE_RE = re.compile(
    r"__|\b(?:import|lambda|exec|eval|open|system|subprocess)\b\s*\(|\.[A-Za-z_]\w*\(|\bimport\s"
)
_WORDS_RE = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")
_MATH_WORDS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "inf", "infty",
    "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "max", "min", "det", "gcd", "lcm", "mod",
}  # fmt: skip


def normalize_answer(s: str) -> str:
    """Rewrite the notations math-verify misreads (see the module docstring) before parsing."""
    s = _THOUSANDS_RE.sub(lambda m: re.sub(r"\{,\}|\\,|,", "", m.group(1)) + (m.group(2) or ""), s)
    s = strip_noise(s)
    m = _SPACE_THOUSANDS_RE.match(s)
    if m:
        s = m.group(1).replace(" ", "") + (m.group(2) or "")
    s = _PERCENT_RE.sub("", s).strip()
    s = _SCI_RE.sub(lambda m: f"{m.group(1)}\\times10^{{{m.group(2)}}}", s)
    m = _MIXED_RE.match(s)
    if m:
        sign, whole = m.group(1), m.group(2)
        num, den = (m.group(3), m.group(4)) if m.group(3) else (m.group(5), m.group(6))
        s = f"{sign}\\frac{{{int(whole) * int(den) + int(num)}}}{{{den}}}"
    return s


def as_text(s: str) -> str | None:
    """The answer as plain words (lower-cased, spaces collapsed) when it is one, else None."""
    t = unwrap_text(s).strip().strip(".")
    if not _WORDS_RE.match(t):
        return None
    words = t.lower().replace("-", " ").split()
    if not any(len(w) >= 3 and w not in _MATH_WORDS for w in words):
        return None  # "x", "ab", "sin": math, not text
    return " ".join(words)


@lru_cache(maxsize=4096)
def _parse(s: str) -> tuple:
    return tuple(mv_parse(f"\\boxed{{{s}}}", parsing_timeout=None))


@lru_cache(maxsize=4096)
def _parse_text(s: str) -> tuple:
    return tuple(mv_parse(s, parsing_timeout=None))


def _exact_mismatch(gold: Any, pred: Any) -> bool:
    """True when both sides are exact numbers (no floats) that differ, however tiny the difference."""
    try:
        import sympy

        if not (isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr)):
            return False
        if not (gold.is_number and pred.is_number) or gold.has(sympy.Float) or pred.has(sympy.Float):
            return False
        diff = (gold - pred).evalf(60)
        scale = max(abs(gold.evalf(60)), abs(pred.evalf(60)))
        return bool(diff != 0 and scale != 0 and abs(diff) > scale * sympy.Float("1e-40"))
    except Exception:
        return False


def equivalent(gold_answer: str, pred_answer: str, *, float_rounding: int = 6, bare: bool = False) -> bool:
    """Whether two answer strings are the same mathematical answer (the core of the domain)."""
    g, p = normalize_answer(gold_answer), normalize_answer(pred_answer)
    if g == p:
        return True
    gt, pt = as_text(g), as_text(p)
    if gt is not None and pt is not None:
        return gt == pt
    gold = _parse(g)
    # a bare sentence goes through math-verify's own extraction; a bare short answer ("1e6") is normalised
    pred = _parse_text(pred_answer) if bare and len(pred_answer.split()) > 3 else _parse(p)
    if not gold or not pred:
        return False
    ok = mv_verify(list(gold), list(pred), float_rounding=float_rounding, timeout_seconds=None)
    if ok and _exact_mismatch(gold[0], pred[0]):
        return False
    return bool(ok)


def _looks_like_an_answer(text: str) -> bool:
    """A bare response (no box, tag or "Answer:") counts only if it is a short word answer or parses."""
    words = as_text(normalize_answer(text))
    if words is not None:
        return len(words.split()) <= 3
    return bool(_parse_text(text))


@register("math")
def verify_math(
    response: str, reference: Any, *, box: str = "last", float_rounding: int = 6, **_ignored: Any
) -> VerifyResult:
    gold = answer_field(reference)
    if gold is None:
        return invalid_reference("math reference needs a non-empty 'answer' string")
    ext = extract_answer(response, box=box, text_fallback=True, max_text_chars=MAX_BARE_ANSWER_CHARS)
    if ext.answer is None or not ext.answer.strip():
        return no_answer(ext.source)
    answer = ext.answer
    if len(answer) > MAX_ANSWER_CHARS:
        return VerifyResult.make(
            Status.WRONG,
            extracted=clip(answer),
            reason=f"answer is {len(answer)} characters long (limit {MAX_ANSWER_CHARS})",
            source=ext.source,
        )
    if _CODE_RE.search(answer):
        return VerifyResult.make(
            Status.WRONG, extracted=clip(answer), reason="answer looks like code, not math", source=ext.source
        )
    bare = ext.source == "text"
    if bare and not _looks_like_an_answer(answer):
        return no_answer("none")
    ok = equivalent(gold, answer, float_rounding=float_rounding, bare=bare)
    return VerifyResult.make(
        Status.CORRECT if ok else Status.WRONG,
        extracted=clip(answer),
        reason="answer equals the reference" if ok else f"answer {clip(answer, 80)!r} != reference {gold!r}",
        source=ext.source,
    )


@register_reference_check("math")
def check_math_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    gold = answer_field(reference)
    if gold is None:
        return ReferenceCheck(False, "invalid_reference", {"error": "missing or empty 'answer'"})
    unescaped = re.sub(r"\\[{}]", "", gold)
    if unescaped.count("{") != unescaped.count("}"):
        return ReferenceCheck(False, "invalid_reference", {"error": "unbalanced braces", "answer": gold})
    g = normalize_answer(gold)
    if as_text(g) is not None:
        return ReferenceCheck(True, "", {"kind": "text"})
    parsed = _parse(g)
    if not parsed:
        return ReferenceCheck(False, "invalid_reference", {"error": "answer does not parse", "answer": gold})
    if not mv_verify(list(parsed), list(parsed), timeout_seconds=None):
        return ReferenceCheck(
            False, "reference_failed", {"error": "answer is not equal to itself", "answer": gold}
        )
    return ReferenceCheck(True, "", {"kind": "math"})


_parse("\\frac{1}{2}")  # load the LaTeX grammar now, so forked workers start warm
