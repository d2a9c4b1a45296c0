"""``length``: prompts under ``min_prompt_chars`` or over ``max_prompt_chars`` (every domain)."""

from __future__ import annotations

from typing import Any

from .base import Evidence, Settings, register_filter


def _may_fail(prompt, answer, settings: Settings):
    n = prompt.str.strip_chars().str.len_chars()
    return (n < settings.min_prompt_chars) | (n > settings.max_prompt_chars)  # exact


@register_filter("length", prefilter=_may_fail, order=10)
def length(prompt: str, reference: Any, settings: Settings) -> Evidence:
    n = len(prompt.strip())
    if n < settings.min_prompt_chars:
        return {"chars": n, "min": settings.min_prompt_chars}
    if n > settings.max_prompt_chars:
        return {"chars": n, "max": settings.max_prompt_chars}
    return None
