"""Row filters from the Ring-lite recipe (§2.3): each is a pure function ``(prompt, reference) -> evidence
or None``, on by default for the domains it concerns, switchable by name. A row failing a filter is
rejected with reason ``filter_<name>`` and the returned evidence (what matched)."""

from __future__ import annotations

import functools
import operator
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
    re.compile(r"（([1-5１-５])）"),  # full-width Chinese numbering
]
_CHOICES = re.compile(r"(?:^|[\s\n])(?:\(|\\textbf\{\()?\s*([A-E])\s*(?:\)|\.|:|\)\})\s*\S", re.MULTILINE)
_TRUE_FALSE = re.compile(
    r"\b(?:true or false|yes or no|true/false|yes/no|is the (?:statement|following) (?:true|correct))\b",
    re.IGNORECASE,
)
_BINARY_ANSWER = {"yes", "no", "true", "false", "correct", "incorrect", "是", "否", "对", "错"}
_PROOF = re.compile(
    r"\b(?:prove|proof|show that|demonstrate that|justify|explain why|证明)\b|证明", re.IGNORECASE
)
_NOT_UNIQUE = re.compile(
    r"\b(?:give|find|provide|construct) (?:an|one|some) examples?\b|\bdescribe\b|\bdiscuss\b", re.IGNORECASE
)
_CURRENCY = re.compile(r"\$\d[\d,]*(?:\.\d+)?(?=[.,;:!?)]*(?:\s+[^\W\d_]|\s*$))")  # "$40 a day", "$1,200."
_MATH_ENVS = re.compile(r"\\(begin|end)\{([a-zA-Z*]+)\}")


def answer_text(reference: Any) -> str | None:
    """The reference's single answer as text (a plain string or ``{"answer": ...}``), else None."""
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
    ans = answer_text(reference)
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
    # a currency amount followed by words ("$40 every day") is not math mode
    if _CURRENCY.sub("", text).count("$") % 2:
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


def _gate_regex(gate: tuple[str, ...]) -> str:
    return "(?i)" + "|".join(re.escape(g) for g in gate)


def _prefilter(name: str, prompts, answers, settings: Settings):
    """Polars expression: mask of the rows that *may* fail filter ``name`` (exact for length;
    a superset for the others), so the Python check runs only on those. Runs in Rust on all cores."""
    import polars as pl

    p = prompts
    if name == "length":
        n = p.str.strip_chars().str.len_chars()
        return (n < settings.min_prompt_chars) | (n > settings.max_prompt_chars)
    if name == "image":
        return p.str.contains("(?i)" + _IMAGE.pattern)
    if name == "language":
        return pl.lit(True) if settings.languages else p.str.contains(r"[^\x00-\x7F]")
    if name == "latex":
        t = p.str.replace_all(r"\\[\\${}]", "")
        return (
            (t.str.count_matches(r"\{") != t.str.count_matches(r"\}"))
            | (t.str.count_matches(r"\$") % 2 == 1)
            | (t.str.count_matches(r"\\left\b") != t.str.count_matches(r"\\right\b"))
            | t.str.contains(r"\\(?:begin|end)\{")  # environments are checked in order, in Python
        )
    if name == "choice":
        binary = (
            answers.str.strip_chars().str.strip_chars("$.").str.to_lowercase().is_in(sorted(_BINARY_ANSWER))
        )
        return p.str.contains(_gate_regex(_CHOICE_GATE)) | binary.fill_null(False)
    if name == "multipart":
        masks = [
            p.str.count_matches(("(?i)" if m.flags & re.IGNORECASE else "") + m.pattern) >= 2
            for m in _SUBQ_MARKERS
        ]
        return functools.reduce(operator.or_, masks)
    if name == "proof":
        return p.str.contains("(?i)" + _PROOF.pattern) | p.str.contains("(?i)" + _NOT_UNIQUE.pattern)
    raise KeyError(name)


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

    def _run(self, f: Filter, row: dict[str, Any]) -> Evidence:
        prompt, reference = row["prompt"], row.get("reference")
        return f.check(prompt, reference, self.settings) if f.needs_settings else f.check(prompt, reference)

    def first_failure(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """``(reason, evidence)`` of the first filter the row fails, or None."""
        for f in FILTERS:
            if f.name not in self.enabled or (f.domains is not None and row["domain"] not in f.domains):
                continue
            ev = self._run(f, row)
            if ev is not None:
                return f"filter_{f.name}", ev
        return None

    def batch(self, rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]] | None]:
        """:meth:`first_failure` for many rows: vectorised prefilters pick the rows each Python check
        must look at (same verdicts, ~20x less Python)."""
        import polars as pl

        verdicts: list[tuple[str, dict[str, Any]] | None] = [None] * len(rows)
        active = [f for f in FILTERS if f.name in self.enabled]
        if not rows or not active:
            return verdicts
        frame = pl.DataFrame(
            {
                "prompt": pl.Series([r["prompt"] for r in rows], dtype=pl.String),
                "domain": pl.Series([r["domain"] for r in rows], dtype=pl.String),
                "answer": pl.Series([answer_text(r.get("reference")) for r in rows], dtype=pl.String),
            }
        )
        exprs = []
        for f in active:
            mask = _prefilter(f.name, pl.col("prompt"), pl.col("answer"), self.settings)
            if f.domains is not None:
                mask = mask & pl.col("domain").is_in(list(f.domains))
            exprs.append(mask.fill_null(False).alias(f.name))
        masks = frame.lazy().select(exprs).collect(engine="streaming")  # all prefilters in one parallel pass
        for f in active:
            for i in masks[f.name].arg_true().to_list():
                if verdicts[i] is None:
                    ev = self._run(f, rows[i])
                    if ev is not None:
                        verdicts[i] = (f"filter_{f.name}", ev)
        return verdicts
