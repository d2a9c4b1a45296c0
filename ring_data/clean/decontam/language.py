"""The language of a row's prose, for contamination evidence and the report (fast, deterministic)."""

from __future__ import annotations

import re

_SCRIPTS = (
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
)
_MATH_SPANS = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[a-zA-Z]+(?:\{[^{}]*\})?", re.S)
# Latin-script languages by their commonest words (problem statements are short: a handful of these
# decide it); Vietnamese by its letters with stacked diacritics
_STOPWORDS = {
    "en": frozenset(
        [
            "the",
            "of",
            "and",
            "is",
            "a",
            "an",
            "to",
            "in",
            "that",
            "what",
            "find",
            "how",
            "many",
            "if",
            "let",
            "be",
            "are",
            "which",
            "for",
            "with",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "de",
            "des",
            "du",
            "est",
            "et",
            "un",
            "une",
            "que",
            "soit",
            "dans",
            "pour",
            "sont",
            "quel",
            "quelle",
            "combien",
            "trouver",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "de",
            "del",
            "es",
            "y",
            "un",
            "una",
            "que",
            "sea",
            "en",
            "para",
            "son",
            "cuál",
            "cuántos",
            "cuántas",
            "encuentra",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "de",
            "do",
            "da",
            "é",
            "e",
            "um",
            "uma",
            "que",
            "seja",
            "em",
            "para",
            "são",
            "qual",
            "quantos",
            "quantas",
            "encontre",
        ]
    ),
    "de": frozenset(
        ["der", "die", "das", "und", "ist", "ein", "eine", "von", "zu", "mit", "für", "sei", "wie", "viele"]
    ),
    "it": frozenset(
        ["il", "lo", "la", "gli", "le", "di", "è", "e", "un", "una", "che", "sia", "per", "sono", "quanti"]
    ),
}
_WORD = re.compile(r"[^\W\d_]+")
_VIETNAMESE = re.compile(r"[ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)


def detect_language(text: str) -> str:
    """ISO 639-1 code of a problem's prose (math spans removed): by script for Korean, Japanese (any
    kana), Chinese, Thai, Arabic and Cyrillic text, by diacritics for Vietnamese, by common words
    for English, French, Spanish, Portuguese, German and Italian; "" when there is too little prose.
    Fast and deterministic (used for every contaminated row's evidence and the report)."""
    prose = _MATH_SPANS.sub(" ", text or "")
    letters = max(1, sum(ch.isalpha() for ch in prose))
    for code, pattern in _SCRIPTS:
        found = len(pattern.findall(prose))
        if found >= 3 and (found >= 0.1 * letters or code == "ja"):
            return code
    words = [w.lower() for w in _WORD.findall(prose)]
    if len(words) < 3:
        return ""
    if len(_VIETNAMESE.findall(prose)) >= 3:
        return "vi"
    scores = sorted(
        ((sum(w in stop for w in words), code) for code, stop in _STOPWORDS.items()), reverse=True
    )
    (best, code), (second, _) = scores[0], scores[1]
    return code if best >= 1 and best > second else ""
