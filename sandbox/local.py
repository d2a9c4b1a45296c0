"""The local backend: compile (cached), then run every input in one box request."""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Callable

from . import compile_cache, isolate
from .box import POOL, Box, BoxError
from .languages import Language, get_language
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


def _limits(time_limit: float, memory_limit_mb: int, output_limit_bytes: int, lang: Language) -> dict:
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


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


def _compile(
    box: Box, lang: Language, code: str, time_limit: float, label: str
) -> tuple[str | None, RunResult]:
    """Compile in the box unless cached; returns (artifact dir inside the box or None, compile result)."""
    k = compile_cache.key(lang.name, list(lang.compile_argv), code)
    # bwrap boxes see the cache at /cache; the weaker levels see the host's filesystem as it is
    seen = f"/cache/{k}" if box.plan.level == "bwrap" else f"{compile_cache.cache_root()}/{k}"
    if compile_cache.lookup(k):
        return seen, RunResult(RunStatus.OK, isolation=label, extra={"cached": True})
    limits = _limits(time_limit, COMPILE_MEMORY_MB, 1 << 20, lang)
    if lang.name == "java":
        limits["as_bytes"] = 0  # the JVM's heap is capped by -J-Xmx instead
    limits["nproc"] = NPROC
    req = {
        "op": "compile",
        "kind": "exec",
        "argv": list(lang.compile_argv),
        "files": {lang.source_name: _b64(code)},
        "artifacts": list(lang.artifacts),
        "limits": limits,
    }
    box.send(req)
    reply = box.read(time.monotonic() + time_limit + HOST_MARGIN_S)
    if "compile" not in reply:
        raise BoxError(reply.get("error", "the sandbox failed while compiling"))
    raw = reply["compile"]
    res = classify(raw, limits, label)
    if res.ok and raw["artifacts"]:
        compile_cache.store(k, raw["artifacts"])
        return seen, res
    status = RunStatus.TIME_LIMIT if res.status is RunStatus.TIME_LIMIT else RunStatus.COMPILE_ERROR
    res.status, res.reason = status, f"compilation failed ({res.reason or 'no output produced'})"
    return None, res


def run_local(
    code: str,
    language: str,
    cases: list[str],
    *,
    time_limit: float,
    memory_limit_mb: int,
    output_limit_bytes: int,
    compile_time_limit: float,
    stop_on_error: bool,
    on_case: CaseHook | None,
) -> tuple[list[RunResult], RunResult | None, str]:
    """Run ``code`` once per case. Returns (case results, compile result or None, isolation label)."""
    lang = get_language(language)
    plan = isolate.choose_plan()
    label = plan.label
    box = POOL.acquire(plan)
    healthy = False
    try:
        compiled = None
        limits = _limits(time_limit, memory_limit_mb, output_limit_bytes, lang)
        if lang.compiled:
            art_dir, compiled = _compile(box, lang, code, compile_time_limit, label)
            if art_dir is None:
                healthy = True
                return [], compiled, label
            req = {"op": "run", "kind": "exec", "argv": lang.run_argv(art_dir, memory_limit_mb)}
        else:
            req = {"op": "run", "kind": "python", "source": code, "filename": "main.py"}
        req.update(limits=limits, cases=list(cases), stop_on_error=stop_on_error)
        box.send(req)
        results: list[RunResult] = []
        stopped = False
        per_case = time_limit + HOST_MARGIN_S
        while True:
            reply = box.read(time.monotonic() + per_case)
            if reply.get("done"):
                if "error" in reply:
                    raise BoxError(reply["error"])
                break
            if stopped:  # the box ran ahead before it saw our stop: discard
                continue
            res = classify(reply, limits, label)
            results.append(res)
            keep_going = (on_case(len(results) - 1, res) is not False) if on_case else True
            if (stop_on_error and not res.ok) or not keep_going:
                box.stop()
                stopped = True
        healthy = True
        return results, compiled, label
    finally:
        POOL.release(box, healthy)


def run_code_local(
    code: str,
    language: str,
    stdin: str | None,
    inputs: list[str] | None,
    *,
    time_limit: float,
    memory_limit_mb: int,
    output_limit_bytes: int,
    compile_time_limit: float,
    stop_on_error: bool,
    on_case: CaseHook | None,
) -> RunResult:
    cases = list(inputs) if inputs is not None else [stdin or ""]
    label = isolate.choose_plan().label
    try:
        results, compiled, label = run_local(
            code,
            language,
            cases,
            time_limit=time_limit,
            memory_limit_mb=memory_limit_mb,
            output_limit_bytes=output_limit_bytes,
            compile_time_limit=compile_time_limit,
            stop_on_error=stop_on_error,
            on_case=on_case,
        )
    except BoxError as e:
        return RunResult(
            RunStatus.SANDBOX_ERROR, isolation=label, reason=str(e), cases=[] if inputs else None
        )
    extra = {"compile": compiled.to_dict()} if compiled is not None else {}
    if compiled is not None and not compiled.ok:
        compiled.isolation = label
        compiled.cases = [] if inputs is not None else None
        compiled.extra.update(extra)
        return compiled
    if inputs is None:
        res = results[0] if results else RunResult(RunStatus.SANDBOX_ERROR, reason="no result")
        res.extra.update(extra)
        return res
    return batch_result(results, label, **extra)
