"""``language``: letters mostly outside the accepted scripts (Latin, CJK = Han + kana + Hangul, Greek
by default); with ``languages``, langdetect must also name one of them (every domain)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .base import Evidence, Settings, register_filter

# "CJK" is the writing of Chinese, Japanese and Korean: Han ideographs (whose Unicode names start with
# CJK), and the kana and Hangul letters written with them (a Japanese problem is often mostly kana)
_CJK_FAMILY = frozenset({"HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL"})


def _script(ch: str) -> str:
    words = unicodedata.name(ch, "UNKNOWN").split(" ", 2)
    if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1:  # the letter's own script
        words = words[1:]
    return "CJK" if words[0] in _CJK_FAMILY else words[0]


def _letter_scripts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            script = _script(ch)
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
