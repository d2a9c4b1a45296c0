"""``image``: problems that need a figure ("as shown in the figure", ``<img``, ``![..](..)``,
``\\includegraphics``, ``[asy]`` drawings, ``图中`` ...; every domain)."""

from __future__ import annotations

import re
from typing import Any

from .base import Evidence, Settings, contains_any, register_filter

_IMAGE = re.compile(
    r"<img\b|!\[[^\]]*\]\(|\\includegraphics|\[asy\]|\[/?img\]|\.(?:png|jpe?g|gif|svg)\b"
    r"|\b(?:shown|depicted|illustrated|given) (?:in|on|below|above)(?: the)? (?:figure|diagram|picture|image|graph)"
    r"|\b(?:see|refer to)(?: the)? (?:figure|diagram|picture|image)"
    r"|\b(?:the|this|following) (?:figure|diagram|picture|image)\b"
    r"|\bfig(?:ure|\.)\s*\d"
    r"|如图|图中|下图",
    re.IGNORECASE,
)
# substrings every match contains (lower case)
_GATE = ("fig", "diagram", "pictur", "image", "graph", "<img", "![", "includegraphics", "[asy]", "[img")
_GATE += (".png", ".jp", ".gif", ".svg", "图")


def _may_fail(prompt, answer, settings: Settings):
    return prompt.str.contains("(?i)" + _IMAGE.pattern)


@register_filter("image", prefilter=_may_fail, order=20)
def image(prompt: str, reference: Any, settings: Settings) -> Evidence:
    if not contains_any(prompt, _GATE):
        return None
    m = _IMAGE.search(prompt)
    return {"match": m.group(0)} if m else None
