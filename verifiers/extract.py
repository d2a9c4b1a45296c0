"""Answer extraction shared by all domains (ARCHITECTURE.md §3, "Answer location").

Only the reasoning split lives here so far; the verifiers owner extends this module (boxed answers,
<answer> tags, "Answer:" lines, noise stripping) and keeps ``split_reasoning``'s contract.
"""

from __future__ import annotations

_OPEN, _CLOSE = "<think>", "</think>"


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
