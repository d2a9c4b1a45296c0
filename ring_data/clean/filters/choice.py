"""``choice``: multiple choice, true/false and yes/no problems and answers (the answer is guessable),
for the domains that opt in (math)."""

from __future__ import annotations

import re
from typing import Any

from verifiers import reference_answer

from .base import Evidence, Settings, any_of_regex, contains_any, register_filter

_CHOICES = re.compile(r"(?:^|[\s\n])(?:\(|\\textbf\{\()?\s*([A-E])\s*(?:\)|\.|:|\)\})\s*\S", re.MULTILINE)
_TRUE_FALSE = re.compile(
    r"\b(?:true or false|yes or no|true/false|yes/no|is the (?:statement|following) (?:true|correct))\b",
    re.IGNORECASE,
)
_BINARY_ANSWER = {"yes", "no", "true", "false", "correct", "incorrect", "是", "否", "对", "错"}
_GATE = ("a)", "a.", "a:", "(a", "true", "yes", "whether", "correct", "possible")


def _may_fail(prompt, answer, settings: Settings):
    binary = answer.str.strip_chars().str.strip_chars("$.").str.to_lowercase().is_in(sorted(_BINARY_ANSWER))
    return prompt.str.contains(any_of_regex(_GATE)) | binary.fill_null(False)


@register_filter("choice", domains=(), prefilter=_may_fail, order=50)
def choice(prompt: str, reference: Any, settings: Settings) -> Evidence:
    ans = reference_answer(reference)
    if ans is not None and ans.strip().strip("$.").lower() in _BINARY_ANSWER:
        return {"kind": "binary_answer", "answer": ans}
    if not contains_any(prompt, _GATE):
        return None
    letters = {m.group(1) for m in _CHOICES.finditer(prompt)}
    if {"A", "B"} <= letters and len(letters) >= 3:
        return {"kind": "multiple_choice", "options": sorted(letters)}
    m = _TRUE_FALSE.search(prompt)
    if m:
        return {"kind": "true_false", "match": m.group(0)}
    if ans is not None and re.fullmatch(r"\s*\(?[A-E]\)?\s*", ans) and len(letters) >= 2:
        return {"kind": "letter_answer", "answer": ans}
    return None
