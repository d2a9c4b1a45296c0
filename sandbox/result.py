"""The result of running a program (docs/architecture.md §4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    COMPILE_ERROR = "compile_error"
    SANDBOX_ERROR = "sandbox_error"


@dataclass
class RunResult:
    """One run (or, with ``inputs``, the whole batch: ``cases`` holds one entry per input).

    For a batch, ``status`` is the first non-``ok`` case status (``ok`` when all are), ``stdout`` and
    ``stderr`` are the failing case's (else the last case's), times add up and ``memory_mb`` is the peak.
    """

    status: RunStatus
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    memory_mb: float = 0.0
    isolation: str = ""
    cases: list[RunResult] | None = None
    signal: int | None = None  # the signal that ended the program, if any
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    reason: str = ""  # one sentence for non-ok statuses (e.g. which limit, or what the sandbox hit)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        if self.cases is not None:
            d["cases"] = [c.to_dict() for c in self.cases]
        return d


def batch_result(cases: list[RunResult], isolation: str, **extra: Any) -> RunResult:
    """Fold per-input results into the batch's top-level result."""
    failing = next((c for c in cases if not c.ok), None)
    shown = failing or (cases[-1] if cases else None)
    return RunResult(
        status=failing.status if failing else RunStatus.OK,
        stdout=shown.stdout if shown else "",
        stderr=shown.stderr if shown else "",
        exit_code=shown.exit_code if shown else 0,
        wall_s=sum(c.wall_s for c in cases),
        cpu_s=sum(c.cpu_s for c in cases),
        memory_mb=max((c.memory_mb for c in cases), default=0.0),
        isolation=isolation,
        cases=cases,
        signal=shown.signal if shown else None,
        stdout_truncated=bool(shown and shown.stdout_truncated),
        stderr_truncated=bool(shown and shown.stderr_truncated),
        reason=failing.reason if failing else "",
        extra=dict(extra),
    )
