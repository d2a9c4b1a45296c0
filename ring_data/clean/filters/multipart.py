"""``multipart``: several sub-questions (``(a) (b)``, ``(1) (2)``, ``(i) (ii)``, ``Part 1:``), for the
domains that opt in (math, science)."""

from __future__ import annotations

import functools
import operator
import re
from typing import Any

from .base import Evidence, Settings, contains_any, register_filter

_SUBQ_MARKERS = [
    re.compile(r"(?:^|\s)\(?([a-e])\)\s"),  # (a) ... (b) ... (capital (A) (B) are answer options)
    re.compile(r"(?:^|\s)\(([1-5])\)\s"),  # (1) ... (2) ...
    re.compile(r"(?:^|\s)\(?(i{1,3}|iv)\)\s"),  # (i) ... (ii) ...
    re.compile(r"\bpart\s*\(?([a-e1-5])\)?\s*[:.]", re.IGNORECASE),
    re.compile(r"（([1-5１-５])）"),  # full-width Chinese numbering
]
_GATE = (")", "part", "）")


def _may_fail(prompt, answer, settings: Settings):
    masks = [
        prompt.str.count_matches(("(?i)" if m.flags & re.IGNORECASE else "") + m.pattern) >= 2
        for m in _SUBQ_MARKERS
    ]
    return functools.reduce(operator.or_, masks)


@register_filter("multipart", domains=(), prefilter=_may_fail, order=60)
def multipart(prompt: str, reference: Any, settings: Settings) -> Evidence:
    if not contains_any(prompt, _GATE):
        return None
    for pattern in _SUBQ_MARKERS:
        labels = [m.group(1).lower() for m in pattern.finditer(prompt)]
        if len(set(labels)) >= 2:
            return {"markers": sorted(set(labels))[:5]}
    return None
