"""Small helpers shared by the domain modules."""

from __future__ import annotations

import re
from typing import Any

from .result import Status, VerifyResult


def reference_answer(reference: Any) -> str | None:
    """The reference's single answer as text: ``reference["answer"]``, or the reference itself when it
    is a plain string or number; None when there is none (blank, a bool, a list, another shape).

    The one definition used everywhere: the math and science verifiers' gold answer (math then reads a
    worked solution's boxed answer out of it: ``math.stated_answer``), and curation's view of it
    (clean's answer-based filters, reference identity in dedup, the math signature of the answer in
    decontamination, answers of user benchmark files)."""
    if isinstance(reference, dict):
        reference = reference.get("answer")
    if isinstance(reference, bool):
        return None
    if isinstance(reference, (int, float)):
        return repr(reference) if isinstance(reference, float) else str(reference)
    if isinstance(reference, str) and reference.strip():
        return reference
    return None


# program text that a lenient parser would partially read (``__import__(..) or 2`` -> 2): never an answer
_CODE_RE = re.compile(
    r"__|\b(?:import|lambda|exec|eval|open|system|subprocess)\b\s*\(|\.[A-Za-z_]\w*\(|\bimport\s"
)


def looks_like_code(text: str) -> bool:
    """Whether an extracted answer holds program text (dunder names, calls such as ``os.system(``,
    ``import``); math and science judge such an answer wrong whatever number it also contains."""
    return bool(_CODE_RE.search(text))


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
