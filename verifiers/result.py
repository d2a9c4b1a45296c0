"""The one result type every verifier returns (docs/architecture.md §3)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    CORRECT = "correct"
    WRONG = "wrong"
    NO_ANSWER = "no_answer"
    TIMEOUT = "timeout"
    ERROR = "error"
    INVALID_REFERENCE = "invalid_reference"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking one response. ``correct == (status == "correct")`` always holds."""

    score: float
    correct: bool
    status: Status
    extracted: str | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "score", min(1.0, max(0.0, float(self.score))))
        object.__setattr__(self, "correct", self.status is Status.CORRECT)

    @classmethod
    def make(
        cls,
        status: Status | str,
        *,
        score: float | None = None,
        extracted: str | None = None,
        reason: str = "",
        **details: Any,
    ) -> VerifyResult:
        """Build a result; ``score`` defaults to 1.0 for correct and 0.0 otherwise."""
        status = Status(status)
        if score is None:
            score = 1.0 if status is Status.CORRECT else 0.0
        return cls(
            score=score,
            correct=status is Status.CORRECT,
            status=status,
            extracted=extracted,
            reason=reason,
            details=details,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d
