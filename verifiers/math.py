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

from .common import clip, invalid_reference, looks_like_code, no_answer, reference_answer
from .extract import Extraction, all_boxed, boxed_spans, extract_answer, strip_noise, unwrap_text
from .magnitude import too_big
from .registry import ReferenceCheck, register, register_reference_check
from .result import Status, VerifyResult

# math-verify logs a warning on every call with timeouts disabled; the worker process is our timeout
logging.getLogger("math_verify").setLevel(logging.ERROR)

MAX_ANSWER_CHARS = 1000  # longer "answers" are rambling, not a final answer (and slow to parse)
MAX_BARE_ANSWER_CHARS = 120  # a response with no marker is taken whole only when it is this short

_SCI_RE = re.compile(r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)\s*[eE]\s*([+-]?\d{1,4})(?![\w.])")
# a thousands separator: ",", "{,}" (spaces inside allowed), "\\,", or ",\\!" with optional spaces after
_SEP = r"(?:,\\!\s*|\s?\{\s*,\s*\}\s?|\\,|,)"
# a group of thousands never starts with 0: "0,111" is a decimal comma or a list, never 111
_THOUSANDS_RE = re.compile(rf"(?<![\d.,(\[{{])([1-9]\d{{0,2}}(?:{_SEP}\d{{3}})+)(\.\d+)?(?![\d,])")
_SEP_RE = re.compile(_SEP)
_SPACE_THOUSANDS_RE = re.compile(r"^([-+]?[1-9]\d{0,2}(?: \d{3})+)(\.\d+)?$")
_PERCENT_RE = re.compile(r"\\%|%|\\text\{\s*percent\s*\}|\s*percent\b", re.IGNORECASE)
# "2\frac{1}{2}", "-3 1/2", "+11 5/6", "1 000 4/9" (a whole part with spaced thousands)
_MIXED_RE = re.compile(r"^([+-]?)(\d{1,3}(?: \d{3})+|\d+)\s*(?:\\frac\{(\d+)\}\{(\d+)\}|\s(\d+)/(\d+))$")
# "1000,99" / "0,111": a comma that can only be a decimal comma (the part before it is no thousands group)
_DECIMAL_COMMA_RE = re.compile(r"^([+-]?\d+),(\d+)$")
_PLAIN_DECIMAL_RE = re.compile(r"^[+-]?\d+\.\d+$")
_WORDS_RE = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")
_MATH_WORDS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "inf", "infty",
    "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "max", "min", "det", "gcd", "lcm", "mod",
}  # fmt: skip


def normalize_answer(s: str) -> str:
    """Rewrite the notations math-verify misreads (see the module docstring) before parsing."""
    s = _THOUSANDS_RE.sub(lambda m: _SEP_RE.sub("", m.group(1)) + (m.group(2) or ""), s)
    s = strip_noise(s)
    m = _SPACE_THOUSANDS_RE.match(s)
    if m:
        s = m.group(1).replace(" ", "") + (m.group(2) or "")
    s = _PERCENT_RE.sub("", s).strip()
    s = _SCI_RE.sub(lambda m: f"{m.group(1)}\\times10^{{{m.group(2)}}}", s)
    m = _MIXED_RE.match(s)
    if m:
        sign, whole = m.group(1).replace("+", ""), int(m.group(2).replace(" ", ""))
        num, den = (m.group(3), m.group(4)) if m.group(3) else (m.group(5), m.group(6))
        s = f"{sign}\\frac{{{whole * int(den) + int(num)}}}{{{den}}}"
    return s


def _decimal_comma_match(a: str, b: str) -> bool:
    """``1000,99`` against ``1000.99``: one side is ``digits,digits`` that is no thousands number and
    the other the same digits with a decimal point. Only then is the comma read as a decimal comma
    (``0,111`` is never 111, and ``1,22`` stays a list against anything but ``1.22``)."""
    for x, y in ((a, b), (b, a)):
        m = _DECIMAL_COMMA_RE.match(x)
        if m and _PLAIN_DECIMAL_RE.match(y):
            try:
                return float(f"{m.group(1)}.{m.group(2)}") == float(y)
            except ValueError:
                return False
    return False


# what may stand between the boxes of one multi-answer statement: "\boxed{1} and \boxed{-2}",
# "\boxed{1} papers and \boxed{2} bins"; longer text means the earlier boxes were steps on the way
_MAX_GAP_WORDS = 3


def stated_answer(gold: str) -> str:
    """The answer a reference states: its boxed answer when it has one (MATH's ``solution`` field is a
    worked solution ending in ``\\boxed{}``). Boxes written close together state several answers (a
    set); a box far from the next one was an intermediate step, and the last group is the answer."""
    if "box" not in gold:
        return gold
    spans = [(b, start, end) for b, start, end in boxed_spans(gold) if b.strip()]
    if not spans:
        return gold
    group = [spans[-1][0]]
    for (b, _, end), (_, next_start, _) in zip(reversed(spans[:-1]), reversed(spans[1:])):
        gap = re.sub(r"\\[A-Za-z]+|[^\w\s]", " ", gold[end:next_start])
        if len(gap.split()) > _MAX_GAP_WORDS:
            break
        group.insert(0, b)
    return _distinct_boxes(group) or gold


def _distinct_boxes(boxes: list[str]) -> str | None:
    """Non-empty boxed answers, duplicates dropped, as one comma list (a set for the grader)."""
    distinct: dict[str, str] = {}
    for b in boxes:
        if b.strip():
            distinct.setdefault(_layout_free(strip_noise(b)), strip_noise(b))
    return ", ".join(distinct.values()) or None


# a number or a $...$ / \(...\) math segment inside a sentence
_MATH_TOKEN_RE = re.compile(r"\$[^$]+\$|\\\(.+?\\\)|(?<![\w.])[+-]?\d+(?:[.,]\d+)*(?![\w.])")


def sole_math_token(sentence: str) -> str | None:
    """``Jane started growing Sphere 3 hours ago`` -> ``3``: the one number or math segment of a
    sentence stated as the answer; None when there are none or several (never a guess among them)."""
    found = _MATH_TOKEN_RE.findall(sentence)
    return found[0] if len(found) == 1 else None


def _layout_free(s: str) -> str:
    return re.sub(r"\s+|\\[,;!: ]", "", s)


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
def parse_boxed(s: str) -> tuple:
    """An answer parsed by math-verify as if it stood in ``\\boxed{}`` (cached; science uses it too)."""
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
    if too_big(g) or too_big(p):  # never evaluated: only the same text is the same answer
        return _layout_free(g) == _layout_free(p)
    if _decimal_comma_match(g, p):
        return True
    gt, pt = as_text(g), as_text(p)
    if gt is not None and pt is not None:
        return gt == pt
    gold = parse_boxed(g)
    # a bare sentence goes through math-verify's own extraction; a bare short answer ("1e6") is normalised
    pred = _parse_text(pred_answer) if bare and len(pred_answer.split()) > 3 else parse_boxed(p)
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


BOX_CHOICES = ("last", "first", "all")


def _all_boxes_answer(response: str) -> str | None:
    """``boxes="all"``: every boxed answer as one set, or None with fewer than two distinct boxes
    (then the usual extraction applies)."""
    joined = _distinct_boxes(all_boxed(response))
    return joined if joined and len(set(map(_layout_free, all_boxed(response)))) > 1 else None


@register("math")
def verify_math(
    response: str,
    reference: Any,
    *,
    box: str = "last",
    boxes: str | None = None,
    float_rounding: int = 6,
    **_ignored: Any,
) -> VerifyResult:
    """``boxes`` (alias ``box``): "last" (default) or "first" boxed answer, or "all": the set of every
    boxed answer against a multi-answer reference (``\\boxed{-2} and \\boxed{1}`` = ``1, -2``)."""
    which = boxes or box
    if which not in BOX_CHOICES:
        raise ValueError(f"boxes must be one of {BOX_CHOICES}, got {which!r}")
    gold = reference_answer(reference)
    if gold is None:
        return invalid_reference("math reference needs a non-empty 'answer' string")
    unusable = _read_gold(gold)[1]
    if unusable:  # no response can equal it: say the row is broken, not the model (as check_reference)
        return invalid_reference(f"math reference answer: {unusable}")
    gold = stated_answer(gold)
    ext = extract_answer(
        response,
        box="first" if which == "first" else "last",
        text_fallback=True,
        max_text_chars=MAX_BARE_ANSWER_CHARS,
    )
    if which == "all" and ext.source == "boxed":
        joined = _all_boxes_answer(response)
        if joined is not None:
            ext = Extraction(joined, "boxed")
    if ext.answer is None or not ext.answer.strip():
        return no_answer(ext.source)
    answer = ext.answer
    if ext.source == "answer_line" and len(answer.split()) > 3 and as_text(normalize_answer(answer)) is None:
        answer = sole_math_token(answer) or answer  # "Final Answer: Jane started ... 3 hours ago."

    def wrong(reason: str) -> VerifyResult:
        return VerifyResult.make(Status.WRONG, extracted=clip(answer), reason=reason, source=ext.source)

    if len(answer) > MAX_ANSWER_CHARS:
        return wrong(f"answer is {len(answer)} characters long (limit {MAX_ANSWER_CHARS})")
    if looks_like_code(answer):
        return wrong("answer looks like code, not math")
    bare = ext.source == "text"
    if bare and not _looks_like_an_answer(answer):
        return no_answer("none")
    if equivalent(gold, answer, float_rounding=float_rounding, bare=bare):
        return VerifyResult.make(
            Status.CORRECT, extracted=clip(answer), reason="answer equals the reference", source=ext.source
        )
    size = too_big(normalize_answer(answer))
    if size:
        return wrong(f"answer not evaluated: {size}; it differs from the reference as text")
    return wrong(f"answer {clip(answer, 80)!r} != reference {clip(gold, 80)!r}")


def _unbalanced_braces(gold: str) -> bool:
    """LaTeX groups that do not close, or close before they open (escaped ``\\{`` ``\\}`` are text)."""
    depth = 0
    for brace in re.sub(r"\\[{}]|[^{}]", "", gold):
        depth += 1 if brace == "{" else -1
        if depth < 0:
            return True
    return depth != 0


def _read_gold(gold: str) -> tuple[str, str | None]:
    """The reference's stated answer, normalised, and why it can equal no response (verify and
    check_reference say the same; None when usable): its groups do not close, or it is neither words,
    nor too big to evaluate, nor something that parses."""
    if _unbalanced_braces(gold):
        return gold, "unbalanced braces"
    g = normalize_answer(stated_answer(gold))
    if as_text(g) is not None or too_big(g) or parse_boxed(g):
        return g, None
    return g, "answer does not parse"


@register_reference_check("math")
def check_math_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    gold = reference_answer(reference)
    if gold is None:
        return ReferenceCheck(False, "invalid_reference", {"error": "missing or empty 'answer'"})
    g, unusable = _read_gold(gold)
    if unusable:
        return ReferenceCheck(False, "invalid_reference", {"error": unusable, "answer": gold})
    if as_text(g) is not None:
        return ReferenceCheck(True, "", {"kind": "text"})
    size = too_big(g)
    if size:  # such a reference can only ever match the same text
        return ReferenceCheck(True, "", {"kind": "text", "not_evaluated": size})
    parsed = parse_boxed(g)
    if not mv_verify(list(parsed), list(parsed), timeout_seconds=None):
        return ReferenceCheck(
            False, "reference_failed", {"error": "answer is not equal to itself", "answer": gold}
        )
    return ReferenceCheck(True, "", {"kind": "math"})


parse_boxed("\\frac{1}{2}")  # load the LaTeX grammar now, so forked workers start warm
