"""Small helpers shared by the domain modules."""

from __future__ import annotations

from typing import Any

from .result import Status, VerifyResult


def answer_field(reference: Any) -> str | None:
    """The reference's ``answer`` (a plain string/number is the answer itself); None when malformed."""
    if isinstance(reference, dict):
        reference = reference.get("answer")
    if isinstance(reference, bool):
        return None
    if isinstance(reference, (int, float)):
        return repr(reference) if isinstance(reference, float) else str(reference)
    if isinstance(reference, str) and reference.strip():
        return reference
    return None


def invalid_reference(why: str, **details: Any) -> VerifyResult:
    return VerifyResult.make(Status.INVALID_REFERENCE, reason=why, **details)


def no_answer(source: str) -> VerifyResult:
    why = {
        "unclosed_think": "the reasoning block was never closed, so there is no answer",
        "none": "no answer found (no \\boxed{}, <answer> tag or 'Answer:' line)",
    }.get(source, "no answer found")
    return VerifyResult.make(Status.NO_ANSWER, reason=why, source=source)


def clip(s: str | None, n: int = 300) -> str | None:
    """Keep ``extracted`` small in results (a 1 MB answer must not travel back through the pipe)."""
    if s is None or len(s) <= n:
        return s
    return s[:n] + f"...[{len(s) - n} more chars]"
