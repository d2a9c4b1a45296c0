"""``ifeval``: the 25 IFEval instruction families, checked by instruction id + kwargs.

Reference: ``{"instructions": [{"id": "keywords:existence", "kwargs": {"keywords": ["ai"]}}, ...]}``;
the IFEval dataset's own shape ``{"instruction_id_list": [...], "kwargs": [{...}, ...]}`` is accepted too
(kwargs set to ``None`` are ignored, as in the released data). The response checked is the text after
the reasoning block (an unclosed ``<think>`` is ``no_answer``).

``score`` = fraction of instructions met, ``correct`` only when all are. Matching is strict as in IFEval;
``loose=True`` also accepts the response with its first and/or last line removed and ``*`` stripped
(IFEval's "loose" metric). Each check is a small pure function of (text, kwargs); ``CHECKS`` maps the
instruction id to it, so one more family is one more entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .common import invalid_reference
from .extract import split_reasoning
from .registry import ReferenceCheck, register, register_reference_check
from .result import Status, VerifyResult

MAX_RESPONSE_CHARS = 200_000  # IFEval answers are short; beyond this the checks only cost time

RELATIONS = ("less than", "at least")
CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def _relation_ok(count: int, relation: str, value: int) -> bool:
    return count < value if relation == "less than" else count >= value


def _words(text: str) -> list[str]:
    return re.findall(r"\b\w+(?:['’]\w+)*\b", text)


_ABBREV = r"(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|U\.S|No|Inc|Ltd|Co)"


def count_sentences(text: str) -> int:
    """Sentences: runs ending in ``.``/``!``/``?`` followed by a capital; common abbreviations and
    decimals (``3.14``) do not end a sentence."""
    protected = re.sub(rf"\b{_ABBREV}\.", lambda m: m.group(0).replace(".", "<dot>"), text)
    protected = re.sub(r"(?<=\d)\.(?=\d)", "<dot>", protected)
    parts = [p for p in re.split(r"(?<=[.!?])[\"')\]]*\s+", protected.strip()) if p.strip()]
    return len(parts)


def _paragraphs_by_divider(text: str) -> list[str]:
    return re.split(r"\s?\*\*\*\s?", text)


def _strip_fences(text: str) -> str:
    s = text.strip()
    s = re.sub(r"^```(?:json|JSON|Json)?\s*", "", s)
    return re.sub(r"\s*```$", "", s).strip()


@lru_cache(maxsize=1)
def _langdetect():
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0  # langdetect is random unless seeded
    return detect


def _detect_language(text: str) -> str | None:
    try:
        return _langdetect()(text)
    except Exception:  # no features in text (digits only, empty): IFEval counts it as followed
        return None


# ---- the checks: fn(text, kwargs) -> bool ---------------------------------------------------------


def _keywords_existence(t: str, kw: dict) -> bool:
    return all(re.search(re.escape(k), t, re.IGNORECASE) for k in kw["keywords"])


def _keywords_frequency(t: str, kw: dict) -> bool:
    n = len(re.findall(re.escape(kw["keyword"]), t, re.IGNORECASE))
    return _relation_ok(n, kw["relation"], kw["frequency"])


def _forbidden_words(t: str, kw: dict) -> bool:
    return not any(re.search(r"\b" + re.escape(w) + r"\b", t, re.IGNORECASE) for w in kw["forbidden_words"])


def _letter_frequency(t: str, kw: dict) -> bool:
    n = t.lower().count(kw["letter"].lower())
    return _relation_ok(n, kw["let_relation"], kw["let_frequency"])


def _response_language(t: str, kw: dict) -> bool:
    got = _detect_language(t)
    return got is None or got == kw["language"]


def _number_sentences(t: str, kw: dict) -> bool:
    return _relation_ok(count_sentences(t), kw["relation"], kw["num_sentences"])


def _number_paragraphs(t: str, kw: dict) -> bool:
    paras = _paragraphs_by_divider(t)
    n = len(paras)
    for i, p in enumerate(paras):
        if not p.strip():
            if i == 0 or i == len(paras) - 1:
                n -= 1  # a divider at the very start or end
            else:
                return False  # two dividers in a row
    return n == kw["num_paragraphs"]


def _number_words(t: str, kw: dict) -> bool:
    return _relation_ok(len(_words(t)), kw["relation"], kw["num_words"])


def _nth_paragraph_first_word(t: str, kw: dict) -> bool:
    paras = [p for p in re.split(r"\n\s*\n", t) if p.strip()]
    nth = kw["nth_paragraph"]
    if len(paras) != kw["num_paragraphs"] or not 1 <= nth <= len(paras):
        return False
    first = re.match(r"\W*(\w+)", paras[nth - 1].lstrip())
    return bool(first) and first.group(1).lower() == kw["first_word"].lower()


def _number_placeholders(t: str, kw: dict) -> bool:
    return len(re.findall(r"\[.*?\]", t)) >= kw["num_placeholders"]


def _postscript(t: str, kw: dict) -> bool:
    marker = kw.get("postscript_marker") or "P.S."
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.search(pattern, t.lower(), re.MULTILINE))


def _number_bullet_lists(t: str, kw: dict) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", t, re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", t, re.MULTILINE)
    return len(stars) + len(dashes) == kw["num_bullets"]


def _constrained_response(t: str, kw: dict) -> bool:
    return any(opt in t.strip() for opt in CONSTRAINED_RESPONSES)


def _highlighted_sections(t: str, kw: dict) -> bool:
    n = sum(1 for h in re.findall(r"\*[^\n\*]*\*", t) if h.strip("*").strip())
    n += sum(1 for h in re.findall(r"\*\*[^\n\*]*\*\*", t) if h.removeprefix("**").removesuffix("**").strip())
    return n >= kw["num_highlights"]


def _multiple_sections(t: str, kw: dict) -> bool:
    splitter = (kw.get("section_spliter") or "Section").strip()
    sections = re.split(r"\s?" + re.escape(splitter) + r"\s?\d+\s?", t)
    return len(sections) - 1 >= kw["num_sections"]


def _json_format(t: str, kw: dict) -> bool:
    try:
        json.loads(_strip_fences(t))
    except (ValueError, RecursionError):
        return False
    return True


def _title(t: str, kw: dict) -> bool:
    return any(m.strip() for m in re.findall(r"<<([^\n]+?)>>", t))


def _two_responses(t: str, kw: dict) -> bool:
    parts = t.split("******")
    valid = [p.strip() for p in parts if p.strip()]
    empty_inside = any(not p.strip() for p in parts[1:-1])
    return len(valid) == 2 and not empty_inside and valid[0] != valid[1]


def _repeat_prompt(t: str, kw: dict) -> bool:
    return t.strip().lower().startswith(kw["prompt_to_repeat"].strip().lower())


def _end_checker(t: str, kw: dict) -> bool:
    return t.strip().lower().endswith(kw["end_phrase"].strip().lower())


def _quotation(t: str, kw: dict) -> bool:
    s = t.strip()
    return len(s) > 1 and s[0] == '"' and s[-1] == '"'


def _capital_word_frequency(t: str, kw: dict) -> bool:
    n = sum(1 for w in _words(t) if w.isupper())
    return _relation_ok(n, kw["capital_relation"], kw["capital_frequency"])


def _english_capital(t: str, kw: dict) -> bool:
    return t.isupper() and _detect_language(t) in ("en", None)


def _english_lowercase(t: str, kw: dict) -> bool:
    return t.islower() and _detect_language(t) in ("en", None)


def _no_comma(t: str, kw: dict) -> bool:
    return "," not in t


# id -> (check, {kwarg: type}, {optional kwargs})
_INT, _STR, _REL, _LIST = "int", "str", "relation", "list[str]"
CHECKS: dict[str, tuple[Callable[[str, dict], bool], dict[str, str], set[str]]] = {
    "keywords:existence": (_keywords_existence, {"keywords": _LIST}, set()),
    "keywords:frequency": (
        _keywords_frequency,
        {"keyword": _STR, "frequency": _INT, "relation": _REL},
        set(),
    ),
    "keywords:forbidden_words": (_forbidden_words, {"forbidden_words": _LIST}, set()),
    "keywords:letter_frequency": (
        _letter_frequency,
        {"letter": _STR, "let_frequency": _INT, "let_relation": _REL},
        set(),
    ),
    "language:response_language": (_response_language, {"language": _STR}, set()),
    "length_constraints:number_sentences": (
        _number_sentences,
        {"num_sentences": _INT, "relation": _REL},
        set(),
    ),
    "length_constraints:number_paragraphs": (_number_paragraphs, {"num_paragraphs": _INT}, set()),
    "length_constraints:number_words": (_number_words, {"num_words": _INT, "relation": _REL}, set()),
    "length_constraints:nth_paragraph_first_word": (
        _nth_paragraph_first_word,
        {"num_paragraphs": _INT, "nth_paragraph": _INT, "first_word": _STR},
        set(),
    ),
    "detectable_content:number_placeholders": (_number_placeholders, {"num_placeholders": _INT}, set()),
    "detectable_content:postscript": (_postscript, {"postscript_marker": _STR}, {"postscript_marker"}),
    "detectable_format:number_bullet_lists": (_number_bullet_lists, {"num_bullets": _INT}, set()),
    "detectable_format:constrained_response": (_constrained_response, {}, set()),
    "detectable_format:number_highlighted_sections": (_highlighted_sections, {"num_highlights": _INT}, set()),
    "detectable_format:multiple_sections": (
        _multiple_sections,
        {"section_spliter": _STR, "num_sections": _INT},
        {"section_spliter"},
    ),
    "detectable_format:json_format": (_json_format, {}, set()),
    "detectable_format:title": (_title, {}, set()),
    "combination:two_responses": (_two_responses, {}, set()),
    "combination:repeat_prompt": (_repeat_prompt, {"prompt_to_repeat": _STR}, set()),
    "startend:end_checker": (_end_checker, {"end_phrase": _STR}, set()),
    "startend:quotation": (_quotation, {}, set()),
    "change_case:capital_word_frequency": (
        _capital_word_frequency,
        {"capital_frequency": _INT, "capital_relation": _REL},
        set(),
    ),
    "change_case:english_capital": (_english_capital, {}, set()),
    "change_case:english_lowercase": (_english_lowercase, {}, set()),
    "punctuation:no_comma": (_no_comma, {}, set()),
}


def _kwarg_error(name: str, kind: str, value: Any) -> str | None:
    if kind == _INT:
        ok = type(value) is int and value >= 0
    elif kind == _STR:
        ok = isinstance(value, str) and value != ""
    elif kind == _REL:
        ok = value in RELATIONS
    else:
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    if ok and name == "letter" and len(value) != 1:
        ok = False
    return (
        None if ok else f"kwarg {name}={value!r} must be {kind if kind != _REL else ' or '.join(RELATIONS)}"
    )


def parse_instructions(reference: Any) -> list[tuple[str, dict[str, Any]]]:
    """[(id, kwargs)] from either reference shape; ValueError naming the first problem."""
    if not isinstance(reference, dict):
        raise ValueError("ifeval reference must be an object with 'instructions'")
    if "instructions" in reference:
        items = reference["instructions"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError("'instructions' must be a list of {id, kwargs} objects")
        pairs = [(i.get("id"), i.get("kwargs") or {}) for i in items]
    elif "instruction_id_list" in reference:
        ids, kwargs = reference["instruction_id_list"], reference.get("kwargs") or []
        if not kwargs and isinstance(ids, list):
            kwargs = [{}] * len(ids)
        if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
            raise ValueError("'instruction_id_list' and 'kwargs' must be lists of the same length")
        pairs = [(i, k or {}) for i, k in zip(ids, kwargs, strict=True)]
    else:
        raise ValueError("ifeval reference must have 'instructions'")
    if not pairs:
        raise ValueError("no instructions")
    out: list[tuple[str, dict[str, Any]]] = []
    for n, (iid, kw) in enumerate(pairs):
        if iid not in CHECKS:
            raise ValueError(f"instruction {n}: unknown id {iid!r}")
        if not isinstance(kw, dict):
            raise ValueError(f"instruction {n} ({iid}): kwargs must be an object")
        _, spec, optional = CHECKS[iid]
        kw = {k: v for k, v in kw.items() if v is not None}
        extra = set(kw) - set(spec)
        if extra:
            raise ValueError(f"instruction {n} ({iid}): unexpected kwargs {sorted(extra)}")
        for name, kind in spec.items():
            if name not in kw:
                if name in optional:
                    continue
                raise ValueError(f"instruction {n} ({iid}): missing kwarg {name!r}")
            err = _kwarg_error(name, kind, kw[name])
            if err:
                raise ValueError(f"instruction {n} ({iid}): {err}")
        out.append((iid, kw))
    return out


def _loose_variants(text: str) -> list[str]:
    lines = text.split("\n")
    bases = [
        text,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return [v for b in bases for v in (b, b.replace("*", ""))]


def follows(text: str, iid: str, kwargs: dict[str, Any], *, loose: bool = False) -> bool:
    """Does ``text`` follow instruction ``iid`` with ``kwargs``? (Strict unless ``loose``.)"""
    check = CHECKS[iid][0]
    variants = _loose_variants(text) if loose else [text]
    return any(v.strip() and check(v, kwargs) for v in variants)


@register("ifeval")
def verify_ifeval(response: str, reference: Any, *, loose: bool = False, **_ignored: Any) -> VerifyResult:
    try:
        instructions = parse_instructions(reference)
    except ValueError as e:
        return invalid_reference(f"Unusable ifeval reference: {e}.")
    text = split_reasoning(response)
    if text is None:
        return VerifyResult.make(Status.NO_ANSWER, reason="the reasoning block was never closed")
    text = text.strip()
    if not text:
        return VerifyResult.make(Status.NO_ANSWER, reason="nothing follows the reasoning block")
    if len(text) > MAX_RESPONSE_CHARS:
        return VerifyResult.make(Status.WRONG, reason=f"response longer than {MAX_RESPONSE_CHARS} characters")
    met = [follows(text, iid, kw, loose=loose) for iid, kw in instructions]
    n_ok = sum(met)
    per = [{"id": iid, "followed": ok} for (iid, _), ok in zip(instructions, met, strict=True)]
    missed = [iid for (iid, _), ok in zip(instructions, met, strict=True) if not ok]
    reason = f"{n_ok}/{len(met)} instructions followed" + (
        f" (missed: {', '.join(missed)})" if missed else ""
    )
    return VerifyResult.make(
        Status.CORRECT if n_ok == len(met) else Status.WRONG,
        score=n_ok / len(met),
        extracted=text[:300],
        reason=reason,
        instructions=per,
        fraction=n_ok / len(met),
        mode="loose" if loose else "strict",
    )


@register_reference_check("ifeval")
def check_ifeval_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    try:
        instructions = parse_instructions(reference)
    except ValueError as e:
        return ReferenceCheck(False, "invalid_reference", {"error": str(e)})
    return ReferenceCheck(True, "", {"instructions": [iid for iid, _ in instructions]})
