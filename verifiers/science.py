"""``science``: multiple choice and numeric answers with relative tolerance and unit conversion.

Multiple choice: a reference answer that is one letter A-J, or any reference with ``choices``, whose
answer must then be a letter naming one of them or the text of exactly one (else the reference is
invalid: no response could match it). The response's answer (last ``\\boxed{}``, ``<answer>``,
"Answer:" line) may be ``C``, ``(C)``, ``C)``, ``\\text{C}``, ``C: option text``, ``Option C`` or the
option text itself when it matches exactly one choice. Free letters elsewhere in the text are never
scanned.

Numeric: ``{"answer": "3.2e5", "unit": "J", "rel_tol": 0.01}``. The answer's number is compared with
relative tolerance ``rel_tol`` (default 0.01) after converting its unit (``320 kJ``) to the reference
unit with pint; an incompatible unit is wrong; a bare number is read in the reference unit. The answer
must be one number (or numeric expression such as ``\\frac{1}{2}``) with an optional unit: program
text, other words or several numbers around it make it wrong, never "the number inside". References
that are not numbers fall back to the ``math`` domain's exact equivalence.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from .common import clip, invalid_reference, looks_like_code, no_answer, reference_answer
from .extract import extract_answer, strip_noise, unwrap_text
from .magnitude import too_big
from .registry import ReferenceCheck, register, register_reference_check
from .result import Status, VerifyResult

LETTERS = "ABCDEFGHIJ"
DEFAULT_REL_TOL = 0.01
MAX_ANSWER_CHARS = 1000  # as math: a longer "quantity" is no answer, and parsing it costs seconds

_LETTER_FORMS = [
    re.compile(r"^\(?([A-J])\)?[.:)]?$"),  # C  (C)  C)  C.  C:
    re.compile(r"^(?:option|choice|answer)\s*:?\s*\(?([A-J])\)?\.?$", re.IGNORECASE),
    re.compile(r"^\(?([A-J])\)?\s*[:.)\-]\s+\S.*$"),  # C: option text / (C) option text
]
_NUMBER_RE = re.compile(
    r"^\s*(?P<num>[-+−]?\s*(?:\d+(?:\.\d*)?|\.\d+))"  # "- 34": a space after the sign is layout
    r"(?:\s*(?:[eE](?P<exp1>[-+−]?\d{1,4})|(?:\\times|\\cdot|×|\*|x)\s*10\s*\^\s*\{?\s*(?P<exp2>[-+−]?\d{1,4})\s*\}?))?"
    r"\s*(?P<unit>.*?)\s*$"
)
_UNIT_OK = re.compile(r"^[A-Za-z°µμΩÅ/*^.·\d() \-]{1,40}$")
_RELATION_RE = re.compile(r"^(?:[A-Za-z_]\w*\s*)?(?:=|\\approx|≈)\s*")  # "E = 5 J", "\approx 5 J"
_SPACE_THOUSANDS_RE = re.compile(r"^([-+]?\d{1,3})((?: \d{3})+)(?!\d)")  # "320\,000" after strip_noise
# what an answer read as an expression may hold: numbers, operators, brackets, a few commands, no words
_EXPRESSION_RE = re.compile(
    r"(?:[\d\s.+\-−*/^_(){}\[\]]|(?<![A-Za-z])e(?![A-Za-z])"  # e: Euler's number
    r"|\\(?:frac|sqrt|pi|times|cdot|div|ln|log|exp|sin|cos|tan)(?![A-Za-z]))+"
)
_SEVERAL_NUMBERS_RE = re.compile(r"\d\s+[\d.]")  # "320000 5": two answers, not one
_TRAILING_UNIT_RE = re.compile(r"^(.*?)\s*\\(?:text|mathrm)\s*\{([^{}]*)\}$")  # "\frac{1}{2}\text{ kJ}"
# an expression, a space, then a unit in plain letters ("1/2 m/s", "2\sqrt{3} kg"): the unit starts with
# a letter that is not Euler's e on its own, and has no backslash or brace (those belong to the expression)
_PLAIN_TRAILING_UNIT_RE = re.compile(
    r"^([^A-Za-z]*?(?:\\[A-Za-z]+[^A-Za-z]*?)*)\s+((?!e\b)[A-Za-z°µμΩÅ][^\\{}]*)$"
)
_LETTER_REF_RE = re.compile(r"\(?([A-Ja-j])\)?")


class InvalidChoices(ValueError):
    """A multiple-choice reference no response can match; ``evidence`` names the answer and choices."""

    def __init__(self, error: str, **evidence: Any) -> None:
        super().__init__(error)
        self.evidence = {"error": error, **evidence}


def _mc_reference(reference: Any) -> tuple[str, list[str]] | None:
    """(letter, choices) when the reference is multiple choice, else None; InvalidChoices when it has
    ``choices`` but its answer names none of them (it would otherwise be judged as a number or text)."""
    answer = reference.get("answer") if isinstance(reference, dict) else reference
    choices = reference.get("choices") if isinstance(reference, dict) else None
    if not choices:  # no choices: a lone letter is still multiple choice
        m = _LETTER_REF_RE.fullmatch(answer.strip()) if isinstance(answer, str) else None
        return (m.group(1).upper(), []) if m else None
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise InvalidChoices("'choices' must be a list of strings")
    letter = _reference_letter(answer, choices)
    if letter is None:
        raise InvalidChoices(
            f"answer {answer!r} names none of the {len(choices)} choices", answer=answer, choices=len(choices)
        )
    return letter, choices


def _reference_letter(answer: Any, choices: list[str]) -> str | None:
    """The letter a reference answer names: a letter within the choices, or one choice's exact text."""
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str):
        return None
    m = _LETTER_REF_RE.fullmatch(answer.strip())
    if m:
        letter = m.group(1).upper()
        return letter if LETTERS.index(letter) < len(choices) else None
    want = _norm_text(answer)
    hits = [LETTERS[i] for i, c in enumerate(choices[: len(LETTERS)]) if _norm_text(c) == want]
    return hits[0] if len(hits) == 1 else None


def _norm_text(s: str) -> str:
    s = unwrap_text(strip_noise(s)).lower()
    s = re.sub(r"^\(?[a-j]\)?\s*[:.)]\s+", "", s)  # a choice written as "A) text"
    return re.sub(r"[\s.$]+", " ", s).strip()


def pick_letter(answer: str, choices: list[str]) -> str | None:
    """The option letter an answer names, or None when it names none (or several)."""
    a = unwrap_text(strip_noise(answer)).strip().strip("*").strip()
    for form in _LETTER_FORMS:
        m = form.match(a)
        if m:
            return m.group(1).upper()
    if choices:
        want = _norm_text(a)
        hits = [LETTERS[i] for i, c in enumerate(choices[: len(LETTERS)]) if _norm_text(c) == want]
        if len(hits) == 1:
            return hits[0]
    return None


def _verify_mc(response: str, letter: str, choices: list[str], box: str) -> VerifyResult:
    ext = extract_answer(response, box=box, text_fallback=True, max_text_chars=200)
    if ext.answer is None:
        return no_answer(ext.source)
    if looks_like_code(ext.answer):  # "B: __import__(..)" names B, but is not an answer
        return _wrong(ext.answer, ext.source, "answer looks like code, not an option")
    got = pick_letter(ext.answer, choices)
    if got is None:
        return VerifyResult.make(
            Status.WRONG if ext.source != "text" else Status.NO_ANSWER,
            extracted=clip(ext.answer),
            reason="the answer names no single option",
            source=ext.source,
        )
    if choices and LETTERS.index(got) >= len(choices):
        return VerifyResult.make(Status.WRONG, extracted=got, reason=f"option {got} does not exist")
    ok = got == letter
    return VerifyResult.make(
        Status.CORRECT if ok else Status.WRONG,
        extracted=got,
        reason=f"chose {got}, reference {letter}",
        source=ext.source,
    )


def _wrong(answer: str, source: str, why: str) -> VerifyResult:
    return VerifyResult.make(Status.WRONG, extracted=clip(answer), reason=why, source=source)


@lru_cache(maxsize=1)
def units():
    import pint

    return pint.UnitRegistry()


def _unit_text(u: str) -> str:
    u = unwrap_text(u).replace("\\mu", "µ").replace("\\Omega", "Ω").replace("\\circ", "°")
    u = u.replace("\\cdot", "*").replace("·", "*").replace("{", "").replace("}", "").replace("\\", "")
    u = re.sub(r"\^\s*°|\^\s*\{\s*°\s*\}", "°", u.replace("^{°}", "°"))
    u = re.sub(r"°\s*([CFK])\b", r"deg\1", u).replace("°", "degree")
    u = re.sub(r"\^\s*", "**", u)
    return u.strip().rstrip(".")


@lru_cache(maxsize=1024)
def parse_quantity(text: str) -> tuple[float, str | None] | None:
    """``"3.2 \\times 10^{5} \\text{ kJ}"`` -> (320000.0, "kJ"); None when it is not a number + unit."""
    s = unwrap_text(strip_noise(text)).replace("{,}", "").replace(",", "").replace("−", "-")
    s = _RELATION_RE.sub("", s, count=1)
    s = _SPACE_THOUSANDS_RE.sub(lambda m: m.group(1) + m.group(2).replace(" ", ""), s, count=1)
    m = _NUMBER_RE.match(s)
    if m is None:
        return None
    exp = m.group("exp1") or m.group("exp2") or "0"
    # one float() of "mantissa e exponent": 1e309 is inf and 1e-400 is 0.0 (10.0 ** 309 would raise)
    num = float(f"{''.join(m.group('num').split())}e{exp}".replace("−", "-"))
    unit = _unit_text(m.group("unit"))
    if not unit:
        return num, None
    unit = _known_unit(unit)
    return None if unit is None else (num, unit)


# pint evaluates numbers in a unit expression: "10**10**10**324" would never finish
_UNIT_POWER_RE = re.compile(r"\*\*(?!\s*-?\d{1,2}(?![\d.(]|\s*\*\*))")


def _known_unit(unit: str) -> str | None:
    """``unit`` when pint reads it as a unit, else None ("\\sqrt{3}", "J 5", "J or maybe" are not units;
    nor is a power other than a small integer one, "m**2" is, "m**10**10" is not)."""
    if not _UNIT_OK.match(unit) or _UNIT_POWER_RE.search(unit):
        return None
    try:
        units().parse_units(unit)
    except Exception:
        return None
    return unit


def _math_value(answer: str) -> tuple[float, str | None] | None:
    """A numeric answer written as an expression (``\\frac{1}{2}``, ``2\\sqrt{3}``), with an optional
    ``\\text{}`` unit. Only a pure expression is parsed: math-verify would pick a number out of any text
    (``__import__(..) or 320000`` -> 320000, ``320000 5`` -> 320005)."""
    from .math import normalize_answer, parse_boxed

    s, unit = _RELATION_RE.sub("", strip_noise(answer), count=1), None
    m = _TRAILING_UNIT_RE.match(s) or _PLAIN_TRAILING_UNIT_RE.match(s)  # "\frac{1}{2}\text{ J}", "1/2 m/s"
    if m and m.group(2).strip():
        s, unit = m.group(1), _known_unit(_unit_text(m.group(2)))
        if unit is None:
            return None
    s = normalize_answer(s)
    if not _EXPRESSION_RE.fullmatch(s) or _SEVERAL_NUMBERS_RE.search(s):
        return None
    if too_big(s):  # 9^{9^{9^{9}}}: sympy would never finish evaluating it
        return None
    try:
        parsed = parse_boxed(s)
        return (float(parsed[0]), unit) if parsed and getattr(parsed[0], "is_number", False) else None
    except Exception:
        return None


def _to_unit(value: float, unit: str | None, target: str | None) -> float | None:
    if target is None or unit is None or unit == target:
        return value
    if unit == "%":
        return None
    try:
        ureg = units()
        return float(ureg.Quantity(value, ureg.parse_units(unit)).to(ureg.parse_units(target)).magnitude)
    except Exception:  # unknown or incompatible unit
        return None


def _rel_tol_problem(reference: dict[str, Any]) -> str | None:
    rel_tol = reference.get("rel_tol", DEFAULT_REL_TOL)
    if isinstance(rel_tol, bool) or not isinstance(rel_tol, (int, float)) or not 0 <= rel_tol < 1:
        return f"rel_tol {rel_tol!r} not in [0, 1)"
    return None


def _unit_problem(reference: dict[str, Any]) -> str | None:
    unit = reference.get("unit")
    if unit is None or unit == "":
        return None
    if not isinstance(unit, str):
        return f"unit must be a string, got {type(unit).__name__}"
    try:
        units().parse_units(unit)
    except Exception:
        return f"unknown unit {unit!r}"
    return None


def _gold_quantity(answer: Any) -> tuple[float, str | None] | None:
    """The reference answer as a finite quantity (a number with an optional unit, or a numeric
    expression such as ``1/2``); None sends it to exact math equivalence (not a number, or a number
    beyond float range such as 10^400)."""
    gold = parse_quantity(str(answer)) or _math_value(str(answer))  # 3.2e5 J, or 1/2, \frac{\pi}{4}
    return gold if gold is not None and math.isfinite(gold[0]) else None


def _verify_numeric(response: str, reference: dict[str, Any], box: str) -> VerifyResult:
    gold_text = reference["answer"]
    problem = _rel_tol_problem(reference)
    if problem:
        return invalid_reference(problem)
    rel_tol = float(reference.get("rel_tol", DEFAULT_REL_TOL))
    ext = extract_answer(response, box=box, text_fallback=True, max_text_chars=120)
    if ext.answer is None:
        return no_answer(ext.source)
    if looks_like_code(ext.answer):  # checked here too, so no fallback below can read a number out of it
        return _wrong(ext.answer, ext.source, "answer looks like code, not a quantity")
    if len(ext.answer) > MAX_ANSWER_CHARS:  # math-verify's parser is quadratic: 200,000 "-" took 3 minutes
        return _wrong(
            ext.answer, ext.source, f"answer is {len(ext.answer)} characters long (limit {MAX_ANSWER_CHARS})"
        )
    gold = _gold_quantity(gold_text)
    if gold is None:  # not a number: exact mathematical equivalence
        from .math import verify_math

        return verify_math(response, {"answer": str(gold_text)}, box=box)
    problem = _unit_problem(reference)
    if problem:
        return invalid_reference(problem)
    gold_value, unit_in_answer = gold
    gold_unit = reference.get("unit") or unit_in_answer
    pred = parse_quantity(ext.answer) or _math_value(ext.answer)
    if pred is None:
        return _wrong(ext.answer, ext.source, "answer is not one number with an optional unit")
    value = _to_unit(pred[0], pred[1], gold_unit)
    if value is None:
        return _wrong(ext.answer, ext.source, f"unit {pred[1]!r} cannot be converted to {gold_unit!r}")
    ok = math.isclose(value, gold_value, rel_tol=rel_tol, abs_tol=0.0 if gold_value else 1e-12)
    return VerifyResult.make(
        Status.CORRECT if ok else Status.WRONG,
        extracted=clip(ext.answer),
        reason=f"{value:g} {gold_unit or ''} vs reference {gold_value:g} (rel_tol {rel_tol:g})".replace(
            "  ", " "
        ),
        source=ext.source,
        value=value,
    )


def _as_dict(reference: Any) -> dict[str, Any] | None:
    answer = reference_answer(reference)
    if answer is None:
        return None
    return reference if isinstance(reference, dict) else {"answer": answer}


@register("science")
def verify_science(response: str, reference: Any, *, box: str = "last", **_ignored: Any) -> VerifyResult:
    try:
        mc = _mc_reference(reference)
    except InvalidChoices as e:
        return invalid_reference(str(e), **{k: v for k, v in e.evidence.items() if k != "error"})
    if mc is not None:
        return _verify_mc(response, mc[0], mc[1], box)
    ref = _as_dict(reference)
    if ref is None or not str(ref["answer"]).strip():
        return invalid_reference("science reference needs an 'answer' (a letter or a value)")
    return _verify_numeric(response, ref, box)


@register_reference_check("science")
def check_science_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    try:
        mc = _mc_reference(reference)
    except InvalidChoices as e:
        return ReferenceCheck(False, "invalid_reference", e.evidence)
    if mc is not None:
        _, choices = mc
        if len({_norm_text(c) for c in choices}) != len(choices):
            return ReferenceCheck(False, "invalid_reference", {"error": "two choices have the same text"})
        return ReferenceCheck(True, "", {"kind": "multiple_choice"})
    ref = _as_dict(reference)
    if ref is None:
        return ReferenceCheck(False, "invalid_reference", {"error": "missing 'answer'"})
    problem = _rel_tol_problem(ref)
    if problem:
        return ReferenceCheck(False, "invalid_reference", {"error": problem})
    gold = _gold_quantity(ref["answer"])
    if gold is None:
        from .math import check_math_reference

        return check_math_reference({"answer": str(ref["answer"])})
    problem = _unit_problem(ref)
    if problem:
        return ReferenceCheck(False, "invalid_reference", {"error": problem})
    return ReferenceCheck(True, "", {"kind": "numeric", "unit": ref.get("unit") or gold[1]})


units()  # build the unit registry now, so forked workers start warm
