"""``language``: letters mostly outside the accepted scripts (Latin, CJK, Greek by default); with
``languages``, langdetect must also name one of them (every domain)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .base import Evidence, Settings, register_filter


def _letter_scripts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            script = name.split(" ", 1)[0] if name else "UNKNOWN"
            counts[script] = counts.get(script, 0) + 1
    return counts


def _may_fail(prompt, answer, settings: Settings):
    import polars as pl

    return pl.lit(True) if settings.languages else prompt.str.contains(r"[^\x00-\x7F]")


@register_filter("language", prefilter=_may_fail, order=30)
def language(prompt: str, reference: Any, settings: Settings) -> Evidence:
    """Script check (fast, always): most letters must be in an accepted script. With ``languages``,
    langdetect must also agree (only for prompts with 20+ letters; it is unreliable below)."""
    if prompt.isascii():
        scripts = {"LATIN": 1} if settings.languages else {}
    else:
        scripts = _letter_scripts(re.sub(r"\\[a-zA-Z]+|\$[^$]*\$", " ", prompt))
    total = sum(scripts.values())
    if total:
        accepted = sum(v for k, v in scripts.items() if k in settings.scripts)
        if accepted / total < 0.5:
            top = max(scripts, key=scripts.get)
            return {"script": top, "share": round(scripts[top] / total, 3)}
    if settings.languages and sum(ch.isalpha() for ch in prompt) >= 20:
        from langdetect import DetectorFactory, LangDetectException, detect

        DetectorFactory.seed = 0
        try:
            lang = detect(prompt)
        except LangDetectException:
            return None
        code = lang.split("-")[0]
        if code not in settings.languages:
            return {"language": lang}
    return None
