"""Runs untrusted programs (Python, C++, Java) for code rewards: a local isolated runner (default)
and E2B (remote). See docs/architecture.md §4 and docs/sandbox.md.

Imports only the standard library; the E2B SDK is imported when ``backend="e2b"`` is first used.
"""

from __future__ import annotations

from collections.abc import Callable

from .languages import available as language_available
from .result import RunResult, RunStatus

__all__ = ["RunResult", "RunStatus", "isolation", "language_available", "run_code"]


def isolation() -> str:
    """What protects local runs on this host, e.g. ``bwrap+uid+netns+pidns+rlimits+pgroup+cleanenv``
    (probed once, then cached)."""
    from .isolate import choose_plan

    return choose_plan().label


def run_code(
    code: str,
    language: str,
    stdin: str | None = None,
    *,
    inputs: list[str] | None = None,
    time_limit: float = 5.0,
    memory_limit_mb: int = 512,
    output_limit_bytes: int = 16 * 2**20,
    backend: str = "local",
    compile_time_limit: float = 30.0,
    stop_on_error: bool = False,
    on_case: Callable[[int, RunResult], bool | None] | None = None,
) -> RunResult:
    """Run ``code`` on ``stdin`` (one run) or on each item of ``inputs`` (one sandbox entry, one
    ``cases`` entry per input; the program is compiled once).

    ``time_limit`` is wall-clock seconds per input (CPU is capped just above it); compilation has
    ``compile_time_limit``. ``stop_on_error`` skips the remaining inputs after the first non-``ok``
    case; ``on_case(i, result)`` sees each case as it finishes and may return False to skip the rest
    (e.g. at the first wrong answer). Never raises for anything the program does: problems of the
    program are statuses, problems of the sandbox are ``sandbox_error``. An unsupported language or
    backend raises ValueError (a programming error).
    """
    from .languages import get_language

    get_language(language)
    if backend == "local":
        from .local import run_code_local

        run = run_code_local
    elif backend == "e2b":
        from .remote_e2b import run_code_e2b

        run = run_code_e2b
    else:
        raise ValueError(f"unknown sandbox backend {backend!r}; use 'local' or 'e2b'")
    return run(
        code,
        language,
        stdin,
        inputs,
        time_limit=time_limit,
        memory_limit_mb=memory_limit_mb,
        output_limit_bytes=output_limit_bytes,
        compile_time_limit=compile_time_limit,
        stop_on_error=stop_on_error,
        on_case=on_case,
    )
