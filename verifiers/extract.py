"""Answer extraction shared by all domains (docs/architecture.md §3, "Answer location").

Order, for every domain: the text after ``</think>`` (an unclosed ``<think>`` means no answer), then the
last ``\\boxed{}``/``\\fbox{}`` (option ``box="first"``), else the last ``<answer>...</answer>``, else a
final "Answer: X" / "final answer is X" line, else (when the caller allows it) the remaining text.
Every scan is linear in the response length, so a 1 MB response costs milliseconds.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_OPEN, _CLOSE = "<think>", "</think>"

# how many characters of the response tail the line fallbacks look at (the answer is at the end)
_TAIL_CHARS = 4000


def split_reasoning(response: str) -> str | None:
    """The part of ``response`` that may hold the answer, or None when there is none.

    - ``<think>...</think> rest`` -> ``rest`` (after the last closing tag);
    - an unclosed ``<think>`` (opened after the last close) -> None: the model never answered;
    - a lone ``</think>`` with no opening tag -> what follows it;
    - no tags -> the whole response.
    An empty remainder is returned as "" (callers treat it as no answer).
    """
    if not isinstance(response, str):
        return None
    last_close = response.rfind(_CLOSE)
    last_open = response.rfind(_OPEN)
    if last_open > last_close:
        return None
    if last_close >= 0:
        return response[last_close + len(_CLOSE) :]
    return response


_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*(\{)?")


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of every ``{`` that is closed -> index of its ``}``, in one pass (an escaped ``\\{`` does
    not count). Looking each box up here keeps many unclosed boxes linear, not quadratic."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_TOKEN_RE.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif m.group() == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.DOTALL)  # an escaped character is one token


def find_boxed(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}``, ``\\fbox{...}`` and ``\\boxed X`` in ``text``, in order.

    Unbalanced boxes (the response was cut off) are skipped; nested boxes count once (the outer one).
    """
    return [content for content, _, _ in boxed_spans(text)]


def boxed_spans(text: str) -> list[tuple[str, int, int]]:
    """``(content, start, end)`` of every box in ``text`` (see ``find_boxed``)."""
    out: list[tuple[str, int, int]] = []
    pairs: dict[int, int] | None = None
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return out
        if m.group(1):
            if pairs is None:
                pairs = _brace_pairs(text)
            close = pairs.get(m.start(1))
            if close is None:
                pos = m.end()
                continue
            pos = close + 1
            out.append((text[m.start(1) + 1 : close], m.start(), pos))
        else:  # "\boxed 5": one token up to whitespace or "$"
            tok = re.match(r"[^\s$]+", text[m.end() : m.end() + 200])
            pos = m.end()
            if tok and m.group(0).endswith((" ", "\t")):
                pos += tok.end()
                out.append((tok.group(0).rstrip(".,;"), m.start(), pos))


_ANSWER_OPEN_RE = re.compile(r"<answer>", re.IGNORECASE)
_ANSWER_CLOSE_RE = re.compile(r"</answer>", re.IGNORECASE)
# "final answer is X", "The answer is: X", "Answer: X" (X to the end of the line, cut by answer_statement)
_ANSWER_LINE_RE = re.compile(
    r"(?:final\s+answer|the\s+answer|\banswer)\s*(?:is\s*)?(?::|is\b)\s*(?P<ans>[^\n]+)",
    re.IGNORECASE,
)
# "Answer \[ 9 \]" / "The answer is $$ 9 $$": a display block that may span lines
_ANSWER_DISPLAY_RE = re.compile(
    r"\banswer\s*(?:is\b)?\s*:?\s*(?P<ans>\\\[.*?\\\]|\$\$.*?\$\$)", re.IGNORECASE | re.DOTALL
)
# Minerva / lighteval: "Final Answer: The final answer is 7.78. I hope it is correct."
_NESTED_FINAL_RE = re.compile(r"^(?:the\s+)?final\s+answer\s*(?:is\b|:)\s*", re.IGNORECASE)
_HOPE_RE = re.compile(r"\s*I hope it is correct\.?\s*$", re.IGNORECASE)
# "The largest $n$ is 34" -> 34: a definite description followed by "is"
_DESCRIPTION_RE = re.compile(
    r"^(?:the|a|an|our|my)\b(?:(?!\bis\b|=)[^\n])*?\s(?:is|equals|are)\s+(?P<ans>\S.*)$", re.IGNORECASE
)


def _sentence_end(text: str) -> int:
    """Index of the first sentence-ending period of ``text`` (outside math, braces and numbers), or
    its length. ``7.78.`` ends after the second period; ``$x. y$`` does not end inside the math."""
    depth, in_dollar, i, n = 0, False, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if text.startswith(("\\(", "\\["), i):
                depth += 1
            elif text.startswith(("\\)", "\\]"), i):
                depth -= 1
            i += 2
            continue
        if ch == "$":
            in_dollar = not in_dollar
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "." and depth <= 0 and not in_dollar and (i + 1 == n or text[i + 1].isspace()):
            return i
        i += 1
    return n


def strip_text(text: str) -> str:
    """``text.strip()``, reading a trailing LaTeX control space (``0\\ ``) as the whitespace it is:
    a plain strip would leave ``0\\``, a stray backslash that turns a correct answer wrong."""
    s = text.strip()
    while s.endswith("\\") and (len(s) - len(s.rstrip("\\"))) % 2:  # an odd run: the last escapes nothing
        s = s[:-1].rstrip()
    return s


def answer_statement(text: str) -> str:
    """The answer itself from what follows "Answer:" / "final answer is": the first sentence, without
    "I hope it is correct", a nested "The final answer is", or a leading "the largest $n$ is"."""
    s = text.strip().lstrip("*_ ").strip()
    for _ in range(2):  # "Final Answer: The final answer is X" nests the two forms
        s = _NESTED_FINAL_RE.sub("", s, count=1).lstrip("*_ ").strip()
    s = _HOPE_RE.sub("", s)
    s = strip_text(s[: _sentence_end(s)])
    m = _DESCRIPTION_RE.match(s)
    if m:
        s = strip_text(m.group("ans"))
    return strip_text(s.rstrip("."))


_DOLLAR_RE = re.compile(r"(?<!\\)\$")  # an unescaped "$" (\$5 is a dollar sign)
_MAX_INLINE_CONTINUATION = 200


def _inline_math_on(tail: str, m: re.Match) -> str:
    """The rest of the line after "The answer is", or up to the closing ``$`` when inline math opened
    on that line goes on past its end (``The answer is $\\n0$.``: a line break inside ``$..$`` is
    only whitespace)."""
    ans = m.group("ans")
    if len(_DOLLAR_RE.findall(ans)) % 2:
        close = _DOLLAR_RE.search(tail, m.end(), m.end() + _MAX_INLINE_CONTINUATION)
        if close:
            return tail[m.start("ans") : close.end()] + tail[close.end() :].split("\n", 1)[0]
    return ans


def _last_statement(tail: str) -> tuple[str, int, bool] | None:
    """(answer, start index, says "final answer") of the last answer statement in ``tail``."""
    found = [(m.start(), _inline_math_on(tail, m)) for m in _ANSWER_LINE_RE.finditer(tail)]
    found += [(m.start(), m.group("ans")) for m in _ANSWER_DISPLAY_RE.finditer(tail)]
    for start, raw in sorted(found, reverse=True):
        ans = answer_statement(raw)
        if ans:
            return ans, start, tail[start : start + 12].lower().startswith("final")
    return None


@dataclass(frozen=True)
class Extraction:
    """Where the answer came from (``source``) and its raw text (None when there is none)."""

    answer: str | None
    source: str  # "boxed", "answer_tag", "answer_line", "text", "unclosed_think", "none"


def answer_tags(text: str) -> list[str]:
    """Contents of every ``<answer>...</answer>`` (case-insensitive, non-overlapping, each open tag
    closed by the next close tag), found in linear time: a regex ``<answer>(.*?)</answer>`` rescans
    the rest of the text from every unclosed tag (quadratic on a response of many open tags)."""
    closes = [m.start() for m in _ANSWER_CLOSE_RE.finditer(text)]
    out: list[str] = []
    pos, k = 0, 0
    for m in _ANSWER_OPEN_RE.finditer(text):
        if m.start() < pos:
            continue
        k = bisect.bisect_left(closes, m.end(), k)
        if k == len(closes):
            break  # no close tag after this one, so none after any later one either
        out.append(text[m.end() : closes[k]])
        pos = closes[k] + len("</answer>")
    return out


def extract_answer(
    response: str, *, box: str = "last", text_fallback: bool = False, max_text_chars: int | None = None
) -> Extraction:
    """Locate the answer in ``response`` (see the module docstring for the order).

    ``box``: "last" (default) or "first" boxed answer. ``text_fallback``: return the whole text after
    the reasoning block when nothing marks an answer (games, ifeval); ``max_text_chars`` caps that text
    (longer -> no answer), e.g. math accepts a bare one-line answer only.
    """
    rest = split_reasoning(response)
    if rest is None:
        return Extraction(None, "unclosed_think" if isinstance(response, str) else "none")
    if not rest.strip():
        return Extraction(None, "none")
    tail = rest[-_TAIL_CHARS:]
    boxes = [(b, end) for b, _, end in boxed_spans(rest) if b.strip()]  # an empty \boxed{} answers nothing
    if boxes:
        statement = _last_statement(tail) if box == "last" else None
        tail_start = len(rest) - len(tail)
        # "\boxed{255} ... Final Answer: The final answer is $10,455$": a final-answer statement written
        # after the last box is the answer (an intermediate result was boxed on the way)
        after_last_box = statement and statement[2] and tail_start + statement[1] >= boxes[-1][1]
        if after_last_box and not re.search(r"box|above", statement[0], re.IGNORECASE):
            return Extraction(statement[0], "answer_line")
        return Extraction(boxes[0][0] if box == "first" else boxes[-1][0], "boxed")
    tags = answer_tags(rest)
    if tags:
        return Extraction(strip_text(tags[-1]), "answer_tag")
    statement = _last_statement(tail)
    if statement:
        return Extraction(statement[0], "answer_line")
    if text_fallback:
        text = strip_text(rest)
        if max_text_chars is None or (len(text) <= max_text_chars and "\n" not in text):
            return Extraction(text, "text")
    return Extraction(None, "none")


def all_boxed(response: str) -> list[str]:
    """Every non-empty boxed answer after the reasoning block, in order (``boxes="all"``)."""
    rest = split_reasoning(response)
    return [b for b in find_boxed(rest) if b.strip()] if rest else []


_TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox|operatorname)\s*\{([^{}]*)\}")


def strip_noise(answer: str) -> str:
    """Remove markdown and LaTeX decoration around an answer (``**X**``, ``$X$``, ``\\(X\\)``, trailing
    period, ``\\displaystyle``, ``\\left``/``\\right``) without touching its content."""
    # spacing commands first: stripping "x\\ " to "x\\" would leave a lone backslash behind
    s = _SPACING_RE.sub(_spacing, answer).strip()
    for _ in range(3):
        before = s
        s = s.strip().strip("*_`").strip()
        if s.startswith("$$") and s.endswith("$$") and len(s) >= 4:
            s = s[2:-2]
        elif s.startswith("$") and s.endswith("$") and len(s) >= 2:
            s = s[1:-1]
        elif s.startswith(("\\(", "\\[")) and s.endswith(("\\)", "\\]")):
            s = s[2:-2]
        s = s.strip().rstrip(".").strip()
        if s == before:
            break
    s = s.replace("\\displaystyle", "").replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return _SPACING_RE.sub(_spacing, s).strip()


# LaTeX spacing commands; a "\\\\" row break is matched first so the "\\ " inside "\\\\ 3" stays a break
_SPACING_RE = re.compile(r"\\\\|\\[!,;: ]")


def _spacing(m: re.Match) -> str:
    tok = m.group(0)
    return tok if tok == "\\\\" else "" if tok == "\\!" else " "


def unwrap_text(answer: str) -> str:
    """``\\text{Evelyn}`` -> ``Evelyn`` (every text-like wrapper, innermost first)."""
    prev = None
    s = answer
    while prev != s:
        prev = s
        s = _TEXT_WRAP_RE.sub(r"\1", s)
    return s
