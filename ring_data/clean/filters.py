"""Row filters from the Ring-lite recipe (§2.3): each is a pure function ``(prompt, reference) -> evidence
or None``, on by default for the domains it concerns, switchable by name. A row failing a filter is
rejected with reason ``filter_<name>`` and the returned evidence (what matched)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Evidence = dict[str, Any] | None

_IMAGE = re.compile(
    r"<img\b|!\[[^\]]*\]\(|\\includegraphics|\[asy\]|\[/?img\]|\.(?:png|jpe?g|gif|svg)\b"
    r"|\b(?:shown|depicted|illustrated|given) (?:in|on|below|above)(?: the)? (?:figure|diagram|picture|image|graph)"
    r"|\b(?:see|refer to)(?: the)? (?:figure|diagram|picture|image)"
    r"|\b(?:the|this|following) (?:figure|diagram|picture|image)\b"
    r"|\bfig(?:ure|\.)\s*\d"
    r"|如图|图中|下图",
    re.IGNORECASE,
)
_SUBQ_MARKERS = [
    re.compile(r"(?:^|\s)\(?([a-e])\)\s"),  # (a) ... (b) ... (capital (A) (B) are answer options)
    re.compile(r"(?:^|\s)\(([1-5])\)\s"),  # (1) ... (2) ...
    re.compile(r"(?:^|\s)\(?(i{1,3}|iv)\)\s"),  # (i) ... (ii) ...
    re.compile(r"\bpart\s*\(?([a-e1-5])\)?\s*[:.]", re.IGNORECASE),
    re.compile(r"[（(]([1-5１-５])[）)]"),  # full-width Chinese numbering
]
_CHOICES = re.compile(r"(?:^|[\s\n])(?:\(|\\textbf\{\()?\s*([A-E])\s*(?:\)|\.|:|\)\})\s*\S", re.MULTILINE)
_TRUE_FALSE = re.compile(
    r"\b(?:true or false|yes or no|true/false|yes/no|is it (?:true|possible) that|"
    r"(?:determine|decide) whether|is the (?:statement|following) (?:true|correct))\b",
    re.IGNORECASE,
)
_BINARY_ANSWER = {"yes", "no", "true", "false", "correct", "incorrect", "是", "否", "对", "错"}
_PROOF = re.compile(
    r"\b(?:prove|proof|show that|demonstrate that|justify|explain why|证明)\b|证明", re.IGNORECASE
)
_NOT_UNIQUE = re.compile(
    r"\b(?:give|find|provide|construct) (?:an|one|some) examples?\b|\bdescribe\b|\bdiscuss\b", re.IGNORECASE
)
_MATH_ENVS = re.compile(r"\\(begin|end)\{([a-zA-Z*]+)\}")


def _answer(reference: Any) -> str | None:
    if isinstance(reference, str):
        return reference
    if isinstance(reference, dict) and isinstance(reference.get("answer"), str | int | float):
        return str(reference["answer"])
    return None


# Substrings every match of a filter's regexes contains (lower case): a cheap gate before the regex,
# which is 20x slower than a few ``in`` tests on a typical prompt.
_IMAGE_GATE = ("fig", "diagram", "pictur", "image", "graph", "<img", "![", "includegraphics", "[asy]", "[img")
_IMAGE_GATE += (".png", ".jp", ".gif", ".svg", "图")
_CHOICE_GATE = ("a)", "a.", "a:", "(a", "true", "yes", "whether", "correct", "possible")
_MULTIPART_GATE = (")", "part", "）")
_PROOF_GATE = ("prov", "proof", "show that", "demonstrate", "justify", "explain why", "证明")
_PROOF_GATE += ("example", "describe", "discuss")


def _gated(prompt: str, gate: tuple[str, ...]) -> bool:
    low = prompt.lower()
    return any(g in low for g in gate)


def image(prompt: str, reference: Any) -> Evidence:
    if not _gated(prompt, _IMAGE_GATE):
        return None
    m = _IMAGE.search(prompt)
    return {"match": m.group(0)} if m else None


def multipart(prompt: str, reference: Any) -> Evidence:
    if not _gated(prompt, _MULTIPART_GATE):
        return None
    for pattern in _SUBQ_MARKERS:
        labels = [m.group(1).lower() for m in pattern.finditer(prompt)]
        if len(set(labels)) >= 2:
            return {"markers": sorted(set(labels))[:5]}
    return None


def choice(prompt: str, reference: Any) -> Evidence:
    """Multiple choice, true/false and yes/no problems (math: the answer is guessable)."""
    ans = _answer(reference)
    if ans is not None and ans.strip().strip("$.").lower() in _BINARY_ANSWER:
        return {"kind": "binary_answer", "answer": ans}
    if not _gated(prompt, _CHOICE_GATE):
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


def proof(prompt: str, reference: Any) -> Evidence:
    """Proofs and problems whose answer is not unique (examples, estimates, discussions)."""
    if not _gated(prompt, _PROOF_GATE):
        return None
    m = _PROOF.search(prompt) or _NOT_UNIQUE.search(prompt)
    return {"match": m.group(0).strip()} if m else None


def latex(prompt: str, reference: Any) -> Evidence:
    """Broken LaTeX: unbalanced braces, an odd number of ``$``, ``\\left`` without ``\\right``,
    unmatched ``\\begin``/``\\end``."""
    if "\\" not in prompt and "{" not in prompt and "}" not in prompt and "$" not in prompt:
        return None
    text = re.sub(r"\\[\\${}]", "", prompt)  # escaped characters do not count
    opened, closed = text.count("{"), text.count("}")
    if opened != closed:
        return {"problem": f"{opened} '{{' vs {closed} '}}'"}
    if text.count("$") % 2:
        return {"problem": "odd number of '$'"}
    lefts, rights = len(re.findall(r"\\left(?![a-z])", text)), len(re.findall(r"\\right(?![a-z])", text))
    if lefts != rights:
        return {"problem": f"{lefts} \\left vs {rights} \\right"}
    stack: list[str] = []
    for kind, env in _MATH_ENVS.findall(text):
        if kind == "begin":
            stack.append(env)
        elif not stack or stack.pop() != env:
            return {"problem": f"\\end{{{env}}} does not close its \\begin"}
    if stack:
        return {"problem": f"\\begin{{{stack[-1]}}} never ends"}
    return None


def _letter_scripts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            script = name.split(" ", 1)[0] if name else "UNKNOWN"
            counts[script] = counts.get(script, 0) + 1
    return counts


@dataclass
class Settings:
    """What the filters accept; everything has a CLI option."""

    max_prompt_chars: int = 8000
    min_prompt_chars: int = 10
    scripts: tuple[str, ...] = ("LATIN", "CJK", "GREEK")  # letters of other scripts must stay a minority
    languages: tuple[str, ...] = ()  # with langdetect: keep only these ISO codes (slow; off by default)


def length(prompt: str, reference: Any, settings: Settings) -> Evidence:
    n = len(prompt.strip())
    if n < settings.min_prompt_chars:
        return {"chars": n, "min": settings.min_prompt_chars}
    if n > settings.max_prompt_chars:
        return {"chars": n, "max": settings.max_prompt_chars}
    return None


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


@dataclass(frozen=True)
class Filter:
    name: str
    check: Callable[..., Evidence]
    domains: tuple[str, ...] | None  # None: every domain
    needs_settings: bool = False


FILTERS: tuple[Filter, ...] = (
    Filter("length", length, None, needs_settings=True),
    Filter("image", image, None),
    Filter("language", language, None, needs_settings=True),
    Filter("latex", latex, ("math", "science")),
    Filter("choice", choice, ("math",)),
    Filter("multipart", multipart, ("math", "science")),
    Filter("proof", proof, ("math",)),
)
FILTER_NAMES = tuple(f.name for f in FILTERS)


@dataclass
class FilterSet:
    enabled: tuple[str, ...] = FILTER_NAMES
    settings: Settings = field(default_factory=Settings)

    def first_failure(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """``(reason, evidence)`` of the first filter the row fails, or None."""
        prompt, reference, domain = row["prompt"], row.get("reference"), row["domain"]
        for f in FILTERS:
            if f.name not in self.enabled or (f.domains is not None and domain not in f.domains):
                continue
            ev = f.check(prompt, reference, self.settings) if f.needs_settings else f.check(prompt, reference)
            if ev is not None:
                return f"filter_{f.name}", ev
        return None
