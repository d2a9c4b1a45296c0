"""The box protocol shared by the local and E2B backends: requests, limits, raw reports -> RunResult."""

from __future__ import annotations

import base64
import signal
from collections.abc import Callable

from .languages import Language
from .result import RunResult, RunStatus, batch_result

COMPILE_MEMORY_MB = 2048
NPROC = 64  # processes + threads of the box uid (the JVM alone starts ~20 threads)
NOFILE = 64
MEMORY_MARKERS = (b"MemoryError", b"std::bad_alloc", b"java.lang.OutOfMemoryError", b"Cannot allocate memory")
HOST_MARGIN_S = 10.0  # the host waits this long past the box's own deadline before declaring it hung

CaseHook = Callable[[int, RunResult], bool]


def _decode(b64: str) -> str:
    return base64.b64decode(b64).decode("utf-8", errors="replace")


def classify(raw: dict, limits: dict, isolation_label: str) -> RunResult:
    """Turn the box's raw report of one process into a RunResult with a status."""
    stderr_bytes = base64.b64decode(raw["stderr"])
    sig = raw.get("signal")
    mem_mb = raw["maxrss_kb"] / 1024
    mem_limit = limits["memory_mb"]
    status, reason = RunStatus.OK, ""
    if raw["output_exceeded"]:
        status, reason = RunStatus.OUTPUT_LIMIT, f"output exceeded {limits['output']} bytes"
    elif (
        raw["timed_out"] or sig == signal.SIGXCPU or (sig == signal.SIGKILL and raw["cpu"] >= limits["time"])
    ):
        status, reason = RunStatus.TIME_LIMIT, f"exceeded the time limit of {limits['time']:g} s"
    elif sig == signal.SIGXFSZ or b"File too large" in stderr_bytes:
        status, reason = RunStatus.OUTPUT_LIMIT, f"wrote a file larger than {limits['fsize']} bytes"
    elif raw.get("exit") != 0 and (
        any(m in stderr_bytes for m in MEMORY_MARKERS) or (mem_limit and mem_mb >= 0.95 * mem_limit)
    ):
        status, reason = RunStatus.MEMORY_LIMIT, f"exceeded the memory limit of {mem_limit} MB"
    elif raw.get("exit") != 0:
        what = f"signal {signal.Signals(sig).name}" if sig else f"exit code {raw.get('exit')}"
        status, reason = RunStatus.RUNTIME_ERROR, f"the program ended with {what}"
    return RunResult(
        status=status,
        stdout=_decode(raw["stdout"]),
        stderr=stderr_bytes.decode("utf-8", errors="replace"),
        exit_code=raw.get("exit") if raw.get("exit") is not None else (-sig if sig else None),
        wall_s=round(raw["wall"], 6),
        cpu_s=round(raw["cpu"], 6),
        memory_mb=round(mem_mb, 2),
        isolation=isolation_label,
        signal=sig,
        stdout_truncated=raw["output_exceeded"],
        stderr_truncated=raw["stderr_truncated"],
        reason=reason,
    )


def limits_for(time_limit: float, memory_limit_mb: int, output_limit_bytes: int, lang: Language) -> dict:
    as_mb = memory_limit_mb + lang.as_overhead_mb if memory_limit_mb else 0
    return {
        "time": float(time_limit),
        "memory_mb": memory_limit_mb,
        "as_bytes": as_mb << 20,
        "stack_bytes": min(memory_limit_mb, 256) << 20 if memory_limit_mb else 0,
        "output": int(output_limit_bytes),
        "fsize": int(output_limit_bytes),
        "nofile": NOFILE,
        "nproc": NPROC,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


def compile_request(
    lang: Language, code: str, time_limit: float, *, cwd: str | None = None, keep: bool = True
) -> dict:
    """Compile ``code`` in the box (``keep``: send the artifacts back for the host's cache)."""
    limits = limits_for(time_limit, COMPILE_MEMORY_MB, 1 << 20, lang)
    if lang.name == "java":
        limits["as_bytes"] = 0  # the JVM's heap is capped by -J-Xmx instead
    req = {
        "op": "compile",
        "kind": "exec",
        "argv": list(lang.compile_argv),
        "files": {lang.source_name: b64(code)},
        "artifacts": list(lang.artifacts) if keep else [],
        "limits": limits,
    }
    if cwd:
        req["cwd"] = cwd
    return req


def compile_result(raw: dict, limits: dict, label: str) -> RunResult:
    res = classify(raw, limits, label)
    if not res.ok:
        status = RunStatus.TIME_LIMIT if res.status is RunStatus.TIME_LIMIT else RunStatus.COMPILE_ERROR
        res.status, res.reason = status, f"compilation failed ({res.reason or 'no output produced'})"
    return res


def run_request(
    lang: Language, code: str, art_dir: str | None, limits: dict, cases: list[str], stop_on_error: bool
) -> dict:
    if lang.compiled:
        req = {"op": "run", "kind": "exec", "argv": lang.run_argv(art_dir, limits["memory_mb"])}
    else:
        req = {"op": "run", "kind": "python", "source": code, "filename": "main.py"}
    req.update(limits=limits, cases=list(cases), stop_on_error=stop_on_error)
    return req


def fold(results: list[RunResult], compiled: RunResult | None, label: str, batch: bool) -> RunResult:
    """The caller's RunResult: a failed compile, the single run, or the batch."""
    extra = {"compile": compiled.to_dict()} if compiled is not None else {}
    if compiled is not None and not compiled.ok:
        compiled.isolation = label
        compiled.cases = [] if batch else None
        compiled.extra.update(extra)
        return compiled
    if not batch:
        res = (
            results[0] if results else RunResult(RunStatus.SANDBOX_ERROR, isolation=label, reason="no result")
        )
        res.extra.update(extra)
        return res
    return batch_result(results, label, **extra)
