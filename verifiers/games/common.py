"""Answer reading shared by the games: the answer text, grids in text or JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from ..extract import extract_answer, strip_noise

MAX_ANSWER_CHARS = 200_000  # a game answer longer than this is not an answer


def game_answer(response: str, box: str = "last") -> tuple[str | None, str]:
    """(answer text, source): boxed/<answer>/"Answer:" first, else the text after the reasoning block."""
    ext = extract_answer(response, box=box, text_fallback=True)
    if ext.answer is None:
        return None, ext.source
    return strip_noise(ext.answer)[:MAX_ANSWER_CHARS], ext.source


# a JSON grid of integers: a list of non-empty rows, nothing nested deeper (JSON whitespace only).
# Matching this pattern is linear in the text; walking back from every "]]" to its opening bracket
# and parsing each candidate was quadratic in a response of many brackets.
_JSON_INT = r"-?\d+"
_JSON_ROW = rf"\[[ \t\n\r]*{_JSON_INT}(?:[ \t\n\r]*,[ \t\n\r]*{_JSON_INT})*[ \t\n\r]*\]"
_JSON_GRID_RE = re.compile(rf"\[[ \t\n\r]*{_JSON_ROW}(?:[ \t\n\r]*,[ \t\n\r]*{_JSON_ROW})*[ \t\n\r]*\]")


def _last_json_grid(text: str) -> list[list[int]] | None:
    """The last JSON list of integer rows in ``text`` (``[[1, 2], [3, 4]]``)."""
    for m in reversed(list(_JSON_GRID_RE.finditer(text))):
        try:
            grid = json.loads(m.group())
        except ValueError:  # "01": a leading zero is no JSON number
            continue
        if _is_grid(grid):
            return grid
    return None


def _is_grid(g: Any) -> bool:
    return (
        isinstance(g, list)
        and len(g) > 0
        and all(isinstance(r, list) and r and all(type(v) is int for v in r) for r in g)
    )


# no game has a cell of 19 digits; int() of 4,300 digits or more raises (Python's conversion limit)
_LONG_NUMBER_RE = re.compile(r"\d{19}")
_ROW_RE = re.compile(r"^[\s|,\[\]()]*-?\d+(?:[\s|,\[\]()]+-?\d+)*[\s|,\[\]()]*$")


def parse_grid(text: str, *, split_digits: int | None = None) -> list[list[int]] | None:
    """The last grid in ``text``: a JSON list of rows, or the last block of lines of integers (spaces,
    commas or ``|`` between cells; separator lines like ``------`` are skipped). ``split_digits=n``
    also reads a run of exactly n digits as n cells (``534678912``)."""
    if text is None:
        return None
    text = text.replace("\\\\", "\n").replace("```", "\n")
    grid = _last_json_grid(text) if "]]" in text else None
    if grid is not None:
        return grid
    block: list[list[int]] = []
    best: list[list[int]] | None = None
    for line in text.splitlines():
        s = line.strip()
        if s and re.fullmatch(r"[-+=|\s]+", s) and block:
            continue  # a separator line inside a pretty-printed grid
        if split_digits and re.fullmatch(rf"\d{{{split_digits}}}", s.replace(" ", "")):
            block.append([int(c) for c in s.replace(" ", "")])
            continue
        if s and _ROW_RE.match(s) and not _LONG_NUMBER_RE.search(s):
            block.append([int(v) for v in re.findall(r"-?\d+", s)])
            continue
        if block:
            best, block = block, []
    if block:
        best = block
    return best


def grid_text(grid: list[list[int]]) -> str:
    return "\n".join(" ".join(str(v) for v in row) for row in grid)
