"""What every adapter needs: the text of a completion (plain or conversational) and a reference from
whatever a dataset column holds (a dict, the project's reference JSON, or a bare answer string)."""

from __future__ import annotations

import json
from typing import Any


def completion_text(completion: Any) -> str:
    """A completion as text: a string as is; a conversational completion (a list of ``{"role",
    "content"}`` messages, TRL's format) as the content of its last assistant message (content parts
    of ``{"type": "text"}`` are joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list | tuple):
        messages = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
        if assistant:
            content = assistant[-1].get("content", "")
            if isinstance(content, list):  # multimodal-style content parts
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return "" if content is None else str(content)
    return "" if completion is None else str(completion)


def parse_reference(value: Any, domain: str | None = None) -> Any:
    """A reference from a dataset cell. Dicts and lists are used as they are; a string holding a JSON
    object (the project's reference schema, ``{"answer": ...}``, ``{"tests": [...]}``) is decoded; any
    other string or number is a bare answer, ``{"answer": value}``. Numbers stay exact (``72`` -> "72")."""
    if isinstance(value, dict | list):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                return obj
        return {"answer": value}
    if isinstance(value, bool) or value is None:
        return value  # the verifier reports it as invalid_reference
    if isinstance(value, int | float):
        return {"answer": str(value) if isinstance(value, int) or value != int(value) else str(int(value))}
    tolist = getattr(value, "tolist", None)  # numpy scalars / arrays from a parquet column
    if callable(tolist):
        return parse_reference(tolist(), domain)
    return value
