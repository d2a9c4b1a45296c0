"""``proof``: proofs and problems whose answer is not unique (examples, estimates, discussions), for the
domains that opt in (math)."""

from __future__ import annotations

import re
from typing import Any

from .base import Evidence, Settings, contains_any, register_filter

_PROOF = re.compile(
    r"\b(?:prove|proof|show that|demonstrate that|justify|explain why|证明)\b|证明", re.IGNORECASE
)
_NOT_UNIQUE = re.compile(
    r"\b(?:give|find|provide|construct) (?:an|one|some) examples?\b|\bdescribe\b|\bdiscuss\b", re.IGNORECASE
)
_GATE = ("prov", "proof", "show that", "demonstrate", "justify", "explain why", "证明")
_GATE += ("example", "describe", "discuss")


def _may_fail(prompt, answer, settings: Settings):
    return prompt.str.contains("(?i)" + _PROOF.pattern) | prompt.str.contains("(?i)" + _NOT_UNIQUE.pattern)


@register_filter("proof", domains=(), prefilter=_may_fail, order=70)
def proof(prompt: str, reference: Any, settings: Settings) -> Evidence:
    if not contains_any(prompt, _GATE):
        return None
    m = _PROOF.search(prompt) or _NOT_UNIQUE.search(prompt)
    return {"match": m.group(0).strip()} if m else None
